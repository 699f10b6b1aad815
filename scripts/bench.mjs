#!/usr/bin/env node
// `npm run bench`: fulcrum on Node, Deno and Bun, and nginx when it is installed, under the same
// load in one interleaved run on loopback. Reports req/s, p99 and peak RSS, and each contestant's
// ratio to nginx. Load: wrk when installed, else autocannon. On Linux with taskset, the balancer
// is pinned to CPU 0 and the load generator and backends to CPU 1, as ../shared/bench does.
// With --tls, every contestant terminates HTTPS with the same certificate, generated for the run
// (ECDSA P-256 with openssl, else RSA 2048 with selfsigned) in a temporary directory, and the
// load goes over HTTPS; the backends stay plain HTTP, as behind any TLS-terminating balancer.
//
// With --tcp, layer 4: HAProxy `mode tcp` (when installed) and fulcrum's TCP listener on each
// runtime relay to the same two backends. Each round starts them all afresh (each on its own
// port) and runs each workload against one after the other, the order rotating, so that each
// ratio to HAProxy compares windows seconds apart. Two workloads, HTTP/1.1 bytes that the relays
// do not read:
//  - connections per second: `Connection: close`, so each request is a new connection (about
//    40 bytes in, 200 out, the backend closes), --conns at once;
//  - MB/s: --streams keep-alive connections each fetching 1 MiB bodies back to back.
// Besides what the load saw, the balancer's own CPU time in each window: connections (or MB)
// per CPU-second is what it does with one whole core, whether or not the load filled the core.
// `raw-node` (scripts/lib/raw-tcp-relay.mjs, node:net's pipe() and nothing else) is the floor of
// what a Node relay costs.
//
//   npm run bench                       # 2 rounds x 8 s, keep-alive and Connection: close
//   npm run bench -- --rounds 3 --duration 10 --only node,bun --no-close
//   npm run bench -- --only node --no-close --fulcrum-args "--strategy least-time"
//   npm run bench -- --tls --no-close   # keep-alive over HTTPS, against nginx terminating TLS
//   npm run bench -- --tcp              # 6 rounds x 5 s a workload, against HAProxy mode tcp
//   npm run bench -- --tcp --rounds 10 --duration 4 --only node,bun --streams 8
//
// Same-run A/B of other builds, as more Node contestants in either mode: --baseline REV adds
// `fulcrum-node@REV`, dist/node.js bundled from src/ and runtimes/ as they are at git revision
// REV; --dist NAME=FILE[,NAME=FILE] adds bundles built elsewhere.
//
//   npm run bench -- --tcp --only node --baseline HEAD
import { spawnSync } from 'node:child_process'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect } from 'node:net'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg as loadavgs } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { HAVE_NGINX, nginxConf, startBackends } from './lib/backends.mjs'
import { atRevision, buildNode, flag, fulcrumCommand, ROOT } from './lib/fulcrum.mjs'
import { HAVE_WRK, httpLoad } from './lib/http-load.mjs'
import * as proc from './lib/processes.mjs'

const { has, pinned, sleep, start, PIN } = proc
const args = process.argv.slice(2)
const TCP = args.includes('--tcp')
const ROUNDS = Number(flag('--rounds', TCP ? 6 : 2))
const DURATION = Number(flag('--duration', TCP ? 5 : 8))
const WARMUP = Number(flag('--warmup', 2))
const CONNS = Number(flag('--conns', 64))
/** --tcp: the keep-alive connections of the MB/s workload. */
const STREAMS = Number(flag('--streams', 4))
const DO_CLOSE = !args.includes('--no-close')
const ONLY = flag('--only', '')
// Extra fulcrum flags, e.g. --fulcrum-args "--strategy least-time" or "--sticky".
const EXTRA = flag('--fulcrum-args', '').split(/\s+/).filter(Boolean)
const TLS = args.includes('--tls')
const SCHEME = TLS ? 'https' : 'http'
const LB_PORT = 18080
/** --tcp: each contestant's listener, from this port up. */
const TCP_PORT = 18090
const BACKEND_PORTS = [19101, 19102]
const BACKENDS = BACKEND_PORTS.map((p) => `http://127.0.0.1:${p}`)
const FULCRUMS = ['fulcrum-node', 'fulcrum-deno', 'fulcrum-bun']
const BASELINE = flag('--baseline', '')
/** Node bundles to run beside the working tree's: [name, file]. */
const DISTS = flag('--dist', '')
  .split(',')
  .filter(Boolean)
  .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)])

