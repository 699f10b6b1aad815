// Shared by the bench scripts: one HTTP load run on loopback, with wrk when it is installed (one
// thread, its Lua `done` hook printing one JSON line), else autocannon from node_modules, and the
// result in one shape whichever ran it.
import { spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './fulcrum.mjs'
import { has, pinned } from './processes.mjs'

export const HAVE_WRK = has('wrk')

/** wrk's report: one `BENCHJSON {...}` line when the run is done. */
const WRK_REPORT = `done = function(s, latency, r)
  local e = s.errors
  io.write(string.format(
    "BENCHJSON {\\"rps\\":%.2f,\\"p99_us\\":%d,\\"requests\\":%d,\\"bytes\\":%d,\\"seconds\\":%.6f,\\"errors\\":%d}\\n",
    s.requests / (s.duration / 1e6), latency:percentile(99), s.requests, s.bytes, s.duration / 1e6,
    e.connect + e.read + e.write + e.status + e.timeout))
end`

/**
 * One load run: `conns` connections for `seconds` against `url`, the load generator on CPU
 * `cpu` (when pinning). `headers` are `Name: value` strings; `workdir` holds wrk's Lua script.
 *
 * @returns `{ rps, p99_us, requests, bytes, seconds, errors }` (bytes: response bytes read;
 *   errors: socket errors, timeouts and non-2xx answers), or undefined when the run failed
 */
export function httpLoad({ url, conns, seconds, headers = [], cpu = 1, workdir }) {
  const script = join(workdir, 'report.lua')
  if (HAVE_WRK && !existsSync(script)) writeFileSync(script, WRK_REPORT)
  const command = HAVE_WRK
    ? ['wrk', '-t1', `-c${conns}`, `-d${seconds}s`, '--latency', '-s', script]
        .concat(headers.flatMap((header) => ['-H', header]))
        .concat(url)
    : [process.execPath, join(ROOT, 'node_modules/autocannon/autocannon.js'), '-j']
        .concat(['-c', String(conns), '-d', String(seconds)])
        .concat(headers.flatMap((header) => ['-H', header.replace(/:\s*/, '=')]))
        .concat(url)
  const run = pinned(cpu, command)
  const result = spawnSync(run[0], run.slice(1), {
    encoding: 'utf8',
    timeout: (seconds + 30) * 1000,
    // autocannon checks certificates like any Node client; wrk never does.
    env: url.startsWith('https:')
      ? { ...process.env, NODE_TLS_REJECT_UNAUTHORIZED: '0' }
      : undefined,
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
      requests: json.requests.total,
      bytes: json.throughput.total,
      seconds: json.duration,
      errors: json.errors + json.non2xx,
    }
  } catch {
    return undefined
  }
}
