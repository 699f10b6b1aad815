/**
 * Logging never kills the process (issue 11): once the reader of fulcrum's standard output and
 * error is gone (a log shipper that died, a task runner that exited), every write fails with
 * EPIPE. fulcrum drops those lines and goes on serving, and still drains and exits 0 on SIGTERM.
 */
import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { startBackend } from '../helpers/backends.ts'
import { RUNTIMES, startFulcrum } from '../helpers/fulcrum.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A loopback port with nothing listening on it. */
async function deadPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe.each(RUNTIMES)('on %s', (runtime) => {
  it('a closed standard output and error: lines are dropped, requests still answered', async () => {
    const backend = await startBackend('a')
    const dead = `http://127.0.0.1:${await deadPort()}`
    // Every request writes an access-log line to stdout; the dead backend's probes write
    // warnings to stderr.
    const fulcrum = await startFulcrum(runtime, [
      '--backend',
      backend.url,
      '--backend',
      dead,
      '--access-log',
      '-',
      '--health-interval',
      '200ms',
      '--health-timeout',
      '100ms',
    ])
    try {
      // The reader goes away: from now on each write gets EPIPE.
      fulcrum.child.stdout!.destroy()
      fulcrum.child.stderr!.destroy()
      const statuses: number[] = []
      // Past the access log's flush interval (1 s) and a few probe rounds.
      const until = Date.now() + 2500
      while (Date.now() < until) {
        const response = await fetch(`${fulcrum.url}/`, { signal: AbortSignal.timeout(5000) })
        await response.arrayBuffer()
        statuses.push(response.status)
        await sleep(50)
      }
      expect(fulcrum.child.exitCode).toBeNull()
      // The dead backend is out once its probes fail: the last answers all come from `a`.
      expect(statuses.slice(-5)).toEqual([200, 200, 200, 200, 200])
      expect(await fulcrum.stop('SIGTERM')).toBe(0)
    } finally {
      await fulcrum.stop('SIGKILL')
      await backend.close()
    }
  })
})
