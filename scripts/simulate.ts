/**
 * `npm run simulate`: compare every balancing strategy on a seeded, simulated workload. Prints the
 * table and writes a self-contained HTML report (and, with --markdown, a Markdown table).
 *
 *   bun run scripts/simulate.ts [--seed N] [--duration SECONDS | --requests N] [--rate PER_S]
 *                               [--strategies a,b] [--sticky] [--out FILE] [--markdown FILE]
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import process from 'node:process'
import { parseArgs } from 'node:util'
import type { StrategyName } from '../src/config.ts'
import { simulate } from '../src/simulate/index.ts'

const USAGE = `Usage: npm run simulate -- [options]

  --seed N            workload seed (default 1)
  --duration SECONDS  virtual run time (default 60)
  --requests N        about N requests instead of a duration
  --rate N            Poisson arrivals per second (default 400)
  --strategies LIST   comma-separated strategy names (default all)
  --sticky            also run every strategy with sticky clients
  --out FILE          HTML report (default docs/simulation.html)
  --markdown FILE     also write the table as Markdown
  --quiet             print nothing but errors`

function fail(message: string): never {
  process.stderr.write(`simulate: ${message}\n${USAGE}\n`)
  process.exit(2)
}

function count(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) fail(`--${name}: Expected a positive number, got "${value}"`)
  return n
}

let values: Record<string, string | boolean | undefined>
try {
  ;({ values } = parseArgs({
    options: {
      seed: { type: 'string' },
      duration: { type: 'string' },
      requests: { type: 'string' },
      rate: { type: 'string' },
      strategies: { type: 'string' },
      sticky: { type: 'boolean' },
      out: { type: 'string' },
      markdown: { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }))
} catch (error) {
  fail((error as Error).message)
}
if (values.help) {
  process.stdout.write(USAGE + '\n')
  process.exit(0)
}
const seed = values.seed === undefined ? 1 : Number(values.seed)
if (!Number.isInteger(seed) || seed < 0)
  fail(`--seed: Expected a whole number, got "${values.seed}"`)
const ratePerSecond = count('rate', values.rate as string | undefined, 400)
const durationMs =
  values.requests !== undefined
    ? (count('requests', values.requests as string, 0) / ratePerSecond) * 1000
    : count('duration', values.duration as string | undefined, 60) * 1000
const out = (values.out as string | undefined) ?? 'docs/simulation.html'

let result
try {
  result = simulate({
    seed,
    durationMs: Math.round(durationMs),
    ratePerSecond,
    withSticky: Boolean(values.sticky),
    strategies: (values.strategies as string | undefined)?.split(',').map((s) => s.trim()) as
      StrategyName[] | undefined,
  })
} catch (error) {
  fail((error as Error).message)
}

await mkdir(dirname(out), { recursive: true })
await writeFile(out, result.html)
if (typeof values.markdown === 'string') {
  await mkdir(dirname(values.markdown), { recursive: true })
  await writeFile(values.markdown, result.markdown)
}
if (!values.quiet) process.stdout.write(`${result.text}\n\nReport: ${out}\n`)