/** The --baseline and --dist contestants: name → the Node bundle it runs. */
async function otherBuilds(workdir) {
  const builds = new Map(DISTS)
  if (BASELINE) {
    const at = atRevision(BASELINE, /(src|runtimes)[\\/].*\.ts$/)
    builds.set(
      `fulcrum-node@${BASELINE}`,
      await buildNode(join(workdir, 'baseline-node.mjs'), { plugins: [at] }),
    )
  }
  return builds
}

/** Whether `--only` keeps contestant `name` (the baseline, `base`, is always kept). */
const kept = (name, base) => !ONLY || name === base || ONLY.split(',').some((o) => name.endsWith(o))

// ---- --tls: one certificate for every contestant, made for this run and never kept ----
export async function makeCertificate(workdir) {
  const cert = join(workdir, 'bench.crt')
  const key = join(workdir, 'bench.key')
  if (has('openssl')) {
    const made = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
        .concat(['-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'])
        .concat(['-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']),
      { encoding: 'utf8' },
    )
    if (made.status !== 0) throw new Error(`openssl could not make a certificate:\n${made.stderr}`)
  } else {
    const { generate } = await import('selfsigned')
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keySize: 2048,
      algorithm: 'sha256',
      notAfterDate: new Date(Date.now() + 86_400_000),
      extensions: [
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
          ],
        },
      ],
    })
    writeFileSync(cert, pems.cert)
    writeFileSync(key, pems.private, { mode: 0o600 })
  }
  return { cert, key }
}

/** GET `path` on `port` (TLS without checking the certificate): true on a 2xx. */
export function healthy(port, { tls = false, path = '/health' } = {}) {
  const request = tls ? httpsRequest : httpRequest
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path, rejectUnauthorized: false, timeout: 2000 },
      (response) => {
        response.resume()
        response.once('end', () => resolve(response.statusCode >= 200 && response.statusCode < 300))
      },
    )
    req.once('error', () => resolve(false))
    req.once('timeout', () => req.destroy())
    req.end()
  })
}

/** Whether nothing accepts connections on 127.0.0.1:`port`. */
export function portFree(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', () => resolve(true))
  })
}

/** Wait up to 30 s for {@link healthy}; false when `child` exits or time runs out first. */
export async function waitHealthy(port, child, options) {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline && child.exitCode === null) {
    if (await healthy(port, options)) return true
    await sleep(200)
  }
  return false
}

const ratio = (value, base) => (value && base ? `${(value / base).toFixed(2)}x` : '-')
const fmt = (n, digits = 0) =>
  n === undefined || Number.isNaN(n)
    ? '-'
    : n.toLocaleString('en-US', { maximumFractionDigits: digits })

/** The 1, 5 and 15 minute load averages. */
const loadavg = () =>
  loadavgs()
    .map((n) => n.toFixed(2))
    .join(' ')

/** Write the report to bench-results/<time><suffix>.md and its data to .json. */
function save(suffix, lines, data) {
  mkdirSync(join(ROOT, 'bench-results'), { recursive: true })
  const stamp = new Date().toISOString().replace(/[:.]/g, '-') + suffix
  writeFileSync(join(ROOT, 'bench-results', `${stamp}.md`), lines.join('\n') + '\n')
  writeFileSync(join(ROOT, 'bench-results', `${stamp}.json`), JSON.stringify(data, null, 2))
}

