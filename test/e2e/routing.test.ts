/**
 * Routes and pools end to end (issue 12): the real entry points of Node, Deno and Bun, over HTTP
 * and over HTTPS with two certificates picked by SNI, one fulcrum process per runtime × scheme
 * serving every case. Three pools sit behind one listener, in front of real backends on loopback
 * that echo what they received (method, target, headers) and say who they are:
 *
 * - `api` (api-1, api-2, api-3): consistent hashing on `X-User`;
 * - `web` (web-1, web-2): round robin with sticky sessions;
 * - `web-v2` (v2-1, v2-2): round robin, no sticky sessions.
 *
 * The client is `node:http`/`node:https` on a fresh connection per request, sending the Host
 * field (and over HTTPS the same name as SNI) exactly as given.
 */
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import {
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { gunzipSync, gzipSync } from 'node:zlib'
import { generate } from 'selfsigned'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackend, type TestBackend } from '../helpers/backends.ts'
import { headerValues } from '../helpers/client.ts'
import { startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'
import { RUNTIME_SCHEMES, type Scheme } from '../helpers/tls-material.ts'

const STICKY_SECRET = 'routing e2e sticky secret, web pool only'
/** How long `?do=slow` holds the response headers back. */
const SLOW_MS = 1500
/** The `quick` route's own response-headers timeout. */
const QUICK_TIMEOUT_MS = 300

/** A compressible text body well over the 1 KiB compression threshold. */
const BIG = Buffer.from(
  Array.from(
    { length: 400 },
    (_, i) => `line ${i}: the quick brown fox jumps over the lazy dog\n`,
  ).join(''),
)
/** The same text, gzipped by the backend itself. */
const BIG_GZ = gzipSync(BIG)

/**
 * The echo backend. `/health` answers ok; otherwise the query's `do` picks the answer:
 * `big` (a large text/plain body with a strong ETag), `gz` (that body already gzipped by the
 * backend), `204`, `slow` (the echo after {@link SLOW_MS}); anything else is the JSON echo.
 * Every answer carries `X-Backend`, `Server` and `X-Internal`, for the response header edits.
 */
function echo(req: IncomingMessage, res: ServerResponse, name: string): void {
  if (req.url === '/health') return void res.end('ok')
  req.resume()
  req.on('end', () => {
    res.setHeader('x-backend', name)
    res.setHeader('server', 'echo/1')
    res.setHeader('x-internal', 'secret')
    const action = new URL(req.url!, 'http://backend').searchParams.get('do')
    if (action === 'big' || action === 'gz') {
      const body = action === 'big' ? BIG : BIG_GZ
      res.setHeader('content-type', 'text/plain; charset=utf-8')
      res.setHeader('content-length', body.length)
      res.setHeader('etag', action === 'big' ? '"big-1"' : '"gz-1"')
      if (action === 'gz') res.setHeader('content-encoding', 'gzip')
      return void res.end(req.method === 'HEAD' ? undefined : body)
    }
    if (action === '204') {
      res.statusCode = 204
      return void res.end()
    }
    const body = JSON.stringify({
      backend: name,
      method: req.method,
      url: req.url,
      headers: req.headers,
    })
    res.setHeader('content-type', 'application/json')
    if (action === 'slow') setTimeout(() => res.end(body), SLOW_MS)
    else res.end(body)
  })
}

/** What a backend echoed. */
interface Echo {
  backend: string
  method: string
  url: string
  headers: IncomingHttpHeaders
}

interface Reply {
  status: number
  headers: IncomingHttpHeaders
  rawHeaders: string[]
  body: Buffer
  /** The backend that answered (`X-Backend`), or `undefined` for fulcrum's own answers. */
  backend: string | undefined
  /** Over HTTPS: the SHA-256 fingerprint of the certificate fulcrum presented. */
  peer?: string
}

/** The pool a backend belongs to, from its name. */
const poolOf = (backend: string | undefined) =>
  backend?.startsWith('api-')
    ? 'api'
    : backend?.startsWith('web-')
      ? 'web'
      : backend?.startsWith('v2-')
        ? 'web-v2'
        : undefined

interface Pem {
  cert: string
  key: string
  certPath: string
  keyPath: string
}

let dir: string
let backends: TestBackend[]
/** `api.example.com` only. */
let apiPem: Pem
/** `*.example.com` and `www.example.com`. */
let sitePem: Pem

async function makeCertificate(name: string, dnsNames: string[]): Promise<Pem> {
  const generated = await generate([{ name: 'commonName', value: dnsNames[0]! }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'subjectAltName', altNames: dnsNames.map((value) => ({ type: 2 as const, value })) },
    ],
  })
  const pem = {
    cert: generated.cert,
    key: generated.private,
    certPath: join(dir, `${name}.crt`),
    keyPath: join(dir, `${name}.key`),
  }
  writeFileSync(pem.certPath, pem.cert)
  writeFileSync(pem.keyPath, pem.key, { mode: 0o600 })
  return pem
}

