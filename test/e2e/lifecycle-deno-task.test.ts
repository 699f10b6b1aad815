/**
 * `deno task start` stopped the way systemd (`KillMode=control-group`) and a terminal stop it:
 * SIGTERM to the whole process group, task runner included (issue 11).
 *
 * Deno's task runner forwards the SIGTERM it gets to fulcrum, which has its own already: fulcrum
 * sees the signal twice within a millisecond. Taken as an operator's second signal ("exit now"),
 * that copy dropped every request in flight; it must count once, and the drain must run as it does
 * on a lone process.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { startBackend } from '../helpers/backends.ts'
import { denoTaskCommand, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The slow backend's answer time: the request is in flight for that long. */
const DELAY = 2000

/** The groups started here: a timed-out test must not leave one behind. */
const started: FulcrumProcess[] = []
afterAll(() => Promise.all(started.map((fulcrum) => fulcrum.stop('SIGKILL'))))

/** Start `deno task start` as the leader of its own process group. */
async function startDenoTask(args: readonly string[]): Promise<FulcrumProcess> {
  const fulcrum = await startFulcrum('deno', ['--no-admin', ...args], {
    command: denoTaskCommand,
    detached: true,
  })
  started.push(fulcrum)
  return fulcrum
}

/** SIGTERM to every process of fulcrum's group: the task runner and fulcrum alike. */
const signalGroup = (fulcrum: FulcrumProcess, signal: NodeJS.Signals) =>
  process.kill(-fulcrum.child.pid!, signal)

/** Whether any process of the group is still alive. */
function groupAlive(fulcrum: FulcrumProcess): boolean {
  try {
    process.kill(-fulcrum.child.pid!, 0)
    return true
  } catch {
    return false
  }
}

describe('deno task start, signalled as a process group', () => {
  it('SIGTERM to the group lets the request in flight finish, then exits 0', async () => {
    const slow = await startBackend('slow', (req, res) => {
      if (req.url === '/health') return void res.end('ok')
      setTimeout(() => res.end(`done ${req.url}`), DELAY)
    })
    const fulcrum = await startDenoTask(['--backend', slow.url])
    try {
      const inflight = fetch(`${fulcrum.url}/slow`).then(
        async (r) => ({ status: r.status, body: await r.text() }),
        (error: Error) => ({ status: 0, body: String(error.cause ?? error) }),
      )
      const deadline = Date.now() + 10_000
      while (!slow.requests.some((r) => r.url === '/slow')) {
        if (Date.now() > deadline) throw new Error('The request never reached the backend')
        await sleep(10)
      }
      const signalledAt = Date.now()
      signalGroup(fulcrum, 'SIGTERM')

      expect(await inflight).toEqual({ status: 200, body: 'done /slow' })
      // The task runner exits with fulcrum's own status, once fulcrum is done.
      expect(await fulcrum.exited).toBe(0)
      const elapsed = Date.now() - signalledAt
      expect(elapsed).toBeGreaterThanOrEqual(DELAY - 500)
      expect(fulcrum.logs().filter((l) => l.msg.startsWith('SIGTERM received'))).toHaveLength(1)
      expect(fulcrum.logs().some((l) => l.msg === 'stopped')).toBe(true)
      const deadlineGone = Date.now() + 5000
      while (groupAlive(fulcrum) && Date.now() < deadlineGone) await sleep(20)
      expect(groupAlive(fulcrum), 'a process of the group outlived the task runner').toBe(false)
    } finally {
      await fulcrum.stop('SIGKILL')
      await slow.close()
    }
  })

  it('the same SIGTERM twice within milliseconds (a forwarded copy) counts once', async () => {
    // Deterministic: whether Deno reports the task runner's copy as a second event depends on
    // timing, so here fulcrum alone gets the signal and, 20 ms later, its copy.
    const slow = await startBackend('slow', (req, res) => {
      if (req.url === '/health') return void res.end('ok')
      setTimeout(() => res.end(`done ${req.url}`), DELAY)
    })
    const fulcrum = await startFulcrum('deno', ['--no-admin', '--backend', slow.url])
    try {
      const inflight = fetch(`${fulcrum.url}/slow`).then(
        async (r) => ({ status: r.status, body: await r.text() }),
        (error: Error) => ({ status: 0, body: String(error.cause ?? error) }),
      )
      while (!slow.requests.some((r) => r.url === '/slow')) await sleep(10)
      fulcrum.child.kill('SIGTERM')
      await sleep(20)
      fulcrum.child.kill('SIGTERM')
      expect(await inflight).toEqual({ status: 200, body: 'done /slow' })
      expect(await fulcrum.exited).toBe(0)
    } finally {
      await fulcrum.stop('SIGKILL')
      await slow.close()
    }
  })

  it('a second SIGTERM a second later still ends the drain at once', async () => {
    const stuck = await startBackend('stuck', (req, res) => {
      if (req.url === '/health') return void res.end('ok')
      // Never answers: only the second signal (or the 10 s grace period) ends fulcrum.
    })
    const fulcrum = await startDenoTask(['--backend', stuck.url])
    try {
      const pending = fetch(`${fulcrum.url}/stuck`).catch((error: Error) => error)
      while (!stuck.requests.some((r) => r.url === '/stuck')) await sleep(10)
      signalGroup(fulcrum, 'SIGTERM')
      await fulcrum.waitForLog((l) => l.msg.startsWith('SIGTERM received'))
      // Past the window in which a repeat counts as the task runner's copy.
      await sleep(1300)
      expect(groupAlive(fulcrum)).toBe(true)
      const againAt = Date.now()
      signalGroup(fulcrum, 'SIGTERM')
      expect(await fulcrum.exited).toBe(0)
      expect(Date.now() - againAt).toBeLessThan(3000)
      await pending
    } finally {
      await fulcrum.stop('SIGKILL')
      await stuck.close()
    }
  })
})
