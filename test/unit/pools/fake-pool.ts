/**
 * Test doubles for the parts of a pool: backends, a clock the test moves, and a
 * {@link PoolContext} that writes every call (log lines included) into one ordered list.
 */
import { CircuitBreaker } from '../../../src/health/breaker.ts'
import { createBackendState, type BackendState } from '../../../src/pools/backend-state.ts'
import type { PoolContext } from '../../../src/pools/context.ts'
import type { Backend, Logger } from '../../../src/types.ts'

/** A backend named `name`, weight 1 unless `extra` says otherwise. */
export const backend = (name: string, extra: Partial<Backend> = {}): Backend => ({
  id: name,
  url: `http://${name}.test`,
  weight: 1,
  ...extra,
})

/** A fresh record for `backend`, with a breaker on the default options. */
export const stateOf = (b: Backend): BackendState => createBackendState(b, new CircuitBreaker())

/** A context on a fake clock (starting at 1000 ms) whose calls land in `events`, in order. */
export function recordingContext() {
  let time = 1000
  const events: string[] = []
  const fields: Record<string, unknown>[] = []
  const line =
    (level: string) =>
    (msg: string, f: Record<string, unknown> = {}) => {
      events.push(`${level} ${msg}`)
      fields.push(f)
    }
  const logger: Logger = { info: line('info'), warn: line('warn'), error: line('error') }
  const context: PoolContext = {
    logger,
    clock: () => time,
    changed: () => events.push('changed'),
    transition: (state, to, reason) =>
      events.push(
        `transition ${state.backend.id} ${to}${reason === undefined ? '' : `: ${reason}`}`,
      ),
    schedule: (at) => events.push(`schedule ${at}`),
  }
  return {
    context,
    events,
    /** The fields of each log line, in the order of the lines. */
    fields,
    advance: (ms: number) => (time += ms),
    /** Take the events so far, leaving the list empty. */
    take: () => events.splice(0),
  }
}
