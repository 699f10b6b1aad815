#!/usr/bin/env node
// `npm run bench:routes`: what 1,000 routes cost over 1 (issue 12: at most 10% more), measured
// two ways, each as 1 route against 1,000 routes interleaved over several rounds, and reported as
// the ratio 1,000 / 1 with its spread across rounds (ratios, not absolutes: the machine is shared).
//
//  - match: RouteTable.match on engine-built requests (a mix of hosts and paths, each taken by a
//    route in the middle or at the end of the table), ns per match, in three tables: 1,000
//    distinct hosts, 1,000 paths under one host, and 1,000 wildcard hosts. `app` adds the whole
//    Hono dispatch (createRouterApp(...).fetch, the pool's proxy a stub). Timed in CPU time
//    (process.cpuUsage), which time other processes take does not inflate; --clock wall for
//    wall-clock time.
//  - e2e: a fulcrum with 1 route and one with 1,000 (node dist/node.js, a config file with `pools`
//    and `routes`) in front of one loopback backend; wrk (else autocannon) with keep-alive,
//    against each in turn, for the request the last route takes. The balancer's CPU time a
//    request (from /proc: the cost, robust on a shared machine), req/s and p99.
//
// --baseline REV (e.g. HEAD) runs the route table (src/routes/table.ts and match.ts) as it is at
// git revision REV beside the working tree's, in the same run: in-process, and end to end with two
// more fulcrums bundled like dist/node.js. It adds a table of working tree / REV ratios.
//
// The in-process part runs the sources (bundled for Node by esbuild); e2e needs `npm run build`,
// which `npm run bench:routes` does first. On Linux with taskset, the balancers are pinned to
// CPU 0, the load generator and the backend to CPU 1, as in scripts/bench.mjs.
//
//   npm run bench:routes
//   npm run bench:routes -- --baseline HEAD --e2e-variants hosts,wildcards
//   npm run bench:routes -- --only match,app --rounds 20 --ms 300
//   npm run bench:routes -- --only e2e --e2e-rounds 6 --duration 5
//   node --cpu-prof scripts/bench-routes.mjs --only match --variants wildcards --sizes 1000
import { writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { performance } from 'node:perf_hooks'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { startBackends } from './lib/backends.mjs'
import { atRevision, buildNode, flag, fulcrumCommand, ROOT } from './lib/fulcrum.mjs'
import { HAVE_WRK, httpLoad } from './lib/http-load.mjs'
import {
  cpuSeconds,
  median,
  PIN,
  pinned,
  quantile,
  scratchDir,
  sleep,
  start,
  stop,
} from './lib/processes.mjs'

const list = (name, fallback) => flag(name, fallback).split(',').filter(Boolean)
const ONLY = list('--only', 'match,app,e2e')
const N = Number(flag('--routes', 1000))
/** Table sizes to time; the ratio is the last over the first. */
const SIZES = list('--sizes', `1,${N}`).map(Number)
const VARIANT_NAMES = list('--variants', 'hosts,paths,wildcards')
const ROUNDS = Number(flag('--rounds', 12))
const SAMPLE_MS = Number(flag('--ms', 200))
/** In-process: `cpu` counts the process's CPU time (what others take from it does not count). */
const CLOCK = flag('--clock', 'cpu')
/** A git revision whose route table the in-process part times beside the working tree's. */
const BASELINE = flag('--baseline', '')
const E2E_VARIANTS = list('--e2e-variants', 'hosts')
const E2E_ROUNDS = Number(flag('--e2e-rounds', 10))
const DURATION = Number(flag('--duration', 2))
const CONNS = Number(flag('--conns', 64))
/** The balancers listen on 18281 and up: 1 route, N routes (then the baseline's two). */
const LB_PORTS = [18281, 18282, 18283, 18284]
const BACKEND_PORT = 19281
const LIMIT = 1.1
const workdir = scratchDir('fulcrum-bench-routes-')

// ---- the tables: route i of each variant, and requests that route i takes ----
const VARIANTS = {
  hosts: {
    title: 'distinct hosts',
    match: (i) => ({ host: `svc-${i}.example.com`, path: '/api/*' }),
    host: (i) => `svc-${i}.example.com`,
    paths: () => ['/api/v1/items/42', '/api/users/7/orders?page=2', '/api'],
  },
  paths: {
    title: 'paths under one host',
    match: (i) => ({ host: 'api.example.com', path: `/v1/svc-${i}/*` }),
    host: () => 'api.example.com',
    paths: (i) => [`/v1/svc-${i}/items/42`, `/v1/svc-${i}/users/7?page=2`, `/v1/svc-${i}`],
  },
  wildcards: {
    title: 'wildcard hosts',
    match: (i) => ({ host: `*.tenant-${i}.example.com` }),
    host: (i) => `shop.tenant-${i}.example.com`,
    paths: () => ['/', '/cart/items/42?x=1', '/static/app.3f9a.js'],
  },
}

/** A config with `count` routes of `variant` (`only`: just route `only`), all to pool `app`. */
function configOf(variant, count, only) {
  const indexes = only === undefined ? [...Array(count).keys()] : [only]
  return {
    pools: { app: { backends: [`http://127.0.0.1:${BACKEND_PORT}`] } },
    routes: indexes.map((i) => ({ name: `r${i}`, match: VARIANTS[variant].match(i), pool: 'app' })),
  }
}

/** The routes a table of `count` takes its requests with: in the middle and at the end. */
const targetsOf = (count) => [
  ...new Set([1 / 2, 2 / 3, 5 / 6, 1].map((f) => Math.ceil(count * f) - 1)),
]

const fmt = (n, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
const routesLabel = (count) => `${fmt(count)} route${count === 1 ? '' : 's'}`
const OF_RATIOS = 'median [p25–p75] (min–max) of the per-round ratios'
/** The spread of per-round ratios: the middle half [p25–p75], and (min–max). */
const spread = (ratios) =>
  `[${fmt(quantile(ratios, 0.25), 2)}–${fmt(quantile(ratios, 0.75), 2)}] ` +
  `(${fmt(Math.min(...ratios), 2)}–${fmt(Math.max(...ratios), 2)})`

// ---- in-process: RouteTable.match and the Hono app's fetch ----

/** esbuild: src/routes/table.ts and match.ts as they are at git revision `rev`. */
const routesAt = (rev) => atRevision(rev, /src[\\/]routes[\\/](table|match)\.ts$/)

/** The sources the in-process part runs, bundled for Node (`rev`: the route table at `rev`). */
async function bundle(name, rev) {
  const outfile = join(workdir, `${name}.mjs`)
  await build({
    stdin: {
      contents: [
        "export { RouteTable } from './src/routes/table.ts'",
        "export { createRouterApp } from './src/router-app.ts'",
        "export { toRequest } from './src/http1/request.ts'",
        "export { LightSignal } from './src/abort.ts'",
        "export { parseConfig } from './src/config.ts'",
      ].join('\n'),
      resolveDir: ROOT,
      loader: 'ts',
    },
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    plugins: rev ? [routesAt(rev)] : [],
  })
  return import(pathToFileURL(outfile).href)
}

async function inProcess() {
  const src = await bundle('current')
  // The same run, the same requests, through the route table at BASELINE (--baseline HEAD).
  const impls = [{ label: 'working tree', src }]
  if (BASELINE) impls.push({ label: BASELINE, src: await bundle('baseline', BASELINE) })

  /** A request as the engine hands it to the app. */
  const engineRequest = (host, target) => {
    const fields = ['Host', host, 'User-Agent', 'bench-routes/1', 'Accept', '*/*']
    const head = { method: 'GET', target, minor: 1, fields, framing: 'none', length: 0 }
    Object.assign(head, { keepAlive: true, expectContinue: false, host, size: 0 })
    return src.toRequest(head, 'http', null, new src.LightSignal())
  }
  const answer = new globalThis.Response('ok')
  const logger = { debug() {}, info() {}, warn() {}, error() {} }

  /** What one (table, variant, size) cell times, checked once: each request takes its route. */
  const cellOf = (impl, variant, size) => {
    const v = VARIANTS[variant]
    const table = new impl.src.RouteTable(src.parseConfig(configOf(variant, size)).routes)
    const wanted = []
    for (const i of targetsOf(size)) {
      for (const path of v.paths(i)) wanted.push([engineRequest(v.host(i), path), `r${i}`])
    }
    for (const [request, name] of wanted) {
      const got = table.match(request)?.name
      if (got !== name)
        throw new Error(`${impl.label}, ${variant} x ${size}: ${request.url} → ${got}`)
    }
    // 96 requests a batch, so that reading the clock costs nothing next to them.
    const requests = Array.from({ length: 96 }, (_, k) => wanted[k % wanted.length][0])
    const app = src.createRouterApp({
      routes: () => table,
      pool: () => ({ proxy: () => answer }),
      logger,
    })
    if (app.fetch(requests[0]) !== answer) throw new Error('The app answered asynchronously')
    return { table, app, requests }
  }

  let sink = 0
  const kinds = {
    match: (cell) => {
      const { table, requests } = cell
      for (let k = 0; k < requests.length; k++) sink += table.match(requests[k]).index
    },
    app: (cell) => {
      const { app, requests } = cell
      for (let k = 0; k < requests.length; k++) sink += app.fetch(requests[k]).status
    },
  }
  /** ns a request: of CPU time (the process's), or of wall-clock time with --clock wall. */
  const time = (kind, cell) => {
    const batch = kinds[kind]
    const cpu = process.cpuUsage()
    const start = performance.now()
    let now = start
    let n = 0
    while (now - start < SAMPLE_MS) {
      batch(cell)
      n += cell.requests.length
      now = performance.now()
    }
    if (CLOCK === 'wall') return ((now - start) * 1e6) / n
    const used = process.cpuUsage(cpu)
    return ((used.user + used.system) * 1e3) / n
  }

  const rows = []
  for (const kind of ONLY.filter((k) => k in kinds)) {
    for (const variant of VARIANT_NAMES) {
      for (const impl of impls) {
        const cells = SIZES.map((size) => cellOf(impl, variant, size))
        rows.push({ kind, variant, impl: impl.label, cells, ns: SIZES.map(() => []) })
      }
    }
  }
  for (const row of rows) row.cells.forEach((cell) => time(row.kind, cell))
  for (let round = 0; round < ROUNDS; round++) {
    for (const row of rows) {
      // ABBA: the sizes swap order every round, so a drift of the machine falls on both.
      const order = SIZES.map((_, s) => s)
      if (round % 2) order.reverse()
      for (const s of order) row.ns[s].push(time(row.kind, row.cells[s]))
    }
    console.log(`  in-process round ${round + 1}/${ROUNDS}`)
  }
  if (sink === 0.5) console.log(sink)

  const last = SIZES.length - 1
  const name = (kind) => (kind === 'match' ? 'RouteTable.match' : 'app.fetch')
  const lines = [
    `In-process (Node ${process.version}, ${ROUNDS} rounds x ${SAMPLE_MS} ms a sample, ABBA), ` +
      `${CLOCK === 'wall' ? 'wall-clock' : 'CPU'} ns per request, medians; ratios: ${OF_RATIOS}`,
    '',
    `| measurement | route table | table | ${SIZES.map((s) => `${fmt(s)} ns`).join(' | ')} ` +
      `| ${fmt(SIZES[last])} / ${fmt(SIZES[0])} | [p25–p75] (min–max) | ≤ ${LIMIT} |`,
    `|---|---|---|${SIZES.map(() => '--:').join('|')}|--:|--:|:-:|`,
  ]
  for (const row of rows) {
    const ratios = row.ns[last].map((ns, r) => ns / row.ns[0][r])
    const ratio = median(ratios)
    lines.push(
      `| ${name(row.kind)} | ${row.impl} | ${VARIANTS[row.variant].title} | ` +
        `${row.ns.map((ns) => fmt(median(ns))).join(' | ')} | ${fmt(ratio, 3)} | ` +
        `${spread(ratios)} | ${ratio <= LIMIT ? 'yes' : '**no**'} |`,
    )
  }
  if (BASELINE) {
    lines.push(
      '',
      `Same run, working tree / ${BASELINE}: ${OF_RATIOS}`,
      '',
      `| measurement | table | ${SIZES.map(routesLabel).join(' | ')} |`,
      `|---|---|${SIZES.map(() => '--:').join('|')}|`,
    )
    for (let r = 0; r < rows.length; r += 2) {
      const [now, then] = [rows[r], rows[r + 1]]
      const cells = SIZES.map((_, s) => {
        const ratios = now.ns[s].map((ns, round) => ns / then.ns[s][round])
        return `${fmt(median(ratios), 3)} ${spread(ratios)}`
      })
      lines.push(`| ${name(now.kind)} | ${VARIANTS[now.variant].title} | ${cells.join(' | ')} |`)
    }
  }
  return lines
}

// ---- end to end: fulcrums with 1 route and N routes, wrk against each in turn ----

/** The status of GET `path` with `Host: host` on `port`, or 0 on an error. */
function status(port, host, path) {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host }, timeout: 2000 })
    req.once('response', (response) => {
      response.resume()
      resolve(response.statusCode)
    })
    req.once('error', () => resolve(0))
    req.once('timeout', () => req.destroy())
    req.end()
  })
}