/** Where each X-User landed on the first instance tested: the later ones must agree. */
const PLACEMENT = new Map<string, string>()

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-routing-'))
  backends = await Promise.all(
    ['api-1', 'api-2', 'api-3', 'web-1', 'web-2', 'v2-1', 'v2-2'].map((name) =>
      startBackend(name, echo),
    ),
  )
  apiPem = await makeCertificate('api', ['api.example.com'])
  sitePem = await makeCertificate('site', ['*.example.com', 'www.example.com'])
})
afterAll(async () => {
  await Promise.all((backends ?? []).map((b) => b.close()))
  rmSync(dir, { recursive: true, force: true })
})

/** The members of the pool whose backend names start with `prefix`, with fixed ids. */
const members = (prefix: string) =>
  backends.filter((b) => b.name.startsWith(prefix)).map((b) => ({ url: b.url, id: b.name }))

/** The config both schemes share; HTTPS adds the two certificates. */
function routingConfig(scheme: Scheme) {
  return {
    ...(scheme === 'https'
      ? {
          tls: {
            // The first is the default, for clients whose SNI name neither certificate has.
            certificates: [
              { cert: apiPem.certPath, key: apiPem.keyPath },
              { cert: sitePem.certPath, key: sitePem.keyPath },
            ],
          },
        }
      : {}),
    // JSON access log lines on stdout, read through the helper's log lines.
    accessLog: { path: '-', flushInterval: '50ms' },
    pools: {
      api: {
        backends: members('api-'),
        strategy: 'consistent-hash',
        strategyOptions: { consistentHash: { key: 'header:x-user' } },
      },
      web: {
        backends: members('web-'),
        strategy: 'round-robin',
        sticky: { secret: STICKY_SECRET },
      },
      'web-v2': { backends: members('v2-') },
    },
    routes: [
      {
        name: 'api',
        match: { host: 'api.example.com', path: '/v1/*' },
        pool: 'api',
        stripPrefix: '/v1',
        requestHeaders: { set: { 'x-env': 'prod' }, remove: ['x-debug'] },
        responseHeaders: { set: { 'x-served-by': 'fulcrum' }, remove: ['server', 'x-internal'] },
      },
      { name: 'users', match: { host: 'api.example.com', path: '/users/:id' }, pool: 'api' },
      {
        name: 'limited',
        match: { host: 'api.example.com', path: '/limited/*' },
        pool: 'api',
        rateLimit: { requests: 1, per: '1m', burst: 3 },
      },
      {
        name: 'quick',
        match: { host: 'slow.test', path: '/quick/*' },
        pool: 'web-v2',
        timeouts: { responseHeaders: `${QUICK_TIMEOUT_MS}ms` },
        retries: { attempts: 1 },
      },
      { name: 'patient', match: { host: 'slow.test' }, pool: 'web-v2' },
      {
        name: 'writes',
        match: { host: '*.example.com', methods: ['POST', 'PUT', 'DELETE'] },
        pool: 'web-v2',
      },
      {
        name: 'beta',
        match: { host: '*.example.com', headers: { 'x-beta': '1' } },
        pool: 'web-v2',
      },
      {
        name: 'probe',
        match: { host: '*.example.com', headers: { 'x-probe': true } },
        pool: 'api',
      },
      { name: 'docs', match: { host: '*.example.com', path: '/docs/*' }, pool: 'web-v2' },
      { name: 'www', match: { host: 'www.example.com' }, pool: 'api' },
      {
        name: 'shop',
        match: { host: '*.example.com', path: '/shop/*' },
        pool: 'web',
        compress: true,
      },
      { name: 'site', match: { host: '*.example.com' }, pool: 'web' },
    ],
  }
}

