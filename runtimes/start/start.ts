/**
 * The start-up sequence every entry point runs: configure, TLS, demo backends, the balancer, the
 * listener, and graceful shutdown. A runtime supplies only a {@link RuntimeAdapter}.
 */
import process from 'node:process'
import { createBalancer } from '../../src/balancer.ts'
import { configSchemas, ConfigError, servesHttp, type Config } from '../../src/config.ts'
import { DEMO_NAMES, demoBackend } from '../../src/demo.ts'
import { createJsonLogger } from '../../src/log.ts'
import { http1Env } from '../../src/http1/request.ts'
import { createH1Fetch } from '../../src/http1/client.ts'
import { watchUpstreamBody } from '../../src/http1/body.ts'
import type { RuntimeDeps } from '../../src/types.ts'
import type { RuntimeAdapter } from '../adapter.ts'
import { loadTlsMaterial, TlsFileError, type TlsMaterial } from '../tls/certs.ts'
import { enableCertificateReload } from '../tls/reload.ts'
import { tcpConnect } from '../upstream/tcp-probe.ts'
import {
  configFileOf,
  configure,
  fail,
  keepServingOnStrayErrors,
  onReload,
  onShutdownSignal,
  readTextFile,
  reconfigure,
  usageError,
} from './bootstrap.ts'
import {
  dnsResolver,
  memoryUsage,
  openAccessLog,
  writeFileAtomic,
  type AccessLogSink,
} from './control-deps.ts'
import { closeWebSocketsOnShutdown, startRedirectListener, warnTlsLimits } from './edge.ts'
import { exec } from './exec.ts'
import { redisFactory } from './redis.ts'
import { serveHttp, type Handler, type RunningServer } from './serve-http.ts'
import { serveTcp, type TcpListeners } from './serve-tcp.ts'
import { RESTART_SECTIONS } from '../../src/admin/config-input.ts'
import { broadcastAdminChanges, replayAdminChanges, runPrimary, workerId } from './workers.ts'

export type { Handler, RunningServer } from './serve-http.ts'

/**
 * What `src/` needs of the runtime for requests: the engine's `env` answers for HTTP/1.1, the
 * runtime's HTTP/2 server for h2.
 */
export function runtimeDeps(runtime: RuntimeAdapter, config: Config): RuntimeDeps {
  const h2 = runtime.http2
  return {
    fetch: createH1Fetch({
      connect: runtime.connect,
      connectTimeout: config.timeouts.connect,
      fallback: runtime.httpsFetch(config.timeouts.connect),
    }),
    clientAddress: (request, env) =>
      http1Env(env)?.remoteAddress ?? h2?.clientAddress(request, env),
    rawHead: (request, env) => http1Env(env)?.rawHead ?? h2?.rawHead?.(request, env),
    clientSignal: (request, env) =>
      http1Env(env)?.signal ?? h2?.clientSignal?.(request, env) ?? request.signal,
    watchBody: watchUpstreamBody,
    tcpConnect,
    connect: runtime.connect,
    runtime: runtime.name,
    readTextFile,
    // exec health checks: node:child_process, which all three runtimes implement.
    exec,
    // Fleet-wide rate limits (rateLimit.store): ioredis, which all three runtimes run.
    redis: redisFactory(config),
  }
}

