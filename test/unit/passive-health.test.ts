/**
 * The pool's passive health, circuit breakers, slow start, drain, backups, admission limits and
 * reconciling, on an injected clock.
 */
import { describe, expect, it } from 'vitest'
import { DEFAULT_BREAKER_OPTIONS } from '../../src/health/breaker.ts'
import { DEFAULT_OUTLIER_OPTIONS, ejectionLimit, type Outcome } from '../../src/health/outlier.ts'
import { nextRampChange, rampFactor } from '../../src/health/slow-start.ts'
import { BackendPool, type BackendTransition, type PoolOptions } from '../../src/pool.ts'
import type { Backend, Logger } from '../../src/types.ts'

const backend = (name: string, extra: Partial<Backend> = {}): Backend => ({
  id: name,
  url: `http://127.0.0.1:${9000 + name.charCodeAt(0)}`,
  weight: 1,
  ...extra,
})
const A = backend('a')
const B = backend('b')
const C = backend('c')

/** A pool on a clock the test moves, with its log lines and transitions recorded. */
function poolWith(backends: Backend[], options: PoolOptions = {}) {
  let time = 1000
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = []
  const logger: Logger = {
    info: (msg, fields = {}) => lines.push({ level: 'info', msg, fields }),
    warn: (msg, fields = {}) => lines.push({ level: 'warn', msg, fields }),
    error: (msg, fields = {}) => lines.push({ level: 'error', msg, fields }),
  }
  const pool = new BackendPool(backends, {
    logger,
    clock: () => time,
    now: () => time,
    breaker: { ...DEFAULT_BREAKER_OPTIONS, enabled: false },
    ...options,
  })
  const transitions: BackendTransition[] = []
  pool.watchTransitions((t) => transitions.push(t))
  return {
    pool,
    lines,
    transitions,
    advance: (ms: number) => (time += ms),
    ids: () => pool.eligible().map((b) => b.id),
    fail: (b: Backend, outcome: Outcome, n: number) => {
      for (let i = 0; i < n; i++) {
        if (pool.tryAcquire(b) === 'ok') pool.release(b)
        pool.recordOutcome(b, outcome)
      }
    },
  }
}

