/**
 * The simulation report as one self-contained HTML page: inline CSS and SVG, no scripts, nothing
 * fetched from the network.
 */
import type { Scenario } from './scenario.ts'
import { WINDOWS, type Summary } from './summary.ts'
import { describeScenario, ms, tableRows } from './table.ts'

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1']
const ROW = 22
const LABEL = 230
const PLOT = 560

/** Escape text for HTML (and SVG) content and attributes. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  )
}

const round = (value: number) => Math.round(value * 10) / 10

/** Horizontal p50/p95/p99 bars per strategy on a log-scale axis. */
function latencyChart(summaries: readonly Summary[]): string {
  const low = Math.max(1, Math.min(...summaries.map((s) => s.p50)) / 2)
  const high = Math.max(...summaries.map((s) => s.p99)) * 1.2
  const x = (value: number) =>
    LABEL + (PLOT * Math.log(Math.max(value, low) / low)) / Math.log(high / low)
  const ticks: number[] = []
  for (let decade = Math.pow(10, Math.floor(Math.log10(low))); decade <= high; decade *= 10) {
    for (const m of [1, 2, 5]) if (decade * m >= low && decade * m <= high) ticks.push(decade * m)
  }
  const height = summaries.length * ROW + 40
  const parts = ticks.map(
    (t) =>
      `<line x1="${round(x(t))}" x2="${round(x(t))}" y1="10" y2="${height - 25}" class="grid"/>` +
      `<text x="${round(x(t))}" y="${height - 10}" class="tick" text-anchor="middle">${t} ms</text>`,
  )
  summaries.forEach((s, i) => {
    const y = 12 + i * ROW
    parts.push(
      `<text x="${LABEL - 8}" y="${y + 13}" text-anchor="end">${escapeHtml(s.label)}</text>`,
      ...(
        [
          [s.p99, 'p99', 0.35],
          [s.p95, 'p95', 0.6],
          [s.p50, 'p50', 1],
        ] as const
      ).map(
        ([value, name, opacity]) =>
          `<rect x="${LABEL}" y="${y + 2}" width="${round(x(value) - LABEL)}" height="${ROW - 6}" ` +
          `fill="#4e79a7" fill-opacity="${opacity}"><title>${escapeHtml(s.label)} ${name} ` +
          `${ms(value)} ms</title></rect>`,
      ),
      `<text x="${round(x(s.p99) + 4)}" y="${y + 13}" class="tick">${ms(s.p99)}</text>`,
    )
  })
  let legendX = LABEL
  for (const [name, opacity] of [
    ['p50', 1],
    ['p95', 0.6],
    ['p99', 0.35],
  ] as const) {
    parts.push(
      `<rect x="${legendX}" y="${height - 2}" width="12" height="12" fill="#4e79a7" ` +
        `fill-opacity="${opacity}"/><text x="${legendX + 16}" y="${height + 8}" class="tick">${name}</text>`,
    )
    legendX += 60
  }
  return svg(LABEL + PLOT + 60, height + 14, parts)
}

/** 100 % stacked bars: each strategy's requests per backend. */
function servedChart(scenario: Scenario, summaries: readonly Summary[]): string {
  const height = summaries.length * ROW + 30
  const parts: string[] = []
  summaries.forEach((s, i) => {
    const y = 6 + i * ROW
    const total = s.served.reduce((a, b) => a + b, 0) || 1
    let left = LABEL
    parts.push(
      `<text x="${LABEL - 8}" y="${y + 13}" text-anchor="end">${escapeHtml(s.label)}</text>`,
    )
    s.served.forEach((count, b) => {
      const width = (PLOT * count) / total
      const id = scenario.backends[b]!.id
      parts.push(
        `<rect x="${round(left)}" y="${y + 2}" width="${round(width)}" height="${ROW - 6}" ` +
          `fill="${PALETTE[b % PALETTE.length]}"><title>${escapeHtml(s.label)}: ${escapeHtml(id)} ` +
          `${count} (${((100 * count) / total).toFixed(1)} %)</title></rect>`,
      )
      left += width
    })
  })
  let legendX = LABEL
  scenario.backends.forEach((b, i) => {
    parts.push(
      `<rect x="${legendX}" y="${height - 16}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/>` +
        `<text x="${legendX + 16}" y="${height - 6}" class="tick">${escapeHtml(b.id)}</text>`,
    )
    legendX += 24 + b.id.length * 7
  })
  return svg(LABEL + PLOT + 20, height, parts)
}

/**
 * A sparkline of p99 per window on a log scale shared by every row (`low` to `high`), with the
 * failure windows shaded.
 */
