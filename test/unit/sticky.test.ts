import { afterEach, describe, expect, it, vi } from 'vitest'
import { createBalancer, type Balancer } from '../../src/balancer.ts'
import { loadConfig, parseArgs } from '../../src/cli.ts'
import { parseConfig, type ConfigInput } from '../../src/config.ts'
import { UpstreamConnectError } from '../../src/errors.ts'
import { silentLogger } from '../../src/log.ts'
import { strategies } from '../../src/strategies/index.ts'
import {
  StickySessions,
  base64url,
  createStickySessions,
  fromBase64url,
  timingSafeEqual,
} from '../../src/sticky.ts'
import type { Logger, UpstreamFetch } from '../../src/types.ts'

const SECRET = 'correct horse battery staple'
const OTHER_SECRET = 'another secret, long enough'
const HOUR = 3_600_000
const T0 = Date.UTC(2030, 0, 1)

const encode = (text: string) => base64url(new TextEncoder().encode(text))
const decode = (text: string) => new TextDecoder().decode(fromBase64url(text))

/** Build a cookie value whose HMAC is computed with `secret` over `payload`, as an attacker would. */
async function forge(payloadText: string, secret: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  )
  const payload = encode(payloadText)
  const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(payload))
  return `${payload}.${base64url(new Uint8Array(mac))}`
}

afterEach(() => {
  vi.useRealTimers()
  vi.restoreAllMocks()
})

