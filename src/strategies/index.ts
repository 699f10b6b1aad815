/** The strategy registry, keyed by the config schema's `StrategyName` enum. */
import type { StrategyName } from '../config.ts'
import { consistentHash } from './consistent-hash.ts'
import { ipHash } from './ip-hash.ts'
import { leastConnections } from './least-connections.ts'
import { leastTime } from './least-time.ts'
import { powerOfTwo } from './power-of-two.ts'
import { random } from './random.ts'
import { resource } from './resource.ts'
import { roundRobin } from './round-robin.ts'
import type { Strategy } from './strategy.ts'
import { threshold } from './threshold.ts'
import { urlHash } from './url-hash.ts'
import { weightedLeastConnections } from './weighted-least-connections.ts'
import { weightedRoundRobin } from './weighted-round-robin.ts'

export type {
  BuildOptions,
  LoadView,
  PickInput,
  Selector,
  Strategy,
  StrategyOptions,
  StrategyOptionsInput,
} from './strategy.ts'
export { bindSelector } from './bind.ts'

/** Every strategy, by its command-line name. */
export const strategies: Readonly<Record<StrategyName, Strategy>> = {
  'round-robin': roundRobin,
  'weighted-round-robin': weightedRoundRobin,
  random,
  'least-connections': leastConnections,
  'weighted-least-connections': weightedLeastConnections,
  'least-time': leastTime,
  'power-of-two': powerOfTwo,
  resource,
  'ip-hash': ipHash,
  'url-hash': urlHash,
  'consistent-hash': consistentHash,
  threshold,
}
