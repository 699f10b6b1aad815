/**
 * The backend pool, under the import path the rest of fulcrum uses. The pool is put together in
 * src/pools/, one part per job: see backend-pool.ts there for the map.
 */
export { BackendPool, type Admission, type PoolOptions } from './pools/backend-pool.ts'
export { isAvailable, type BackendState, type ProbeResult } from './pools/backend-state.ts'
export type { BackendTransition } from './pools/context.ts'
export type { BreakerState } from './health/breaker.ts'
export type { Outcome } from './health/outlier.ts'