describe('StickySessions', () => {
  let now = T0
  const clock = () => now
  const make = (keys = [{ kid: 'k1', secret: SECRET }], maxAge = HOUR) =>
    new StickySessions({ keys, maxAge, now: clock })

  it('issues base64url(kid.backendId.issuedAt).hmac and verifies it', async () => {
    now = T0
    const sticky = make()
    const { value, issuedAt } = await sticky.issue('b1')
    expect(value).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/)
    expect(decode(value.split('.')[0]!)).toBe(`k1.b1.${issuedAt}`)
    expect(issuedAt).toBe(Math.floor(T0 / 1000))
    expect(await sticky.verify(value)).toEqual({ kid: 'k1', backendId: 'b1', issuedAt })
  })

  it('signs with the newest key and verifies with any configured key (rotation)', async () => {
    now = T0
    const old = make([{ kid: 'old', secret: OTHER_SECRET }])
    const oldCookie = (await old.issue('b2')).value

    const rotated = make([
      { kid: 'new', secret: SECRET },
      { kid: 'old', secret: OTHER_SECRET },
    ])
    expect((await rotated.verify(oldCookie))?.backendId).toBe('b2')
    const newCookie = (await rotated.issue('b2')).value
    expect(decode(newCookie.split('.')[0]!)).toMatch(/^new\.b2\./)

    // Once the old key is retired, its cookies count as none; the new ones still verify.
    const retired = make([{ kid: 'new', secret: SECRET }])
    expect(await retired.verify(oldCookie)).toBeUndefined()
    expect((await retired.verify(newCookie))?.backendId).toBe('b2')
  })

  it('rejects every forgery', async () => {
    now = T0
    const sticky = make()
    const issued = Math.floor(T0 / 1000)
    const valid = (await sticky.issue('b1')).value
    const [payload, mac] = valid.split('.') as [string, string]
    const flip = (s: string, at: number) =>
      s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1)
    const cases: Record<string, string> = {
      'bad base64': `${payload.slice(0, -1)}*.${mac}`,
      'base64 of impossible length': `${payload}A.${mac}`,
      'bad hmac': `${payload}.${flip(mac, 10)}`,
      'hmac of the wrong length': `${payload}.${mac.slice(1)}`,
      'tampered backend id': `${encode(`k1.b2.${issued}`)}.${mac}`,
      'tampered issue time': `${encode(`k1.b1.${issued + 3000}`)}.${mac}`,
      'signed with another secret': await forge(`k1.b1.${issued}`, OTHER_SECRET),
      'unknown kid': await forge(`k9.b1.${issued}`, SECRET),
      'no kid': await forge(`b1.${issued}`, SECRET),
      'non-numeric issue time': await forge(`k1.b1.soon`, SECRET),
      'not utf-8': `${base64url(new Uint8Array([0xff, 0xfe, 0xfd, 0x2e]))}.${mac}`,
      'no dot': payload + mac,
      'two dots': `${payload}.${mac}.x`,
      empty: '',
      'the backend address instead': `http://127.0.0.1:9001.${mac}`,
    }
    for (const [name, value] of Object.entries(cases)) {
      expect(await sticky.verify(value), name).toBeUndefined()
    }
    // The valid one still verifies.
    expect((await sticky.verify(valid))?.backendId).toBe('b1')
  })

  it('expires after the max age, also for a cached verdict', async () => {
    now = T0
    const sticky = make([{ kid: 'k1', secret: SECRET }], 10 * 60_000)
    const { value } = await sticky.issue('b1')
    expect(await sticky.verify(value)).toBeDefined()
    now = T0 + 10 * 60_000 - 1000
    expect(await sticky.verify(value)).toBeDefined()
    now = T0 + 10 * 60_000
    expect(await sticky.verify(value)).toBeUndefined()
    // A signature from the future (more than a minute of clock skew) is refused too.
    const future = await sticky.sign({ kid: 'k1', backendId: 'b1', issuedAt: now / 1000 + 120 })
    expect(await sticky.verify(future)).toBeUndefined()
  })

  it('renews a cookie once half of its max age has passed', async () => {
    now = T0
    const sticky = make()
    const pin = (await sticky.verify((await sticky.issue('b1')).value))!
    expect(sticky.shouldRenew(pin)).toBe(false)
    now = T0 + HOUR / 2 - 1000
    expect(sticky.shouldRenew(pin)).toBe(false)
    now = T0 + HOUR / 2
    expect(sticky.shouldRenew(pin)).toBe(true)
  })

  it('runs HMAC once per value, not per request', async () => {
    now = T0
    const sticky = make()
    const sign = vi.spyOn(crypto.subtle, 'sign')
    const first = await sticky.issue('b1')
    const second = await sticky.issue('b1')
    expect(second.value).toBe(first.value)
    expect(sign).toHaveBeenCalledTimes(1)
    for (let i = 0; i < 100; i++) await sticky.verify(first.value)
    expect(sign).toHaveBeenCalledTimes(2)
    // A forged value is remembered as forged.
    const forged = `${first.value.slice(0, -2)}AA`
    for (let i = 0; i < 10; i++) expect(await sticky.verify(forged)).toBeUndefined()
    expect(sign).toHaveBeenCalledTimes(3)
    // A new issue bucket (a minute later) signs again.
    now = T0 + 60_000
    expect((await sticky.issue('b1')).value).not.toBe(first.value)
    expect(sign).toHaveBeenCalledTimes(4)
  })

  it('stays correct when the cache overflows', async () => {
    now = T0
    const sticky = new StickySessions({
      keys: [{ kid: 'k1', secret: SECRET }],
      maxAge: HOUR,
      now: clock,
      cacheSize: 2,
    })
    const values = await Promise.all(['a', 'b', 'c', 'd'].map(async (id) => sticky.issue(id)))
    for (let round = 0; round < 3; round++) {
      for (const [i, { value }] of values.entries()) {
        expect((await sticky.verify(value))?.backendId).toBe('abcd'[i])
        expect(await sticky.verify(`${value.slice(0, -1)}x`)).toBeUndefined()
      }
    }
  })

  it('formats Set-Cookie with HttpOnly, SameSite=Lax, Path=/ and Secure on TLS', async () => {
    now = T0 + 30_000 // issue times are rounded down to the minute
    const sticky = make()
    const issued = await sticky.issue('b1')
    expect(sticky.setCookie(issued, false)).toBe(
      `lb_sid=${issued.value}; Max-Age=3570; Path=/; HttpOnly; SameSite=Lax`,
    )
    expect(sticky.setCookie(issued, true)).toMatch(/; HttpOnly; SameSite=Lax; Secure$/)
  })

  it('compares in constant time and round-trips base64url', () => {
    expect(timingSafeEqual('abc', 'abc')).toBe(true)
    expect(timingSafeEqual('abc', 'abd')).toBe(false)
    expect(timingSafeEqual('abc', 'abcd')).toBe(false)
    const bytes = new Uint8Array([0, 251, 255, 62, 63, 1])
    expect(base64url(bytes)).toBe('APv_Pj8B')
    expect(fromBase64url('APv_Pj8B')).toEqual(bytes)
    expect(fromBase64url('AP+/')).toBeUndefined()
  })

  it('generates a random secret, with a warning, when none is configured', async () => {
    const warnings: string[] = []
    const logger: Logger = { ...silentLogger, warn: (msg) => warnings.push(msg) }
    const a = createStickySessions({ cookie: 'lb_sid', maxAge: HOUR }, logger)
    const b = createStickySessions({ cookie: 'lb_sid', maxAge: HOUR }, logger)
    expect(warnings).toHaveLength(2)
    expect(warnings[0]).toMatch(/random.*restart/)
    // Different random secrets: one instance does not honour the other's cookies.
    expect(await b.verify((await a.issue('b1')).value)).toBeUndefined()
    expect(() => new StickySessions({ keys: [], maxAge: HOUR })).toThrow(/at least one key/)
  })
})