// ---- HTTP: one contestant at a time on LB_PORT, restarted each round ----
export async function benchHttp() {
  const workdir = proc.scratchDir('fulcrum-bench-')
  const certificate = TLS ? await makeCertificate(workdir) : undefined
  const fulcrumArgs = [
    '--host',
    '127.0.0.1',
    '--port',
    String(LB_PORT),
    ...BACKENDS.flatMap((b) => ['--backend', b]),
    // The issue's conditions: default features on (probes, metrics), the access log to a file.
    '--admin-port',
    '0',
    '--access-log',
    join(workdir, 'access.log'),
    ...(certificate ? ['--cert', certificate.cert, '--key', certificate.key] : []),
    ...EXTRA,
  ]
  const contestants = {
    nginx: HAVE_NGINX
      ? () => {
          // With --tls, nginx terminates TLS 1.2/1.3 with the certificate fulcrum uses.
          const tls = certificate
            ? ` ssl; ssl_certificate ${certificate.cert}; ssl_certificate_key ${certificate.key};
          ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m`
            : ''
          const upstream = `upstream backends { ${BACKENDS.map((b) => `server ${b.slice(7)};`).join(' ')}
          keepalive 32; keepalive_requests 1000000; }
          server { listen 127.0.0.1:${LB_PORT} backlog=4096${tls}; location / { proxy_pass http://backends;
          proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; } }`
          writeFileSync(join(workdir, 'lb.conf'), nginxConf(workdir, 'lb', upstream))
          return ['nginx', '-p', workdir, '-c', join(workdir, 'lb.conf')]
        }
      : undefined,
    'fulcrum-node': () => fulcrumCommand('node', fulcrumArgs),
    'fulcrum-deno': () => fulcrumCommand('deno', fulcrumArgs),
    'fulcrum-bun': () => fulcrumCommand('bun', fulcrumArgs),
  }
  const builds = await otherBuilds(workdir)
  for (const [name, dist] of builds) {
    contestants[name] = () => [process.execPath, dist, ...fulcrumArgs]
  }
  const names = Object.keys(contestants).filter(
    (name) => contestants[name] && (kept(name, 'nginx') || builds.has(name)),
  )
  const load = (seconds, close) =>
    httpLoad({
      url: `${SCHEME}://127.0.0.1:${LB_PORT}/`,
      conns: CONNS,
      seconds,
      headers: close ? ['Connection: close'] : [],
      workdir,
    })

  async function runOne(name) {
    const lb = start(pinned(0, contestants[name]()))
    try {
      if (!(await waitHealthy(LB_PORT, lb, { tls: TLS }))) {
        console.error(`  ${name}: not healthy within 30 s\n${lb.stderrText()}`)
        return undefined
      }
      if (WARMUP > 0) load(WARMUP, false)
      const keepAlive = load(DURATION, false)
      const close = DO_CLOSE ? load(DURATION, true) : undefined
      const rss = proc.peakRssMb(lb.pid)
      return { keepAlive, close, rss, exited: lb.exitCode !== null }
    } finally {
      await proc.stop(lb)
      await sleep(300)
    }
  }

  const MODE = TLS ? 'HTTPS (TLS terminated by the balancer; plain HTTP to the backends)' : 'HTTP'
  console.log(
    `fulcrum bench: ${MODE}, ${ROUNDS} rounds x ${DURATION}s, ${CONNS} connections, load: ${HAVE_WRK ? 'wrk' : 'autocannon'}, ` +
      `backends: ${HAVE_NGINX ? 'nginx' : 'node:http'}, pinning: ${PIN ? 'LB cpu 0, load cpu 1' : 'none'}` +
      (HAVE_NGINX
        ? ''
        : '\n(nginx is not installed: no ratio column. apt-get install nginx-light wrk for the full table)'),
  )
  const backends = startBackends(workdir, BACKEND_PORTS)
  await sleep(500)
  const results = Object.fromEntries(names.map((n) => [n, []]))
  for (let round = 0; round < ROUNDS; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length])
    for (const name of order) {
      process.stdout.write(`  round ${round + 1}: ${name} ... `)
      const result = await runOne(name)
      results[name].push(result)
      console.log(result?.keepAlive ? `${Math.round(result.keepAlive.rps)} req/s` : 'no result')
    }
  }
  await proc.stop(backends)

  const summary = names.map((name) => {
    const runs = results[name].filter(Boolean)
    return {
      name,
      rps: proc.median(runs.map((r) => r.keepAlive?.rps)),
      p99: proc.median(runs.map((r) => r.keepAlive?.p99_us)),
      closeRps: proc.median(runs.map((r) => r.close?.rps)),
      rss: Math.max(0, ...runs.map((r) => r.rss)),
      errors: runs.reduce((sum, r) => sum + (r.keepAlive?.errors ?? 0) + (r.close?.errors ?? 0), 0),
    }
  })
  const nginx = summary.find((s) => s.name === 'nginx')
  const lines = [
    `${MODE}: ${ROUNDS} rounds x ${DURATION}s, ${CONNS} connections, medians`,
    '',
    '| contestant | keep-alive req/s | vs nginx | p99 ms | Connection: close req/s | vs nginx | peak RSS MB | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...summary.map(
      (s) =>
        `| ${s.name} | ${fmt(s.rps)} | ${ratio(s.rps, nginx?.rps)} | ${fmt(s.p99 / 1000, 1)} | ${fmt(s.closeRps)} | ` +
        `${ratio(s.closeRps, nginx?.closeRps)} | ${fmt(s.rss, 1)} | ${s.errors} |`,
    ),
  ]
  console.log('\n' + lines.join('\n'))
  save(TLS ? '-tls' : '', lines, { mode: TLS ? 'https' : 'http', summary, results })
  proc.stopAll()
}

