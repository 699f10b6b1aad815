/**
 * TLS material: the configured PEM files, or a self-signed certificate generated with
 * `selfsigned` into `certs/` (SANs localhost, 127.0.0.1 and ::1; the key at mode 0600), reused on
 * the next start while it is valid.
 */
import { X509Certificate } from 'node:crypto'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generate } from 'selfsigned'
import type { Config } from '../../src/config.ts'

/** A PEM certificate chain and its private key. */
export interface TlsMaterial {
  cert: string
  key: string
}

/** Where generated certificates go, relative to the working directory. */
export const CERT_DIR = 'certs'

/**
 * Load the certificate and key named in the config, or the self-signed pair.
 *
 * @throws {Error} naming the file that is missing or unreadable
 */
export async function loadTlsMaterial(
  tls: Config['tls'],
  log: (msg: string) => void,
): Promise<TlsMaterial> {
  if (tls.cert && tls.key) {
    return { cert: await readPem(tls.cert, 'tls.cert'), key: await readPem(tls.key, 'tls.key') }
  }
  return selfSigned(CERT_DIR, log)
}

/** A certificate or key file that is missing, unreadable or not PEM: a configuration error. */
export class TlsFileError extends Error {
  override name = 'TlsFileError'
}

async function readPem(path: string, field: string): Promise<string> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new TlsFileError(
      `${field}: Cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    )
  }
  if (!text.includes('-----BEGIN ')) throw new TlsFileError(`${field}: ${path} is not a PEM file`)
  return text
}

/** Reuse `dir/selfsigned.{crt,key}` when present and valid for another day; else generate them. */
export async function selfSigned(dir: string, log: (msg: string) => void): Promise<TlsMaterial> {
  const certPath = join(dir, 'selfsigned.crt')
  const keyPath = join(dir, 'selfsigned.key')
  try {
    const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')])
    const validTo = Date.parse(new X509Certificate(cert).validTo)
    if (validTo - Date.now() > 86_400_000) return { cert, key }
  } catch {
    // Missing or unreadable: generate below.
  }
  const notAfter = new Date(Date.now() + 365 * 86_400_000)
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
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
  await mkdir(dir, { recursive: true })
  await writeFile(keyPath, pems.private, { mode: 0o600 })
  await chmod(keyPath, 0o600)
  await writeFile(certPath, pems.cert, { mode: 0o644 })
  log(
    `generated a self-signed certificate for localhost in ${certPath} (key ${keyPath}, mode 0600)`,
  )
  return { cert: pems.cert, key: pems.private }
}