describe('sticky configuration', () => {
  it('takes --sticky, --sticky-secret and --sticky-max-age', async () => {
    const read = async () => ''
    const off = await loadConfig(parseArgs([]) as never, read)
    expect(off.sticky.enabled).toBe(false)
    const on = await loadConfig(parseArgs(['--sticky']) as never, read)
    expect(on.sticky).toEqual({ enabled: true, cookie: 'lb_sid', maxAge: HOUR })
    const full = await loadConfig(
      parseArgs(['--sticky-secret', SECRET, '--sticky-max-age', '10m']) as never,
      read,
    )
    expect(full.sticky).toMatchObject({ enabled: true, secret: SECRET, maxAge: 600_000 })
  })

  it('fills in FULCRUM_STICKY_SECRET only when sticky is on and has no secret', async () => {
    const env = { FULCRUM_STICKY_SECRET: OTHER_SECRET }
    const read = async () => JSON.stringify({ sticky: { secrets: [{ kid: 'a', secret: SECRET }] } })
    const fromEnv = await loadConfig(parseArgs(['--sticky']) as never, async () => '', env)
    expect(fromEnv.sticky.secret).toBe(OTHER_SECRET)
    const off = await loadConfig(parseArgs([]) as never, async () => '', env)
    expect(off.sticky).toEqual({ enabled: false, cookie: 'lb_sid', maxAge: HOUR })
    const file = await loadConfig(parseArgs(['--config', 'f.json']) as never, read, env)
    expect(file.sticky.secret).toBeUndefined()
    expect(file.sticky.secrets).toEqual([{ kid: 'a', secret: SECRET }])
  })

  it('rejects weak secrets and duplicate key ids, naming the field', () => {
    expect(() => parseConfig({ sticky: { secret: 'short' } })).toThrow(/sticky\.secret: .*16/)
    expect(() =>
      parseConfig({
        sticky: {
          secrets: [
            { kid: 'a', secret: SECRET },
            { kid: 'a', secret: OTHER_SECRET },
          ],
        },
      }),
    ).toThrow(/sticky\.secrets\.1\.kid: Duplicate key id/)
    expect(() => parseConfig({ sticky: { maxAge: '10ms' } })).toThrow(/sticky\.maxAge/)
  })
})

// ---------------------------------------------------------------------------------------------
// The sticky layer in the proxy, driven through balancer.app.request() with a fake upstream.

const BACKENDS = [
  { id: 'b1', url: 'http://127.0.0.1:9001' },
  { id: 'b2', url: 'http://127.0.0.1:9002' },
  { id: 'b3', url: 'http://127.0.0.1:9003' },
]
const ID_BY_ORIGIN = new Map(BACKENDS.map((b) => [b.url, b.id]))

