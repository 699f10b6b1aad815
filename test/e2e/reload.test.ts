/**
 * Hot reload and graceful shutdown on the real entry points, under load: SIGHUP and
 * --watch-config swap the config without losing a request, a bad file keeps the config in force,
 * sticky pins of unchanged backends survive, and SIGTERM under load ends with zero 5xx.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFaultyBackend, type FaultyBackend } from '../helpers/faults.ts'
import { RUNTIMES, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'

const MARGIN = 1500
const SECRET = 'reload-test-secret-0123456789'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Concurrent keep-alive GET load until stopped; each outcome and answering backend is kept. */
function load(url: string, workers = 4, stopOnError = false) {
  const outcomes: { at: number; status: number | string; backend?: string; close?: boolean }[] = []
  let running = true
  const done = Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      // Bounded: at most 3000 requests per worker.
      for (let i = 0; running && i < 3000; i++) {
        const at = Date.now()
        try {
          const response = await fetch(`${url}/load/${w}/${i}`)
          const body = await response.text()
          outcomes.push({
            at,
            status: response.status,
            backend: response.headers.get('x-backend') ?? body,
            close: response.headers.get('connection') === 'close',
          })
        } catch (error) {
          outcomes.push({ at, status: String((error as Error).cause ?? error) })
          if (stopOnError) return
        }
      }
    }),
  )
  return {
    outcomes,
    async stop() {
      running = false
      await done
    },
    done,
  }
}