describe('outlier detection', () => {
  const outlier = { ...DEFAULT_OUTLIER_OPTIONS, baseEjectionTime: 1000, maxEjectionTime: 10_000 }

  it('ejects after consecutive 5xx answers, and a success in between resets the count', () => {
    const { pool, ids, fail, lines } = poolWith([A, B, C], { outlier })
    fail(A, 'http5xx', 4)
    pool.recordOutcome(A, 'success')
    fail(A, 'http5xx', 4)
    expect(ids()).toEqual(['a', 'b', 'c'])
    fail(A, 'http5xx', 1)
    expect(ids()).toEqual(['b', 'c'])
    const line = lines.find((l) => l.msg === 'backend ejected')!
    expect(line.level).toBe('warn')
    expect(line.fields).toMatchObject({
      backend: 'a',
      reason: '5 consecutive 5xx responses',
      ejectionTime: 1000,
      ejections: 1,
    })
  })

  it('ejects after consecutive connect failures, resets and timeouts', () => {
    const { ids, fail, pool } = poolWith([A, B, C], { outlier })
    fail(B, 'connect', 2)
    fail(B, 'reset', 2)
    pool.recordOutcome(B, 'cancelled') // says nothing about the backend
    fail(B, 'timeout', 1)
    expect(ids()).toEqual(['a', 'c'])
    expect(pool.get('b')!.ejected).toBe(true)
  })

  it('brings an ejected backend back when its time is up, and lengthens each new ejection', () => {
    const { pool, ids, fail, advance, lines, transitions } = poolWith([A, B, C], { outlier })
    const ejectionTimes: number[] = []
    for (let round = 0; round < 4; round++) {
      fail(A, 'connect', 5)
      expect(ids()).toEqual(['b', 'c'])
      const time = lines.filter((l) => l.msg === 'backend ejected').at(-1)!.fields.ejectionTime
      ejectionTimes.push(time as number)
      advance((time as number) - 1)
      expect(ids()).toEqual(['b', 'c'])
      advance(1)
      expect(ids()).toEqual(['a', 'b', 'c'])
    }
    // base × times ejected: 1 s, 2 s, 3 s, 4 s.
    expect(ejectionTimes).toEqual([1000, 2000, 3000, 4000])
    expect(pool.get('a')!.outlier.ejections).toBe(4)
    expect(transitions.filter((t) => t.id === 'a').map((t) => t.to)).toEqual([
      'ejected',
      'up',
      'ejected',
      'up',
      'ejected',
      'up',
      'ejected',
      'up',
    ])
  })

  it('caps an ejection at maxEjectionTime', () => {
    const { fail, advance, lines, ids } = poolWith([A, B], {
      outlier: { ...outlier, baseEjectionTime: 4000, maxEjectionTime: 10_000 },
    })
    for (let round = 0; round < 4; round++) {
      fail(A, 'connect', 5)
      const time = lines.filter((l) => l.msg === 'backend ejected').at(-1)!.fields.ejectionTime
      advance(time as number)
      expect(ids()).toEqual(['a', 'b'])
    }
    const times = lines.filter((l) => l.msg === 'backend ejected').map((l) => l.fields.ejectionTime)
    expect(times).toEqual([4000, 8000, 10_000, 10_000])
  })

  it('shortens the next ejection by one base time for each base time the backend stayed in', () => {
    const { fail, advance, lines, ids } = poolWith([A, B, C], { outlier })
    fail(A, 'connect', 5)
    advance(1000)
    ids()
    fail(A, 'connect', 5) // back at once: 2 s
    advance(2000)
    ids()
    advance(1500) // one base time in: the multiplier falls from 2 to 1, then rises to 2
    fail(A, 'connect', 5)
    const times = lines.filter((l) => l.msg === 'backend ejected').map((l) => l.fields.ejectionTime)
    expect(times).toEqual([1000, 2000, 2000])
  })

  it('ejects no more than maxEjectionPercent of the pool, and never the only backend', () => {
    expect(ejectionLimit(1, 100)).toBe(0)
    expect(ejectionLimit(2, 10)).toBe(1)
    expect(ejectionLimit(3, 50)).toBe(1)
    expect(ejectionLimit(10, 50)).toBe(5)
    expect(ejectionLimit(10, 0)).toBe(0)

    const { ids, fail } = poolWith([A, B, C], { outlier })
    fail(A, 'connect', 5)
    fail(B, 'connect', 5)
    expect(ids()).toEqual(['b', 'c'])
    const lone = poolWith([A], { outlier })
    lone.fail(A, 'connect', 50)
    expect(lone.ids()).toEqual(['a'])
  })

  it('does nothing when disabled', () => {
    const { ids, fail } = poolWith([A, B], { outlier: { ...outlier, enabled: false } })
    fail(A, 'http5xx', 50)
    expect(ids()).toEqual(['a', 'b'])
  })

  it('lets an active probe that saw the backend come back end its ejection', () => {
    const { pool, ids, fail } = poolWith([A, B, C], { outlier, rise: 1, fall: 1 })
    fail(A, 'connect', 5)
    pool.recordProbe('a', false, 'refused')
    expect(ids()).toEqual(['b', 'c'])
    pool.recordProbe('a', true)
    expect(ids()).toEqual(['a', 'b', 'c'])
    expect(pool.get('a')!.ejected).toBe(false)
  })
})

