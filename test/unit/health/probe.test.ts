/**
 * src/health/probe.ts: the exec probe, with the real `RuntimeDeps.exec` of runtimes/start/exec.ts
 * running real programs (`sh`, `true`, `sleep`). The http and tcp probes: test/unit/health.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { exec } from '../../../runtimes/start/exec.ts'
import { parseConfig } from '../../../src/config.ts'
import { createHealthChecker } from '../../../src/health/checker.ts'
import {
  execProbe,
  fillPlaceholders,
  ProbeFailure,
  type Exec,
  type HealthProbe,
} from '../../../src/health/probe.ts'
import { BackendPool } from '../../../src/pool.ts'
import { ExecDeniedError, type Backend, type Logger } from '../../../src/types.ts'

const [backend] = parseConfig({ backends: ['tcp://127.0.0.1:5432'] }).backends as [Backend]
const never = new AbortController().signal

/** A logger that keeps its lines. */
function recordingLogger() {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = []
  const logger: Logger = {
    info: (msg, fields) => lines.push({ level: 'info', msg, fields }),
    warn: (msg, fields) => lines.push({ level: 'warn', msg, fields }),
    error: (msg, fields) => lines.push({ level: 'error', msg, fields }),
  }
  return { logger, lines }
}

/** The probe's verdict: `{ ok, output }` or `{ ok: false, reason, output }`. */
async function verdict(probe: HealthProbe, on: Backend = backend, signal = never) {
  try {
    const report = await probe.check(on, signal)
    return { ok: true, output: report?.output }
  } catch (error) {
    expect(error).toBeInstanceOf(ProbeFailure)
    return {
      ok: false,
      reason: (error as ProbeFailure).message,
      output: (error as ProbeFailure).output,
    }
  }
}

const sh = (script: string, timeout = 5000) =>
  execProbe(exec, { command: ['sh', '-c', script, 'sh', '{host}', '{port}'], timeout })

