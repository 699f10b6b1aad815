/**
 * The admin API on the real entry points: a backend registered over HTTP gets traffic, and is
 * drained and removed under a steady load without a single failed request.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackend, type TestBackend } from '../helpers/backends.ts'
import { RUNTIMES, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'
import { steadyLoad } from '../helpers/load.ts'

const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p))

/** Requests to the app, not health probes. */
const traffic = (backend: TestBackend) => backend.requests.filter((r) => r.url !== '/health')

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe.each(RUNTIMES)('admin API on %s', (runtime) => {
  let a: TestBackend
  let b: TestBackend
  let fulcrum: FulcrumProcess
  let api: (method: string, path: string, body?: unknown) => Promise<Response>

  beforeAll(async () => {
    a = await startBackend('a')
    // b is slow, so that requests are in flight to it when it is deleted: it must drain.
    b = await startBackend('b', (req, res, name) => {
      if (req.url === '/health') return void res.end('ok')
      setTimeout(() => res.end(name), 150)
    })
    fulcrum = await startFulcrum(runtime, ['--backend', a.url, '--health-interval', '500ms'])
    expect(fulcrum.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(fulcrum.adminToken).toMatch(/^[A-Za-z0-9_-]{32}$/)
    api = (method, path, body) =>
      fetch(`${fulcrum.adminUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${fulcrum.adminToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
  })
  afterAll(async () => {
    await fulcrum?.stop()
    await Promise.all([a?.close(), b?.close()])
  })

  it('registers a backend by HTTP, sends it traffic, then drains and removes it with zero failed requests', async () => {
    const load = steadyLoad(`${fulcrum.url}/`)
    try {
      await until(() => load.ok > 20, 10_000, 'the load to start')
      const created = await api('POST', '/backends', { url: b.url, id: 'b' })
      expect(created.status).toBe(201)
      await until(() => traffic(b).length >= 10, 10_000, 'b to get traffic')

      const deleted = await api('DELETE', '/backends/b')
      expect(deleted.status).toBe(202)
      expect(await deleted.json()).toMatchObject({ draining: true, backend: { state: 'draining' } })
      await until(
        async () => (await api('GET', '/backends/b')).status === 404,
        10_000,
        'b to be drained and removed',
      )
      const seenByB = traffic(b).length
      const okBefore = load.ok
      await until(() => load.ok > okBefore + 40, 10_000, 'more load after the removal')
      expect(traffic(b).length).toBe(seenByB)
    } finally {
      await load.stop()
    }
    expect(load.failures).toEqual([])
    expect(load.ok).toBeGreaterThan(60)
    // Every request b received was answered through fulcrum: none was cut off by the removal.
    expect(load.ok).toBeGreaterThanOrEqual(traffic(a).length + traffic(b).length - 4)
    const { backends } = await (await api('GET', '/backends')).json()
    expect(backends.map((x: { url: string }) => x.url)).toEqual([a.url])
  })

  it('guards the admin port and never serves admin routes on the public port', async () => {
    expect((await fetch(`${fulcrum.adminUrl}/backends`)).status).toBe(401)
    const foreign = await fetch(`${fulcrum.adminUrl}/backends`, {
      headers: { authorization: `Bearer ${fulcrum.adminToken}`, origin: 'https://evil.example' },
    })
    expect(foreign.status).toBe(403)
    const publicPort = await fetch(`${fulcrum.url}/backends`, {
      headers: { authorization: `Bearer ${fulcrum.adminToken}` },
    })
    expect(await publicPort.text()).toBe('a')
    const dashboard = await fetch(`${fulcrum.adminUrl}/dashboard`)
    expect(dashboard.status).toBe(200)
    expect(await dashboard.text()).toContain('<title>fulcrum</title>')
  })

  it.skipIf(!PROMTOOL)('serves /metrics that promtool accepts, and /stats', async () => {
    for (let i = 0; i < 5; i++) await (await fetch(`${fulcrum.url}/`)).text()
    const text = await (await api('GET', '/metrics')).text()
    const check = spawnSync(PROMTOOL!, ['check', 'metrics'], { input: text, encoding: 'utf8' })
    expect(`${check.stdout}${check.stderr}`.trim()).toBe('')
    expect(check.status).toBe(0)
    expect(text).toMatch(/\nprocess_resident_memory_bytes \d+/)
    // The engine counts the open client connections on every runtime.
    expect(text).toMatch(/\nfulcrum_open_connections [1-9]\d*\n/)
    const stats = await (await api('GET', '/stats')).json()
    expect(stats.requests.total).toBeGreaterThan(60)
    expect(stats.backends).toHaveLength(1)
  })
})

// Deno runs with --allow-write=certs only (deno.json's start task): a state file or an access
// log elsewhere needs `--allow-write=PATH`, so this part runs on Node and Bun.
describe.each(RUNTIMES.filter((r) => r !== 'deno'))(
  'state file and access log on %s',
  (runtime) => {
    let a: TestBackend
    let dir: string

    beforeAll(async () => {
      a = await startBackend('a')
      dir = await mkdtemp(join(tmpdir(), 'fulcrum-admin-'))
    })
    afterAll(async () => {
      await a?.close()
      if (dir) await rm(dir, { recursive: true, force: true })
    })

    it('keeps admin changes across a restart, and logs each request', async () => {
      const state = join(dir, 'state.json')
      const log = join(dir, 'access.log')
      const token = 'e2e-admin-token-0123456789'
      const args = ['--state', state, '--access-log', log, '--admin-token', token]
      const call = (f: FulcrumProcess, method: string, path: string, body?: unknown) =>
        fetch(`${f.adminUrl}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        })

      const first = await startFulcrum(runtime, args)
      try {
        expect(
          (await call(first, 'POST', '/backends', { url: a.url, id: 'a', weight: 7 })).status,
        ).toBe(201)
        expect(
          (await call(first, 'PUT', '/strategy', { strategy: 'least-connections' })).status,
        ).toBe(200)
        const response = await fetch(`${first.url}/logged`, {
          headers: { 'x-request-id': 'e2e-1' },
        })
        expect(await response.text()).toBe('a')
      } finally {
        expect(await first.stop()).toBe(0)
      }
      const lines = (await readFile(log, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
      expect(lines).toEqual([
        expect.objectContaining({
          requestId: 'e2e-1',
          target: '/logged',
          status: 200,
          backend: 'a',
          bytes: 1,
        }),
      ])

      const second = await startFulcrum(runtime, args)
      try {
        const { backends } = await (await call(second, 'GET', '/backends')).json()
        expect(backends).toEqual([expect.objectContaining({ id: 'a', url: a.url, weight: 7 })])
        expect((await (await call(second, 'GET', '/strategy')).json()).strategy).toBe(
          'least-connections',
        )
        expect(await (await fetch(`${second.url}/`)).text()).toBe('a')
      } finally {
        await second.stop()
      }
    })
  },
)
