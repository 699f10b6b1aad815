/**
 * Bun's TLS options: Mozilla "intermediate" through `ciphers` and `secureOptions` (Bun takes no
 * `minVersion`), and SNI as one entry per certificate name (`serverName`), the default first.
 */
import type { TlsMaterial } from '../tls/certs.ts'
import {
  INTERMEDIATE_CIPHERS,
  SSL_OP_NO_TLSv1,
  SSL_OP_NO_TLSv1_1,
  SSL_OP_NO_TLSv1_2,
} from '../tls/profile.ts'

/** One entry of `Bun.serve({ tls: [...] })`. */
export interface BunTlsEntry {
  cert: string
  key: string
  serverName?: string
  ciphers: string
  secureOptions: number
}

/** The `tls` option for `Bun.serve`. */
export function bunTls(material: TlsMaterial): BunTlsEntry[] {
  const secureOptions =
    SSL_OP_NO_TLSv1 |
    SSL_OP_NO_TLSv1_1 |
    (material.minVersion === 'TLSv1.3' ? SSL_OP_NO_TLSv1_2 : 0)
  const profile = { ciphers: INTERMEDIATE_CIPHERS, secureOptions }
  const entries: BunTlsEntry[] = [{ cert: material.cert, key: material.key, ...profile }]
  for (const certificate of material.certificates.slice(1)) {
    for (const serverName of certificate.names) {
      entries.push({ cert: certificate.cert, key: certificate.key, serverName, ...profile })
    }
  }
  return entries
}
