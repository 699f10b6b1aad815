import { describe, expect, it } from 'vitest'
import { RiseFall } from '../../../src/pools/health-state.ts'
import type { Logger } from '../../../src/types.ts'
import { backend, stateOf } from './fake-pool.ts'

/** Feed `results` (1 ok, 0 failed) to one backend; per result, `U` up, `D` down or `-`. */
function run(health: RiseFall, results: string, state = stateOf(backend('a'))): string {
  const flips = [...results].map((r, at) => health.observe(state, { ok: r === '1', at })?.to)
  return flips.map((to) => (to === 'up' ? 'U' : to === 'down' ? 'D' : '-')).join('')
}

describe('RiseFall', () => {
  it('flips down on the fall-th failure in a row, and up on the rise-th success', () => {
    const health = new RiseFall({ rise: 2, fall: 3 })
    // A success in a run of failures (and a failure in a run of successes) starts the count again.
    expect(run(health, '0010001111001')).toBe('-----D-U-----')
  })

  it('defaults to rise 2 and fall 3 (the HAProxy defaults)', () => {
    expect(run(new RiseFall(), '000011')).toBe('--D--U')
  })

  it('counts every result and keeps the last one', () => {
    const state = stateOf(backend('a'))
    const health = new RiseFall()
    const probe = { ok: false, at: 5, reason: 'refused' }
    health.observe(state, { ok: true, at: 4 })
    health.observe(state, probe)
    expect(state.lastProbe).toBe(probe)
    expect(state.probes).toEqual({ ok: 1, failed: 1 })
    expect(state).toMatchObject({ consecutiveSuccesses: 0, consecutiveFailures: 1, healthy: true })
  })

  it('logs each flip once with its reason, and returns it', () => {
    const lines: [string, string, Record<string, unknown> | undefined][] = []
    const logger: Logger = {
      info: (msg, fields) => lines.push(['info', msg, fields]),
      warn: (msg, fields) => lines.push(['warn', msg, fields]),
      error: (msg, fields) => lines.push(['error', msg, fields]),
    }
    const health = new RiseFall({ rise: 3, fall: 1 }, logger)
    const state = stateOf(backend('a'))
    expect(health.observe(state, { ok: false, at: 0, reason: 'timeout' })).toEqual({
      to: 'down',
      reason: 'timeout',
    })
    health.observe(state, { ok: false, at: 1, reason: 'timeout' })
    health.observe(state, { ok: true, at: 2 })
    health.observe(state, { ok: true, at: 3 })
    expect(health.observe(state, { ok: true, at: 4 })).toEqual({
      to: 'up',
      reason: '3 consecutive probe successes',
    })
    expect(lines).toEqual([
      [
        'warn',
        'backend down',
        { backend: 'a', url: 'http://a.test', reason: 'timeout', failures: 1 },
      ],
      [
        'info',
        'backend up',
        { backend: 'a', url: 'http://a.test', reason: '3 consecutive probe successes' },
      ],
    ])
  })

  it('keeps the counters across a reload; the new thresholds apply from the next result', () => {
    const health = new RiseFall({ rise: 2, fall: 5 })
    const state = stateOf(backend('a'))
    expect(run(health, '000', state)).toBe('---')
    health.configure({ fall: 4 })
    // The fourth failure in a row meets the new threshold; rise stays as it was.
    expect(run(health, '011', state)).toBe('D-U')
  })
})