// ---- TCP: every contestant listening at once, the workloads alternating between them ----

/** HAProxy `mode tcp`: one thread, round robin over the backends with TCP checks. */
export function haproxyTcpConf(workdir, port) {
  return `global
    nbthread 1
    maxconn 8192
    pidfile ${workdir}/haproxy-${port}.pid
defaults
    mode tcp
    timeout connect 5s
    timeout client 10m
    timeout server 10m
frontend fe
    bind 127.0.0.1:${port}
    default_backend be
backend be
    balance roundrobin
${BACKEND_PORTS.map((p, i) => `    server s${i + 1} 127.0.0.1:${p} check`).join('\n')}
`
}

/** fulcrum's config for the TCP bench: one pool of `tcp://` backends, one listener on `port`. */
export function fulcrumTcpConfig(port) {
  return {
    pools: { bench: { backends: BACKEND_PORTS.map((p) => `tcp://127.0.0.1:${p}`) } },
    tcp: [{ name: 'bench', listen: { host: '127.0.0.1', port }, pool: 'bench' }],
  }
}

/** The TCP workloads: what load runs against a relay on `port`, and what it counts. */
const TCP_WORKLOADS = {
  connections: {
    unit: 'conn/s',
    load: (port, seconds, workdir) =>
      httpLoad({
        url: `http://127.0.0.1:${port}/`,
        conns: CONNS,
        seconds,
        headers: ['Connection: close'],
        workdir,
      }),
    /** [per second, units] of a run. */
    count: (run) => [run.rps, run.requests],
  },
  bulk: {
    unit: 'MB/s',
    load: (port, seconds, workdir) =>
      httpLoad({ url: `http://127.0.0.1:${port}/bulk`, conns: STREAMS, seconds, workdir }),
    count: (run) => [run.bytes / run.seconds / 1e6, run.bytes / 1e6],
  },
}

