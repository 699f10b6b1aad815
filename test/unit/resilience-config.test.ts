import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig } from '../../src/config.ts'

const errorOf = (input: unknown) => {
  try {
    parseConfig(input)
  } catch (error) {
    if (error instanceof ConfigError) return error.message
    throw error
  }
  throw new Error('Expected a ConfigError')
}

describe('resilience config', () => {
  it('fills in the defaults', () => {
    const config = parseConfig({})
    expect(config.outlierDetection).toEqual({
      enabled: true,
      consecutive5xx: 5,
      consecutiveErrors: 5,
      baseEjectionTime: 30_000,
      maxEjectionTime: 300_000,
      maxEjectionPercent: 50,
    })
    expect(config.circuitBreaker).toEqual({
      enabled: true,
      failureRatio: 0.5,
      minimumRequests: 20,
      window: 10_000,
      openTime: 5000,
      halfOpenRequests: 3,
    })
    expect(config.retries).toEqual({
      attempts: 3,
      statuses: [502, 503, 504],
      budgetPercent: 20,
      minRetryConcurrency: 3,
      replayBuffer: 65_536,
    })
    expect(config.slowStart).toEqual({ window: 0, aggression: 1, minWeightPercent: 10 })
    expect(config.queue).toEqual({ size: 1000, timeout: 5000 })
    expect(config.watchConfig).toBe(false)
  })

  it('takes durations and a per-backend maxConnections', () => {
    const config = parseConfig({
      backends: [{ url: 'http://127.0.0.1:9001', maxConnections: 2 }, 'http://127.0.0.1:9002'],
      outlierDetection: { baseEjectionTime: '500ms' },
      slowStart: { window: '30s' },
      queue: { timeout: '1s', size: 0 },
    })
    expect(config.backends.map((b) => b.maxConnections)).toEqual([2, undefined])
    expect(config.outlierDetection.baseEjectionTime).toBe(500)
    expect(config.slowStart.window).toBe(30_000)
    expect(config.queue).toEqual({ size: 0, timeout: 1000 })
  })

  it('names the field that is wrong', () => {
    expect(errorOf({ backends: [{ url: 'http://127.0.0.1:1', maxConnections: 0 }] })).toMatch(
      /^backends\.0\.maxConnections: /,
    )
    expect(errorOf({ retries: { attempts: 0 } })).toMatch(/^retries\.attempts: /)
    expect(errorOf({ retries: { statuses: [404] } })).toMatch(/^retries\.statuses\.0: /)
    expect(errorOf({ circuitBreaker: { failureRatio: 0 } })).toMatch(
      /^circuitBreaker\.failureRatio: /,
    )
    expect(errorOf({ outlierDetection: { maxEjectionPercent: 101 } })).toMatch(
      /^outlierDetection\.maxEjectionPercent: /,
    )
    expect(errorOf({ queue: { timeout: 'soon' } })).toMatch(/^queue\.timeout: /)
    expect(errorOf({ slowStart: { nope: 1 } })).toBe('slowStart.nope: Unknown key')
  })
})
