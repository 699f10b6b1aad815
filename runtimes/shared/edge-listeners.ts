/**
 * The edge's runtime side, shared by the entry points: certificates reloaded on SIGHUP or when
 * their files change (without a restart), and the optional HTTP→HTTPS redirect listener.
 */
import { watchFile, unwatchFile } from 'node:fs'
import process from 'node:process'
import type { Config } from '../../src/config.ts'
import { createRedirectHandler } from '../../src/edge/redirect.ts'
import { http1Env } from '../../src/http1/request.ts'
import type { WebSocketRouter } from '../../src/edge/websocket.ts'
import type { Logger } from '../../src/types.ts'
import { fail } from './bootstrap.ts'
import { certificateFiles, loadTlsMaterial, type TlsMaterial } from './certs.ts'
import type { RuntimeAdapter } from '../adapter.ts'
import { serveHttp, type RunningServer } from './serve-http.ts'

/**
 * Say where the runtime can't do what the TLS config asks (see the README's capability matrix).
 */
export function warnTlsLimits(
  adapter: Pick<RuntimeAdapter, 'name' | 'sni' | 'tls13Only' | 'http2'>,
  tls: Config['tls'],
  material: TlsMaterial,
  logger: Logger,
): void {
  const runtime = adapter.name
  if (adapter.sni === false && material.certificates.length > 1) {
    logger.warn(`${runtime}: SNI is not available, the default certificate is served`, {
      default: material.certificates[0]!.names,
    })
  }
  if (adapter.tls13Only === false && tls.minVersion === 'TLSv1.3') {
    logger.warn(`${runtime} accepts TLS 1.2 and 1.3: tls.minVersion TLSv1.3 is not enforced`)
  }
  if (!adapter.http2 && tls.http2) {
    logger.info(`${runtime} serves HTTP/1.1 only: no HTTP/2 by ALPN`)
  }
}

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
  server: RunningServer,
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

/**
 * Start the plain-HTTP listener that redirects to HTTPS, when `tls.redirectPort` is set.
 *
 * @returns the listener, or `undefined` when none is configured
 */
export async function startRedirectListener(
  runtime: RuntimeAdapter,
  config: Config,
  httpsPort: number,
  logger: Logger,
): Promise<RunningServer | undefined> {
  const port = config.tls.redirectPort
  if (!config.tls.enabled || port === undefined) return undefined
  let server: RunningServer
  try {
    server = await serveHttp(runtime, {
      handler: createRedirectHandler({
        httpsPort,
        limits: config.limits,
        rawHead: (_request, env) => http1Env(env)?.rawHead,
      }),
      host: config.listen.host,
      port,
      config,
    })
  } catch (error) {
    fail(`Cannot listen on ${config.listen.host}:${port} (redirect)`, error)
  }
  logger.info('redirecting to https', { port: server.port, to: httpsPort })
  return server
}

/**
 * On SIGTERM or SIGINT, let open WebSockets run for the shutdown grace period, then close them
 * with 1001 Going Away (RFC 6455 §7.4.1), a second before the process has to be gone.
 */
export function closeWebSocketsOnShutdown(webSockets: WebSocketRouter, graceMs: number): void {
  let scheduled = false
  const onSignal = () => {
    if (scheduled) return
    scheduled = true
    const timer = setTimeout(
      () => webSockets.closeAll(1001, 'Server shutting down'),
      Math.max(0, graceMs - 1000),
    )
    timer.unref?.()
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
}
