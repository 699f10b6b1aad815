/**
 * Certificates reloaded without a restart: on SIGHUP, and with `tls.watch` when their files
 * change.
 */
import { unwatchFile, watchFile } from 'node:fs'
import process from 'node:process'
import type { Config } from '../../src/config.ts'
import type { Logger } from '../../src/types.ts'
import { certificateFiles, loadTlsMaterial, type TlsMaterial } from './certs.ts'

/** How often watched certificate files are looked at. */
const WATCH_INTERVAL_MS = 500

/**
 * Reload the certificates on SIGHUP (a listener of its own, beside the config reload) and, with
 * `tls.watch`, when a certificate or key file changes. New handshakes get the new certificates;
 * connections already open keep theirs. A bad file is logged and the certificates in force stay.
 *
 * @returns a function that stops watching
 */
export function enableCertificateReload(
  tls: Config['tls'],
  server: { setTls?(material: TlsMaterial): Promise<void> },
  logger: Logger,
): () => void {
  const setTls = server.setTls
  if (!setTls) return () => {}
  let running: Promise<void> | undefined
  let again = false
  const reload = (trigger: string) => {
    if (running) {
      again = true
      return
    }
    running = (async () => {
      let material: TlsMaterial
      try {
        material = await loadTlsMaterial(tls, (msg) => logger.info(msg))
        await setTls(material)
      } catch (error) {
        logger.error('certificate reload failed: the certificates in force stay', {
          trigger,
          reason: (error as Error).message,
        })
        return
      }
      logger.info('certificates reloaded', {
        trigger,
        names: material.certificates.map((c) => c.names),
      })
    })().finally(() => {
      running = undefined
      if (again) {
        again = false
        reload(trigger)
      }
    })
  }
  const onHangup = () => reload('SIGHUP')
  process.on('SIGHUP', onHangup)
  const files = tls.watch ? certificateFiles(tls) : []
  let pending: ReturnType<typeof setTimeout> | undefined
  const onChange = () => {
    // A certificate and its key are usually replaced together: wait for both.
    clearTimeout(pending)
    pending = setTimeout(() => reload('file change'), WATCH_INTERVAL_MS)
  }
  for (const file of files) watchFile(file, { interval: WATCH_INTERVAL_MS }, onChange)
  return () => {
    process.off('SIGHUP', onHangup)
    clearTimeout(pending)
    for (const file of files) unwatchFile(file, onChange)
  }
}
