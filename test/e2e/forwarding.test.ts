/**
 * Faithful forwarding, end to end (issue 2, "Faithful, streaming, fetch-based forwarding"): the
 * real entry points of Node, Deno and Bun, over HTTP and HTTPS, in front of one recording
 * backend. The client is `node:http`/`node:https`, so what it sends is exactly what is asserted.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { OutgoingHttpHeaders } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackend, type RecordedRequest, type TestBackend } from '../helpers/backends.ts'
import {
  headerNames,
  headerValues,
  listMembers,
  send,
  type RawRequest,
  type RawResponse,
} from '../helpers/client.ts'
import { BROWSER_HEADERS, clientModes } from '../helpers/clients.ts'
import { startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'
import { BIG_SIZE, BR_BODY, COOKIES, GZIP_BODY, scenarioHandler } from '../helpers/scenarios.ts'

/** TLS runs get their own working directory, so the generated certs/ stays out of the checkout. */
let tlsDir: string
beforeAll(() => {
  tlsDir = mkdtempSync(join(tmpdir(), 'fulcrum-forwarding-'))
})
afterAll(() => rmSync(tlsDir, { recursive: true, force: true }))

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Bun also runs with a `browser` client, over HTTP and HTTPS: see test/helpers/clients.ts. */
const MODES = clientModes(['http', 'https'])

