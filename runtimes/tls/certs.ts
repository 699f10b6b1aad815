/**
 * TLS material: the configured PEM files (a default certificate and more for SNI), or a
 * self-signed certificate generated with `selfsigned` into `certs/` (SANs localhost, 127.0.0.1
 * and ::1; the key at mode 0600), reused on the next start while it is valid.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Config } from '../../src/config.ts'

/** A PEM certificate chain and its private key. */
export interface CertifiedKey {
  cert: string
  key: string
  /** The DNS names it is valid for (SANs, else the CN), lower-case; `*.` for wildcards. */
  names: string[]
}

/** What a TLS listener serves. */
export interface TlsMaterial {
  /** The default certificate chain (the first of {@link certificates}). */
  cert: string
  key: string
  /** Every certificate, the default first; SNI picks among them by name. */
  certificates: CertifiedKey[]
  /** The oldest TLS version accepted. */
  minVersion: 'TLSv1.2' | 'TLSv1.3'
}

/** The DNS names in a certificate: its DNS SANs, or its CN when it has none. */
export function certificateNames(pem: string): string[] {
  const x509 = new X509Certificate(pem)
  const sans = (x509.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).toLowerCase())
  if (sans.length > 0) return sans
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject)?.[1]
  return cn ? [cn.toLowerCase()] : []
}

/**
 * The certificate for an SNI name: an exact name, then a wildcard one label deep (RFC 6125
 * §6.4.3), then the default.
 */
export function selectCertificate(
  certificates: readonly CertifiedKey[],
  serverName: string | undefined,
): CertifiedKey {
  const name = serverName?.toLowerCase()
  if (name) {
    const exact = certificates.find((c) => c.names.includes(name))
    if (exact) return exact
    const dot = name.indexOf('.')
    if (dot > 0) {
      const wildcard = `*${name.slice(dot)}`
      const match = certificates.find((c) => c.names.includes(wildcard))
      if (match) return match
    }
  }
  return certificates[0]!
}

/** A certificate and key that belong together, with its names. */
function certify(cert: string, key: string, field: string): CertifiedKey {
  let matches: boolean
  try {
    matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))
  } catch (error) {
    throw new TlsFileError(`${field}: Not a certificate and key: ${(error as Error).message}`)
  }
  // A start-up failure (exit 1), as when the runtime's own TLS stack finds it.
  if (!matches)
    throw new Error(`${field}.key: The key does not match the certificate (key values mismatch)`)
  return { cert, key, names: certificateNames(cert) }
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
  const pairs = [
    ...(tls.cert && tls.key ? [{ cert: tls.cert, key: tls.key, field: 'tls' }] : []),
    ...tls.certificates.map((pair, i) => ({ ...pair, field: `tls.certificates.${i}` })),
  ]
  const certificates =
    pairs.length > 0
      ? await Promise.all(
          pairs.map(async ({ cert, key, field }) =>
            certify(
              await readPem(cert, `${field}.cert`),
              await readPem(key, `${field}.key`),
              field,
            ),
          ),
        )
      : [await selfSigned(CERT_DIR, log).then(({ cert, key }) => certify(cert, key, 'tls'))]
  const [first] = certificates
  return { cert: first!.cert, key: first!.key, certificates, minVersion: tls.minVersion }
}

/** The files behind the configured certificates, for watching. */
export function certificateFiles(tls: Config['tls']): string[] {
  const files = tls.cert && tls.key ? [tls.cert, tls.key] : []
  for (const pair of tls.certificates) files.push(pair.cert, pair.key)
  return files
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
export async function selfSigned(
  dir: string,
  log: (msg: string) => void,
): Promise<{ cert: string; key: string }> {
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
  // Loaded here, not at start-up: it and its crypto dependencies cost megabytes of memory and
  // are needed only when a certificate is generated.
  const { generate } = await import('selfsigned')
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
