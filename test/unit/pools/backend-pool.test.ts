/**
 * The pool as the sum of its parts: the rules that span them (a probe that brings a backend up
 * ends its ejection), the one refresh pass, admissions, and reconciling. Each part has its own
 * test beside this one; test/unit/passive-health.test.ts and health.test.ts cover the rest.
 */
import { describe, expect, it } from 'vitest'
import { DEFAULT_BREAKER_OPTIONS } from '../../../src/health/breaker.ts'
import { DEFAULT_OUTLIER_OPTIONS } from '../../../src/health/outlier.ts'
import { BackendPool, type BackendTransition, type PoolOptions } from '../../../src/pool.ts'
import type { Backend } from '../../../src/types.ts'
import { backend } from './fake-pool.ts'

const A = backend('a')
const B = backend('b')
const C = backend('c')
const slowStart = { window: 1000, aggression: 1, minWeightPercent: 10 }
const outlier = { ...DEFAULT_OUTLIER_OPTIONS, consecutive5xx: 2, baseEjectionTime: 1000 }

/** A pool on a clock the test moves (wall clock = pool clock + 1e12), with its transitions. */
function poolWith(backends: Backend[], options: PoolOptions = {}) {
  let time = 0
  const pool = new BackendPool(backends, {
    clock: () => time,
    now: () => 1e12 + time,
    breaker: { ...DEFAULT_BREAKER_OPTIONS, enabled: false },
    ...options,
  })
  const transitions: string[] = []
  pool.watchTransitions((t: BackendTransition) =>
    transitions.push(`${t.at - 1e12} ${t.id} ${t.to}${t.reason ? `: ${t.reason}` : ''}`),
  )
  return {
    pool,
    transitions,
    advance: (ms: number) => (time += ms),
    weights: () => pool.effectiveEligible().map((b) => `${b.id}:${b.weight}`),
  }
}

describe('BackendPool', () => {
  it('ends an ejection and ramps the backend when the probes bring it up', () => {
    const { pool, transitions, advance, weights } = poolWith([A, B, C], {
      outlier,
      slowStart,
      rise: 1,
      fall: 1,
    })
    pool.recordOutcome(A, 'http5xx')
    pool.recordOutcome(A, 'http5xx')
    pool.recordProbe('a', false, 'refused')
    advance(100)
    pool.recordProbe('a', true)
    expect(transitions).toEqual([
      '0 a ejected: 2 consecutive 5xx responses',
      '0 a down: refused',
      '100 a up: 1 consecutive probe successes',
    ])
    expect(pool.get('a')!.ejected).toBe(false)
    expect(weights()).toEqual(['a:0.1', 'b:1', 'c:1'])
    // The ejection's own end, 900 ms later, announces nothing; the ramp has moved on.
    advance(900)
    expect(weights()).toEqual(['a:0.9', 'b:1', 'c:1'])
    expect(transitions).toHaveLength(3)
  })

  it('applies everything that fell due in one pass, and moves the version once for it', () => {
    const { pool, transitions, advance, weights } = poolWith([A, B, C], { outlier, slowStart })
    pool.add(backend('d'))
    pool.recordOutcome(B, 'http5xx')
    pool.recordOutcome(B, 'http5xx')
    const version = pool.version
    expect(weights()).toEqual(['a:1', 'c:1', 'd:0.1'])
    advance(199)
    expect(pool.version).toBe(version)
    advance(801)
    // At 1000 ms: b's ejection ends (it ramps from the start) and d's ramp is over.
    expect(pool.version).toBe(version + 1)
    expect(weights()).toEqual(['a:1', 'b:0.1', 'c:1', 'd:1'])
    expect(pool.ramping).toBe(true)
    expect(transitions.slice(-1)).toEqual(['1000 b up: ejection time ended'])
  })

  it('answers admissions in order: gone or open, then maxConnections, then trial slots', () => {
    const breaker = { ...DEFAULT_BREAKER_OPTIONS, minimumRequests: 2, halfOpenRequests: 1 }
    const limited = backend('a', { maxConnections: 1 })
    const { pool, advance } = poolWith([limited, B], { breaker })
    const answers: string[] = []
    answers.push(pool.tryAcquire(backend('z')))
    answers.push(pool.tryAcquire(limited), pool.tryAcquire(limited))
    pool.release(limited)
    pool.recordOutcome(B, 'connect')
    pool.recordOutcome(B, 'connect')
    answers.push(pool.tryAcquire(B))
    advance(DEFAULT_BREAKER_OPTIONS.openTime)
    expect(pool.sessionTarget('b')).toBe(B)
    answers.push(pool.tryAcquire(B), pool.tryAcquire(B))
    expect(answers).toEqual(['unavailable', 'ok', 'busy', 'unavailable', 'ok', 'busy'])
    expect([pool.inflight(limited), pool.inflight(B)]).toEqual([0, 1])
  })

  it('reconciles: removes, adds, keeps the rest with their state, in the new order', () => {
    const { pool, transitions } = poolWith([A, B, C])
    pool.acquire(B)
    const result = pool.reconcile([backend('d'), C, { ...B, weight: 5 }])
    expect(result).toEqual({ added: ['d'], removed: ['a'], updated: ['b'] })
    expect(transitions).toEqual(['0 a removed: removed from the configuration', '0 d added'])
    expect([...pool.states()].map((s) => `${s.backend.id}:${s.backend.weight}`)).toEqual([
      'd:1',
      'c:1',
      'b:5',
    ])
    expect(pool.inflight(B)).toBe(1)
  })

  it('reports a draining backend drained when its last request ends, once', () => {
    const { pool, transitions } = poolWith([A, B])
    pool.acquire(A)
    pool.setDraining('a', true, 'deploy')
    pool.release(A)
    pool.release(A)
    expect(transitions).toEqual(['0 a draining: deploy', '0 a drained'])
    expect(pool.sessionTarget('a')).toBe(A)
    expect(pool.eligible()).toEqual([B])
  })
})
