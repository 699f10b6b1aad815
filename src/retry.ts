/**
 * The retry policy: which failed attempts may go to another backend, and the global budget that
 * bounds the extra load retries add (Envoy's `retry_budget`).
 */
import { UpstreamConnectError, UpstreamTimeoutError } from './errors.ts'

/** Idempotent methods (RFC 9110 §9.2.2): repeating one has the effect of sending it once. */
export const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

/** Why an attempt failed, as far as retrying goes. */
export type FailureKind = 'connect' | 'reset' | 'timeout' | 'status'

/** Classify an upstream fetch error. */
export function failureKind(error: unknown): Exclude<FailureKind, 'status'> {
  if (error instanceof UpstreamConnectError) return 'connect'
  if (error instanceof UpstreamTimeoutError) return 'timeout'
  return 'reset'
}

/** What is known about the request when an attempt failed. */
export interface RetryFacts {
  kind: FailureKind
  /** An idempotent method, or the request carries `Idempotency-Key`. */
  repeatable: boolean
  /** The body can be sent again: none, or kept whole in the replay buffer. */
  bodyReplayable: boolean
  /** The body can be sent again from its start because no byte of it left fulcrum yet. */
  bodyUnsent: boolean
}

/**
 * Whether a failed attempt may be sent to another backend:
 *
 * - a refused (or otherwise failed) connection sent nothing, so always, as long as the body can
 *   be offered again (HAProxy `retry-on conn-failure`, nginx `error`);
 * - a reset or a retryable status only when the request may be repeated (an idempotent method or
 *   `Idempotency-Key`) and its body was kept whole (Envoy `reset`, `retriable-status-codes`);
 * - never after a timeout: the backend may still be working on it, and a retry would double the
 *   wait.
 */
export function mayRetry(facts: RetryFacts): boolean {
  switch (facts.kind) {
    case 'connect':
      return facts.bodyUnsent || facts.bodyReplayable
    case 'timeout':
      return false
    default:
      return facts.repeatable && facts.bodyReplayable
  }
}

/** Options for {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /** Retries in progress at most, as a percentage of requests in progress. @default 20 */
  budgetPercent: number
  /** Retries in progress always allowed. @default 3 */
  minRetryConcurrency: number
}

/**
 * Envoy's retry budget: retries in progress ≤ max(minRetryConcurrency, budgetPercent % of the
 * requests in progress). Under an outage that fails every request, this keeps retries from
 * multiplying the load on the backends that are left.
 */
export class RetryBudget {
  #options: RetryBudgetOptions
  #active = 0
  #retrying = 0

  constructor(options: RetryBudgetOptions) {
    this.#options = options
  }

  /** Requests in progress. */
  get active(): number {
    return this.#active
  }

  /** Requests in progress that are retrying. */
  get retrying(): number {
    return this.#retrying
  }

  /** Replace the options (on reload). */
  configure(options: RetryBudgetOptions): void {
    this.#options = options
  }

  /** The retries in progress allowed now. */
  get limit(): number {
    const { budgetPercent, minRetryConcurrency } = this.#options
    return Math.max(minRetryConcurrency, Math.floor((this.#active * budgetPercent) / 100))
  }

  /** A request starts. */
  begin(): void {
    this.#active++
  }

  /** A request ends; `retried` when {@link tryRetry} let it retry. */
  end(retried: boolean): void {
    this.#active--
    if (retried) this.#retrying--
  }

  /**
   * A request wants to retry for the first time. It holds its retry slot until it ends.
   *
   * @returns whether the budget allows it
   */
  tryRetry(): boolean {
    if (this.#retrying >= this.limit) return false
    this.#retrying++
    return true
  }
}
