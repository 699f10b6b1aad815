/**
 * The dashboard in a real browser: Debian's chromium, headless, driven by playwright-core (which
 * never downloads a browser). It signs in with the token, watches the cards move under load,
 * drains a backend by clicking, and saves a screenshot. Then, against a fulcrum with three pools
 * and four routes (one backend id in two pools), it shows one section per pool and the routes in
 * match order, and a drain clicked in one pool reaches that pool alone. Last, a TCP listener in
 * front of two node:net echo backends: the listeners table and the TCP pool's cards (open
 * connections and bytes, not requests) follow real connections.
 */
import { existsSync, writeFileSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackend, type TestBackend } from '../helpers/backends.ts'
import { ROOT, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'
import { steadyLoad } from '../helpers/load.ts'

const CHROMIUM = '/usr/bin/chromium'
const TOKEN = 'dashboard-test-token-0123456789'

/** A backend that answers after `ms` (± a little), so the latency charts have something to show. */
function slowBackend(name: string, ms: number) {
  return startBackend(name, (req, res) => {
    if (req.url === '/health') return void res.end('ok')
    req.resume()
    setTimeout(() => res.end(name), ms * (0.7 + Math.random() * 0.6))
  })
}

/** The multi-pool config: `api`, `web`, and the canary `web-v2` sharing a backend with `web`. */
function poolsConfig(b: Record<'api1' | 'api2' | 'web1' | 'shared', TestBackend>) {
  return {
    healthCheck: { interval: '1s' },
    pools: {
      api: {
        backends: [
          { url: b.api1.url, id: 'api-1' },
          { url: b.api2.url, id: 'api-2' },
        ],
        strategy: 'least-time',
      },
      web: {
        backends: [
          { url: b.web1.url, id: 'web-1' },
          { url: b.shared.url, id: 'shared' },
        ],
        strategy: 'round-robin',
      },
      'web-v2': { backends: [{ url: b.shared.url, id: 'shared' }], strategy: 'random' },
    },
    routes: [
      {
        name: 'api',
        match: { host: 'api.example.com', path: '/v1/*' },
        pool: 'api',
        stripPrefix: '/v1',
      },
      {
        name: 'beta',
        match: { methods: ['GET', 'HEAD'], headers: { 'x-beta': '1' } },
        pool: 'web-v2',
      },
      {
        name: 'shop',
        match: { host: '*.example.com', path: '/shop/*' },
        pools: [
          { pool: 'web', weight: 90 },
          { pool: 'web-v2', weight: 10 },
        ],
      },
      { name: 'site', pool: 'web' },
    ],
  }
}

/** A TCP echo server on loopback: every byte comes back. */
async function echoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    socket.pipe(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/** A port free on loopback now. */
async function freePort(): Promise<number> {
  const { port, close } = await echoServer()
  await close()
  return port
}

/** A client connection to `port` that sends `hello` and resolves once the echo is back. */
async function echoClient(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  socket.write('hello\n')
  await new Promise<void>((resolve) => socket.once('data', () => resolve()))
  // From here on, whatever comes back is read and dropped.
  socket.on('data', () => {})
  return socket
}

describe.skipIf(!existsSync(CHROMIUM))('dashboard in headless chromium', () => {
  let backends: TestBackend[]
  let fulcrum: FulcrumProcess
  let poolBackends: TestBackend[]
  let pooled: FulcrumProcess
  let context: BrowserContext
  let page: Page
  let profile: string

  beforeAll(async () => {
    poolBackends = await Promise.all([
      slowBackend('api-1', 4),
      slowBackend('api-2', 4),
      slowBackend('web-1', 4),
      slowBackend('shared', 8),
    ])
    const [api1, api2, web1, shared] = poolBackends as [
      TestBackend,
      TestBackend,
      TestBackend,
      TestBackend,
    ]
    profile = await mkdtemp(join(tmpdir(), 'fulcrum-chromium-'))
    const configFile = join(profile, 'pools.json')
    writeFileSync(configFile, JSON.stringify(poolsConfig({ api1, api2, web1, shared })))
    const pooledStart = startFulcrum('node', ['--config', configFile, '--admin-token', TOKEN])
    backends = await Promise.all([
      slowBackend('web-1', 4),
      slowBackend('web-2', 12),
      slowBackend('web-3', 30),
    ])
    fulcrum = await startFulcrum('node', [
      '--strategy',
      'weighted-least-connections',
      '--admin-token',
      TOKEN,
      '--health-interval',
      '1s',
    ])
    // The backends register themselves, as servers in an autoscaling group would.
    for (const [i, backend] of backends.entries()) {
      const response = await fetch(`${fulcrum.adminUrl}/backends`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url: backend.url, id: backend.name, weight: i === 0 ? 2 : 1 }),
      })
      expect(response.status).toBe(201)
    }
    pooled = await pooledStart
    await mkdir(join(profile, 'chromium'))
    context = await chromium.launchPersistentContext(join(profile, 'chromium'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1360, height: 900 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    })
    page = context.pages()[0] ?? (await context.newPage())
  }, 60_000)

  afterAll(async () => {
    await context?.close()
    await Promise.all([fulcrum?.stop(), pooled?.stop()])
    await Promise.all([...(backends ?? []), ...(poolBackends ?? [])].map((b) => b.close()))
    if (profile) await rm(profile, { recursive: true, force: true })
  })

  it('signs in with the token, shows the cards moving under load, drains a backend by clicking', async () => {
    const load = steadyLoad(`${fulcrum.url}/`, 6)
    try {
      await page.goto(`${fulcrum.adminUrl}/dashboard`)
      // No token yet: the sign-in form, and nothing else.
      await page.locator('#login').waitFor({ state: 'visible' })
      expect(await page.locator('#board').isHidden()).toBe(true)

      // A wrong token is refused and the form says so.
      await page.fill('#token', 'wrong-token-wrong-token')
      await page.click('#login-form button[type=submit]')
      await expect
        .poll(() => page.locator('#login-error').textContent())
        .toMatch(/The token was refused/)

      await page.fill('#token', TOKEN)
      await page.click('#login-form button[type=submit]')
      await page.locator('#board').waitFor({ state: 'visible' })
      expect(await page.evaluate(() => sessionStorage.getItem('fulcrum.adminToken'))).toBe(TOKEN)

      const cards = page.locator('.card[data-backend]')
      await expect.poll(() => cards.count(), { timeout: 10_000 }).toBe(3)
      const ids = await cards.evaluateAll((els) => els.map((e) => e.getAttribute('data-backend')))
      expect(ids).toEqual(['web-1', 'web-2', 'web-3'])
      expect(await page.locator('#strategy').inputValue()).toBe('weighted-least-connections')
      // The flat config is the pool default alone: one section, the strategy control in the
      // header, and no routes table (its one route is a catch-all).
      const sections = page.locator('section.pool')
      expect(
        await sections.evaluateAll((els) => els.map((e) => e.getAttribute('data-pool'))),
      ).toEqual(['default'])
      expect(await page.locator('#kpi-strategy').isVisible()).toBe(true)
      expect(await sections.locator('.pool-head select').isHidden()).toBe(true)
      expect(await sections.locator('.pool-head .strategy').textContent()).toBe(
        'weighted-least-connections',
      )
      expect(await page.locator('#routes-panel').isHidden()).toBe(true)

      // Under load, every card shows a request rate, and the figures move from poll to poll.
      const rates = () =>
        page.$$eval('.card [data-field=rps]', (els) => els.map((e) => e.textContent ?? ''))
      await expect
        .poll(async () => (await rates()).every((r) => Number(r) > 0), { timeout: 15_000 })
        .toBe(true)
      const status = () => page.locator('#status-line').textContent()
      const before = await status()
      await expect.poll(status, { timeout: 5000 }).not.toBe(before)
      expect(await page.locator('#chart-rps polyline').count()).toBe(3)
      const p99 = await page.locator('.card[data-backend] [data-field=p99]').first().textContent()
      expect(p99).toMatch(/ms$/)

      // A few seconds of charts, then drain the slowest backend with its button.
      await page.waitForTimeout(4000)
      const slow = page.locator('.card[data-backend=web-3]')
      const id = await slow.getAttribute('data-backend')
      expect(id).toBe('web-3')
      await slow.locator('button[data-action=drain]').click()
      await expect.poll(() => slow.getAttribute('data-state'), { timeout: 5000 }).toBe('draining')
      expect(await slow.locator('.badge').textContent()).toBe('draining')
      expect(await slow.locator('button[data-action=drain]').textContent()).toBe('Undrain')
      const api = await fetch(`${fulcrum.adminUrl}/backends/${id}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      })
      expect((await api.json()).draining).toBe(true)
      // Its rate falls to nothing, while the others keep serving.
      await expect
        .poll(async () => Number(await slow.locator('[data-field=rps]').textContent()) === 0, {
          timeout: 15_000,
        })
        .toBe(true)
      await expect
        .poll(() => page.locator('#transitions li', { hasText: 'draining' }).count())
        .toBeGreaterThan(0)

      // Let the charts show the drain, then keep the picture.
      await page.waitForTimeout(2500)
      await mkdir(join(ROOT, 'test-results'), { recursive: true })
      const shot = join(ROOT, 'test-results', 'dashboard.png')
      await page.screenshot({ path: shot, fullPage: true })
      // The README's picture: refresh it with UPDATE_SCREENSHOTS=1 npx vitest run <this file>.
      if (process.env.UPDATE_SCREENSHOTS) await copyFile(shot, join(ROOT, 'docs', 'dashboard.png'))
      expect(existsSync(shot)).toBe(true)
    } finally {
      await load.stop()
    }
    expect(load.failures).toEqual([])
    expect(load.ok).toBeGreaterThan(100)
  }, 60_000)

  it('shows each pool and the routes in match order, and drains in the right pool', async () => {
    const admin = (path: string) =>
      fetch(`${pooled.adminUrl}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } }).then(
        (r) => r.json(),
      )
    // The catch-all route `site` sends this load to the pool web (web-1 and shared).
    const load = steadyLoad(`${pooled.url}/`, 4)
    try {
      await page.goto(`${pooled.adminUrl}/dashboard`)
      await page.locator('#login').waitFor({ state: 'visible' })
      await page.fill('#token', TOKEN)
      await page.click('#login-form button[type=submit]')
      await page.locator('#board').waitFor({ state: 'visible' })

      // One section per pool, in config order; the pool default (no backends, no routes) is left
      // out, and each pool has its own strategy control instead of the header's.
      const sections = page.locator('section.pool')
      await expect.poll(() => sections.count(), { timeout: 10_000 }).toBe(3)
      expect(
        await sections.evaluateAll((els) => els.map((e) => e.getAttribute('data-pool'))),
      ).toEqual(['api', 'web', 'web-v2'])
      expect(await page.locator('#kpi-strategy').isHidden()).toBe(true)
      const section = (pool: string) => page.locator(`section.pool[data-pool="${pool}"]`)
      const strategyOf = (pool: string) => section(pool).locator('.pool-head select')
      await expect.poll(() => strategyOf('api').inputValue()).toBe('least-time')
      expect(await strategyOf('web').inputValue()).toBe('round-robin')
      expect(await strategyOf('web-v2').inputValue()).toBe('random')
      expect(await section('api').locator('.pool-head h2').textContent()).toBe('api')

      // Each section's routes, with the pool's share of a split.
      const chips = (pool: string) =>
        section(pool)
          .locator('.pool-head .chip')
          .evaluateAll((els) => els.map((e) => e.textContent))
      expect(await chips('api')).toEqual(['api'])
      expect(await chips('web')).toEqual(['shop90%', 'site'])
      expect(await chips('web-v2')).toEqual(['beta', 'shop10%'])

      // Each section's cards: the id `shared` is in two pools, and has a card in each.
      const cardIds = (pool: string) =>
        section(pool)
          .locator('.card')
          .evaluateAll((els) => els.map((e) => e.getAttribute('data-backend')))
      expect(await cardIds('api')).toEqual(['api-1', 'api-2'])
      expect(await cardIds('web')).toEqual(['web-1', 'shared'])
      expect(await cardIds('web-v2')).toEqual(['shared'])
      const keys = await page
        .locator('.card')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-key')))
      expect(keys).toEqual(['api/api-1', 'api/api-2', 'web/web-1', 'web/shared', 'web-v2/shared'])

      // The routes table, in match order, with each route's conditions and pools.
      const rows = page.locator('#routes tr')
      expect(await page.locator('#routes-panel').isVisible()).toBe(true)
      expect(await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-route')))).toEqual(
        ['api', 'beta', 'shop', 'site'],
      )
      const cells = (route: string, column: string) =>
        page
          .locator(`#routes tr[data-route="${route}"] td.${column} :is(code, .any, .chip)`)
          .evaluateAll((els) => els.map((e) => e.textContent))
      expect(await cells('api', 'host')).toEqual(['api.example.com'])
      expect(await cells('api', 'path')).toEqual(['/v1/*'])
      expect(await cells('api', 'methods')).toEqual(['any'])
      expect(await cells('api', 'pools')).toEqual(['api'])
      expect(await cells('beta', 'host')).toEqual(['any'])
      expect(await cells('beta', 'methods')).toEqual(['GET', 'HEAD'])
      expect(await cells('beta', 'headers')).toEqual(['x-beta: 1'])
      expect(await cells('beta', 'pools')).toEqual(['web-v2'])
      expect(await cells('shop', 'host')).toEqual(['*.example.com'])
      expect(await cells('shop', 'path')).toEqual(['/shop/*'])
      expect(await cells('shop', 'pools')).toEqual(['web90%', 'web-v210%'])
      expect(
        await page
          .locator('#routes tr[data-route=shop] .chip')
          .evaluateAll((els) => els.map((e) => e.getAttribute('title'))),
      ).toEqual(['weight 90 of 100', 'weight 10 of 100'])
      for (const column of ['host', 'path', 'methods', 'headers']) {
        expect(await cells('site', column)).toEqual(['any'])
      }
      expect(await cells('site', 'pools')).toEqual(['web'])

      // The figures are the pool's own: shared serves in web, not in web-v2.
      const webShared = section('web').locator('.card[data-backend=shared]')
      const v2Shared = section('web-v2').locator('.card[data-backend=shared]')
      await expect
        .poll(async () => Number(await webShared.locator('[data-field=rps]').textContent()), {
          timeout: 15_000,
        })
        .toBeGreaterThan(0)
      expect(await v2Shared.locator('[data-field=rps]').textContent()).toMatch(/^(0(\.0)?|–)$/)
      await expect
        .poll(() => page.locator('#chart-rps polyline').count(), { timeout: 5000 })
        .toBe(5)
      const lines = await page
        .locator('#chart-rps polyline')
        .evaluateAll((els) =>
          els.map((e) => `${e.getAttribute('data-pool')}/${e.getAttribute('data-backend')}`),
        )
      expect(lines).toEqual(keys)

      // Drain shared in web-v2 with its button: web-v2's copy drains, web's does not.
      await v2Shared.locator('button[data-action=drain]').click()
      await expect
        .poll(() => v2Shared.getAttribute('data-state'), { timeout: 5000 })
        .toBe('draining')
      expect(await v2Shared.locator('button[data-action=drain]').textContent()).toBe('Undrain')
      expect((await admin('/pools/web-v2/backends/shared')).draining).toBe(true)
      expect((await admin('/pools/web/backends/shared')).draining).toBe(false)
      expect(await webShared.getAttribute('data-state')).not.toBe('draining')
      expect(await webShared.locator('button[data-action=drain]').textContent()).toBe('Drain')
      await expect
        .poll(() => page.locator('#transitions li', { hasText: 'web-v2/shared' }).count())
        .toBeGreaterThan(0)

      // Undrain it again from the dashboard.
      await v2Shared.locator('button[data-action=drain]').click()
      await expect
        .poll(() => v2Shared.getAttribute('data-state'), { timeout: 5000 })
        .not.toBe('draining')
      expect((await admin('/pools/web-v2/backends/shared')).draining).toBe(false)

      await mkdir(join(ROOT, 'test-results'), { recursive: true })
      const shot = join(ROOT, 'test-results', 'dashboard-pools.png')
      await page.screenshot({ path: shot, fullPage: true })
      expect(existsSync(shot)).toBe(true)
    } finally {
      await load.stop()
    }
    expect(load.failures).toEqual([])
    expect(load.ok).toBeGreaterThan(50)
  }, 60_000)

  it('shows the TCP listeners and a TCP pool with open connections and bytes', async () => {
    const echoes = await Promise.all([echoServer(), echoServer()])
    const web = await slowBackend('web-1', 4)
    const port = await freePort()
    const configFile = join(profile, 'tcp.json')
    writeFileSync(
      configFile,
      JSON.stringify({
        healthCheck: { interval: '1s' },
        backends: [{ url: web.url, id: 'web-1' }],
        pools: {
          echo: {
            backends: echoes.map((e, i) => ({
              url: `tcp://127.0.0.1:${e.port}`,
              id: `echo-${i + 1}`,
            })),
            strategy: 'least-connections',
          },
        },
        tcp: [{ name: 'echo', listen: { host: '127.0.0.1', port }, pool: 'echo' }],
      }),
    )
    const tcpFulcrum = await startFulcrum('node', ['--config', configFile, '--admin-token', TOKEN])
    const clients: Socket[] = []
    let pump: ReturnType<typeof setInterval> | undefined
    try {
      await tcpFulcrum.waitForLog((l) => l.msg === 'tcp listening' && l.listener === 'echo')
      const admin = (path: string) =>
        fetch(`${tcpFulcrum.adminUrl}${path}`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        }).then((r) => r.json())
      // Four connections, one closed again: three stay open, least-connections spreads them.
      for (let i = 0; i < 4; i++) clients.push(await echoClient(port))
      clients.shift()!.destroy()
      // The open ones keep bytes moving both ways (2 KiB each, every 100 ms), and a short
      // connection comes and goes every 500 ms, so the rates have something to show.
      let tick = 0
      pump = setInterval(() => {
        for (const client of clients) client.write(Buffer.alloc(2048, 0x61))
        if (++tick % 5 === 0) void echoClient(port).then((c) => c.end())
      }, 100)

      // explain over the admin API of the real process: the listener and its pool.
      const explained = await admin('/explain?listener=echo&ip=127.0.0.1')
      expect(explained.connection).toEqual({ ip: '127.0.0.1', listener: 'echo', pool: 'echo' })
      expect(['echo-1', 'echo-2']).toContain(explained.chosen)

      await page.goto(`${tcpFulcrum.adminUrl}/dashboard`)
      await page.locator('#login').waitFor({ state: 'visible' })
      await page.fill('#token', TOKEN)
      await page.click('#login-form button[type=submit]')
      await page.locator('#board').waitFor({ state: 'visible' })

      // The listeners table: one row, its pool and address, three open, rates once there is a
      // window, nothing refused.
      await page.locator('#tcp-panel').waitFor({ state: 'visible', timeout: 10_000 })
      const rows = page.locator('#tcp-listeners tr')
      expect(
        await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-listener'))),
      ).toEqual(['echo'])
      const row = page.locator('#tcp-listeners tr[data-listener=echo]')
      const field = (name: string) => row.locator(`[data-field=${name}]`).textContent()
      expect(await row.locator('td.pool .chip').textContent()).toBe('echo')
      expect(await row.locator('td.listen code').textContent()).toBe(`127.0.0.1:${port}`)
      await expect.poll(() => field('open'), { timeout: 10_000 }).toBe('3')
      await expect.poll(() => field('in'), { timeout: 10_000 }).toMatch(/KiB\/s$/)
      expect(await field('out')).toMatch(/(KiB|MiB)\/s$/)
      await expect
        .poll(async () => Number(await field('cps')), { timeout: 10_000 })
        .toBeGreaterThan(0)
      expect(await field('refused')).toBe('0')
      expect(await field('failures')).toBe('0')

      // The TCP pool: its listener in place of routes, and cards with connections and bytes.
      const section = page.locator('section.pool[data-pool=echo]')
      expect(await section.getAttribute('data-kind')).toBe('tcp')
      expect(await section.locator('.pool-head .kind').isVisible()).toBe(true)
      expect(await section.locator('.pool-head .chips-label').textContent()).toBe('listeners')
      expect(await section.locator('.pool-head .chip').textContent()).toBe(`echo:${port}`)
      const cards = section.locator('.card')
      expect(
        await cards.evaluateAll((els) => els.map((e) => e.getAttribute('data-backend'))),
      ).toEqual(['echo-1', 'echo-2'])
      expect(await cards.evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')))).toEqual(
        ['tcp', 'tcp'],
      )
      expect(await cards.locator('[data-field=rps]').count()).toBe(0)
      const opens = () =>
        cards
          .locator('[data-field=open]')
          .evaluateAll((els) => els.map((e) => Number(e.textContent)))
      await expect.poll(async () => (await opens()).reduce((a, b) => a + b, 0)).toBe(3)
      // least-connections: neither backend holds all three.
      expect(Math.max(...(await opens()))).toBe(2)
      for (const id of ['echo-1', 'echo-2']) {
        const card = cards.and(page.locator(`[data-backend=${id}]`))
        expect(await card.locator('[data-field=bytes]').textContent()).toMatch(/ \/ /)
        expect(await card.getAttribute('data-state')).toBe('up')
      }
      await expect
        .poll(() => cards.locator('[data-field=bytes]').first().textContent(), { timeout: 5000 })
        .toMatch(/KiB|MiB/)

      // The HTTP pool default beside it keeps its request cards, and the charts only its lines.
      const http = page.locator('section.pool[data-pool=default]')
      expect(await http.getAttribute('data-kind')).toBe('http')
      expect(await http.locator('.pool-head .chips-label').textContent()).toBe('routes')
      expect(await http.locator('.card[data-backend=web-1] [data-field=rps]').count()).toBe(1)
      expect(await page.locator('#chart-rps polyline[data-pool=echo]').count()).toBe(0)
      await expect
        .poll(() => page.locator('#status-line').textContent())
        .toMatch(/3 TCP connections open/)

      // The API agrees with the page.
      const stats = await admin('/stats')
      expect(stats.tcp.listeners[0]).toMatchObject({ name: 'echo', pool: 'echo', port })
      expect(stats.tcp.listeners[0].total).toBeGreaterThanOrEqual(4)

      await mkdir(join(ROOT, 'test-results'), { recursive: true })
      const shot = join(ROOT, 'test-results', 'dashboard-tcp.png')
      await page.screenshot({ path: shot, fullPage: true })
      expect(existsSync(shot)).toBe(true)
    } finally {
      if (pump) clearInterval(pump)
      for (const client of clients) client.destroy()
      await tcpFulcrum.stop()
      await web.close()
      await Promise.all(echoes.map((e) => e.close()))
    }
  }, 60_000)
})

describe.runIf(!existsSync(CHROMIUM))('dashboard in headless chromium', () => {
  it.skip(`is skipped: ${CHROMIUM} is absent (apt-get install chromium)`, () => {})
})
