/**
 * maxConnections and the wait queue on the real entry points (HAProxy `maxconn`, `timeout
 * queue`), and the fast 503 when every backend is down.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFaultyBackend, type FaultyBackend } from '../helpers/faults.ts'
import { RUNTIMES, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'

const SLOW = 800

/** One GET: its status, Retry-After, error message, and how long it took. */
async function timed(url: string) {
  const startedAt = Date.now()
  const response = await fetch(url)
  const body = await response.text()
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    error: response.status >= 500 ? (JSON.parse(body) as { error: string }).error : undefined,
    ms: Date.now() - startedAt,
  }
}

describe.each(RUNTIMES)('queue and limits on %s', (runtime) => {
  let backend: FaultyBackend
  let fulcrum: FulcrumProcess
  let dir: string

  beforeAll(async () => {
    backend = await startFaultyBackend('s', { kind: 'slow', ms: SLOW })
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-queue-'))
    const config = join(dir, 'queue.json')
    writeFileSync(
      config,
      JSON.stringify({
        backends: [{ url: backend.url, maxConnections: 2 }],
        // A probe starved of CPU on a busy machine must not take the only backend out mid-test:
        // two misses of half a second each, and a killed backend is still down within a second.
        healthCheck: { interval: '500ms', timeout: '500ms', fall: 2 },
        queue: { size: 2, timeout: '2s' },
      }),
    )
    fulcrum = await startFulcrum(runtime, ['--config', config])
  })
  afterAll(async () => {
    await fulcrum?.stop()
    await backend?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('holds a backend to maxConnections, queues the next, and 503s beyond the queue', async () => {
    const requests = Array.from({ length: 5 }, (_, i) => timed(`${fulcrum.url}/q/${i}`))
    const results = await Promise.all(requests)
    const served = results.filter((r) => r.status === 200)
    const full = results.filter((r) => r.status === 503)
    console.info(
      `[${runtime}] ${results.map((r) => `${r.status}${r.error ? ` ${r.error}` : ''} in ${r.ms} ms`).join('; ')}`,
    )
    // Two at once, two more from the queue as slots free up, one turned away at once.
    expect(served).toHaveLength(4)
    expect(full).toHaveLength(1)
    expect(full[0]!.error).toBe('Queue full')
    expect(full[0]!.retryAfter).toBe('2')
    expect(full[0]!.ms).toBeLessThan(SLOW)
    expect(served.filter((r) => r.ms >= 2 * SLOW - 100)).toHaveLength(2)
    expect(backend.maxActive).toBe(2)
  })

  it('503s with Retry-After when the wait outlasts the queue timeout', async () => {
    backend.set({ kind: 'slow', ms: 3000 })
    try {
      const results = await Promise.all(
        Array.from({ length: 3 }, (_, i) => timed(`${fulcrum.url}/t/${i}`)),
      )
      const late = results.find((r) => r.status === 503)!
      expect(late).toBeDefined()
      expect(late.error).toBe('Queue timeout')
      expect(late.retryAfter).toBe('2')
      expect(late.ms).toBeGreaterThanOrEqual(1900)
      expect(late.ms).toBeLessThan(3000)
      expect(results.filter((r) => r.status === 200)).toHaveLength(2)
    } finally {
      backend.set({ kind: 'slow', ms: SLOW })
    }
  })

  it('answers 503 well under 100 ms once every backend is down', async () => {
    await backend.kill()
    try {
      await fulcrum.waitForLog((l) => l.msg === 'backend down', 10_000)
      const results = []
      for (let i = 0; i < 10; i++) results.push(await timed(`${fulcrum.url}/down/${i}`))
      const times = results.map((r) => r.ms).sort((a, b) => a - b)
      console.info(`[${runtime}] all down: 503 in ${times.join(', ')} ms`)
      for (const result of results) {
        expect(result.status).toBe(503)
        expect(result.error).toBe('No backend available')
        expect(result.retryAfter).toBe('1')
      }
      // The median well under 100 ms; every one under it, with room for a busy machine.
      expect(times[5]!).toBeLessThan(50)
      expect(times.at(-1)!).toBeLessThan(100)
    } finally {
      await backend.revive()
    }
  })
})
