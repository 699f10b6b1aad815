#!/usr/bin/env node
// Memory soak (not in CI): mixed load against fulcrum for a while, sampling its RSS every 10 s,
// then saying whether RSS stayed flat after warm-up.
//
//   node scripts/soak.mjs                          # Node, 10 minutes (npm run build first)
//   node scripts/soak.mjs --runtime bun --minutes 3
//
// The load, from 48 concurrent loops on loopback: plain GETs, sticky clients that keep their
// lb_sid cookie, POSTs with bodies, clients that walk away in the middle of a response, and a
// third backend that answers 500, resets the connection or stalls on some requests (upstream
// errors, retries, passive health). Fulcrum runs with its default features on (health probes,
// metrics) plus the access log to a file and sticky sessions.
import { Buffer } from 'node:buffer'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate } from 'node:timers'
import { flag, fulcrumCommand, ROOT } from './lib/fulcrum.mjs'

const RUNTIME = flag('--runtime', 'node')
const MINUTES = Number(flag('--minutes', 10))
const WARMUP_S = Number(flag('--warmup', 60))
const CONCURRENCY = Number(flag('--concurrency', 48))
const SAMPLE_MS = 10_000
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// ---- backends: two healthy ones, and one that misbehaves on some requests ----
const BODY = Buffer.alloc(2048, 'x')
function backend(faulty) {
  let n = 0
  const server = http.createServer((req, res) => {
    req.resume()
    if (req.url === '/health') return res.end('ok')
    n++
    if (faulty && n % 10 === 0) return res.writeHead(500).end('nope')
    if (faulty && n % 10 === 1) return req.socket.destroy()
    if (faulty && n % 25 === 2) {
      res.writeHead(200, { 'content-length': BODY.length })
      res.write(BODY.subarray(0, 100))
      return setTimeout(() => req.socket.destroy(), 50)
    }
    const big = req.url.startsWith('/big')
    res.writeHead(200, { 'content-type': 'text/plain' })
    if (!big) return res.end(BODY)
    // 256 KiB in 16 chunks: clients that walk away do so in the middle of it.
    let left = 16
    const more = () => {
      if (left-- === 0 || res.destroyed) return res.end()
      res.write(Buffer.alloc(16384, 'y'))
      setImmediate(more)
    }
    more()
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}
const backends = await Promise.all([backend(false), backend(false), backend(true)])
const urls = backends.map((s) => `http://127.0.0.1:${s.address().port}`)

// ---- fulcrum ----
const dir = mkdtempSync(join(tmpdir(), 'fulcrum-soak-'))
const port = 18480
const fulcrumArgs = [
  '--host',
  '127.0.0.1',
  '--port',
  String(port),
  '--admin-port',
  '0',
  '--sticky',
  '--health-interval',
  '1s',
  '--access-log',
  join(dir, 'access.log'),
  ...urls.flatMap((u) => ['--backend', u]),
]
const command = fulcrumCommand(RUNTIME, fulcrumArgs)
const lb = spawn(command[0], command.slice(1), { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
let stderr = ''
lb.stderr.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)))
process.on('exit', () => lb.kill('SIGKILL'))
process.on('SIGINT', () => process.exit(130))

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
function request(options, body) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, agent, ...options }, (res) => {
      if (options.abortAfterHeaders) {
        res.once('data', () => req.destroy())
        res.on('error', () => {})
        res.on('close', () => resolve({ status: res.statusCode, aborted: true }))
        return
      }
      const cookie = res.headers['set-cookie']?.[0]?.split(';')[0]
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode, cookie }))
      res.on('error', () => resolve({ status: 0 }))
    })
    req.on('error', () => resolve({ status: 0 }))
    req.end(body)
  })
}

for (let i = 0; i < 150 && lb.exitCode === null; i++) {
  const ok = await request({ path: '/' }).then((r) => r.status === 200)
  if (ok) break
  await sleep(200)
}
if (lb.exitCode !== null) {
  console.error(`fulcrum exited early:\n${stderr}`)
  process.exit(1)
}

const counts = { total: 0, ok: 0, s5xx: 0, aborted: 0, failed: 0 }
let running = true
async function loop(id) {
  let cookie
  for (let n = 0; running; n++) {
    const kind = (id + n) % 10
    let result
    if (kind < 4) result = await request({ path: `/get/${n}` })
    else if (kind < 6) {
      // A sticky client: keeps its cookie, gets a new one only when it is moved.
      result = await request({ path: '/sticky', headers: cookie ? { cookie } : {} })
      if (result.cookie) cookie = result.cookie
    } else if (kind < 8) {
      result = await request({ path: '/post', method: 'POST' }, Buffer.alloc(4096, 'p'))
    } else result = await request({ path: '/big', abortAfterHeaders: kind === 9 })
    counts.total++
    if (result.aborted) counts.aborted++
    else if (result.status === 200) counts.ok++
    else if (result.status >= 500) counts.s5xx++
    else counts.failed++
  }
}

function rssMb() {
  const status = readFileSync(`/proc/${lb.pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024
}

console.log(
  `soak: fulcrum on ${RUNTIME}, ${MINUTES} min, ${CONCURRENCY} loops, warm-up ${WARMUP_S} s, RSS every ${SAMPLE_MS / 1000} s`,
)
const loops = Array.from({ length: CONCURRENCY }, (_, i) => loop(i))
const samples = []
const started = Date.now()
while (Date.now() - started < MINUTES * 60_000 && lb.exitCode === null) {
  await sleep(SAMPLE_MS)
  if (lb.exitCode !== null) break
  const t = (Date.now() - started) / 1000
  const rss = rssMb()
  samples.push({ t, rss })
  console.log(
    `  t=${t.toFixed(0).padStart(4)} s  RSS ${rss.toFixed(1).padStart(6)} MB  requests ${counts.total} ` +
      `(200: ${counts.ok}, 5xx: ${counts.s5xx}, aborted: ${counts.aborted}, failed: ${counts.failed})`,
  )
}
running = false
await Promise.race([Promise.all(loops), sleep(5000)])

if (lb.exitCode !== null) {
  console.log(`FAIL: fulcrum exited with ${lb.exitCode}\n${stderr}`)
  process.exit(1)
}
// Least-squares slope of RSS over time, after warm-up.
const after = samples.filter((s) => s.t >= WARMUP_S)
const n = after.length
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length
const mt = mean(after.map((s) => s.t))
const mr = mean(after.map((s) => s.rss))
const slope =
  after.reduce((a, s) => a + (s.t - mt) * (s.rss - mr), 0) /
  after.reduce((a, s) => a + (s.t - mt) ** 2, 0)
const perMin = slope * 60
const first = after[0]?.rss
const last = after[n - 1]?.rss
const peak = Math.max(...samples.map((s) => s.rss))
// Flat: under 1 MB/min of drift after warm-up, and the last sample within 10% of the first.
const flat = n >= 3 && perMin < 1 && last <= first * 1.1
console.log(
  `\nafter warm-up: ${n} samples, first ${first?.toFixed(1)} MB, last ${last?.toFixed(1)} MB, ` +
    `peak ${peak.toFixed(1)} MB, slope ${perMin.toFixed(2)} MB/min -> ${flat ? 'FLAT' : 'GROWING'}`,
)
console.log(
  `requests: ${counts.total} (200: ${counts.ok}, 5xx: ${counts.s5xx}, client aborts: ${counts.aborted}, failed: ${counts.failed})`,
)
lb.kill('SIGTERM')
for (const server of backends) server.close()
agent.destroy()
process.exit(flat ? 0 : 1)