describe.each(RUNTIME_SCHEMES)('routes and pools on %s over %s', (runtime, scheme) => {
  let fulcrum: FulcrumProcess

  beforeAll(async () => {
    const file = join(dir, `routing-${runtime}-${scheme}.json`)
    writeFileSync(file, JSON.stringify(routingConfig(scheme)))
    fulcrum = await startFulcrum(runtime, ['--config', file], { cwd: dir })
    expect(fulcrum.url.startsWith(`${scheme}://`)).toBe(true)
  })
  afterAll(async () => {
    await fulcrum?.stop()
  })

  /**
   * One request with `Host: host` (over HTTPS also the SNI name, without the port), on a fresh
   * connection. With `ca`, the certificate is verified for the name; without, it is only read.
   */
  function call(
    host: string,
    path: string,
    options: { method?: string; headers?: OutgoingHttpHeaders; ca?: string[] } = {},
  ): Promise<Reply> {
    const servername = host.replace(/:\d+$/, '').toLowerCase()
    return new Promise((resolve, reject) => {
      const common = {
        hostname: '127.0.0.1',
        port: fulcrum.port,
        method: options.method ?? 'GET',
        path,
        headers: { host, ...options.headers },
        agent: false as const,
      }
      const onResponse = (res: IncomingMessage) => {
        const peer =
          scheme === 'https'
            ? (res.socket as TLSSocket).getPeerX509Certificate()?.fingerprint256
            : undefined
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.once('error', reject)
        res.once('end', () => {
          const backend = res.headers['x-backend']
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks),
            backend: typeof backend === 'string' ? backend : undefined,
            peer,
          })
        })
      }
      const req =
        scheme === 'https'
          ? httpsRequest(
              {
                ...common,
                servername,
                ...(options.ca ? { ca: options.ca } : { rejectUnauthorized: false }),
              },
              onResponse,
            )
          : httpRequest(common, onResponse)
      req.once('error', reject)
      req.end()
    })
  }

  /** GET and parse the echo; fails unless a backend answered 200. */
  async function echoed(
    host: string,
    path: string,
    options: { method?: string; headers?: OutgoingHttpHeaders } = {},
  ): Promise<Echo & { reply: Reply }> {
    const reply = await call(host, path, options)
    expect(reply.status, `${host}${path}: ${reply.body.toString()}`).toBe(200)
    return { ...(JSON.parse(reply.body.toString()) as Echo), reply }
  }

  /** The pool that answered `host` + `path`. */
  const poolFor = async (host: string, path: string, options: Parameters<typeof call>[2] = {}) =>
    poolOf((await call(host, path, options)).backend)

  it.runIf(scheme === 'https')(
    'presents the certificate of the SNI name: the exact name first, then the wildcard',
    async () => {
      const ca = [apiPem.cert, sitePem.cert]
      // Verified against the name, so a wrong certificate fails the handshake.
      const api = await call('api.example.com', '/v1/sni', { ca })
      expect(api.status).toBe(200)
      expect(api.peer).toBe(fingerprint(apiPem.cert))
      for (const host of ['shop.example.com', 'www.example.com']) {
        const site = await call(host, '/sni', { ca })
        expect(site.status).toBe(200)
        expect(site.peer).toBe(fingerprint(sitePem.cert))
      }
      // A name neither certificate has gets the default, the first listed.
      expect((await call('slow.test', '/sni')).peer).toBe(fingerprint(apiPem.cert))
    },
  )

  it('routes by host: exact, and *.example.com for one label or more, any case, any port', async () => {
    expect(await poolFor('api.example.com', '/v1/x')).toBe('api')
    expect(await poolFor('shop.example.com', '/x')).toBe('web')
    expect(await poolFor('a.b.example.com', '/x')).toBe('web')
    expect(await poolFor('SHOP.Example.COM:8443', '/x')).toBe('web')
    // The exact host takes only its own paths; the rest of api.example.com falls to the wildcard.
    expect(await poolFor('api.example.com', '/elsewhere')).toBe('web')
    // The wildcard is not the bare domain, nor a name that merely ends the same.
    for (const host of ['example.com', 'evilexample.com', 'example.com.evil.test']) {
      const reply = await call(host, '/x')
      expect(reply.status, host).toBe(404)
      expect(reply.backend).toBeUndefined()
    }
  })

  it('routes by path: /v1/* and /users/:id (one segment)', async () => {
    const root = await echoed('api.example.com', '/v1')
    expect(poolOf(root.backend)).toBe('api')
    const user = await echoed('api.example.com', '/users/42')
    expect(poolOf(user.backend)).toBe('api')
    expect(user.url).toBe('/users/42')
    // `:id` is one segment: a deeper path is not the users route, so the wildcard site takes it.
    expect(await poolFor('api.example.com', '/users/42/posts')).toBe('web')
  })

  it('takes the first matching route, in config order', async () => {
    // docs (8) before www (9): www.example.com/docs/… goes to web-v2.
    expect(await poolFor('www.example.com', '/docs/intro')).toBe('web-v2')
    expect(await poolFor('www.example.com', '/about')).toBe('api')
    // www (9) before shop (10), though shop's path is the more specific.
    expect(await poolFor('www.example.com', '/shop/cart')).toBe('api')
    expect(await poolFor('shop.example.com', '/shop/cart')).toBe('web')
  })

  it('matches methods, and headers by exact value or by presence', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const reply = await echoed('shop.example.com', '/shop/cart', { method })
      expect(poolOf(reply.backend), method).toBe('web-v2')
      expect(reply.method).toBe(method)
    }
    expect(await poolFor('shop.example.com', '/shop/cart', { method: 'GET' })).toBe('web')
    const head = await call('shop.example.com', '/shop/cart', { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(poolOf(head.backend)).toBe('web')

    // x-beta must be exactly 1 (the name in any case).
    expect(await poolFor('shop.example.com', '/x', { headers: { 'X-Beta': '1' } })).toBe('web-v2')
    expect(await poolFor('shop.example.com', '/x', { headers: { 'x-beta': '2' } })).toBe('web')
    expect(await poolFor('shop.example.com', '/x', { headers: { 'x-beta': '10' } })).toBe('web')
    // x-probe only has to be there, whatever its value, even empty.
    for (const value of ['yes', '0', '']) {
      expect(await poolFor('shop.example.com', '/x', { headers: { 'x-probe': value } })).toBe('api')
    }
  })

  it('strips the prefix and edits the request headers on the way to the backend', async () => {
    const seen = await echoed('api.example.com', '/v1/items/7?q=a%20b', {
      headers: { 'x-env': 'dev', 'x-debug': '1', 'x-keep': 'yes' },
    })
    expect(poolOf(seen.backend)).toBe('api')
    expect(seen.url).toBe('/items/7?q=a%20b')
    expect(seen.headers['x-env']).toBe('prod')
    expect(seen.headers['x-debug']).toBeUndefined()
    expect(seen.headers['x-keep']).toBe('yes')
    // The client's Host still reaches the backend.
    expect(seen.headers.host).toBe('api.example.com')
    // Set even when the client sent none.
    expect((await echoed('api.example.com', '/v1/items/8')).headers['x-env']).toBe('prod')
    // A whole segment only: /v1 alone becomes /, and a route without edits forwards as it came.
    expect((await echoed('api.example.com', '/v1?x=1')).url).toBe('/?x=1')
    const plain = await echoed('api.example.com', '/users/7', {
      headers: { 'x-env': 'dev', 'x-debug': '1' },
    })
    expect(plain.url).toBe('/users/7')
    expect(plain.headers['x-env']).toBe('dev')
    expect(plain.headers['x-debug']).toBe('1')
  })

  it('edits the response headers on the way to the client', async () => {
    const edited = await call('api.example.com', '/v1/resp')
    expect(edited.status).toBe(200)
    expect(headerValues(edited.rawHeaders, 'x-served-by')).toEqual(['fulcrum'])
    expect(headerValues(edited.rawHeaders, 'server')).toEqual([])
    expect(headerValues(edited.rawHeaders, 'x-internal')).toEqual([])
    expect(poolOf(edited.backend)).toBe('api')
    // Another route of the same pool leaves them as the backend sent them.
    const plain = await call('api.example.com', '/users/1')
    expect(headerValues(plain.rawHeaders, 'x-served-by')).toEqual([])
    expect(headerValues(plain.rawHeaders, 'server')).toEqual(['echo/1'])
    expect(headerValues(plain.rawHeaders, 'x-internal')).toEqual(['secret'])
  })

  it('answers a JSON 404 when no route matches, and sends nothing to a backend', async () => {
    const before = backends.map((b) => b.requests.length)
    const reply = await call('nothing.test', '/anything', {
      headers: { 'x-request-id': 'routing-e2e-404' },
    })
    expect(reply.status).toBe(404)
    expect(reply.headers['content-type']).toMatch(/^application\/json/)
    expect(JSON.parse(reply.body.toString())).toEqual({
      error: 'No route',
      requestId: 'routing-e2e-404',
    })
    expect(backends.map((b) => b.requests.length)).toEqual(before)
    // The access log has it, with the client's address and no route or pool.
    const logged = await fulcrum.waitForLog((l) => l.requestId === 'routing-e2e-404', 5000)
    expect(logged).toMatchObject({ status: 404, client: '127.0.0.1', route: null, pool: null })
  })

  it('logs the route and the pool of each request', async () => {
    await call('api.example.com', '/v1/logged', { headers: { 'x-request-id': 'routing-e2e-log' } })
    const logged = await fulcrum.waitForLog((l) => l.requestId === 'routing-e2e-log', 5000)
    expect(logged).toMatchObject({ status: 200, route: 'api', pool: 'api', target: '/logged' })
    expect(String(logged.backend)).toMatch(/^api-\d$/)
  })

  it('gzips byte-exact, never twice, with a weak ETag; nothing for HEAD or 204', async () => {
    const gzip = { 'accept-encoding': 'gzip' }
    const zipped = await call('shop.example.com', '/shop/page?do=big', { headers: gzip })
    expect(zipped.status).toBe(200)
    expect(poolOf(zipped.backend)).toBe('web')
    expect(headerValues(zipped.rawHeaders, 'content-encoding')).toEqual(['gzip'])
    expect(gunzipSync(zipped.body).equals(BIG)).toBe(true)
    expect(zipped.body.length).toBeLessThan(BIG.length / 4)
    expect(zipped.headers.etag).toBe('W/"big-1"')
    // The identity length is gone: chunked, or the length of the gzip bytes.
    const length = zipped.headers['content-length']
    if (length !== undefined) expect(Number(length)).toBe(zipped.body.length)
    expect(zipped.headers.vary?.toLowerCase()).toContain('accept-encoding')

    // A client that does not accept gzip gets the identity bytes and the strong ETag.
    const identity = await call('shop.example.com', '/shop/page?do=big')
    expect(identity.headers['content-encoding']).toBeUndefined()
    expect(identity.body.equals(BIG)).toBe(true)
    expect(identity.headers.etag).toBe('"big-1"')

    // Already gzipped by the backend: its bytes pass untouched, encoded once.
    const encoded = await call('shop.example.com', '/shop/page?do=gz', { headers: gzip })
    expect(headerValues(encoded.rawHeaders, 'content-encoding')).toEqual(['gzip'])
    expect(encoded.body.equals(BIG_GZ)).toBe(true)
    expect(gunzipSync(encoded.body).equals(BIG)).toBe(true)
    expect(encoded.headers.etag).toBe('"gz-1"')

    // HEAD: the identity head, no encoding, no body.
    const head = await call('shop.example.com', '/shop/page?do=big', {
      method: 'HEAD',
      headers: gzip,
    })
    expect(head.status).toBe(200)
    expect(head.headers['content-encoding']).toBeUndefined()
    expect(head.headers['content-length']).toBe(String(BIG.length))
    expect(head.headers.etag).toBe('"big-1"')
    expect(head.body.length).toBe(0)

    // 204: nothing to encode.
    const empty = await call('shop.example.com', '/shop/page?do=204', { headers: gzip })
    expect(empty.status).toBe(204)
    expect(empty.headers['content-encoding']).toBeUndefined()
    expect(empty.body.length).toBe(0)

    // A route without compress, to the same pool, leaves the body alone.
    const site = await call('shop.example.com', '/page?do=big', { headers: gzip })
    expect(poolOf(site.backend)).toBe('web')
    expect(site.headers['content-encoding']).toBeUndefined()
    expect(site.body.equals(BIG)).toBe(true)
  })

  it('rate-limits one route: 429 after its burst of 3, other routes untouched', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 5; i++)
      statuses.push((await call('api.example.com', `/limited/${i}`)).status)
    expect(statuses).toEqual([200, 200, 200, 429, 429])
    const limited = await call('api.example.com', '/limited/again')
    expect(limited.status).toBe(429)
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expect(limited.headers['ratelimit-limit']).toBe('3')
    expect(limited.headers['ratelimit-remaining']).toBe('0')
    expect(JSON.parse(limited.body.toString())).toMatchObject({ error: 'Too many requests' })
    // The same client, the same pool, another route: not limited.
    for (let i = 0; i < 5; i++)
      expect((await call('api.example.com', `/v1/free/${i}`)).status).toBe(200)
  })

  it('times out a route by its own responseHeaders timeout while another route still waits', async () => {
    const timed = async (path: string) => {
      const startedAt = performance.now()
      const reply = await call('slow.test', path)
      return { reply, ms: performance.now() - startedAt }
    }
    // Both at once, to the same slow pool: quick gives up at its 300 ms, patient gets the answer.
    const [quick, patient] = await Promise.all([
      timed('/quick/page?do=slow'),
      timed('/patient/page?do=slow'),
    ])
    expect(quick.reply.status).toBe(504)
    expect(JSON.parse(quick.reply.body.toString())).toMatchObject({ error: expect.any(String) })
    expect(quick.ms).toBeGreaterThanOrEqual(QUICK_TIMEOUT_MS - 50)
    expect(quick.ms).toBeLessThan(SLOW_MS - 300)
    expect(patient.reply.status).toBe(200)
    expect(poolOf(patient.reply.backend)).toBe('web-v2')
    expect(patient.ms).toBeGreaterThanOrEqual(SLOW_MS - 50)
  })

  it('pins a client to one backend of the web pool with lb_sid; web-v2 and api pin nobody', async () => {
    const first = await call('shop.example.com', '/pin')
    const setCookie = headerValues(first.rawHeaders, 'set-cookie').find((c) =>
      c.startsWith('lb_sid='),
    )
    expect(setCookie).toBeDefined()
    expect(poolOf(first.backend)).toBe('web')
    const cookie = setCookie!.split(';')[0]!
    for (let i = 0; i < 8; i++) {
      // Through two routes of the web pool: the pin belongs to the pool, not the route.
      const path = i % 2 === 0 ? '/pin' : '/shop/pin'
      const next = await call('shop.example.com', path, { headers: { cookie } })
      expect(next.backend).toBe(first.backend)
      expect(headerValues(next.rawHeaders, 'set-cookie')).toEqual([])
    }
    // Clients without the cookie are still balanced across the pool.
    const unpinned = new Set<string | undefined>()
    for (let i = 0; i < 4; i++) unpinned.add((await call('shop.example.com', '/pin')).backend)
    expect(unpinned).toEqual(new Set(['web-1', 'web-2']))

    // web-v2 has no sticky sessions: the cookie changes nothing there, and none is set.
    const v2 = new Set<string | undefined>()
    for (let i = 0; i < 4; i++) {
      const reply = await call('shop.example.com', '/docs/pin', { headers: { cookie } })
      expect(headerValues(reply.rawHeaders, 'set-cookie')).toEqual([])
      v2.add(reply.backend)
    }
    expect(v2).toEqual(new Set(['v2-1', 'v2-2']))
    const api = await call('api.example.com', '/v1/pin', { headers: { cookie } })
    expect(poolOf(api.backend)).toBe('api')
    expect(headerValues(api.rawHeaders, 'set-cookie')).toEqual([])
  })

  it('places each X-User on one backend of the api pool by consistent hashing', async () => {
    const users = Array.from({ length: 12 }, (_, i) => `user-${i}`)
    const placed = new Map<string, string>()
    for (let round = 0; round < 3; round++) {
      for (const user of users) {
        const reply = await call('api.example.com', `/v1/r${round}`, {
          headers: { 'x-user': user },
        })
        expect(poolOf(reply.backend)).toBe('api')
        // The same key, the same backend, every time.
        if (round === 0) placed.set(user, reply.backend!)
        else expect(reply.backend, user).toBe(placed.get(user))
      }
    }
    // 12 keys over a ring of 3 backends use more than one of them.
    expect(new Set(placed.values()).size).toBeGreaterThan(1)
    // The ring is built from the backends alone, so every instance (runtime, scheme) agrees.
    for (const [user, backend] of placed) {
      const before = PLACEMENT.get(user)
      if (before) expect(backend, `${user} on ${runtime}/${scheme}`).toBe(before)
      else PLACEMENT.set(user, backend)
    }
  })
})