describe('execProbe', () => {
  it('is healthy on exit status 0, and keeps what the program printed', async () => {
    expect(await verdict(execProbe(exec, { command: ['true'], timeout: 5000 }))).toEqual({
      ok: true,
      output: undefined,
    })
    expect(await verdict(sh('echo f'))).toEqual({ ok: true, output: 'f' })
  })

  it('is unhealthy on another status, with the status and the last lines of output', async () => {
    expect(await verdict(sh('exit 3'))).toEqual({
      ok: false,
      reason: 'Exit status 3',
      output: undefined,
    })
    const failed = await verdict(
      // Standard error counts too. Chunks are kept in the order they arrive, which across two
      // pipes need not be the order written: so all of it on stderr here.
      sh(
        'exec >&2; echo starting; echo "psql: error: connection refused"; echo "Is it running?"' +
          '; exit 2',
      ),
    )
    expect(failed).toEqual({
      ok: false,
      reason: 'Exit status 2: starting | psql: error: connection refused | Is it running?',
      output: 'starting\npsql: error: connection refused\nIs it running?',
    })
    // At most three lines in the reason; the whole (bounded) output beside it.
    const many = await verdict(sh('for i in 1 2 3 4 5; do echo line$i; done; exit 1'))
    expect(many.reason).toBe('Exit status 1: line3 | line4 | line5')
    expect(many.output).toBe('line1\nline2\nline3\nline4\nline5')
  })

  it('is unhealthy when a signal ends the program', async () => {
    expect(await verdict(sh('kill -TERM $$'))).toMatchObject({
      ok: false,
      reason: 'Killed by SIGTERM',
    })
  })

  it('kills a program that outlasts the timeout, and says so', async () => {
    const started = Date.now()
    const result = await verdict(sh('echo waiting; sleep 5', 200))
    expect(Date.now() - started).toBeLessThan(2000)
    expect(result).toEqual({
      ok: false,
      reason: 'Timed out after 200 ms (killed): waiting',
      output: 'waiting',
    })
    // The checker's own deadline (its signal) kills it just the same.
    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error('Timed out')), 100)
    const aborted = await verdict(sh('sleep 5'), backend, controller.signal)
    expect(aborted.reason).toBe('Timed out after 5000 ms (killed)')
  })

  it('keeps the output bounded: its last maxOutput bytes', async () => {
    const probe = execProbe(exec, {
      command: ['sh', '-c', 'seq 1 100000; echo the end; exit 1'],
      timeout: 5000,
    })
    const result = await verdict(probe)
    expect(result.output!.startsWith('…')).toBe(true)
    expect(Buffer.byteLength(result.output!.slice(1))).toBeLessThanOrEqual(4096)
    expect(result.output!.endsWith('99999\n100000\nthe end')).toBe(true)
    expect(result.reason).toBe('Exit status 1: 99999 | 100000 | the end')
    const small = execProbe(exec, { command: ['seq', '1', '1000'], timeout: 5000, maxOutput: 9 })
    expect(await verdict(small)).toEqual({ ok: true, output: '…999\n1000' })
  })

  it('fills {host} and {port} in every argument (IPv6 without brackets)', async () => {
    const [http, https, v6, v6http] = parseConfig({
      backends: ['http://127.0.0.1:8080', 'https://db.example', 'tcp://[::1]:5432', 'http://[::1]'],
    }).backends as Backend[]
    const probe = sh('echo "$1 $2"')
    expect((await verdict(probe, http)).output).toBe('127.0.0.1 8080')
    expect((await verdict(probe, https)).output).toBe('db.example 443')
    expect((await verdict(probe, v6)).output).toBe('::1 5432')
    expect((await verdict(probe, v6http)).output).toBe('::1 80')
    expect(
      fillPlaceholders(['psql', 'postgres://{host}:{port}/x', '{port}{port}'], backend.url),
    ).toEqual(['psql', 'postgres://127.0.0.1:5432/x', '54325432'])
  })

  it('fails with the reason when the program cannot start', async () => {
    const probe = execProbe(exec, { command: ['fulcrum-no-such-program'], timeout: 5000 })
    const result = await verdict(probe)
    expect(result.ok).toBe(false)
    expect(result.reason).toMatch(/^Cannot run fulcrum-no-such-program: .*ENOENT/)
  })

  it('logs once, not every round, when the runtime may not run programs', async () => {
    const { logger, lines } = recordingLogger()
    const denied: Exec = () =>
      Promise.reject(
        new ExecDeniedError(
          'Not allowed to run sh: Requires run access to "sh", run again with the --allow-run flag',
        ),
      )
    const probe = execProbe(denied, { command: ['sh', '-c', 'true'], timeout: 1000, logger })
    for (let round = 0; round < 3; round++) {
      expect(await verdict(probe)).toEqual({
        ok: false,
        reason:
          'Not allowed to run sh: Requires run access to "sh", run again with the --allow-run flag',
        output: undefined,
      })
    }
    expect(lines).toEqual([
      {
        level: 'error',
        msg: 'exec health checks cannot run programs: every check fails',
        fields: { command: 'sh', reason: expect.stringContaining('--allow-run') },
      },
    ])
    // A runtime without exec at all says so, once too.
    const none = recordingLogger()
    const without = execProbe(undefined, { command: ['true'], timeout: 1000, logger: none.logger })
    await verdict(without)
    expect(await verdict(without)).toMatchObject({ reason: 'This runtime cannot run programs' })
    expect(none.lines).toHaveLength(1)
  })

  it("feeds the checker: the output reaches lastProbe and the 'backend down' line", async () => {
    const { logger, lines } = recordingLogger()
    const pool = new BackendPool([backend], { rise: 1, fall: 1, logger })
    const probe = sh('echo t; echo "replica, not primary"; exit 1')
    const checker = createHealthChecker(pool, probe, { interval: 60_000, timeout: 5000, jitter: 0 })
    checker.start()
    try {
      await expect.poll(() => pool.get(backend.id)!.healthy).toBe(false)
      expect(pool.get(backend.id)!.lastProbe).toMatchObject({
        ok: false,
        reason: 'Exit status 1: t | replica, not primary',
        output: 't\nreplica, not primary',
      })
      expect(lines).toContainEqual({
        level: 'warn',
        msg: 'backend down',
        fields: expect.objectContaining({
          reason: 'Exit status 1: t | replica, not primary',
          output: 't\nreplica, not primary',
        }),
      })
    } finally {
      await checker.stop()
    }
  })
})