function sparkline(
  scenario: Scenario,
  values: readonly number[],
  low: number,
  high: number,
): string {
  const width = 160
  const height = 28
  const shade = scenario.backends.flatMap((b) =>
    (b.failures ?? []).map((w) => {
      const x1 = (width * w.from) / scenario.durationMs
      const x2 = (width * Math.min(w.to, scenario.durationMs)) / scenario.durationMs
      return `<rect x="${round(x1)}" y="0" width="${round(x2 - x1)}" height="${height}" class="down"/>`
    }),
  )
  const step = width / Math.max(1, values.length - 1)
  const y = (v: number) =>
    round(height - 2 - ((height - 4) * Math.log(Math.max(v, low) / low)) / Math.log(high / low))
  const points = values.map((v, i) => `${round(i * step)},${y(v)}`).join(' ')
  return svg(width, height, [...shade, `<polyline points="${points}" class="spark"/>`])
}

function svg(width: number, height: number, parts: readonly string[]): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${round(width)}" height="${height}" ` +
    `viewBox="0 0 ${round(width)} ${height}" role="img">${parts.join('')}</svg>`
  )
}

/**
 * Render the report.
 *
 * @example
 * ```ts
 * await writeFile('docs/simulation.html', renderHtml(scenario, summaries))
 * ```
 */
export function renderHtml(scenario: Scenario, summaries: readonly Summary[]): string {
  const requests = summaries[0]?.requests ?? 0
  const [header, ...rows] = tableRows(scenario, summaries)
  const timeline = summaries.flatMap((s) => s.timeline).filter((v) => v > 0)
  const low = Math.max(0.1, Math.min(...timeline))
  const high = Math.max(low * 2, ...timeline)
  const backendRows = scenario.backends
    .map((b) => {
      const capacity = Math.round((b.concurrency * 1000) / b.serviceMs)
      const down = (b.failures ?? []).map((w) => `${w.from / 1000}–${w.to / 1000} s`).join(', ')
      return (
        `<tr><td>${escapeHtml(b.id)}</td><td>${b.weight}</td><td>${b.concurrency}</td>` +
        `<td>${b.serviceMs}</td><td>${capacity}</td><td>${down || '—'}</td></tr>`
      )
    })
    .join('\n')
  const resultRows = rows
    .map(
      (row, i) =>
        `<tr>${row.map((cell, col) => (col === 0 ? `<th>${escapeHtml(cell)}</th>` : `<td>${escapeHtml(cell)}</td>`)).join('')}` +
        `<td>${sparkline(scenario, summaries[i]!.timeline, low, high)}</td></tr>`,
    )
    .join('\n')
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fulcrum: balancing strategies compared</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f4f4f4; }
svg text { font: 12px system-ui, sans-serif; fill: #222; }
svg .tick { fill: #666; font-size: 11px; }
svg .grid { stroke: #e4e4e4; }
svg .down { fill: #e15759; fill-opacity: 0.15; }
svg .spark { fill: none; stroke: #4e79a7; stroke-width: 1.2; }
.note { color: #555; max-width: 60em; }
</style>
</head>
<body>
<h1>fulcrum: balancing strategies compared</h1>
<p>Simulated in virtual time through fulcrum's real strategy code: ${escapeHtml(describeScenario(scenario, requests))}.
Health probes every ${scenario.probe.intervalMs / 1000} s, rise ${scenario.probe.rise}, fall ${scenario.probe.fall}; refused connections are retried on the next candidate (at most ${scenario.maxAttempts} attempts).</p>

<h2>Backends</h2>
<table>
<thead><tr><th>backend</th><th>weight</th><th>concurrency</th><th>mean service ms</th><th>capacity req/s</th><th>refuses connections</th></tr></thead>
<tbody>
${backendRows}
</tbody>
</table>

<h2>Latency (p50, p95, p99; log scale)</h2>
${latencyChart(summaries)}

<h2>Requests per backend</h2>
${servedChart(scenario, summaries)}

<h2>All figures</h2>
<table>
<thead><tr>${header!.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}<th>p99 over time</th></tr></thead>
<tbody>
${resultRows}
</tbody>
</table>
<p class="note"><b>imbalance</b>: the busiest backend's time-averaged in-flight requests ÷ its concurrency,
divided by the mean of that over all backends (1.00 is perfectly even load).
<b>hit failed</b>: requests sent at least once to a backend while it refused connections.
<b>errors</b>: requests that got no answer. The sparklines show p99 latency per ${scenario.durationMs / 1000 / WINDOWS} s window
on one log scale from ${ms(low)} to ${ms(high)} ms; the shaded part is when a backend was down.</p>
</body>
</html>
`
}
