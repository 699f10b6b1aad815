/**
 * TLS material made at test time, and the runtime × scheme matrix of the e2e suites that run the
 * same cases over HTTP and HTTPS: a self-signed certificate for `localhost`, 127.0.0.1 and ::1,
 * written with its key to a temporary directory and handed to fulcrum with `--cert`/`--key`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generate } from 'selfsigned'
import { RUNTIMES, type RuntimeName } from './fulcrum.ts'

export type Scheme = 'http' | 'https'
export const SCHEMES: readonly Scheme[] = ['http', 'https']

/** Every runtime over HTTP, then over HTTPS: `describe.each(RUNTIME_SCHEMES)`. */
export const RUNTIME_SCHEMES: [RuntimeName, Scheme][] = RUNTIMES.flatMap((runtime) =>
  SCHEMES.map((scheme): [RuntimeName, Scheme] => [runtime, scheme]),
)

/** A certificate and its key, in memory and on disk. */
export interface TlsMaterial {
  /** The PEM certificate: trust it as `ca` (names localhost, 127.0.0.1 and ::1). */
  cert: string
  key: string
  certPath: string
  keyPath: string
  /** fulcrum's arguments to serve HTTPS with it. */
  args: readonly string[]
  /** Delete the files. */
  remove(): void
}

/** Generate a self-signed certificate for loopback and write it to a new temporary directory. */
export async function makeTlsMaterial(): Promise<TlsMaterial> {
  const generated = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  })
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-tls-material-'))
  const certPath = join(dir, 'localhost.crt')
  const keyPath = join(dir, 'localhost.key')
  writeFileSync(certPath, generated.cert)
  writeFileSync(keyPath, generated.private, { mode: 0o600 })
  return {
    cert: generated.cert,
    key: generated.private,
    certPath,
    keyPath,
    args: ['--cert', certPath, '--key', keyPath],
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}

/** fulcrum's arguments for `scheme`: none for HTTP, the certificate for HTTPS. */
export const schemeArgs = (scheme: Scheme, material: TlsMaterial): readonly string[] =>
  scheme === 'https' ? material.args : []
