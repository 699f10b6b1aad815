/**
 * Node's TLS server options: Mozilla "intermediate", SNI over every configured certificate, and
 * certificates swapped at run time without dropping connections.
 */
import { createSecureContext, type SecureContext, type TlsOptions } from 'node:tls'
import { selectCertificate, type CertifiedKey, type TlsMaterial } from '../tls/certs.ts'
import { INTERMEDIATE_CIPHERS, INTERMEDIATE_CURVES } from '../tls/profile.ts'

/** The profile's options, for a secure context or a server. */
export function intermediateOptions(material: TlsMaterial): TlsOptions {
  return {
    minVersion: material.minVersion,
    maxVersion: 'TLSv1.3',
    ciphers: INTERMEDIATE_CIPHERS,
    ecdhCurve: INTERMEDIATE_CURVES,
    honorCipherOrder: false,
  }
}

/** A server's TLS options, whose certificates can be replaced while it runs. */
export interface NodeTls {
  /** Pass these to `https.createServer` or `http2.createSecureServer`. */
  readonly options: TlsOptions
  /** The default certificate's options, for `server.setSecureContext`. */
  defaults(): TlsOptions
  /** Use new certificates from the next handshake on. */
  update(material: TlsMaterial): void
}

/**
 * Build the options. SNI picks a certificate by name (exact, then wildcard, then the default);
 * each certificate's secure context is built once per load.
 *
 * @example
 * ```ts
 * const tls = nodeTls(material)
 * const server = https.createServer(tls.options, listener)
 * tls.update(next); server.setSecureContext(tls.defaults())
 * ```
 */
export function nodeTls(material: TlsMaterial): NodeTls {
  let current = material
  let contexts = new Map<CertifiedKey, SecureContext>()
  const contextFor = (certificate: CertifiedKey): SecureContext => {
    let context = contexts.get(certificate)
    if (!context) {
      context = createSecureContext({
        ...intermediateOptions(current),
        cert: certificate.cert,
        key: certificate.key,
      })
      contexts.set(certificate, context)
    }
    return context
  }
  const defaults = (): TlsOptions => ({
    ...intermediateOptions(current),
    cert: current.cert,
    key: current.key,
  })
  return {
    options: {
      ...defaults(),
      SNICallback: (serverName, callback) => {
        try {
          callback(null, contextFor(selectCertificate(current.certificates, serverName)))
        } catch (error) {
          callback(error as Error, undefined)
        }
      },
    },
    defaults,
    update(next) {
      current = next
      contexts = new Map()
    },
  }
}
