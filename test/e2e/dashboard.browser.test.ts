/**
 * The dashboard in a real browser: Debian's chromium, headless, driven by playwright-core (which
 * never downloads a browser). It signs in with the token, watches the cards move under load,
 * drains a backend by clicking, and saves a screenshot.
 */
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
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

describe.skipIf(!existsSync(CHROMIUM))('dashboard in headless chromium', () => {
  let backends: TestBackend[]
  let fulcrum: FulcrumProcess
  let context: BrowserContext
  let page: Page
  let profile: string

  beforeAll(async () => {
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
    profile = await mkdtemp(join(tmpdir(), 'fulcrum-chromium-'))
    context = await chromium.launchPersistentContext(profile, {
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
    await fulcrum?.stop()
    await Promise.all((backends ?? []).map((b) => b.close()))
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
})

describe.runIf(!existsSync(CHROMIUM))('dashboard in headless chromium', () => {
  it.skip(`is skipped: ${CHROMIUM} is absent (apt-get install chromium)`, () => {})
})
