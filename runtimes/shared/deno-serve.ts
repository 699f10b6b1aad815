/**
 * Deno's HTTP server, with SNI over several certificates.
 *
 * `Deno.serve` takes one certificate. Deno 2.x keeps the parts it is built from in
 * `Deno[Deno.internal]`: `Deno.listenTls` takes an SNI resolver under
 * `Symbol.for('unstableSniResolver')` (denoland/deno#23233, not in the public types), and
 * `serveHttpOnListener` serves a listener with the same hyper server, accept loop and h2 by ALPN
 * as `Deno.serve`. With one certificate, or where those parts are missing, it is `Deno.serve`.
 */
import type { CertifiedKey, TlsMaterial } from './certs.ts'
import { selectCertificate } from './certs.ts'

/** A request handler, as `Deno.serve` calls it. */
export type DenoHandler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>

/** What {@link denoServe} listens with. */
export interface DenoServeOptions {
  hostname: string
  port: number
  /** TLS material: one certificate, or several picked by SNI. */
  tls?: TlsMaterial
  handler: DenoHandler
}

/** A listening Deno server. */
export interface DenoServer {
  readonly port: number
  /**
   * Serve new certificates from the next handshake on: a new listener on the same port
   * (SO_REUSEPORT, Linux) takes over and the old one drains; open connections keep theirs.
   */
  setTls(material: TlsMaterial): void
  /** Stop accepting, let in-flight requests finish, close idle connections. */
  shutdown(): Promise<void>
}

/** What `Deno.serve` and `serveHttpOnListener` both return. */
interface Served {
  readonly addr: Deno.Addr
  shutdown(): Promise<void>
}

interface ServeInternals {
  serveHttpOnListener(
    listener: Deno.Listener,
    signal: AbortSignal | undefined,
    handler: DenoHandler,
    onError: (error: unknown) => Response,
    onListen: () => void,
  ): Served
}

/** `Deno[Deno.internal]`, where it still has what SNI needs. */
const internals = ((): ServeInternals | undefined => {
  const deno = Deno as unknown as Record<symbol, Record<string, unknown> | undefined>
  const found = deno[(Deno as unknown as { internal: symbol }).internal]
  return typeof found?.serveHttpOnListener === 'function'
    ? (found as unknown as ServeInternals)
    : undefined
})()

/** Whether this Deno picks certificates by SNI (it needs `serveHttpOnListener`). */
export const DENO_SNI = internals !== undefined

/** `Deno.listenTls`'s SNI resolver option. */
const SNI_RESOLVER = Symbol.for('unstableSniResolver')

/**
 * Deno keeps each SNI name's certificate in a cache that only closing the listener empties
 * (about 5 KB a name in Deno 2.9.6): a new listener takes over after this many names, so that
 * made-up names can't fill the memory.
 */
export const MAX_SNI_NAMES = 4096

/** ALPN: h2 with HTTP/1.1 fallback (RFC 7301, RFC 9113 §3.2), as `Deno.serve` offers. */
const ALPN = ['h2', 'http/1.1']

/** As `Deno.serve`'s default: log, and answer 500. */
function onError(error: unknown): Response {
  console.error(error)
  return new Response('Internal Server Error', { status: 500 })
}

/**
 * Serve `handler` on `hostname:port`: `Deno.serve`, or with several certificates a TLS listener
 * that picks one by SNI (exact name, then wildcard, then the default; see `selectCertificate`).
 *
 * @example
 * ```ts
 * const server = denoServe({ hostname: '127.0.0.1', port: 8443, tls, handler })
 * server.setTls(reloaded)
 * await server.shutdown()
 * ```
 */
export function denoServe({ hostname, port, tls, handler }: DenoServeOptions): DenoServer {
  let names = 0
  let material = tls
  const listen = (certs: TlsMaterial | undefined, at: number): Served => {
    if (!certs || certs.certificates.length < 2 || !internals) {
      return Deno.serve(
        {
          hostname,
          port: at,
          ...(certs ? { cert: certs.cert, key: certs.key, reusePort: true } : {}),
          onListen: () => {},
        },
        handler,
      )
    }
    const certificates = certs.certificates
    // `reusePort` (--unstable-net) and the resolver are not in the stable types.
    const options: unknown = {
      hostname,
      port: at,
      reusePort: true,
      alpnProtocols: ALPN,
      [SNI_RESOLVER]: (serverName: string) => resolve(certificates, serverName),
    }
    const listener = Deno.listenTls(options as Deno.ListenTlsOptions & Deno.TlsCertifiedKeyPem)
    names = 0
    return internals.serveHttpOnListener(listener, undefined, handler, onError, () => {})
  }
  const resolve = (certificates: CertifiedKey[], serverName: string) => {
    // Each call is a name (or a name and ALPN offer) this listener has not cached yet.
    if (++names === MAX_SNI_NAMES) {
      setTimeout(() => {
        try {
          swap(material)
        } catch (error) {
          console.error('fulcrum: a new TLS listener for SNI failed', error)
        }
      })
    }
    // No SNI (a client that connects by address) comes as an empty name: the default.
    const { cert, key } = selectCertificate(certificates, serverName || undefined)
    return { cert, key }
  }

  let current = listen(material, port)
  const draining = new Set<Promise<void>>()
  const swap = (next: TlsMaterial | undefined) => {
    const previous = current
    current = listen(next, (previous.addr as Deno.NetAddr).port)
    material = next
    const done = previous.shutdown()
    draining.add(done)
    void done.finally(() => draining.delete(done))
  }
  return {
    port: (current.addr as Deno.NetAddr).port,
    setTls: (next) => swap(next),
    shutdown: async () => {
      await Promise.all([current.shutdown(), ...draining])
    },
  }
}
