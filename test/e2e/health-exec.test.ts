/**
 * `exec` health checks on the real entry points (Node's dist/node.js, Deno with deno.json's task
 * flags, Bun): a script whose answer a file decides takes a backend down and brings it back, its
 * output reaches `GET /backends`, `/explain` and the log, and a hung check is killed with what it
 * started. Deno without `--allow-run` says so once and keeps serving.
 */
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackend, type TestBackend } from '../helpers/backends.ts'
import { fulcrumCommand, RUNTIMES, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string) {
  const deadline = Date.now() + 15_000
  for (;;) {
    const value = await read()
    if (done(value)) return value
    if (Date.now() > deadline)
      throw new Error(`Timed out waiting for ${what}: ${JSON.stringify(value)}`)
    await sleep(100)
  }
}

/** Whether a process runs (a zombie, killed but not yet reaped, counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

/**
 * The check: healthy unless the file named after the port exists; `fail` in it is exit 1 with a
 * message, `hang` starts a `sleep` (its pid written beside) and waits for it.
 */
const SCRIPT = `
flag="$3/$2"
if [ -e "$flag" ]; then
  if [ "$(cat "$flag")" = hang ]; then
    sleep 30 & echo $! > "$flag.pid"
    wait
  fi
  echo "checking $1:$2"
  echo "flag set: $(cat "$flag")" >&2
  exit 1
fi
echo "ok $1:$2"
`

type View = { id: string; state: string; lastProbe: null | Record<string, unknown> }

describe.each(RUNTIMES)('exec health checks on %s', (runtime) => {
  let a: TestBackend
  let b: TestBackend
  let dir: string
  let config: string

  beforeAll(async () => {
    a = await startBackend('a')
    b = await startBackend('b')
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-exec-'))
    writeFileSync(join(dir, 'check.sh'), SCRIPT)
    config = join(dir, 'fulcrum.json')
    writeFileSync(
      config,
      JSON.stringify({
        backends: [
          { url: a.url, id: 'a' },
          { url: b.url, id: 'b' },
        ],
        healthCheck: {
          type: 'exec',
          command: ['sh', join(dir, 'check.sh'), '{host}', '{port}', dir],
          interval: '400ms',
          timeout: '400ms',
          rise: 1,
          fall: 2,
        },
      }),
    )
  })
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()])
    rmSync(dir, { recursive: true, force: true })
  })

  const admin = (fulcrum: FulcrumProcess) => async (path: string) => {
    const response = await fetch(`${fulcrum.adminUrl}${path}`, {
      headers: { authorization: `Bearer ${fulcrum.adminToken}` },
    })
    expect(response.status).toBe(200)
    return response.json()
  }

  it('takes a backend down and brings it back as the command exits 1, then 0', async () => {
    const fulcrum = await startFulcrum(runtime, ['--config', config])
    const api = admin(fulcrum)
    const backendB = async () =>
      ((await api('/backends')).backends as View[]).find((view) => view.id === 'b')!
    const flag = join(dir, String(b.port))
    try {
      // Probed and up, with what the check printed ({host} and {port} filled in).
      const up = await until(backendB, (view) => view.lastProbe !== null, 'a first probe')
      expect(up).toMatchObject({
        state: 'up',
        lastProbe: { ok: true, output: `ok 127.0.0.1:${b.port}` },
      })

      writeFileSync(flag, 'fail')
      const down = await until(backendB, (view) => view.state === 'down', 'b to go down')
      const output = `checking 127.0.0.1:${b.port}\nflag set: fail`
      expect(down.lastProbe).toMatchObject({ ok: false, output })
      expect(down.lastProbe!.reason).toMatch(/^Exit status 1: /)
      expect(down.lastProbe!.reason).toContain('flag set: fail')
      const line = await fulcrum.waitForLog((l) => l.msg === 'backend down')
      expect(line).toMatchObject({ backend: 'b', output })
      // Only a gets requests now; /explain shows why b is out.
      for (let i = 0; i < 4; i++) expect(await (await fetch(`${fulcrum.url}/`)).text()).toBe('a')
      const explained = await api('/explain?path=/')
      expect(explained.excluded).toEqual([
        expect.objectContaining({
          id: 'b',
          reason: 'down',
          lastProbe: expect.objectContaining({ ok: false, output }),
        }),
      ])

      // A check that hangs is killed at the timeout, with the sleep it started.
      writeFileSync(flag, 'hang')
      const hung = await until(
        backendB,
        (view) => String(view.lastProbe?.reason).startsWith('Timed out'),
        'a timed-out probe',
      )
      expect(hung.lastProbe!.reason).toBe('Timed out after 400 ms (killed)')
      const pid = Number(readFileSync(`${flag}.pid`, 'utf8'))
      await until(
        async () => alive(pid),
        (running) => !running,
        `the check's sleep (${pid}) to be killed`,
      )

      unlinkSync(flag)
      await until(backendB, (view) => view.state === 'up', 'b to come back')
      await fulcrum.waitForLog((l) => l.msg === 'backend up' && l.backend === 'b')
      await until(
        async () => (await fetch(`${fulcrum.url}/`)).text(),
        (name) => name === 'b',
        'b to get requests again',
      )
    } finally {
      rmSync(flag, { force: true })
      rmSync(`${flag}.pid`, { force: true })
      expect(await fulcrum.stop()).toBe(0)
    }
  })

  it.runIf(runtime === 'deno')(
    'without --allow-run, logs the missing permission once and keeps serving',
    async () => {
      const withoutRun = (args: readonly string[]): [string, string[]] => {
        const [bin, argv] = fulcrumCommand('deno', args)
        return [bin, argv.filter((arg) => !arg.startsWith('--allow-run'))]
      }
      const fulcrum = await startFulcrum(runtime, ['--config', config], { command: withoutRun })
      try {
        const error = await fulcrum.waitForLog((l) => l.msg.startsWith('exec health checks'))
        expect(error).toMatchObject({ level: 'error', command: 'sh' })
        expect(error.reason).toContain('--allow-run')
        // Both go down, the reason naming the permission; the error is not repeated.
        await fulcrum.waitForLog((l) => l.msg === 'backend down' && l.backend === 'a')
        await fulcrum.waitForLog((l) => l.msg === 'backend down' && l.backend === 'b')
        const down = fulcrum.logs().find((l) => l.msg === 'backend down')!
        expect(down.reason).toContain('--allow-run')
        await sleep(1000)
        expect(fulcrum.logs().filter((l) => l.msg.startsWith('exec health checks'))).toHaveLength(1)
        // Still up: no backend, so 503, and the admin API answers.
        expect((await fetch(`${fulcrum.url}/`)).status).toBe(503)
        const { backends } = await admin(fulcrum)('/backends')
        expect(backends.map((view: View) => view.state)).toEqual(['down', 'down'])
        expect(fulcrum.child.exitCode).toBe(null)
      } finally {
        expect(await fulcrum.stop()).toBe(0)
      }
    },
  )
})
