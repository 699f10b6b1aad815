/**
 * The start-up sequence every entry point runs: configure, TLS, demo backends, the balancer, the
 * listener, and graceful shutdown. A runtime supplies only a {@link RuntimeAdapter}.
 */
import process from 'node:process'
import { createBalancer } from '../../src/balancer.ts'
import { BackendSchema, type Config } from '../../src/config.ts'
import { DEMO_NAMES, demoBackend } from '../../src/demo.ts'
import { createJsonLogger } from '../../src/log.ts'
import type { UpstreamFetch } from '../../src/types.ts'
import {
  configure,
  fail,
  keepServingOnStrayErrors,
  onShutdownSignal,
  readTextFile,
  usageError,
} from './bootstrap.ts'
import { loadTlsMaterial, TlsFileError, type TlsMaterial } from './certs.ts'
import { tcpConnect } from './tcp.ts'

/** A request handler as the runtime's server calls it. */
export type Handler = (request: Request, env: unknown) => Response | Promise<Response>

/** A listening server. */
export interface RunningServer {
  readonly port: number
  /** Stop accepting, let in-flight requests finish, close keep-alive connections. */
  close(): Promise<void>
}

/** What differs between Node, Deno and Bun. */
export interface RuntimeAdapter {
  readonly name: 'node' | 'deno' | 'bun'
  createFetch(config: Config): UpstreamFetch
  clientAddress(request: Request, env: unknown): string | undefined
  serve(options: {
    handler: Handler
    host: string
    port: number
    tls?: TlsMaterial
    config: Config
  }): Promise<RunningServer>
}

/** Run fulcrum on `runtime` with the process's command line. */
export async function startFulcrum(
  runtime: RuntimeAdapter,
  argv: readonly string[],
): Promise<void> {
  let config = await configure(argv)
  const logger = createJsonLogger()
  const info = (msg: string) => logger.info(msg)

  const demos: RunningServer[] = []
  if (config.demo) {
    for (const name of DEMO_NAMES) {
      const server = await runtime.serve({
        handler: demoBackend(name),
        host: '127.0.0.1',
        port: 0,
        config,
      })
      demos.push(server)
    }
    const urls = demos.map((server) => BackendSchema.parse(`http://127.0.0.1:${server.port}`))
    config = { ...config, backends: [...config.backends, ...urls] }
    logger.info('demo backends started', { backends: urls.map((b) => b.url) })
  }

  let tls: TlsMaterial | undefined
  if (config.tls.enabled) {
    try {
      tls = await loadTlsMaterial(config.tls, info)
    } catch (error) {
      if (error instanceof TlsFileError) usageError(error.message)
      fail((error as Error).message)
    }
  }

  const balancer = createBalancer(config, {
    fetch: runtime.createFetch(config),
    clientAddress: runtime.clientAddress,
    tcpConnect,
    readTextFile,
    logger,
  })

  let server: RunningServer
  try {
    server = await runtime.serve({
      handler: (request, env) => balancer.app.fetch(request, env),
      host: config.listen.host,
      port: config.listen.port,
      tls,
      config,
    })
  } catch (error) {
    fail(
      `Cannot listen on ${config.listen.host}:${config.listen.port}: ${(error as Error).message}`,
    )
  }
  balancer.start()
  keepServingOnStrayErrors(logger.error)
  const scheme = tls ? 'https' : 'http'
  logger.info('listening', {
    url: `${scheme}://${config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host}:${server.port}`,
    port: server.port,
    runtime: runtime.name,
    strategy: config.strategy,
    backends: balancer.pool.size,
    pid: process.pid,
  })

  onShutdownSignal(
    config.shutdownGrace,
    async () => {
      await server.close()
      await balancer.stop()
      await Promise.all(demos.map((demo) => demo.close()))
      logger.info('stopped', {})
    },
    info,
  )
}