describe.each(MODES)('forwarding on %s over %s (%s client)', (runtime, scheme, client) => {
  let backend: TestBackend
  let fulcrum: FulcrumProcess
  let ca: string | undefined
  let sequence = 0

  beforeAll(async () => {
    backend = await startBackend('scenario', scenarioHandler)
    const tls = scheme === 'https'
    fulcrum = await startFulcrum(runtime, ['--backend', backend.url, ...(tls ? ['--tls'] : [])], {
      cwd: tls ? tlsDir : undefined,
    })
    // Over HTTPS, trust exactly the certificate fulcrum generated (SAN localhost).
    if (tls) ca = readFileSync(join(tlsDir, 'certs', 'selfsigned.crt'), 'utf8')
  })
  afterAll(async () => {
    await fulcrum?.stop()
    await backend?.close()
  })

  /** Send through fulcrum, tagged so the backend's record of it can be found. */
  async function call(
    req: RawRequest & { scenario?: string } = {},
  ): Promise<{ response: RawResponse; seen: RecordedRequest | undefined }> {
    const id = `t${++sequence}`
    const headers: OutgoingHttpHeaders = {
      ...(client === 'browser' ? BROWSER_HEADERS : {}),
      ...req.headers,
      'x-test-id': id,
      ...(req.scenario ? { 'x-scenario': req.scenario } : {}),
    }
    const response = await send(fulcrum.url, { ...req, headers, ca })
    const seen = backend.requests.find((r) => headerValues(r.rawHeaders, 'x-test-id')[0] === id)
    return { response, seen }
  }

  it.each(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PURGE'])(
    '%s arrives unchanged, with its body and Content-Length',
    async (method) => {
      const body = Buffer.concat([Buffer.from(`payload of ${method} `), Buffer.from([0, 255, 1])])
      const { response, seen } = await call({ method, body })
      expect(response.status).toBe(200)
      expect(seen?.method).toBe(method)
      expect(response.body.equals(body)).toBe(true)
      expect(response.headers['x-body-length']).toBe(String(body.length))
      expect(seen?.headers['content-length']).toBe(String(body.length))
    },
  )

  it.each(['GET', 'HEAD'])('%s arrives unchanged, without a body', async (method) => {
    const { response, seen } = await call({ method })
    expect(response.status).toBe(200)
    expect(seen?.method).toBe(method)
    expect(response.body.length).toBe(0)
    if (method === 'GET') expect(response.headers['x-body-length']).toBe('0')
  })

  it('HEAD keeps the Content-Length a GET would have (RFC 9110 §9.3.2)', async () => {
    const { response } = await call({ method: 'HEAD', scenario: 'head' })
    expect(response.status).toBe(200)
    expect(response.headers['content-length']).toBe('1234')
    expect(response.body.length).toBe(0)
  })

  it.each([
    '/a%2Fb%2fc',
    '/with%20space/and+plus?q=a+b&r=c%20d',
    '/caf%C3%A9/%E2%82%AC?name=%C3%A9t%C3%A9',
    '//double//slashes/',
    '/list?a=1&a=2&b=&c',
    '/not-decoded/%41%7E%2E?%26=%3D',
    '/trailing/?',
  ])('the raw target %s arrives byte for byte', async (path) => {
    const { response, seen } = await call({ path })
    expect(response.status).toBe(200)
    expect(seen?.url).toBe(path)
  })

  it('repeated request header lines all arrive, in order', async () => {
    const { seen } = await call({ headers: { 'x-multi': ['a', 'b, c'], 'x-other': 'z' } })
    expect(listMembers(seen!.rawHeaders, 'x-multi')).toEqual(['a', 'b', 'c'])
    expect(headerValues(seen!.rawHeaders, 'x-other')).toEqual(['z'])
  })

  it('every Set-Cookie line and repeated response headers arrive unchanged', async () => {
    const { response } = await call({ scenario: 'cookies' })
    expect(headerValues(response.rawHeaders, 'set-cookie')).toEqual(COOKIES)
    expect(listMembers(response.rawHeaders, 'x-multi')).toEqual(['one', 'two'])
    expect(response.body.toString()).toBe('cookies')
  })

  it.each([204, 304])('%i passes through without a body', async (status) => {
    const { response } = await call({ scenario: 'status', headers: { 'x-status': String(status) } })
    expect(response.status).toBe(status)
    expect(response.body.length).toBe(0)
    expect(response.headers.etag).toBe('"v1"')
    expect(response.headers['cache-control']).toBe('max-age=60')
  })

  it.each([201, 302, 404, 418, 500, 503])('%i passes through with its body', async (status) => {
    const { response } = await call({ scenario: 'status', headers: { 'x-status': String(status) } })
    expect(response.status).toBe(status)
    expect(response.body.toString()).toBe(`body of ${status}`)
    expect(response.headers['content-type']).toBe('text/plain')
  })

  it('strips hop-by-hop request headers, including those named in Connection', async () => {
    const { response, seen } = await call({
      headers: {
        connection: 'keep-alive, X-Secret',
        'x-secret': '1',
        'keep-alive': 'timeout=9',
        te: 'trailers',
        upgrade: 'example/1',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        'proxy-connection': 'keep-alive',
        'x-kept': 'yes',
      },
    })
    expect(response.status).toBe(200)
    const names = headerNames(seen!.rawHeaders)
    for (const name of ['x-secret', 'te', 'upgrade', 'proxy-authorization']) {
      expect(names).not.toContain(name)
    }
    expect(names).not.toContain('proxy-connection')
    expect(headerValues(seen!.rawHeaders, 'keep-alive')).not.toContain('timeout=9')
    expect(listMembers(seen!.rawHeaders, 'connection').map((t) => t.toLowerCase())).not.toContain(
      'x-secret',
    )
    expect(headerValues(seen!.rawHeaders, 'x-kept')).toEqual(['yes'])
  })

  it('strips hop-by-hop response headers, including those named in Connection', async () => {
    const { response } = await call({ scenario: 'hop' })
    expect(response.status).toBe(200)
    const names = headerNames(response.rawHeaders)
    for (const name of ['x-internal', 'proxy-connection', 'proxy-authenticate']) {
      expect(names).not.toContain(name)
    }
    // fulcrum's own server may announce its own keep-alive, never the backend's.
    expect(headerValues(response.rawHeaders, 'keep-alive')).not.toContain('timeout=77, max=99')
    expect(
      listMembers(response.rawHeaders, 'connection').map((t) => t.toLowerCase()),
    ).not.toContain('x-internal')
    expect(headerValues(response.rawHeaders, 'x-kept')).toEqual(['yes'])
    expect(response.body.toString()).toBe('hop')
  })

  it('sets X-Forwarded-*, Forwarded, Via and X-Request-Id, replacing spoofed values', async () => {
    const { response, seen } = await call({
      headers: {
        host: 'shop.example:8443',
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-proto': 'gopher',
        'x-forwarded-host': 'evil.example',
        forwarded: 'for=6.6.6.6;proto=gopher',
        via: '1.0 corp-proxy',
      },
    })
    expect(response.status).toBe(200)
    const raw = seen!.rawHeaders
    // The client's Host is kept (as nginx `proxy_set_header Host $host`).
    expect(headerValues(raw, 'host')).toEqual(['shop.example:8443'])
    // No trusted proxies are configured: the client's forwarding headers are replaced.
    expect(headerValues(raw, 'x-forwarded-for')).toEqual(['127.0.0.1'])
    expect(headerValues(raw, 'x-forwarded-proto')).toEqual([scheme])
    expect(headerValues(raw, 'x-forwarded-host')).toEqual(['shop.example:8443'])
    // RFC 7239 §4: a host with a colon is not a token, so it is quoted.
    expect(headerValues(raw, 'forwarded')).toEqual([
      `for=127.0.0.1;proto=${scheme};host="shop.example:8443"`,
    ])
    // RFC 9110 §7.6.3: Via is appended to, in both directions.
    expect(headerValues(raw, 'via')).toEqual(['1.0 corp-proxy, 1.1 fulcrum'])
    expect(headerValues(response.rawHeaders, 'via')).toEqual(['1.1 fulcrum'])
    const [requestId] = headerValues(raw, 'x-request-id')
    expect(requestId).toMatch(UUID)
  })

  it("keeps the client's X-Request-Id", async () => {
    const { seen } = await call({ headers: { 'x-request-id': 'client-id-42' } })
    expect(headerValues(seen!.rawHeaders, 'x-request-id')).toEqual(['client-id-42'])
  })

  it('adds no header the client did not send (User-Agent, Accept, Accept-Encoding…)', async () => {
    const { seen } = await call({ headers: { 'x-kept': 'yes' } })
    const names = headerNames(seen!.rawHeaders)
    const fulcrumOwn = [
      'host',
      'connection',
      'x-forwarded-for',
      'x-forwarded-proto',
      'x-forwarded-host',
      'forwarded',
      'via',
      'x-request-id',
    ]
    const clientSent = [
      'x-kept',
      'x-test-id',
      ...(client === 'browser' ? ['user-agent', 'accept'] : []),
    ]
    expect(
      names.filter((name) => !fulcrumOwn.includes(name) && !clientSent.includes(name)),
    ).toEqual([])
    // What the client did send arrives as sent, not replaced by the upstream client's own.
    if (client === 'browser') {
      expect(headerValues(seen!.rawHeaders, 'user-agent')).toEqual([BROWSER_HEADERS['user-agent']])
      expect(headerValues(seen!.rawHeaders, 'accept')).toEqual([BROWSER_HEADERS.accept])
    }
  })

  it.each([undefined, 'gzip, br', 'identity'])(
    'passes a gzip body through byte-identical (Accept-Encoding: %s)',
    async (acceptEncoding) => {
      const headers = acceptEncoding ? { 'accept-encoding': acceptEncoding } : {}
      const { response, seen } = await call({ scenario: 'gzip', headers })
      expect(response.status).toBe(200)
      expect(response.headers['content-encoding']).toBe('gzip')
      expect(response.body.equals(GZIP_BODY)).toBe(true)
      // fulcrum never asks for an encoding the client did not ask for.
      expect(headerValues(seen!.rawHeaders, 'accept-encoding')).toEqual(
        acceptEncoding ? [acceptEncoding] : [],
      )
    },
  )

  it('passes a chunked brotli body through byte-identical', async () => {
    const { response, seen } = await call({ scenario: 'br' })
    expect(response.status).toBe(200)
    expect(response.headers['content-encoding']).toBe('br')
    expect(response.body.equals(BR_BODY)).toBe(true)
    expect(headerValues(seen!.rawHeaders, 'accept-encoding')).toEqual([])
  })

  it("keeps a streamed response's Content-Length", async () => {
    const { response } = await call({ scenario: 'big' })
    expect(response.status).toBe(200)
    expect(response.headers['content-length']).toBe(String(BIG_SIZE))
    expect(response.headers['transfer-encoding']).toBeUndefined()
    expect(response.body.length).toBe(BIG_SIZE)
  })
})
