#!/usr/bin/env node
// `npm run bench`: fulcrum on Node, Deno and Bun, and nginx when it is installed, under the same
// load in one interleaved run on loopback. Reports req/s, p99 and peak RSS, and each contestant's
// ratio to nginx. Load: wrk when installed, else autocannon. On Linux with taskset, the balancer
// is pinned to CPU 0 and the load generator and backends to CPU 1, as ../shared/bench does.
// With --tls, every contestant terminates HTTPS with the same certificate, generated for the run
// (ECDSA P-256 with openssl, else RSA 2048 with selfsigned) in a temporary directory, and the
// load goes over HTTPS; the backends stay plain HTTP, as behind any TLS-terminating balancer.
//
//   npm run bench                       # 2 rounds x 8 s, keep-alive and Connection: close
//   npm run bench -- --rounds 3 --duration 10 --only node,bun --no-close
//   npm run bench -- --only node --no-close --fulcrum-args "--strategy least-time"
//   npm run bench -- --tls --no-close   # keep-alive over HTTPS, against nginx terminating TLS
import { spawn, spawnSync } from 'node:child_process'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { flag, fulcrumCommand, ROOT } from './lib/fulcrum.mjs'

const args = process.argv.slice(2)
const ROUNDS = Number(flag('--rounds', 2))
const DURATION = Number(flag('--duration', 8))
const WARMUP = Number(flag('--warmup', 2))
const CONNS = Number(flag('--conns', 64))
const DO_CLOSE = !args.includes('--no-close')
const ONLY = flag('--only', '')
// Extra fulcrum flags, e.g. --fulcrum-args "--strategy least-time" or "--sticky".
const EXTRA = flag('--fulcrum-args', '').split(/\s+/).filter(Boolean)
const TLS = args.includes('--tls')
const SCHEME = TLS ? 'https' : 'http'
const LB_PORT = 18080
const BACKEND_PORTS = [19101, 19102]
const BACKENDS = BACKEND_PORTS.map((p) => `http://127.0.0.1:${p}`)

const has = (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0
const HAVE_WRK = has('wrk')
const HAVE_NGINX = has('nginx')
const PIN = has('taskset') && !args.includes('--no-pin')
const pinned = (cpu, command) => (PIN ? ['taskset', '-c', String(cpu), ...command] : command)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const workdir = mkdtempSync(join(tmpdir(), 'fulcrum-bench-'))
const children = new Set()
function start(command, options = {}) {
  const child = spawn(command[0], command.slice(1), {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    ...options,
  })
  let stderr = ''
  child.stderr?.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)))
  child.stderrText = () => stderr
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}
function stopAll() {
  for (const child of children) child.kill('SIGKILL')
}
process.on('exit', () => {
  stopAll()
  // Configs, logs and the --tls certificate and key: nothing of a run is kept.
  rmSync(workdir, { recursive: true, force: true })
})
process.on('SIGINT', () => process.exit(130))

// ---- --tls: one certificate for every contestant, made for this run and never kept ----
async function makeCertificate() {
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
const certificate = TLS ? await makeCertificate() : undefined

// ---- backends: nginx (1 worker, two ports) when installed, else two node:http servers ----
const BODY = 'ok backend '.padEnd(100, '.')
function startBackends() {
  if (HAVE_NGINX) {
    mkdirSync(join(workdir, 'tmp'), { recursive: true })
    const servers = BACKEND_PORTS.map(
      (port) => `server { listen 127.0.0.1:${port} backlog=4096;
        location = /health { return 200 "healthy\\n"; }
        location / { add_header X-Backend ${port}; return 200 "${BODY}"; } }`,
    ).join('\n')
    writeFileSync(join(workdir, 'backend.conf'), nginxConf('backend', servers))
    return start(pinned(1, ['nginx', '-p', workdir, '-c', join(workdir, 'backend.conf')]))
  }
  const source = `const http = require('node:http');
    for (const port of ${JSON.stringify(BACKEND_PORTS)}) http.createServer((req, res) => {
      if (req.url === '/health') return res.end('healthy\\n');
      res.setHeader('x-backend', String(port)); res.end(${JSON.stringify(BODY)});
    }).listen(port, '127.0.0.1');`
  return start(pinned(1, [process.execPath, '-e', source]))
}

function nginxConf(name, body) {
  return `worker_processes 1; daemon off; pid ${workdir}/${name}.pid;
error_log ${workdir}/${name}-error.log warn; worker_rlimit_nofile 16384;
events { worker_connections 8192; multi_accept on; }
http { access_log off; server_tokens off; keepalive_requests 1000000; keepalive_timeout 75s;
  default_type text/plain;
  client_body_temp_path ${workdir}/tmp/${name}-body; proxy_temp_path ${workdir}/tmp/${name}-proxy;
  fastcgi_temp_path ${workdir}/tmp/${name}-fcgi; uwsgi_temp_path ${workdir}/tmp/${name}-uwsgi;
  scgi_temp_path ${workdir}/tmp/${name}-scgi;
  ${body} }`
}

// ---- contestants ----
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
        writeFileSync(join(workdir, 'lb.conf'), nginxConf('lb', upstream))
        return ['nginx', '-p', workdir, '-c', join(workdir, 'lb.conf')]
      }
    : undefined,
  'fulcrum-node': () => fulcrumCommand('node', fulcrumArgs),
  'fulcrum-deno': () => fulcrumCommand('deno', fulcrumArgs),
  'fulcrum-bun': () => fulcrumCommand('bun', fulcrumArgs),
}
const names = Object.keys(contestants).filter(
  (name) =>
    contestants[name] &&
    (!ONLY || name === 'nginx' || ONLY.split(',').some((o) => name.endsWith(o))),
)

