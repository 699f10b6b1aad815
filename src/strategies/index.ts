/** The strategy registry, keyed by the config schema's `StrategyName` enum. */
import type { StrategyName } from '../config.ts'
import { roundRobin } from './round-robin.ts'
import type { Strategy } from './strategy.ts'

export type { LoadView, PickInput, Selector, Strategy } from './strategy.ts'

/** Every strategy, by its command-line name. */
export const strategies: Readonly<Record<StrategyName, Strategy>> = {
  'round-robin': roundRobin,
}