describe('circuit breaker in the pool', () => {
  const breaker = {
    ...DEFAULT_BREAKER_OPTIONS,
    minimumRequests: 4,
    openTime: 2000,
    halfOpenRequests: 1,
  }
  const noOutlier = { ...DEFAULT_OUTLIER_OPTIONS, enabled: false }

  it('takes an open circuit out of the eligible set, then lets one trial through in half-open', () => {
    const { pool, ids, fail, advance, lines, transitions } = poolWith([A, B], {
      breaker,
      outlier: noOutlier,
    })
    fail(A, 'http5xx', 4)
    expect(pool.get('a')!.circuit).toBe('open')
    expect(ids()).toEqual(['b'])
    expect(pool.tryAcquire(A)).toBe('unavailable')
    expect(pool.sessionTarget('a')).toBeUndefined()
    advance(2000)
    expect(ids()).toEqual(['a', 'b'])
    expect(pool.get('a')!.circuit).toBe('half-open')
    expect(pool.tryAcquire(A)).toBe('ok')
    expect(pool.tryAcquire(A)).toBe('busy')
    pool.recordOutcome(A, 'success')
    pool.release(A)
    expect(pool.get('a')!.circuit).toBe('closed')
    expect(pool.tryAcquire(A)).toBe('ok')
    expect(lines.map((l) => l.msg).filter((m) => m.startsWith('circuit'))).toEqual([
      'circuit open',
      'circuit half-open',
      'circuit closed',
    ])
    expect(lines.find((l) => l.msg === 'circuit open')!.fields.reason).toBe(
      '4 of 4 requests failed',
    )
    expect(transitions.map((t) => t.to)).toContain('circuit-open')
  })

  it('opens again when the trial fails', () => {
    const { pool, fail, advance, ids } = poolWith([A, B], { breaker, outlier: noOutlier })
    fail(A, 'timeout', 4)
    advance(2000)
    ids()
    expect(pool.tryAcquire(A)).toBe('ok')
    pool.recordOutcome(A, 'reset')
    expect(pool.get('a')!.circuit).toBe('open')
    expect(ids()).toEqual(['b'])
  })
})

describe('slow start', () => {
  const slowStart = { window: 10_000, aggression: 1, minWeightPercent: 10 }

  it('computes Envoy’s factor in tenths', () => {
    expect(rampFactor(0, slowStart)).toBe(0.1)
    expect(rampFactor(2500, slowStart)).toBe(0.2)
    expect(rampFactor(5000, slowStart)).toBe(0.5)
    expect(rampFactor(9999, slowStart)).toBe(0.9)
    expect(rampFactor(10_000, slowStart)).toBe(1)
    expect(nextRampChange(0, slowStart)).toBe(2000)
    expect(nextRampChange(5000, slowStart)).toBe(6000)
    expect(nextRampChange(9500, slowStart)).toBe(10_000)
    // Aggression 2: (t / window)^(1/2) rises fast at first.
    expect(rampFactor(2500, { ...slowStart, aggression: 2 })).toBe(0.5)
    expect(rampFactor(0, { ...slowStart, minWeightPercent: 30 })).toBe(0.3)
    expect(rampFactor(123, { ...slowStart, window: 0 })).toBe(1)
  })

  it('gives backends present at startup full weight at once', () => {
    const { pool } = poolWith([A, B], { slowStart })
    expect(pool.effectiveEligible().map((b) => b.weight)).toEqual([1, 1])
    expect(pool.ramping).toBe(false)
  })

  it('ramps a backend added at run time, rebuilding a few times over the window', () => {
    const { pool, advance } = poolWith([backend('a', { weight: 4 })], { slowStart })
    pool.add(backend('b', { weight: 4 }))
    const weights = () => pool.effectiveEligible().map((b) => b.weight)
    expect(weights()).toEqual([4, 0.4])
    expect(pool.get('b')!.effectiveWeight).toBe(0.4)
    const versions = new Set<number>()
    const seen: number[] = []
    for (let t = 0; t <= 10_000; t += 500) {
      versions.add(pool.version)
      seen.push(weights()[1]!)
      advance(500)
    }
    expect(seen[0]).toBeCloseTo(0.4)
    expect(seen.at(-1)).toBe(4)
    // Monotonic, and only about ten distinct steps (so about ten selector rebuilds).
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!)
    expect(versions.size).toBeLessThanOrEqual(11)
    expect(pool.ramping).toBe(false)
  })

  it('ramps a backend that comes back up after probes took it down', () => {
    const { pool, advance } = poolWith([A, B], { slowStart, rise: 1, fall: 1 })
    pool.recordProbe('b', false, 'refused')
    expect(pool.eligible().map((b) => b.id)).toEqual(['a'])
    pool.recordProbe('b', true)
    expect(pool.effectiveEligible().map((b) => b.weight)).toEqual([1, 0.1])
    advance(5000)
    expect(pool.effectiveEligible().map((b) => b.weight)).toEqual([1, 0.5])
    advance(5000)
    expect(pool.effectiveEligible()).toEqual([A, B])
  })

  it('ramps a backend that returns from an ejection', () => {
    const { pool, fail, advance } = poolWith([A, B, C], {
      slowStart,
      outlier: { ...DEFAULT_OUTLIER_OPTIONS, baseEjectionTime: 1000 },
    })
    fail(C, 'connect', 5)
    advance(1000)
    expect(pool.effectiveEligible().map((b) => b.weight)).toEqual([1, 1, 0.1])
  })
})

