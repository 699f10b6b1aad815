/**
 * Micro-benchmark of every strategy's pick: picks per second over 10, 100 and 1,000 backends.
 * Each pick does what the proxy does around it: choose the first candidate, acquire it, record a
 * latency, and release the request picked 8 picks earlier (so that 8 stay in flight and the
 * load-aware strategies have load to order). Run with Bun, which runs TypeScript as is:
 *
 *   npm run bench:strategies        (node_modules/.bin/bun scripts/bench-strategies.ts)
 */
import { BackendPool } from '../src/pool.ts'
import { bindSelector, strategies } from '../src/strategies/index.ts'
import type { PickInput } from '../src/strategies/strategy.ts'
import type { Backend } from '../src/types.ts'

const SIZES = [10, 100, 1000]
const INFLIGHT = 8
const WARMUP_MS = 50
const MEASURE_MS = Number(globalThis.process?.env.BENCH_MS ?? 300)

const inputs: PickInput[] = Array.from({ length: 1024 }, (_, n) => {
  const user = `user-${n}`
  return {
    clientIp: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
    path: `/items/${n}`,
    query: '',
    header: () => user,
    cookie: () => user,
  }
})

function backends(count: number): Backend[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `b${i}`,
    url: `http://10.0.${i >> 8}.${i & 255}:80`,
    weight: 1 + (i % 4),
  }))
}

/** Picks per second for one strategy over `count` backends. */
function bench(name: keyof typeof strategies, count: number): number {
  const list = backends(count)
  const pool = new BackendPool(list)
  list.forEach((b, i) => pool.reportUtilisation(b, (i % 10) / 10))
  const selector = bindSelector(pool, strategies[name])
  const ring: (Backend | undefined)[] = new Array(INFLIGHT)
  let n = 0
  const run = (ms: number) => {
    const end = performance.now() + ms
    let picks = 0
    while (performance.now() < end) {
      for (let k = 0; k < 256; k++, n++) {
        const candidates = selector().candidates(inputs[n & 1023]!, pool)
        const iterator = candidates[Symbol.iterator]()
        const backend = iterator.next().value as Backend
        iterator.return?.()
        pool.acquire(backend)
        pool.observeLatency(backend, 1 + (n % 7))
        const old = ring[n % INFLIGHT]
        if (old) pool.release(old)
        ring[n % INFLIGHT] = backend
      }
      picks += 256
    }
    return picks / (ms / 1000)
  }
  run(WARMUP_MS)
  return run(MEASURE_MS)
}

const format = (perSecond: number) =>
  perSecond >= 1e6 ? `${(perSecond / 1e6).toFixed(2)} M` : `${(perSecond / 1e3).toFixed(0)} k`

const rows = [`| strategy | ${SIZES.map((s) => `${s} backends`).join(' | ')} |`]
rows.push(`|---|${SIZES.map(() => '--:').join('|')}|`)
for (const name of Object.keys(strategies) as (keyof typeof strategies)[]) {
  rows.push(`| \`${name}\` | ${SIZES.map((size) => format(bench(name, size))).join(' | ')} |`)
}
console.log(`picks/s (pick + acquire + latency + release), ${INFLIGHT} in flight\n`)
console.log(rows.join('\n'))
