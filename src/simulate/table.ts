/** The simulation's results as a terminal table and as a Markdown table. */
import type { Scenario } from './scenario.ts'
import type { Summary } from './summary.ts'

/** Format milliseconds for a table: one decimal below 100 ms, whole above. */
export function ms(value: number): string {
  return value < 100 ? value.toFixed(1) : Math.round(value).toString()
}

/** The header and rows of the results table. */
export function tableRows(scenario: Scenario, summaries: readonly Summary[]): string[][] {
  const header = [
    'strategy',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    ...scenario.backends.map((b) => b.id),
    'imbalance',
    'hit failed',
    'errors',
  ]
  const rows = summaries.map((s) => [
    s.label,
    ms(s.p50),
    ms(s.p95),
    ms(s.p99),
    ...s.served.map(String),
    s.imbalance.toFixed(2),
    String(s.hitFailed),
    String(s.errors),
  ])
  return [header, ...rows]
}

/** A plain-text table, first column left-aligned, the rest right-aligned. */
export function textTable(scenario: Scenario, summaries: readonly Summary[]): string {
  const rows = tableRows(scenario, summaries)
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)))
  const line = (row: string[]) =>
    row
      .map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!)))
      .join('  ')
      .trimEnd()
  const [header, ...body] = rows
  const rule = widths.map((w) => '-'.repeat(w)).join('  ')
  return [line(header!), rule, ...body.map(line)].join('\n')
}

/** A GitHub-flavoured Markdown table. */
export function markdownTable(scenario: Scenario, summaries: readonly Summary[]): string {
  const rows = tableRows(scenario, summaries)
  const [header, ...body] = rows
  const line = (row: string[]) => `| ${row.join(' | ')} |`
  const align = `|${header!.map((_, col) => (col === 0 ? ' --- ' : ' ---: ')).join('|')}|`
  return [line(header!), align, ...body.map(line)].join('\n')
}

/** One line describing the workload, for the report headers. */
export function describeScenario(scenario: Scenario, requests: number): string {
  const failures = scenario.backends
    .flatMap((b) => (b.failures ?? []).map((w) => `${b.id} down ${w.from / 1000}–${w.to / 1000} s`))
    .join(', ')
  return (
    `seed ${scenario.seed}, ${requests} requests over ${scenario.durationMs / 1000} s ` +
    `(Poisson, ${scenario.ratePerSecond}/s), ${scenario.clients} clients, ` +
    `${scenario.paths} Zipf paths` +
    (failures ? `, ${failures}` : '') +
    (scenario.sticky ? ', sticky clients' : '')
  )
}
