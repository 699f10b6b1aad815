import { describe, expect, it } from 'vitest'
import { UpstreamConnectError, UpstreamTimeoutError } from '../../src/errors.ts'
import { failureKind, mayRetry, RetryBudget, type RetryFacts } from '../../src/retry.ts'

const facts = (overrides: Partial<RetryFacts>): RetryFacts => ({
  kind: 'reset',
  repeatable: true,
  bodyReplayable: true,
  bodyUnsent: true,
  ...overrides,
})

describe('retry policy', () => {
  it('classifies upstream errors', () => {
    expect(failureKind(new UpstreamConnectError('ECONNREFUSED'))).toBe('connect')
    expect(failureKind(new UpstreamTimeoutError('late'))).toBe('timeout')
    expect(failureKind(new TypeError('other side closed'))).toBe('reset')
  })

  it('always retries a failed connection whose body can be offered again', () => {
    expect(mayRetry(facts({ kind: 'connect', repeatable: false }))).toBe(true)
    expect(
      mayRetry(
        facts({ kind: 'connect', repeatable: false, bodyUnsent: false, bodyReplayable: true }),
      ),
    ).toBe(true)
    expect(mayRetry(facts({ kind: 'connect', bodyUnsent: false, bodyReplayable: false }))).toBe(
      false,
    )
  })

  it('retries a reset or a retryable status only when repeatable with a kept body', () => {
    for (const kind of ['reset', 'status'] as const) {
      expect(mayRetry(facts({ kind }))).toBe(true)
      expect(mayRetry(facts({ kind, repeatable: false }))).toBe(false)
      expect(mayRetry(facts({ kind, bodyReplayable: false }))).toBe(false)
    }
  })

  it('never retries a timeout', () => {
    expect(mayRetry(facts({ kind: 'timeout' }))).toBe(false)
  })
})

describe('retry budget', () => {
  it('allows minRetryConcurrency retries at any load', () => {
    const budget = new RetryBudget({ budgetPercent: 20, minRetryConcurrency: 3 })
    for (let i = 0; i < 4; i++) budget.begin()
    expect(budget.tryRetry()).toBe(true)
    expect(budget.tryRetry()).toBe(true)
    expect(budget.tryRetry()).toBe(true)
    expect(budget.tryRetry()).toBe(false)
    budget.end(true)
    expect(budget.tryRetry()).toBe(true)
  })

  it('allows budgetPercent of the requests in progress beyond the minimum', () => {
    const budget = new RetryBudget({ budgetPercent: 20, minRetryConcurrency: 3 })
    for (let i = 0; i < 100; i++) budget.begin()
    expect(budget.limit).toBe(20)
    let granted = 0
    for (let i = 0; i < 50; i++) if (budget.tryRetry()) granted++
    expect(granted).toBe(20)
    expect(budget.retrying).toBe(20)
    for (let i = 0; i < 20; i++) budget.end(true)
    for (let i = 0; i < 80; i++) budget.end(false)
    expect(budget.active).toBe(0)
    expect(budget.retrying).toBe(0)
  })

  it('allows no retry with a zero budget and no minimum', () => {
    const budget = new RetryBudget({ budgetPercent: 0, minRetryConcurrency: 0 })
    budget.begin()
    expect(budget.tryRetry()).toBe(false)
  })
})