interface FakeUpstream {
  fetch: UpstreamFetch
  /** Backends whose connections are refused. */
  refused: Set<string>
}

/** Each backend answers with its id and sets a cookie of its own. */
function fakeUpstream(): FakeUpstream {
  const refused = new Set<string>()
  const fetch: UpstreamFetch = async (url) => {
    const id = ID_BY_ORIGIN.get(new URL(url).origin)!
    if (refused.has(id)) throw new UpstreamConnectError('Connection refused')
    const headers = new Headers({ 'content-type': 'text/plain' })
    headers.append('set-cookie', `app=${id}; Path=/`)
    headers.append('set-cookie', 'theme=dark')
    return new Response(id, { headers })
  }
  return { fetch, refused }
}

function balancer(upstream: FakeUpstream, config: Partial<ConfigInput> = {}): Balancer {
  return createBalancer(
    parseConfig({
      backends: BACKENDS,
      healthCheck: { enabled: false },
      sticky: { secret: SECRET },
      ...config,
    }),
    {
      fetch: upstream.fetch,
      clientAddress: () => '127.0.0.1',
      tcpConnect: async () => {},
      readTextFile: async () => '',
      logger: silentLogger,
    },
  )
}

/** One browser: it sends back the lb_sid cookie it was given, as `curl -b -c` does. */
class Client {
  cookie: string | undefined
  lastSetCookie: string | undefined
  constructor(readonly lb: Balancer) {}
  async get(path = '/'): Promise<string> {
    const response = await this.lb.app.request(`http://lb.test${path}`, {
      headers: this.cookie ? { cookie: `other=1; lb_sid=${this.cookie}` } : {},
    })
    expect(response.status).toBe(200)
    this.lastSetCookie = response.headers.getSetCookie().find((c) => c.startsWith('lb_sid='))
    if (this.lastSetCookie)
      this.cookie = this.lastSetCookie.slice(7, this.lastSetCookie.indexOf(';'))
    return response.text()
  }
}

const down = (lb: Balancer, id: string) => {
  for (let i = 0; i < 3; i++) lb.pool.recordProbe(id, false, 'test')
}