export async function benchTcp() {
  const workdir = proc.scratchDir('fulcrum-bench-tcp-')
  const HAVE_HAPROXY = has('haproxy')
  const builds = await otherBuilds(workdir)
  const all = [...(HAVE_HAPROXY ? ['haproxy'] : []), ...FULCRUMS, 'raw-node'].filter((n) =>
    kept(n, 'haproxy'),
  )
  const sides = [...all, ...builds.keys()].map((name, i) => {
    const port = TCP_PORT + i
    let command
    if (name === 'haproxy') {
      writeFileSync(join(workdir, `haproxy-${port}.cfg`), haproxyTcpConf(workdir, port))
      command = ['haproxy', '-db', '-f', join(workdir, `haproxy-${port}.cfg`)]
    } else {
      const config = join(workdir, `fulcrum-${port}.json`)
      writeFileSync(config, JSON.stringify(fulcrumTcpConfig(port)))
      const fulcrumArgs = [
        '--config',
        config,
        // As in the HTTP mode: default features on (probes, metrics), the access log to a file.
        '--admin-port',
        '0',
        '--access-log',
        join(workdir, `access-${port}.log`),
        ...EXTRA,
      ]
      command =
        name === 'raw-node'
          ? [process.execPath, 'scripts/lib/raw-tcp-relay.mjs', ...fulcrumArgs]
          : builds.has(name)
            ? [process.execPath, builds.get(name), ...fulcrumArgs]
            : fulcrumCommand(name.slice('fulcrum-'.length), fulcrumArgs)
    }
    return { name, port, command, runs: { connections: [], bulk: [] } }
  })
  const loadBefore = loadavg()
  console.log(
    `fulcrum bench --tcp: ${sides.map((s) => s.name).join(', ')}; ${ROUNDS} rounds x ${DURATION}s a workload, ` +
      `load: ${HAVE_WRK ? 'wrk' : 'autocannon'} (${CONNS} connections with Connection: close; ` +
      `${STREAMS} keep-alive fetching 1 MiB), backends: ${HAVE_NGINX ? 'nginx' : 'node:http'}, ` +
      `pinning: ${PIN ? 'balancers cpu 0, load and backends cpu 1' : 'none'}; load average ${loadBefore}` +
      (HAVE_HAPROXY
        ? ''
        : '\n(HAProxy is not installed: no ratio column. apt-get install haproxy for the full table)'),
  )
  for (const port of [...BACKEND_PORTS, ...sides.map((side) => side.port)]) {
    if (!(await portFree(port))) throw new Error(`Port ${port} is taken: is another bench running?`)
  }
  const backends = startBackends(workdir, BACKEND_PORTS)
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Every contestant afresh each round: what one process happened to get (its heap, its
      // JIT, its connections' backends) is not carried through the whole run.
      for (const side of sides) side.lb = start(pinned(0, side.command))
      for (const side of sides) {
        if (!(await waitHealthy(side.port, side.lb))) {
          throw new Error(`${side.name} not relaying within 30 s\n${side.lb.stderrText()}`)
        }
        for (const workload of Object.values(TCP_WORKLOADS)) {
          if (WARMUP > 0) workload.load(side.port, WARMUP, workdir)
        }
      }
      const order = sides.map((_, i) => sides[(i + round) % sides.length])
      for (const [kind, workload] of Object.entries(TCP_WORKLOADS)) {
        const each = []
        for (const side of order) {
          const cpu = proc.cpuSeconds(side.lb.pid)
          const times = proc.cpuTimes()
          const run = workload.load(side.port, DURATION, workdir)
          const used = proc.cpuSeconds(side.lb.pid) - cpu
          const busy = proc.busyPercent(times, proc.cpuTimes())
          if (!run || side.lb.exitCode !== null) {
            side.runs[kind].push(undefined)
            each.push(`${side.name} -`)
            continue
          }
          const [rate, units] = workload.count(run)
          side.runs[kind].push({
            rate,
            /** What one whole core of the balancer does: units per CPU-second. */
            perCore: units / used,
            lbCpu: (100 * used) / run.seconds,
            busy,
            p99_us: run.p99_us,
            errors: run.errors,
          })
          each.push(`${side.name} ${fmt(rate)} (${fmt((100 * used) / run.seconds)}% cpu)`)
        }
        console.log(`  round ${round + 1} ${workload.unit}: ${each.join(', ')}`)
      }
      for (const side of sides) side.rss = Math.max(side.rss ?? 0, proc.peakRssMb(side.lb.pid))
      await Promise.all(sides.map((side) => proc.stop(side.lb)))
      await sleep(300)
    }
  } finally {
    await Promise.all(sides.map((side) => side.lb && proc.stop(side.lb)))
    await proc.stop(backends)
  }

  const base = sides.find((s) => s.name === 'haproxy')
  /** Each round's ratio of `side` to `to` (HAProxy) on `key`: windows of one round side by side. */
  const ratios = (side, kind, key, to = base) =>
    side.runs[kind].map((run, r) => {
      const other = to?.runs[kind][r]
      return run && other ? run[key] / other[key] : undefined
    })
  const x = (value) => (value === undefined ? '-' : `${value.toFixed(2)}x`)
  const busy = (cpu) =>
    fmt(
      proc.median(
        sides.flatMap((s) =>
          Object.values(s.runs)
            .flat()
            .map((r) => r?.busy[cpu]),
        ),
      ),
    )
  const lines = [
    `TCP: ${ROUNDS} rounds x ${DURATION}s a workload, all contestants started afresh each round ` +
      `and measured in turn, the order rotating; medians, and the median of the per-round ratios to HAProxy. ` +
      `"/ core": units per CPU-second of the balancer`,
    '',
    '| contestant | conn/s | vs HAProxy | conn/s / core | vs HAProxy | LB CPU % | MB/s | vs HAProxy | MB/s / core | vs HAProxy | LB CPU % | peak RSS MB | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const side of sides) {
    const cells = Object.keys(TCP_WORKLOADS).map((kind) => {
      const runs = side.runs[kind].filter(Boolean)
      const med = (key) => proc.median(runs.map((r) => r[key]))
      return (
        `${fmt(med('rate'))} | ${x(proc.median(ratios(side, kind, 'rate')))} | ` +
        `${fmt(med('perCore'))} | ${x(proc.median(ratios(side, kind, 'perCore')))} | ${fmt(med('lbCpu'))}`
      )
    })
    const errors = Object.values(side.runs)
      .flat()
      .reduce((sum, r) => sum + (r?.errors ?? 0), 0)
    lines.push(`| ${side.name} | ${cells.join(' | ')} | ${fmt(side.rss, 1)} | ${errors} |`)
  }
  if (base) {
    lines.push('', 'Per-round ratios to HAProxy (rate; per core):', '')
    for (const side of sides.filter((s) => s !== base)) {
      for (const kind of Object.keys(TCP_WORKLOADS)) {
        const rate = ratios(side, kind, 'rate').map(x).join(' ')
        const core = ratios(side, kind, 'perCore').map(x).join(' ')
        lines.push(`- ${side.name} ${TCP_WORKLOADS[kind].unit}: ${rate}; ${core}`)
      }
    }
  }
  // --baseline, --dist: each other build against the working tree's, round by round.
  const node = sides.find((s) => s.name === 'fulcrum-node')
  const others = sides.filter((s) => builds.has(s.name))
  if (node && others.length) {
    lines.push('', 'Same run, each build / fulcrum-node: median (per round), rate; per core', '')
    for (const side of others) {
      for (const kind of Object.keys(TCP_WORKLOADS)) {
        const cells = ['rate', 'perCore'].map((key) => {
          const each = ratios(side, kind, key, node)
          return `${x(proc.median(each))} (${each.map(x).join(' ')})`
        })
        lines.push(`- ${side.name} ${TCP_WORKLOADS[kind].unit}: ${cells.join('; ')}`)
      }
    }
  }
  lines.push(
    '',
    `Machine: ${cpus()[0]?.model ?? '?'} x ${cpus().length}, ` +
      `load average ${loadBefore} before, ${loadavg()} after; ` +
      `median busy in the windows: CPU 0 ${busy(0)}%, CPU 1 ${busy(1)}%`,
  )
  console.log('\n' + lines.join('\n'))
  save('-tcp', lines, {
    mode: 'tcp',
    sides: sides.map(({ name, runs, rss }) => ({ name, runs, rss })),
  })
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await (TCP ? benchTcp() : benchHttp())
}