// ---- measurement ----
function treePids(root) {
  const parents = new Map()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch {}
  }
  const pids = [root]
  for (let i = 0; i < pids.length; i++) {
    for (const [pid, ppid] of parents) if (ppid === pids[i]) pids.push(pid)
  }
  return pids
}
function peakRssMb(root) {
  let kb = 0
  for (const pid of treePids(root)) {
    try {
      kb += Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
    } catch {}
  }
  return kb / 1024
}

/** GET /health through the balancer: true on a 2xx (the run's own certificate is not checked). */
function healthy() {
  const request = TLS ? httpsRequest : httpRequest
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: LB_PORT,
        path: '/health',
        rejectUnauthorized: false,
        timeout: 2000,
      },
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

async function waitHealthy() {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (await healthy()) return true
    await sleep(200)
  }
  return false
}

const WRK_SCRIPT = join(workdir, 'report.lua')
writeFileSync(
  WRK_SCRIPT,
  `done = function(s, latency, r)
  local e = s.errors
  io.write(string.format("BENCHJSON {\\"rps\\":%.2f,\\"p99_us\\":%d,\\"errors\\":%d}\\n",
    s.requests / (s.duration / 1e6), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end`,
)

function load(seconds, close) {
  const url = `${SCHEME}://127.0.0.1:${LB_PORT}/`
  const command = HAVE_WRK
    ? [
        'wrk',
        '-t1',
        `-c${CONNS}`,
        `-d${seconds}s`,
        '--latency',
        '-s',
        WRK_SCRIPT,
        ...(close ? ['-H', 'Connection: close'] : []),
        url,
      ]
    : [
        process.execPath,
        join(ROOT, 'node_modules/autocannon/autocannon.js'),
        '-j',
        '-c',
        String(CONNS),
        '-d',
        String(seconds),
        ...(close ? ['-H', 'Connection: close'] : []),
        url,
      ]
  const result = spawnSync(pinned(1, command)[0], pinned(1, command).slice(1), {
    encoding: 'utf8',
    timeout: (seconds + 30) * 1000,
    // autocannon checks certificates like any Node client; wrk never does.
    env: TLS && !HAVE_WRK ? { ...process.env, NODE_TLS_REJECT_UNAUTHORIZED: '0' } : process.env,
    maxBuffer: 16 << 20,
  })
  if (HAVE_WRK) {
    const line = /BENCHJSON (.*)/.exec(result.stdout ?? '')
    return line ? JSON.parse(line[1]) : undefined
  }
  try {
    const json = JSON.parse(result.stdout)
    return {
      rps: json.requests.average,
      p99_us: json.latency.p99 * 1000,
      errors: json.errors + json.non2xx,
    }
  } catch {
    return undefined
  }
}

async function runOne(name) {
  const lb = start(pinned(0, contestants[name]()))
  try {
    if (!(await waitHealthy())) {
      console.error(`  ${name}: not healthy within 30 s\n${lb.stderrText()}`)
      return undefined
    }
    if (WARMUP > 0) load(WARMUP, false)
    const keepAlive = load(DURATION, false)
    const close = DO_CLOSE ? load(DURATION, true) : undefined
    const rss = peakRssMb(lb.pid)
    return { keepAlive, close, rss, exited: lb.exitCode !== null }
  } finally {
    lb.kill('SIGTERM')
    await Promise.race([new Promise((r) => lb.once('exit', r)), sleep(5000)])
    lb.kill('SIGKILL')
    await sleep(300)
  }
}

const median = (xs) => {
  const sorted = xs.filter((x) => x !== undefined).sort((a, b) => a - b)
  return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : undefined
}

const MODE = TLS ? 'HTTPS (TLS terminated by the balancer; plain HTTP to the backends)' : 'HTTP'
console.log(
  `fulcrum bench: ${MODE}, ${ROUNDS} rounds x ${DURATION}s, ${CONNS} connections, load: ${HAVE_WRK ? 'wrk' : 'autocannon'}, ` +
    `backends: ${HAVE_NGINX ? 'nginx' : 'node:http'}, pinning: ${PIN ? 'LB cpu 0, load cpu 1' : 'none'}` +
    (HAVE_NGINX
      ? ''
      : '\n(nginx is not installed: no ratio column. apt-get install nginx-light wrk for the full table)'),
)
const backends = startBackends()
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
backends.kill('SIGTERM')

const summary = names.map((name) => {
  const runs = results[name].filter(Boolean)
  return {
    name,
    rps: median(runs.map((r) => r.keepAlive?.rps)),
    p99: median(runs.map((r) => r.keepAlive?.p99_us)),
    closeRps: median(runs.map((r) => r.close?.rps)),
    rss: Math.max(0, ...runs.map((r) => r.rss)),
    errors: runs.reduce((sum, r) => sum + (r.keepAlive?.errors ?? 0) + (r.close?.errors ?? 0), 0),
  }
})
const nginx = summary.find((s) => s.name === 'nginx')
const ratio = (value, base) => (value && base ? `${(value / base).toFixed(2)}x` : '-')
const fmt = (n, digits = 0) =>
  n === undefined ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: digits })
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
mkdirSync(join(ROOT, 'bench-results'), { recursive: true })
const stamp = new Date().toISOString().replace(/[:.]/g, '-') + (TLS ? '-tls' : '')
writeFileSync(join(ROOT, 'bench-results', `${stamp}.md`), lines.join('\n') + '\n')
writeFileSync(
  join(ROOT, 'bench-results', `${stamp}.json`),
  JSON.stringify({ mode: TLS ? 'https' : 'http', summary, results }, null, 2),
)
stopAll()
