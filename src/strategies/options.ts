import { DEFAULT_STRATEGY_OPTIONS, type StrategyOptions } from '../config.ts'
import type { BuildOptions } from './strategy.ts'

/**
 * One section of the strategy options, with the defaults of `config.ts` for whatever `options`
 * leaves out.
 *
 * @example
 * ```ts
 * optionsFor({ threshold: { connections: 2 } }, 'threshold') // { connections: 2 }
 * ```
 */
export function optionsFor<K extends keyof StrategyOptions>(
  options: BuildOptions | undefined,
  key: K,
): StrategyOptions[K] {
  const section: StrategyOptions[K] = { ...DEFAULT_STRATEGY_OPTIONS[key] }
  const given = options?.[key] as Record<string, unknown> | undefined
  if (given) {
    for (const [field, value] of Object.entries(given)) {
      if (value !== undefined) (section as Record<string, unknown>)[field] = value
    }
  }
  return section
}