describe('sticky sessions in the proxy', () => {
  it('pins a client with a fresh cookie, then keeps it on one backend for 1,000 requests', async () => {
    const lb = balancer(fakeUpstream())
    const client = new Client(lb)
    const first = await client.get()
    expect(client.lastSetCookie).toMatch(
      /^lb_sid=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/,
    )
    // The cookie names the backend by its opaque id, never by its address.
    expect(decode(client.cookie!.split('.')[0]!)).toMatch(new RegExp(`^k0\\.${first}\\.\\d+$`))
    expect(client.lastSetCookie).not.toContain('127.0.0.1')

    const seen = new Map<string, number>()
    let setCookies = 0
    for (let i = 0; i < 1000; i++) {
      const id = await client.get()
      seen.set(id, (seen.get(id) ?? 0) + 1)
      if (client.lastSetCookie) setCookies++
    }
    expect(seen).toEqual(new Map([[first, 1000]]))
    expect(setCookies).toBe(0)

    // Control: without the cookie, round robin spreads the same load over every backend.
    const anonymous = new Set<string>()
    for (let i = 0; i < 6; i++) anonymous.add(await new Client(lb).get())
    expect(anonymous.size).toBe(3)
  })

  it("keeps the backend's own Set-Cookie fields", async () => {
    const lb = balancer(fakeUpstream())
    const response = await lb.app.request('http://lb.test/')
    const cookies = response.headers.getSetCookie()
    expect(cookies).toHaveLength(3)
    expect(cookies[0]).toMatch(/^app=b\d; Path=\/$/)
    expect(cookies[1]).toBe('theme=dark')
    expect(cookies[2]).toMatch(/^lb_sid=/)
  })

  it('adds Secure when fulcrum terminates TLS', async () => {
    const lb = balancer(fakeUpstream(), { tls: { enabled: true } })
    const client = new Client(lb)
    await client.get()
    expect(client.lastSetCookie).toMatch(/; HttpOnly; SameSite=Lax; Secure$/)
  })

  it('treats every forged cookie as none: no pinning, and a fresh cookie', async () => {
    const lb = balancer(fakeUpstream())
    const issued = Math.floor(Date.now() / 1000)
    const genuine = (await lb.sticky!.issue('b3')).value
    const [payload, mac] = genuine.split('.') as [string, string]
    const expired = await lb.sticky!.sign({ kid: 'k0', backendId: 'b3', issuedAt: issued - 7200 })
    const forgeries: Record<string, string> = {
      'bad base64': `${payload.slice(0, -1)}!.${mac}`,
      'bad hmac': `${payload}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`,
      'tampered id': `${encode(`k0.b1.${issued}`)}.${mac}`,
      expired: expired,
      'unknown kid': await forge(`k7.b3.${issued}`, SECRET),
      'other secret': await forge(`k0.b3.${issued}`, OTHER_SECRET),
      'unknown backend': await lb.sticky!.sign({ kid: 'k0', backendId: 'b9', issuedAt: issued }),
      'wrong format': 'b3',
      address: 'http://127.0.0.1:9003',
    }
    for (const [name, value] of Object.entries(forgeries)) {
      const landed: string[] = []
      for (let i = 0; i < 3; i++) {
        const response = await lb.app.request('http://lb.test/', {
          headers: { cookie: `lb_sid=${value}` },
        })
        landed.push(await response.text())
        const fresh = response.headers.getSetCookie().find((c) => c.startsWith('lb_sid='))
        expect(fresh, name).toBeDefined()
        const freshValue = fresh!.slice(7, fresh!.indexOf(';'))
        expect(freshValue, name).not.toBe(value)
        expect((await lb.sticky!.verify(freshValue))?.backendId, name).toBe(landed.at(-1))
      }
      // Round robin, not the forged pin: three requests land on three backends.
      expect(new Set(landed).size, name).toBe(3)
    }
  })

  it('re-pins when the pinned backend goes down, and stays there when it comes back', async () => {
    const lb = balancer(fakeUpstream())
    const client = new Client(lb)
    const first = await client.get()
    down(lb, first)
    const second = await client.get()
    expect(second).not.toBe(first)
    expect(client.lastSetCookie).toBeDefined()
    for (let i = 0; i < 20; i++) expect(await client.get()).toBe(second)
    expect(client.lastSetCookie).toBeUndefined()
    // Back up (rise 2): the client has been re-pinned and does not flap back.
    lb.pool.recordProbe(first, true)
    lb.pool.recordProbe(first, true)
    for (let i = 0; i < 20; i++) expect(await client.get()).toBe(second)
  })

  it('re-pins when the pinned backend is removed or refuses connections', async () => {
    const upstream = fakeUpstream()
    const lb = balancer(upstream)
    const client = new Client(lb)
    const first = await client.get()
    lb.pool.remove(first)
    const second = await client.get()
    expect(second).not.toBe(first)
    expect(client.lastSetCookie).toBeDefined()
    expect(await client.get()).toBe(second)

    upstream.refused.add(second)
    const third = await client.get()
    expect([first, second]).not.toContain(third)
    expect(client.lastSetCookie).toBeDefined()
    for (let i = 0; i < 5; i++) expect(await client.get()).toBe(third)
  })

  it('lets a draining backend keep its sessions and take no new ones', async () => {
    const lb = balancer(fakeUpstream())
    const clients = [new Client(lb), new Client(lb), new Client(lb)]
    const pins = await Promise.all(clients.map((c) => c.get()))
    expect(new Set(pins).size).toBe(3)
    const drained = pins[0]!
    expect(lb.pool.setDraining(drained, true)).toBe(true)
    expect(lb.pool.setDraining('nope', true)).toBe(false)

    for (let i = 0; i < 30; i++) {
      for (const [n, client] of clients.entries()) expect(await client.get()).toBe(pins[n])
    }
    // New clients never land on the draining backend.
    for (let i = 0; i < 30; i++) expect(await new Client(lb).get()).not.toBe(drained)
    // Draining ends: new clients may land there again.
    lb.pool.setDraining(drained, false)
    const fresh = new Set<string>()
    for (let i = 0; i < 6; i++) fresh.add(await new Client(lb).get())
    expect(fresh.has(drained)).toBe(true)
  })

  it("lets instances that share a secret honour each other's cookies", async () => {
    const one = balancer(fakeUpstream())
    const two = balancer(fakeUpstream())
    const stranger = balancer(fakeUpstream(), { sticky: { secret: OTHER_SECRET } })
    // Pin on instance one to its third pick, so that instance two's round robin would differ.
    await new Client(one).get()
    await new Client(one).get()
    const pinner = new Client(one)
    const pinned = await pinner.get()
    expect(pinned).toBe('b3')

    const onTwo = new Client(two)
    onTwo.cookie = pinner.cookie
    for (let i = 0; i < 50; i++) expect(await onTwo.get()).toBe(pinned)
    expect(onTwo.lastSetCookie).toBeUndefined()

    const onStranger = new Client(stranger)
    onStranger.cookie = pinner.cookie
    expect(await onStranger.get()).toBe('b1')
    expect(onStranger.lastSetCookie).toBeDefined()
  })

  it('renews the cookie after half its max age and forgets it after the max age', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
    const lb = balancer(fakeUpstream(), { sticky: { secret: SECRET, maxAge: '10m' } })
    const client = new Client(lb)
    const first = await client.get()
    const original = client.cookie

    vi.setSystemTime(T0 + 4 * 60_000)
    expect(await client.get()).toBe(first)
    expect(client.lastSetCookie).toBeUndefined()
    vi.setSystemTime(T0 + 5 * 60_000)
    expect(await client.get()).toBe(first)
    expect(client.lastSetCookie).toMatch(/Max-Age=600;/)
    expect(client.cookie).not.toBe(original)

    // The stale original is expired after ten minutes: it counts as none.
    vi.setSystemTime(T0 + 10 * 60_000)
    const response = await lb.app.request('http://lb.test/', {
      headers: { cookie: `lb_sid=${original}` },
    })
    expect(response.headers.getSetCookie().some((c) => c.startsWith('lb_sid='))).toBe(true)
    // The renewed cookie still pins (and, half its age gone, is renewed once more).
    expect(await client.get()).toBe(first)
    expect(client.lastSetCookie).toBeDefined()
    expect(await client.get()).toBe(first)
    expect(client.lastSetCookie).toBeUndefined()
  })

  it.each(Object.keys(strategies))('works over %s, with distinct fallbacks', async (strategy) => {
    const upstream = fakeUpstream()
    const tried: string[] = []
    const fetch = upstream.fetch
    upstream.fetch = (url, init) => {
      tried.push(ID_BY_ORIGIN.get(new URL(url).origin)!)
      return fetch(url, init)
    }
    const lb = balancer(upstream, { strategy: strategy as ConfigInput['strategy'] })
    const client = new Client(lb)
    const first = await client.get()
    for (let i = 0; i < 100; i++) expect(await client.get()).toBe(first)
    // The pinned backend refuses: the fallbacks come from the strategy, without it again.
    upstream.refused.add(first)
    tried.length = 0
    const second = await client.get()
    expect(second).not.toBe(first)
    expect(tried[0]).toBe(first)
    expect(new Set(tried).size).toBe(tried.length)
    expect(client.lastSetCookie).toBeDefined()
    for (let i = 0; i < 20; i++) expect(await client.get()).toBe(second)
  })

  it('is off unless configured', async () => {
    const lb = balancer(fakeUpstream(), { sticky: { enabled: false } })
    expect(lb.sticky).toBeUndefined()
    const response = await lb.app.request('http://lb.test/')
    expect(response.headers.getSetCookie().some((c) => c.startsWith('lb_sid='))).toBe(false)
  })
})
