/**
 * The layer-4 listeners: one runtime listener per `tcp` entry, each handing its connections to
 * the balancer's {@link TcpService} (through the PROXY protocol reader when `acceptProxy` is
 * set), and their shutdown: stop accepting, let open connections finish for the grace period,
 * then close what is left.
 */
import type { Config } from '../../src/config.ts'
import { acceptProxy } from '../../src/tcp/proxy-accept.ts'
import type { TcpService } from '../../src/tcp/service.ts'
import type { Logger } from '../../src/types.ts'
import type { Listener, RuntimeAdapter } from '../adapter.ts'
import { loadTlsMaterial, type TlsMaterial } from '../tls/certs.ts'

/** The running TCP listeners. */
export interface TcpListeners {
  /** Stop accepting; wait for open connections up to `graceMs`, then close them. */
  close(graceMs: number): Promise<void>
}

/**
 * Listen for every TCP service.
 *
 * @param tls the public listener's certificates, for a listener with `tls: true`
 * @throws when a port cannot be bound (the caller names the listener and exits)
 */
export async function serveTcp(
  runtime: RuntimeAdapter,
  services: readonly TcpService[],
  config: Config,
  tls: TlsMaterial | undefined,
  logger: Logger,
): Promise<TcpListeners> {
  const listeners: { listener: Listener; close?: () => void }[] = []
  for (const service of services) {
    const { name, listen } = service.config
    const wanted = service.config.tls
    const material =
      wanted === undefined
        ? undefined
        : wanted === true
          ? (tls ??
            (await loadTlsMaterial({ ...config.tls, enabled: true }, (msg) => logger.info(msg))))
          : await loadTlsMaterial(
              {
                ...config.tls,
                enabled: true,
                cert: wanted.cert,
                key: wanted.key,
                certificates: [],
              },
              (msg) => logger.info(msg),
            )
    const trusted = service.config.acceptProxy?.trusted
    const accept = trusted
      ? acceptProxy(service.accept, {
          trusted,
          onRefuse: (reason, socket) =>
            logger.warn('tcp connection refused', {
              listener: name,
              client: socket.remoteAddress,
              reason,
            }),
        })
      : undefined
    let listener: Listener
    try {
      listener = await runtime.listen(
        { host: listen.host, port: listen.port, tls: material },
        accept ?? service.accept,
      )
    } catch (error) {
      throw new Error(`Cannot listen on ${listen.host}:${listen.port} (tcp.${name})`, {
        cause: error,
      })
    }
    // Port 0 took a free port: the service names the bound one (the PROXY header's destination,
    // the metrics), not 0.
    if (listen.port === 0) {
      service.configure({ ...service.config, listen: { ...listen, port: listener.port } })
    }
    listeners.push({ listener, close: accept && (() => accept.close()) })
    logger.info('tcp listening', {
      listener: name,
      port: listener.port,
      pool: service.config.pool,
      tls: material !== undefined,
    })
  }
  return {
    async close(graceMs) {
      await Promise.all(
        listeners.map(({ listener, close }) => {
          close?.()
          return listener.close()
        }),
      )
      const open = () => services.reduce((total, service) => total + service.size, 0)
      const deadline = Date.now() + graceMs
      while (open() > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const closed = services.reduce((total, service) => total + service.closeAll('shutdown'), 0)
      if (closed > 0) logger.warn('tcp connections closed at shutdown', { connections: closed })
    },
  }
}