describe('drain, backups, limits', () => {
  it('reports a draining backend drained when its last request ends', () => {
    const { pool, lines, transitions } = poolWith([A, B])
    expect(pool.tryAcquire(A)).toBe('ok')
    expect(pool.tryAcquire(A)).toBe('ok')
    pool.setDraining('a', true)
    expect(pool.eligible().map((b) => b.id)).toEqual(['b'])
    // It keeps its sticky sessions while draining.
    expect(pool.sessionTarget('a')).toBe(A)
    pool.release(A)
    expect(pool.get('a')!.drained).toBe(false)
    pool.release(A)
    expect(pool.get('a')!.drained).toBe(true)
    expect(lines.filter((l) => l.msg === 'backend drained')).toHaveLength(1)
    expect(transitions.map((t) => t.to)).toEqual(['draining', 'drained'])
  })

  it('reports an idle backend drained at once', () => {
    const { pool, transitions } = poolWith([A, B])
    pool.setDraining('b', true)
    expect(transitions.map((t) => t.to)).toEqual(['draining', 'drained'])
  })

  it('offers backups only when no primary is available', () => {
    const X = backend('x', { backup: true })
    const { pool, ids, fail } = poolWith([A, B, X], {
      rise: 1,
      fall: 1,
      outlier: { ...DEFAULT_OUTLIER_OPTIONS, maxEjectionPercent: 100 },
    })
    expect(ids()).toEqual(['a', 'b'])
    pool.recordProbe('a', false)
    expect(ids()).toEqual(['b'])
    fail(B, 'connect', 5)
    expect(ids()).toEqual(['x'])
    pool.recordProbe('a', true)
    expect(ids()).toEqual(['a'])
  })

  it('answers busy at maxConnections', () => {
    const L = backend('l', { maxConnections: 2 })
    const { pool } = poolWith([L])
    expect(pool.tryAcquire(L)).toBe('ok')
    expect(pool.tryAcquire(L)).toBe('ok')
    expect(pool.tryAcquire(L)).toBe('busy')
    pool.release(L)
    expect(pool.tryAcquire(L)).toBe('ok')
    expect(pool.tryAcquire(backend('gone'))).toBe('unavailable')
  })
})

describe('update', () => {
  it('takes new limits and weight, keeping the state', () => {
    const L = backend('l', { maxConnections: 1 })
    const { pool } = poolWith([L])
    expect(pool.tryAcquire(L)).toBe('ok')
    expect(pool.tryAcquire(L)).toBe('busy')
    const version = pool.version
    expect(pool.update({ ...L, maxConnections: 2, weight: 3 })).toBe(true)
    expect(pool.version).toBeGreaterThan(version)
    expect(pool.tryAcquire(L)).toBe('ok')
    expect(pool.get('l')!.inflight).toBe(2)
    expect(pool.get('l')!.backend.weight).toBe(3)
    expect(pool.update({ ...L, url: 'http://127.0.0.1:1' })).toBe(false)
  })
})

describe('reconcile', () => {
  it('keeps the state of unchanged backends, updates changed ones, follows the new order', () => {
    const { pool, fail } = poolWith([A, B, C], { rise: 1, fall: 1 })
    pool.recordProbe('b', false, 'refused')
    fail(C, 'http5xx', 2)
    pool.tryAcquire(A)
    const D = backend('d')
    const result = pool.reconcile([C, { ...A, weight: 5 }, D])
    expect(result).toEqual({ added: ['d'], removed: ['b'], updated: ['a'] })
    expect([...pool.states()].map((s) => s.backend.id)).toEqual(['c', 'a', 'd'])
    expect(pool.get('a')!.inflight).toBe(1)
    expect(pool.get('a')!.backend.weight).toBe(5)
    expect(pool.get('c')!.outlier.consecutive5xx).toBe(2)
    // A backend whose url changed under the same id is a new one.
    pool.reconcile([C, { ...A, url: 'http://127.0.0.1:1' }])
    expect(pool.get('a')!.inflight).toBe(0)
  })
})
