import { describe, expect, it } from 'vitest'
import { CircuitBreaker, DEFAULT_BREAKER_OPTIONS } from '../../../src/health/breaker.ts'
import {
  acceptsSessions,
  createBackendState,
  isAvailable,
  sameBackend,
  type BackendState,
} from '../../../src/pools/backend-state.ts'
import { backend, stateOf } from './fake-pool.ts'

describe('createBackendState', () => {
  it('starts healthy, enabled, idle and at full weight, with the breaker it is given', () => {
    const breaker = new CircuitBreaker(DEFAULT_BREAKER_OPTIONS)
    const state = createBackendState(backend('a', { weight: 3 }), breaker)
    expect(Object.keys(state)).toEqual([
      'backend',
      'healthy',
      'enabled',
      'draining',
      'inflight',
      'consecutiveSuccesses',
      'consecutiveFailures',
      'latency',
      'latencyAt',
      'ejected',
      'outlier',
      'circuit',
      'breaker',
      'rampFactor',
      'effectiveWeight',
      'drained',
    ])
    expect(state).toMatchObject({
      healthy: true,
      enabled: true,
      draining: false,
      inflight: 0,
      consecutiveSuccesses: 0,
      consecutiveFailures: 0,
      latency: 0,
      latencyAt: 0,
      ejected: false,
      circuit: 'closed',
      rampFactor: 1,
      effectiveWeight: 3,
      drained: false,
    })
    expect(state.breaker).toBe(breaker)
    expect(state.outlier.ejections).toBe(0)
    expect(state.lastProbe).toBeUndefined()
    expect(state.probes).toBeUndefined()
  })

  it('derives the effective weight from the current backend object and the ramp', () => {
    const state = stateOf(backend('a', { weight: 4 }))
    state.rampFactor = 0.25
    expect(state.effectiveWeight).toBe(1)
    state.backend = { ...state.backend, weight: 8 }
    expect(state.effectiveWeight).toBe(2)
  })

  it('is drained only while draining with nothing in flight', () => {
    const state = stateOf(backend('a'))
    state.inflight = 1
    state.draining = true
    expect(state.drained).toBe(false)
    state.inflight = 0
    expect(state.drained).toBe(true)
    state.draining = false
    expect(state.drained).toBe(false)
  })
})

describe('isAvailable and acceptsSessions', () => {
  /** Each way a backend can be kept from new requests, with what it does to sticky sessions. */
  const cases: [string, (s: BackendState) => void, boolean][] = [
    ['down', (s) => (s.healthy = false), false],
    ['disabled', (s) => (s.enabled = false), false],
    ['draining', (s) => (s.draining = true), true],
    ['ejected', (s) => (s.ejected = true), false],
    ['circuit open', (s) => (s.circuit = 'open'), false],
  ]

  it('takes new requests only when nothing keeps it from them', () => {
    const state = stateOf(backend('a'))
    expect(isAvailable(state)).toBe(true)
    expect(acceptsSessions(state)).toBe(true)
  })

  for (const [name, apply, sessions] of cases) {
    it(`${name}: no new requests; sticky sessions ${sessions ? 'kept' : 'refused'}`, () => {
      const state = stateOf(backend('a'))
      apply(state)
      expect(isAvailable(state)).toBe(false)
      expect(acceptsSessions(state)).toBe(sessions)
    })
  }

  it('lets a half-open circuit take requests (its trial slots are counted elsewhere)', () => {
    const state = stateOf(backend('a'))
    state.circuit = 'half-open'
    expect(isAvailable(state)).toBe(true)
    expect(acceptsSessions(state)).toBe(true)
  })
})

describe('sameBackend', () => {
  const a = backend('a', { weight: 2, meta: { zone: 'x' } })

  it('ignores object identity, an absent backup flag and an absent meta', () => {
    expect(sameBackend(a, { ...a, meta: { zone: 'x' } })).toBe(true)
    expect(sameBackend(backend('b'), { ...backend('b'), backup: false, meta: {} })).toBe(true)
  })

  it('tells apart every field that matters', () => {
    expect(sameBackend(a, { ...a, url: 'http://other.test' })).toBe(false)
    expect(sameBackend(a, { ...a, weight: 3 })).toBe(false)
    expect(sameBackend(a, { ...a, backup: true })).toBe(false)
    expect(sameBackend(a, { ...a, maxConnections: 10 })).toBe(false)
    expect(sameBackend(a, { ...a, meta: { zone: 'y' } })).toBe(false)
  })
})