describe.each(RUNTIMES)('hot reload and shutdown on %s', (runtime) => {
  let backends: FaultyBackend[]
  let dir: string
  const configFile = (name: string) => join(dir, name)
  const write = (name: string, config: unknown) =>
    writeFileSync(configFile(name), typeof config === 'string' ? config : JSON.stringify(config))
  const section = (names: string[]) => ({
    backends: names.map((name) => ({ url: backends.find((b) => b.name === name)!.url, id: name })),
    healthCheck: { interval: '200ms', timeout: '100ms' },
    sticky: { secret: SECRET },
  })

  beforeAll(async () => {
    backends = await Promise.all(['a', 'b', 'c'].map((name) => startFaultyBackend(name)))
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-reload-'))
  })
  afterAll(async () => {
    await Promise.all(backends.map((b) => b.close()))
    rmSync(dir, { recursive: true, force: true })
  })

  describe('SIGHUP', () => {
    let fulcrum: FulcrumProcess
    beforeAll(async () => {
      write('hup.json', section(['a', 'b']))
      fulcrum = await startFulcrum(runtime, ['--config', configFile('hup.json')])
    })
    afterAll(async () => {
      await fulcrum?.stop()
    })

    it('swaps the backends under load without losing a request; pins survive', async () => {
      // A client pinned to b before the reload.
      let cookie = ''
      for (let i = 0; i < 10 && !cookie; i++) {
        const response = await fetch(`${fulcrum.url}/pin`)
        if ((await response.text()) === 'b')
          cookie = response.headers.get('set-cookie')!.split(';')[0]!
      }
      expect(cookie).toMatch(/^lb_sid=/)

      const traffic = load(fulcrum.url)
      await sleep(400)
      write('hup.json', section(['b', 'c']))
      const signalledAt = Date.now()
      fulcrum.child.kill('SIGHUP')
      const reloaded = await fulcrum.waitForLog((l) => l.msg === 'config reloaded', 10_000)
      await sleep(800)
      await traffic.stop()

      expect(reloaded).toMatchObject({ trigger: 'SIGHUP', added: ['c'], removed: ['a'] })
      const failed = traffic.outcomes.filter((o) => o.status !== 200)
      console.info(
        `[${runtime}] reload ${Date.parse(String(reloaded.time)) - signalledAt} ms after SIGHUP; ` +
          `${traffic.outcomes.length} requests, ${failed.length} failed`,
      )
      expect(failed).toEqual([])
      // Well after the reload, only b and c answer.
      const late = traffic.outcomes.filter((o) => o.at > Date.parse(String(reloaded.time)) + 100)
      expect(late.length).toBeGreaterThan(10)
      expect(new Set(late.map((o) => o.backend))).toEqual(new Set(['b', 'c']))
      // b kept its health state and the pin still holds.
      for (let i = 0; i < 5; i++) {
        const response = await fetch(`${fulcrum.url}/pinned`, { headers: { cookie } })
        expect(await response.text()).toBe('b')
      }
    })

    it('rejects a bad file with a message and keeps the config in force', async () => {
      for (const [bad, reason] of [
        ['{ "backends": [', /Invalid JSON/],
        [{ ...section(['a']), strategy: 'fastest' }, /strategy: /],
      ] as const) {
        const before = fulcrum.logs().length
        write('hup.json', bad)
        fulcrum.child.kill('SIGHUP')
        const rejected = await fulcrum.waitForLog(
          (l) => l.msg.startsWith('reload rejected') && fulcrum.logs().indexOf(l) >= before,
          10_000,
        )
        expect(rejected.level).toBe('error')
        expect(String(rejected.reason)).toMatch(reason)
        const answers = new Set<string>()
        for (let i = 0; i < 8; i++) {
          const response = await fetch(`${fulcrum.url}/after-bad`)
          expect(response.status).toBe(200)
          answers.add(await response.text())
        }
        expect(answers).toEqual(new Set(['b', 'c']))
      }
    })
  })

  it('reloads when the file changes with --watch-config', async () => {
    write('watch.json', section(['a']))
    const fulcrum = await startFulcrum(runtime, [
      '--config',
      configFile('watch.json'),
      '--watch-config',
    ])
    try {
      expect(await (await fetch(fulcrum.url)).text()).toBe('a')
      write('watch.json', section(['c']))
      const reloaded = await fulcrum.waitForLog((l) => l.msg === 'config reloaded', 10_000)
      expect(reloaded.trigger).toBe('file change')
      for (let i = 0; i < 3; i++) expect(await (await fetch(fulcrum.url)).text()).toBe('c')
    } finally {
      await fulcrum.stop()
    }
  })

  it('on SIGTERM under load answers zero 5xx, closes keep-alive connections, exits 0', async () => {
    for (const backend of backends) backend.set({ kind: 'slow', ms: 100 })
    write('term.json', {
      ...section(['a', 'b', 'c']),
      healthCheck: { interval: '1s', timeout: '500ms' },
      shutdownGrace: '5s',
    })
    const fulcrum = await startFulcrum(runtime, ['--config', configFile('term.json')])
    try {
      const traffic = load(fulcrum.url, 8, true)
      await sleep(700)
      const signalledAt = Date.now()
      fulcrum.child.kill('SIGTERM')
      const code = await fulcrum.exited
      const exitedAfter = Date.now() - signalledAt
      await traffic.done
      const answered = traffic.outcomes.filter((o) => typeof o.status === 'number')
      // Requests sent before the signal were in flight or done: each must have got its answer.
      const sentBefore = traffic.outcomes.filter((o) => o.at < signalledAt)
      const refusedAfter = traffic.outcomes.filter((o) => typeof o.status === 'string')
      console.info(
        `[${runtime}] SIGTERM under load: ${answered.length} answered, ${sentBefore.length} sent ` +
          `before the signal, ${refusedAfter.length} connection errors after it ` +
          `(${answered.filter((o) => o.close).length} told Connection: close), exit ${code} after ${exitedAfter} ms`,
      )
      expect(code).toBe(0)
      expect(exitedAfter).toBeLessThan(5000 + MARGIN)
      expect(answered.filter((o) => o.status !== 200)).toEqual([])
      expect(sentBefore.filter((o) => o.status !== 200)).toEqual([])
      for (const error of refusedAfter) expect(error.at).toBeGreaterThanOrEqual(signalledAt)
      // The requests in flight at the signal told their keep-alive clients to go.
      expect(answered.filter((o) => o.close).length).toBeGreaterThan(0)
      expect(answered.length).toBeGreaterThan(20)
    } finally {
      await fulcrum.stop()
      for (const backend of backends) backend.set({ kind: 'ok' })
    }
  })
})
