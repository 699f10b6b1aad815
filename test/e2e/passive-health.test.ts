/**
 * Passive health on the real entry points: a flapping backend is ejected for longer each time, a
 * recovered backend's share ramps up (slow start), and backups take traffic only while no primary
 * can. Every request is counted at the client and at the backends.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFaultyBackend, type FaultyBackend } from '../helpers/faults.ts'
import { RUNTIMES, startFulcrum, type LogLine } from '../helpers/fulcrum.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const logTime = (line: LogLine) => Date.parse(String(line.time))

/** Sequential GETs for `ms`; each answer's time and backend. */
async function sequential(url: string, ms: number) {
  const seen: { at: number; status: number; backend: string }[] = []
  const end = Date.now() + ms
  // Bounded: at most 20 000 requests.
  for (let i = 0; Date.now() < end && i < 20_000; i++) {
    const at = Date.now()
    const response = await fetch(`${url}/seq/${i}`)
    seen.push({ at, status: response.status, backend: await response.text() })
  }
  return seen
}

describe.each(RUNTIMES)('passive health on %s', (runtime) => {
  let backends: FaultyBackend[]
  let dir: string
  const write = (name: string, config: unknown) => {
    const path = join(dir, name)
    writeFileSync(path, JSON.stringify(config))
    return path
  }
  const urls = (names: string[]) =>
    names.map((name) => ({ url: backends.find((b) => b.name === name)!.url, id: name }))

  beforeAll(async () => {
    backends = await Promise.all(['a', 'b', 'c', 'x'].map((name) => startFaultyBackend(name)))
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-passive-'))
  })
  afterAll(async () => {
    await Promise.all(backends.map((b) => b.close()))
    rmSync(dir, { recursive: true, force: true })
  })

  it('ejects a flapping backend for longer each time', async () => {
    const [, , c] = backends
    c!.set({ kind: 'status', status: 503 })
    const config = write('flap.json', {
      backends: urls(['a', 'b', 'c']),
      healthCheck: { enabled: false },
      outlierDetection: { consecutive5xx: 3, baseEjectionTime: '300ms', maxEjectionTime: '10s' },
      circuitBreaker: { enabled: false },
    })
    const fulcrum = await startFulcrum(runtime, ['--config', config])
    try {
      const before = c!.count()
      const seen = await sequential(fulcrum.url, 2600)
      const ejected = fulcrum.logs().filter((l) => l.msg === 'backend ejected')
      const returned = fulcrum.logs().filter((l) => l.msg === 'backend returned')
      const times = ejected.map((l) => l.ejectionTime as number)
      const out = ejected
        .slice(0, returned.length)
        .map((l, i) => logTime(returned[i]!) - logTime(l))
      console.info(
        `[${runtime}] ${seen.length} requests; ejection times ${times.join(', ')} ms; ` +
          `measured out ${out.join(', ')} ms; c got ${c!.count() - before}`,
      )
      // Every 503 was retried elsewhere: the client saw none.
      expect(seen.filter((s) => s.status !== 200)).toEqual([])
      expect(seen.some((s) => s.backend === 'c')).toBe(false)
      // base × times ejected: 300, 600, 900 ms …
      expect(times.length).toBeGreaterThanOrEqual(3)
      expect(times.slice(0, 3)).toEqual([300, 600, 900])
      for (const [i, ms] of out.entries()) expect(ms).toBeGreaterThanOrEqual(times[i]! - 20)
      // Three 503s per round reached c, no more: the rest of the time it was out.
      expect(c!.count() - before).toBe(3 * ejected.length)
    } finally {
      await fulcrum.stop()
      c!.set({ kind: 'ok' })
    }
  })

  it('ramps a recovered backend’s share up over the slow-start window', async () => {
    const [, , c] = backends
    const config = write('slow-start.json', {
      backends: urls(['a', 'b', 'c']),
      healthCheck: { interval: '200ms', timeout: '150ms', rise: 1, fall: 1 },
      slowStart: { window: '3s' },
    })
    const fulcrum = await startFulcrum(runtime, ['--config', config])
    try {
      await c!.kill()
      await fulcrum.waitForLog((l) => l.msg === 'backend down' && l.backend === 'c', 10_000)
      await c!.revive()
      const up = await fulcrum.waitForLog(
        (l) => l.msg === 'backend up' && l.backend === 'c',
        10_000,
      )
      const seen = await sequential(fulcrum.url, 3500)
      const share = (from: number, to: number) => {
        const window = seen.filter((s) => s.at >= logTime(up) + from && s.at < logTime(up) + to)
        return window.filter((s) => s.backend === 'c').length / Math.max(1, window.length)
      }
      const early = share(0, 1000)
      const late = share(2500, 3500)
      console.info(
        `[${runtime}] c's share after recovery: ${(early * 100).toFixed(1)}% in the first second, ` +
          `${(late * 100).toFixed(1)}% after the window (${seen.length} requests)`,
      )
      expect(seen.filter((s) => s.status !== 200)).toEqual([])
      // Full share is a third; the first second of a 3 s linear ramp gives at most ~14%.
      expect(early).toBeLessThan(0.2)
      expect(late).toBeGreaterThan(0.25)
      expect(late).toBeGreaterThan(early * 2)
    } finally {
      await fulcrum.stop()
    }
  })

  it('sends traffic to the backup only while no primary can take it', async () => {
    const [a, , , x] = backends
    const config = write('backup.json', {
      backends: [...urls(['a']), { ...urls(['x'])[0], backup: true }],
      healthCheck: { interval: '200ms', timeout: '150ms', rise: 1 },
      outlierDetection: { baseEjectionTime: '10s' },
    })
    const fulcrum = await startFulcrum(runtime, ['--config', config])
    try {
      const beforeX = x!.count()
      const healthy = await sequential(fulcrum.url, 300)
      expect(new Set(healthy.map((s) => s.backend))).toEqual(new Set(['a']))
      expect(x!.count()).toBe(beforeX)

      await a!.kill()
      const down = await sequential(fulcrum.url, 800)
      expect(down.filter((s) => s.status !== 200)).toEqual([])
      expect(new Set(down.map((s) => s.backend))).toEqual(new Set(['x']))

      await a!.revive()
      await fulcrum.waitForLog((l) => l.msg === 'backend up' && l.backend === 'a', 10_000)
      await sleep(100)
      const back = await sequential(fulcrum.url, 300)
      expect(new Set(back.map((s) => s.backend))).toEqual(new Set(['a']))
    } finally {
      await fulcrum.stop()
    }
  })
  it('drains a backend: no new clients, pinned ones and in-flight requests stay, then drained', async () => {
    const [a, b] = backends
    const config = write('drain.json', {
      backends: urls(['a', 'b']),
      healthCheck: { interval: '1s' },
      sticky: { secret: 'drain-test-secret-0123456789' },
    })
    const fulcrum = await startFulcrum(runtime, ['--config', config])
    try {
      // A client pinned to a, and a slow request in flight on a.
      let cookie = ''
      for (let i = 0; i < 10 && !cookie; i++) {
        const response = await fetch(`${fulcrum.url}/pin`)
        if ((await response.text()) === 'a') {
          cookie = response.headers.get('set-cookie')!.split(';')[0]!
        }
      }
      expect(cookie).toMatch(/^lb_sid=/)
      a!.set({ kind: 'slow', ms: 800 })
      const inflight = fetch(`${fulcrum.url}/slow`, { headers: { cookie } })
      while (a!.active === 0) await sleep(10)

      const patched = await fetch(`${fulcrum.adminUrl}/backends/a`, {
        method: 'PATCH',
        headers: {
          authorization: `Bearer ${fulcrum.adminToken}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ draining: true }),
      })
      expect(patched.status).toBe(200)
      a!.set({ kind: 'ok' })

      // New clients go to b only; the pinned client still reaches a.
      for (let i = 0; i < 6; i++) expect(await (await fetch(`${fulcrum.url}/new`)).text()).toBe('b')
      expect(await (await fetch(`${fulcrum.url}/pinned`, { headers: { cookie } })).text()).toBe('a')
      // The request in flight completes; then a is reported drained.
      const answer = await inflight
      expect(answer.status).toBe(200)
      expect(await answer.text()).toBe('a')
      const drained = await fulcrum.waitForLog((l) => l.msg === 'backend drained', 5000)
      expect(drained.backend).toBe('a')
      expect(b!.count()).toBeGreaterThanOrEqual(6)
    } finally {
      await fulcrum.stop()
      a!.set({ kind: 'ok' })
    }
  })
})
