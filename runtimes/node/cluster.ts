/**
 * Node's `--workers`: node:cluster workers, which share the primary's listening handle (the
 * primary hands connections out round robin), so no SO_REUSEPORT is needed.
 */
import cluster from 'node:cluster'
import type { RuntimeAdapter, WorkerProcess } from '../adapter.ts'

/** Node's `RuntimeAdapter.startWorker`: fork this script again as a cluster worker. */
export const forkWorker: NonNullable<RuntimeAdapter['startWorker']> = (
  argv,
  env,
): WorkerProcess => {
  cluster.setupPrimary({ args: [...argv] })
  const worker = cluster.fork(env)
  return {
    send: (message) => worker.send(message as object),
    kill: (signal) => worker.process.kill(signal),
    onMessage: (listener) => worker.on('message', listener),
    onExit: (listener) => worker.on('exit', (code) => listener(code)),
  }
}