/** Run fulcrum on `runtime` with the process's command line. */
export async function startFulcrum(
  runtime: RuntimeAdapter,
  argv: readonly string[],
): Promise<void> {
  let config = await configure(argv)
  const logger = createJsonLogger()
  const info = (msg: string) => logger.info(msg)
  // --workers N: this process only starts and watches the workers (see workers.ts).
  const worker = workerId()
  if (config.workers > 1 && worker === undefined) {
    if (!runtime.startWorker) {
      usageError(`--workers: Not supported on ${runtime.name}; run one process per core instead`)
    }
    return runPrimary({
      runtime: runtime.name,
      startWorker: runtime.startWorker,
      count: config.workers,
      argv,
      host: config.listen.host,
      port: config.listen.port,
      logger,
    })
  }

  const demos: RunningServer[] = []
  let demoBackends: Config['backends'] = []
  if (config.demo) {
    for (const name of DEMO_NAMES) {
      const server = await serveHttp(runtime, {
        handler: demoBackend(name),
        host: '127.0.0.1',
        port: 0,
        config,
      })
      demos.push(server)
    }
    const { BackendSchema } = configSchemas()
    const urls = demos.map((server) => BackendSchema.parse(`http://127.0.0.1:${server.port}`))
    demoBackends = urls
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

  const { accessLog, admin } = config
  const accessLogSink: AccessLogSink | undefined =
    accessLog.enabled && accessLog.path ? openAccessLog(accessLog.path, logger) : undefined
  let server: RunningServer | undefined
  const balancer = createBalancer(config, {
    ...runtimeDeps(runtime, config),
    logger,
    accessLog: accessLogSink && ((lines) => accessLogSink.write(lines)),
    writeFileAtomic,
    dns: dnsResolver,
    memoryUsage,
    openConnections: () => server?.connections?.(),
  })
  try {
    await balancer.restoreState()
  } catch (error) {
    if (error instanceof ConfigError) usageError(error.message)
    throw error
  }

  // The admin API has its own listener (loopback by default): never the public one.
  let adminServer: RunningServer | undefined
  if (balancer.admin && worker !== undefined && worker > 1) {
    replayAdminChanges(balancer.admin.fetch, logger)
  } else if (balancer.admin) {
    const adminApp = balancer.admin
    const adminHandler: Handler = (request, env) => adminApp.fetch(request, env)
    try {
      adminServer = await serveHttp(runtime, {
        handler: worker === undefined ? adminHandler : broadcastAdminChanges(adminHandler),
        host: admin.host,
        port: admin.port,
        config,
      })
    } catch (error) {
      fail(`Cannot listen on ${admin.host}:${admin.port} (admin)`, error)
    }
    if (balancer.adminTokenGenerated) {
      logger.info('admin token generated (choose one with --admin-token or FULCRUM_ADMIN_TOKEN)', {
        token: balancer.adminToken,
      })
    }
    if (!/^(127\.|::1$|localhost$)/.test(admin.host)) {
      logger.warn(
        'the admin API listens beyond loopback over plain HTTP: the token crosses the network in clear',
        { host: admin.host },
      )
    }
    const host = admin.host.includes(':') ? `[${admin.host}]` : admin.host
    logger.info('admin listening', {
      url: `http://${host}:${adminServer.port}`,
      port: adminServer.port,
      dashboard: `http://${host}:${adminServer.port}/dashboard`,
    })
  }

  // Layer 4: the TCP listeners, before the HTTP one (a config may have only these).
  let tcpListeners: TcpListeners | undefined
  if (balancer.tcp.length > 0) {
    try {
      tcpListeners = await serveTcp(runtime, balancer.tcp, config, tls, logger)
    } catch (error) {
      fail((error as Error).message, (error as Error).cause)
    }
  }
  if (!servesHttp(config)) {
    balancer.start()
    keepServingOnStrayErrors(logger.error)
    logger.info('serving tcp only: no http listener (no http pool or route)', {
      runtime: runtime.name,
      pid: process.pid,
    })
    onShutdownSignal(
      config.shutdownGrace,
      async () => {
        await Promise.all([tcpListeners?.close(config.shutdownGrace), adminServer?.close()])
        await balancer.stop()
        await accessLogSink?.close()
        logger.info('stopped', {})
      },
      info,
    )
    return
  }

  // Once shutdown begins, the engine tells every keep-alive client to go (RFC 9112 §9.6), so
  // that no new request arrives on a connection that is about to close.
  try {
    server = await serveHttp(runtime, {
      handler: balancer.fetch,
      host: config.listen.host,
      port: config.listen.port,
      tls,
      http2: config.tls.http2,
      websocket: (request, env) => balancer.webSockets.open(request, env),
      acceptProxy: config.listen.acceptProxy ?? false,
      config,
    })
  } catch (error) {
    fail(`Cannot listen on ${config.listen.host}:${config.listen.port}`, error)
  }
  balancer.start()
  // TLS: certificates reload without a restart; an optional HTTP→HTTPS redirect listener.
  const redirect = await startRedirectListener(runtime, config, server.port, logger)
  closeWebSocketsOnShutdown(balancer.webSockets, config.shutdownGrace)
  if (tls) {
    warnTlsLimits(runtime, config.tls, logger)
    enableCertificateReload(config.tls, server, logger)
  }
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

  // Hot reload: the file is validated first; a bad one is rejected and the config in force stays.
  // Sections that need a restart keep their running values.
  const initial = config
  onReload(
    async (trigger) => {
      let next: Config
      try {
        next = await reconfigure(argv)
      } catch (error) {
        logger.error('reload rejected: the configuration in force stays', {
          trigger,
          reason: error instanceof ConfigError ? error.message : String(error),
        })
        return
      }
      const fixed = RESTART_SECTIONS.filter(
        (section) => JSON.stringify(next[section]) !== JSON.stringify(initial[section]),
      )
      if (fixed.length > 0) {
        logger.warn('reload: these sections need a restart and keep their running values', {
          sections: fixed,
        })
      }
      next = {
        ...next,
        listen: initial.listen,
        tls: initial.tls,
        admin: initial.admin,
        accessLog: initial.accessLog,
        demo: initial.demo,
        cluster: initial.cluster,
        tcp: initial.tcp,
        backends: [...next.backends, ...demoBackends],
      }
      try {
        const changes = balancer.reload(next)
        server?.configure(next)
        logger.info('config reloaded', { trigger, ...changes.backends })
      } catch (error) {
        logger.error('reload failed', {
          trigger,
          reason: String((error as Error)?.message ?? error),
        })
      }
    },
    config.watchConfig ? configFileOf(argv) : undefined,
    logger.warn,
  )

  onShutdownSignal(
    config.shutdownGrace,
    async () => {
      await Promise.all([
        server!.close(),
        adminServer?.close(),
        redirect?.close(),
        tcpListeners?.close(config.shutdownGrace),
      ])
      await balancer.stop()
      await accessLogSink?.close()
      await Promise.all(demos.map((demo) => demo.close()))
      logger.info('stopped', {})
    },
    info,
  )
}
