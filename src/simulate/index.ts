/**
 * The strategy simulator: replay one seeded workload through every strategy in the registry and
 * report latency, distribution, imbalance and failures. Runtime-neutral; `scripts/simulate.ts`
 * writes the files.
 */
import type { StrategyName } from '../config.ts'
import { strategies } from '../strategies/index.ts'
import { runStrategy } from './engine.ts'
import { renderHtml } from './html.ts'
import { defaultScenario, type Scenario, type ScenarioOptions } from './scenario.ts'
import { summarise, type Summary } from './summary.ts'
import { describeScenario, markdownTable, textTable } from './table.ts'
import { generateWorkload } from './workload.ts'

export { defaultScenario, type Scenario } from './scenario.ts'
export type { Summary } from './summary.ts'

/** Options for {@link simulate}. */
export interface SimulateOptions extends ScenarioOptions {
  /** The strategies to compare. @default every strategy in the registry */
  strategies?: readonly StrategyName[]
  /** Also run each strategy with sticky clients. @default false */
  withSticky?: boolean
}

/** A finished simulation. */
export interface Simulation {
  readonly scenario: Scenario
  readonly summaries: readonly Summary[]
  /** The terminal table, with a one-line description above it. */
  readonly text: string
  readonly markdown: string
  readonly html: string
}

/**
 * Run the simulation.
 *
 * @example
 * ```ts
 * const { text, html } = simulate({ seed: 7, durationMs: 30_000 })
 * console.log(text)
 * ```
 */
export function simulate(options: SimulateOptions = {}): Simulation {
  const names = options.strategies ?? (Object.keys(strategies) as StrategyName[])
  for (const name of names) {
    if (!(name in strategies)) throw new Error(`Unknown strategy "${name}"`)
  }
  const scenario = defaultScenario(options)
  const workload = generateWorkload(scenario)
  const variants = options.withSticky ? [false, true] : [scenario.sticky]
  const summaries: Summary[] = []
  for (const sticky of variants) {
    const run = { ...scenario, sticky }
    for (const name of names) {
      summaries.push(summarise(run, runStrategy(run, workload, strategies[name])))
    }
  }
  const requests = workload.at.length
  const description = describeScenario(scenario, requests)
  return {
    scenario,
    summaries,
    text: `${description}\n\n${textTable(scenario, summaries)}`,
    markdown: `${description}\n\n${markdownTable(scenario, summaries)}\n`,
    html: renderHtml(scenario, summaries),
  }
}
