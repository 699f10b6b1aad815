/**
 * Node's TLS server options: Mozilla "intermediate", SNI over every configured certificate, ALPN
 * h2 with HTTP/1.1 fallback, and certificates swapped at run time without dropping connections.
 */
import type { Http2Session } from 'node:http2'
import type { Server } from 'node:net'
import { createSecureContext, type SecureContext, type TLSSocket, type TlsOptions } from 'node:tls'
import type { CertifiedKey, TlsMaterial } from './certs.ts'
import { selectCertificate } from './certs.ts'
import { INTERMEDIATE_CIPHERS, INTERMEDIATE_CURVES } from './tls-profile.ts'

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

/** An HTTP/2 server's connections, so that they can be closed gracefully. */
export interface Http2Connections {
  /**
   * Close them as `server.close()` can't: each HTTP/2 session gets GOAWAY and ends once its
   * streams are done; each HTTP/1.1 connection closes as soon as no response is in progress.
   */
  closeGracefully(): void
}

/** Track the sessions and HTTP/1.1 connections of an HTTP/2 server with `allowHTTP1`. */
export function trackHttp2Connections(server: Server): Http2Connections {
  const sessions = new Set<Http2Session>()
  const http1 = new Set<TLSSocket>()
  server.on('session', (session: Http2Session) => {
    sessions.add(session)
    session.once('close', () => sessions.delete(session))
  })
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') return
    http1.add(socket)
    socket.once('close', () => http1.delete(socket))
  })
  return {
    closeGracefully() {
      for (const session of sessions) session.close()
      const sweep = () => {
        for (const socket of http1) {
          // `_httpMessage` is the response in progress on an HTTP/1.1 connection.
          if (!(socket as { _httpMessage?: unknown })._httpMessage) socket.destroy()
        }
        if (http1.size === 0) clearInterval(timer)
      }
      const timer = setInterval(sweep, 50)
      sweep()
    },
  }
}
