/**
 * What start-up adds around the public listener: warnings where the runtime can't do what the
 * TLS config asks, the optional HTTP→HTTPS redirect listener, and open WebSockets closed on
 * shutdown.
 */
import process from 'node:process'
import type { Config } from '../../src/config.ts'
import { createRedirectHandler } from '../../src/edge/redirect.ts'
import type { WebSocketRouting } from '../../src/websocket.ts'
import { http1Env } from '../../src/http1/request.ts'
import type { Logger } from '../../src/types.ts'
import type { RuntimeAdapter } from '../adapter.ts'
import { fail } from './bootstrap.ts'
import { serveHttp, type RunningServer } from './serve-http.ts'

/**
 * Say where the runtime can't do what the TLS config asks (see the README's capability matrix).
 */
export function warnTlsLimits(
  adapter: Pick<RuntimeAdapter, 'name' | 'tls13Only' | 'http2'>,
  tls: Config['tls'],
  logger: Logger,
): void {
  const runtime = adapter.name
  if (adapter.tls13Only === false && tls.minVersion === 'TLSv1.3') {
    logger.warn(`${runtime} accepts TLS 1.2 and 1.3: tls.minVersion TLSv1.3 is not enforced`)
  }
  if (!adapter.http2 && tls.http2) {
    logger.info(`${runtime} serves HTTP/1.1 only: no HTTP/2 by ALPN`)
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
export function closeWebSocketsOnShutdown(webSockets: WebSocketRouting, graceMs: number): void {
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
