/**
 * `--workers N`: several processes serve the public port, started as the runtime says
 * (`RuntimeAdapter.startWorker`). On Node they are node:cluster workers (the primary hands
 * connections out round robin, runtimes/node/cluster.ts); on Bun they are processes of their own
 * ({@link spawnWorker}) listening with SO_REUSEPORT (the kernel spreads connections). Deno has
 * none (it would need --allow-run). The primary serves nothing:
 * it starts the workers, passes signals on, restarts a worker that dies, and exits 0 once every
 * worker has stopped.
 *
 * Consistency: each worker probes its backends itself, on the same schedule and thresholds, so
 * their health views differ at most for about one probe interval. The admin API runs in worker 1
 * only; every change it accepts (POST, PUT, PATCH, DELETE answered 2xx) is replayed, through the
 * primary, into the admin app of every other worker, so the backend set, weights, drains and
 * sticky settings stay the same everywhere.
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import process from 'node:process'
import type { Logger } from '../../src/types.ts'
import type { RuntimeAdapter, WorkerProcess } from '../adapter.ts'

/** The environment variable that tells a process which worker it is (1-based). */
export const WORKER_ENV = 'FULCRUM_WORKER_ID'

/** This process's worker number, when it is one of several. */
export function workerId(): number | undefined {
  const value = process.env[WORKER_ENV]
  return value ? Number(value) : undefined
}

/** One accepted admin change, as worker 1 passes it on. */
export interface AdminChange {
  readonly kind: 'fulcrum-admin-change'
  readonly method: string
  readonly url: string
  readonly headers: [string, string][]
  readonly body: string
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * Wrap worker 1's admin handler so that every change it accepts is sent to the primary, which
 * passes it to the other workers.
 */
export function broadcastAdminChanges(
  handler: (request: Request, env: unknown) => Response | Promise<Response>,
): (request: Request, env: unknown) => Promise<Response> {
  return async (request, env) => {
    if (!MUTATING.has(request.method) || !process.send) return handler(request, env)
    const body = await request.text()
    const headers = [...request.headers]
    const response = await handler(
      new Request(request.url, { method: request.method, headers, body: body || undefined }),
      env,
    )
    if (response.ok) {
      const change: AdminChange = {
        kind: 'fulcrum-admin-change',
        method: request.method,
        url: request.url,
        headers,
        body,
      }
      process.send(change)
    }
    return response
  }
}

/** In a worker other than 1: apply the admin changes worker 1 accepted. */
export function replayAdminChanges(
  handler: (request: Request, env: unknown) => Response | Promise<Response>,
  logger: Logger,
): void {
  process.on('message', (message: unknown) => {
    const change = message as AdminChange
    if (change?.kind !== 'fulcrum-admin-change') return
    const request = new Request(change.url, {
      method: change.method,
      headers: change.headers,
      body: change.body || undefined,
    })
    Promise.resolve(handler(request, {}))
      .then(async (response) => {
        if (!response.ok) {
          logger.warn('admin change from worker 1 rejected here', {
            method: change.method,
            url: change.url,
            status: response.status,
            body: (await response.text()).slice(0, 200),
          })
        }
      })
      .catch((error) => logger.error('admin change replay failed', { error: String(error) }))
  })
}

/** A free TCP port on `host`, for reusePort workers that were asked for port 0. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/**
 * A `RuntimeAdapter.startWorker` that spawns the runtime's executable again, as
 * `execPath ...execArgs ...argv`, with an IPC channel to the primary.
 *
 * @example
 * ```ts
 * startWorker: spawnWorker(['run', process.argv[1]!]) // bun run runtimes/bun.ts …
 * ```
 */
export function spawnWorker(
  execArgs: readonly string[],
): NonNullable<RuntimeAdapter['startWorker']> {
  return (argv, env) => {
    const child = spawn(process.execPath, [...execArgs, ...argv], {
      env,
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    })
    return {
      send: (message) => child.send?.(message as object),
      kill: (signal) => child.kill(signal),
      onMessage: (listener) => child.on('message', listener),
      onExit: (listener) => child.on('exit', (code) => listener(code)),
    }
  }
}

/**
 * Run as the primary of `count` workers.
 *
 * @param runtime the runtime's name, for the log
 * @param startWorker how the runtime starts a worker
 */
export async function runPrimary(options: {
  runtime: string
  startWorker: NonNullable<RuntimeAdapter['startWorker']>
  count: number
  argv: readonly string[]
  host: string
  port: number
  logger: Logger
}): Promise<void> {
  const { runtime, count, logger } = options
  let argv = [...options.argv]
  // Processes that each bind with SO_REUSEPORT must agree on the port beforehand; and cluster
  // workers share listeners on port 0 by the order of their listen() calls, which differs
  // between worker 1 (admin first) and the others.
  if (options.port === 0) {
    argv = [...argv, '--port', String(await freePort(options.host))]
  }
  const start = (id: number): WorkerProcess =>
    options.startWorker(argv, { ...process.env, [WORKER_ENV]: String(id) })

  const workers = new Map<number, WorkerProcess>()
  let stopping = false
  const launch = (id: number) => {
    const worker = start(id)
    workers.set(id, worker)
    worker.onMessage((message) => {
      if ((message as AdminChange)?.kind !== 'fulcrum-admin-change') return
      for (const [other, handle] of workers) if (other !== id) handle.send(message)
    })
    worker.onExit((code) => {
      workers.delete(id)
      if (stopping) {
        if (workers.size === 0) {
          logger.info('all workers stopped', {})
          process.exit(0)
        }
        return
      }
      logger.error('worker exited: starting it again', { worker: id, code })
      setTimeout(() => launch(id), 500)
    })
  }
  for (let id = 1; id <= count; id++) launch(id)
  logger.info('workers started', { workers: count, runtime, pid: process.pid })

  const stop = (signal: 'SIGTERM' | 'SIGINT') => {
    if (stopping) {
      // A second signal: stop at once.
      for (const worker of workers.values()) worker.kill('SIGKILL')
      process.exit(0)
    }
    stopping = true
    if (workers.size === 0) process.exit(0)
    for (const worker of workers.values()) worker.kill(signal)
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGHUP', () => {
    for (const worker of workers.values()) worker.kill('SIGHUP')
  })
}