/**
 * One load run against a balancer: { rps, p99_us, errors, cpu_us } (cpu_us: the balancer's CPU
 * time a request, which time others take from it does not inflate), or undefined.
 */
function load(side, host, path, seconds) {
  const cpu = cpuSeconds(side.lb.pid)
  const url = `http://127.0.0.1:${side.port}${path}`
  const run = httpLoad({ url, conns: CONNS, seconds, headers: [`Host: ${host}`], workdir })
  return run && { ...run, cpu_us: ((cpuSeconds(side.lb.pid) - cpu) * 1e6) / run.requests }
}

/** dist/node.js as `npm run build` makes it, with the route table at `rev` (for --baseline). */
const baselineDist = (rev) =>
  buildNode(join(workdir, 'baseline-node.mjs'), { plugins: [routesAt(rev)] })

async function endToEnd() {
  const backend = startBackends(workdir, [BACKEND_PORT])
  // Each build (dist/node.js, and the baseline's) with 1 route and with N.
  const builds = [{ label: 'working tree', dist: 'dist/node.js' }]
  if (BASELINE) builds.push({ label: BASELINE, dist: await baselineDist(BASELINE) })
  const lines = [
    `End to end (node dist/node.js, ${E2E_ROUNDS} rounds x ${DURATION} s a side, ABBA, ` +
      `${CONNS} keep-alive connections, ${HAVE_WRK ? 'wrk' : 'autocannon'}, ` +
      `pinning: ${PIN ? 'balancers cpu 0, load and backend cpu 1' : 'none'}), medians; ` +
      `ratios: ${OF_RATIOS}`,
    "CPU µs/req: the balancer's CPU time a request (what others take from it does not count)",
    '',
    `| route table | table | request | CPU µs/req 1 / ${fmt(N)} | ${fmt(N)} / 1 | ≤ ${LIMIT} ` +
      `| req/s 1 / ${fmt(N)} | ${fmt(N)} / 1 | p99 ms 1 / ${fmt(N)} | ${fmt(N)} / 1 | errors |`,
    '|---|---|---|--:|--:|:-:|--:|--:|--:|--:|--:|',
  ]
  const versus = []
  try {
    for (const variant of E2E_VARIANTS) {
      const v = VARIANTS[variant]
      // Every balancer takes the same request: the last route of N, the only route of 1.
      const host = v.host(N - 1)
      const path = v.paths(N - 1)[0]
      const configs = [configOf(variant, 1, N - 1), configOf(variant, N)]
      const sides = builds.flatMap((b, i) =>
        configs.map((config, c) => {
          const file = join(workdir, `${variant}-${c}.json`)
          writeFileSync(file, JSON.stringify(config))
          const port = LB_PORTS[0] + 2 * i + c
          const command = fulcrumCommand('node', ['--config', file, '--host', '127.0.0.1'])
          command[1] = b.dist
          command.push('--port', String(port), '--admin-port', '0')
          command.push('--access-log', join(workdir, `access-${port}.log`))
          return {
            build: b.label,
            routes: c ? N : 1,
            lb: start(pinned(0, command)),
            port,
            runs: [],
          }
        }),
      )
      for (const side of sides) {
        const deadline = Date.now() + 30_000
        while ((await status(side.port, host, path)) !== 200) {
          if (Date.now() > deadline || side.lb.exitCode !== null) {
            throw new Error(`fulcrum on :${side.port} not ready:\n${side.lb.stderrText()}`)
          }
          await sleep(200)
        }
        load(side, host, path, 2)
      }
      for (let round = 0; round < E2E_ROUNDS; round++) {
        // ABBA over every side.
        const order = round % 2 ? [...sides].reverse() : sides
        for (const side of order) {
          const result = load(side, host, path, DURATION)
          if (!result) throw new Error(`No load result on :${side.port}`)
          side.runs.push(result)
        }
        const each = sides.map((side) => {
          const { rps, cpu_us: cpu } = side.runs.at(-1)
          return `${side.build} ${side.routes}: ${fmt(rps)} req/s ${fmt(cpu, 1)} µs`
        })
        console.log(`  e2e ${variant} round ${round + 1}/${E2E_ROUNDS}: ${each.join(', ')}`)
      }
      await Promise.all(sides.map((side) => stop(side.lb)))
      /** `a` over `b`: the median per-round ratio of `key`, and its spread. */
      const ratio = (a, b, key) => {
        const ratios = a.runs.map((r, i) => r[key] / b.runs[i][key])
        return { median: median(ratios), text: `${fmt(median(ratios), 3)} ${spread(ratios)}` }
      }
      /** The two sides' medians of `key`, `1 / N`. */
      const both = (one, many, key, scale, digits) =>
        [one, many]
          .map((side) => fmt(median(side.runs.map((r) => r[key])) / scale, digits))
          .join(' / ')
      for (let i = 0; i < sides.length; i += 2) {
        const [one, many] = [sides[i], sides[i + 1]]
        const cpu = ratio(many, one, 'cpu_us')
        const errors = [...one.runs, ...many.runs].reduce((sum, r) => sum + r.errors, 0)
        lines.push(
          `| ${one.build} | ${v.title} | \`Host: ${host}\` ${path} | ` +
            `${both(one, many, 'cpu_us', 1, 1)} | ${cpu.text} | ` +
            `${cpu.median <= LIMIT ? 'yes' : '**no**'} | ` +
            `${both(one, many, 'rps', 1, 0)} | ${ratio(many, one, 'rps').text} | ` +
            `${both(one, many, 'p99_us', 1000, 2)} | ${ratio(many, one, 'p99_us').text} | ` +
            `${errors} |`,
        )
      }
      if (BASELINE) {
        const cells = ['cpu_us', 'rps'].flatMap((key) =>
          [0, 1].map((c) => ratio(sides[c], sides[2 + c], key).text),
        )
        versus.push(`| ${v.title} | ${cells.join(' | ')} |`)
      }
      await sleep(500)
    }
  } finally {
    await stop(backend)
  }
  if (versus.length) {
    lines.push(
      '',
      `Same run, working tree / ${BASELINE}: ${OF_RATIOS}`,
      '',
      `| table | CPU µs/req, 1 route | ${fmt(N)} routes | req/s, 1 route | ${fmt(N)} routes |`,
      '|---|--:|--:|--:|--:|',
      ...versus,
    )
  }
  return lines
}

console.log(
  `fulcrum bench:routes: 1 route vs ${fmt(N)} (issue 12: ${fmt(N)} may cost at most ` +
    `${Math.round((LIMIT - 1) * 100)}% over 1)`,
)
const report = []
if (ONLY.some((k) => k === 'match' || k === 'app')) report.push(...(await inProcess()), '')
if (ONLY.includes('e2e')) report.push(...(await endToEnd()))
console.log('\n' + report.join('\n'))
