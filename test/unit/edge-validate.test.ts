import { describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS } from '../../src/config-edge.ts'
import { validateRequest } from '../../src/edge/validate.ts'
import { PARSER_FRAMED } from '../../src/http1/request.ts'
import type { RawRequestHead } from '../../src/types.ts'

const limits = { ...DEFAULT_LIMITS, maxBodySize: 1000 }

/** A request as Deno or Bun would build it: merged headers, a URL from Host. */
function req(
  method: string,
  url: string,
  headers: Record<string, string> = {},
  body?: string,
): Request {
  return new Request(url, {
    method,
    headers,
    body,
    ...(body ? { duplex: 'half' } : {}),
  } as RequestInit)
}

/** A raw head as Node keeps it. */
function raw(target: string, headers: string[], version = '1.1'): RawRequestHead {
  return { version, target, headers }
}

const status = (r: Request, head?: RawRequestHead) => validateRequest(r, head, limits)?.status

describe('validateRequest on a built Request (Deno, Bun)', () => {
  it('passes an ordinary request', () => {
    expect(validateRequest(req('GET', 'http://x/a', { host: 'x' }), undefined, limits)).toBe(
      undefined,
    )
    expect(status(req('POST', 'http://x/a', { host: 'x', 'content-length': '3' }, 'abc'))).toBe(
      undefined,
    )
  })

  it('answers TRACE and TRACK with 405 and an Allow list, CONNECT with 501', () => {
    // Node's Request refuses to build these methods; the runtimes' servers hand them over.
    const like = (method: string, url: string) =>
      ({ method, url, headers: new Headers({ host: 'x' }) }) as Request
    const trace = validateRequest(like('TRACE', 'http://x/'), undefined, limits)
    expect(trace).toMatchObject({ status: 405, close: false })
    expect(trace?.headers?.allow).toContain('GET')
    expect(status(like('TRACK', 'http://x/'))).toBe(405)
    expect(status(like('CONNECT', 'http://x:443'))).toBe(501)
  })

  it('refuses a missing, empty, merged or malformed Host', () => {
    expect(status(req('GET', 'http://localhost:8080/a'))).toBe(400)
    expect(status(req('GET', 'http://localhost:8080/a', { host: '' }))).toBe(400)
    expect(status(req('GET', 'http://x/a', { host: 'x, y' }))).toBe(400)
    expect(status(req('GET', 'http://x/y@z/a', { host: 'x/y@z' }))).toBe(400)
    expect(status(req('GET', 'http://x/a', { host: 'x y' }))).toBe(400)
    expect(status(req('GET', 'http://[::1]:80/a', { host: '[::1]:80' }))).toBe(undefined)
    expect(status(req('GET', 'http://x:8080/a', { host: 'X:8080' }))).toBe(undefined)
  })

  it('refuses an absolute-form target for another host, and keeps one for its own', () => {
    expect(status(req('GET', 'http://evil/a', { host: 'x' }))).toBe(400)
    expect(status(req('GET', 'http://x:99/a', { host: 'x' }))).toBe(400)
    expect(status(req('GET', 'http://x/a', { host: 'x:80' }))).toBe(undefined)
  })

  it('refuses merged Content-Length fields, Transfer-Encoding other than a final chunked, and both', () => {
    const post = (headers: Record<string, string>) =>
      validateRequest(req('POST', 'http://x/', { host: 'x', ...headers }), undefined, limits)
    expect(post({ 'content-length': '3, 3' })).toMatchObject({ status: 400, close: true })
    expect(post({ 'content-length': '+3' })?.status).toBe(400)
    expect(post({ 'transfer-encoding': 'gzip' })).toMatchObject({ status: 400, close: true })
    expect(post({ 'transfer-encoding': 'chunked, gzip' })?.status).toBe(400)
    expect(post({ 'transfer-encoding': 'chunked, chunked' })?.status).toBe(400)
    expect(post({ 'transfer-encoding': 'gzip, chunked' })).toMatchObject({
      status: 501,
      close: true,
    })
    expect(post({ 'transfer-encoding': 'Chunked' })).toBe(undefined)
    expect(post({ 'transfer-encoding': 'chunked', 'content-length': '3' })?.status).toBe(400)
  })

  it('answers 413 for a declared body over the limit, 414 for a long target, 431 for big heads', () => {
    const big = validateRequest(
      req('POST', 'http://x/', { host: 'x', 'content-length': '1001' }),
      undefined,
      limits,
    )
    expect(big).toMatchObject({ status: 413, close: true })
    expect(status(req('POST', 'http://x/', { host: 'x', 'content-length': '9'.repeat(40) }))).toBe(
      413,
    )
    expect(status(req('GET', `http://x/${'a'.repeat(limits.maxUriLength)}`, { host: 'x' }))).toBe(
      414,
    )
    const many: Record<string, string> = { host: 'x' }
    for (let i = 0; i < limits.maxHeaderCount; i++) many[`x-${i}`] = 'a'
    expect(status(req('GET', 'http://x/', many))).toBe(431)
    expect(status(req('GET', 'http://x/', { host: 'x', 'x-a': 'a'.repeat(17_000) }))).toBe(431)
  })

  it('refuses a fragment in the target and an expectation other than 100-continue', () => {
    expect(status(req('GET', 'http://x/a#b', { host: 'x' }))).toBe(400)
    expect(status(req('POST', 'http://x/', { host: 'x', expect: '100-continue' }))).toBe(undefined)
    expect(status(req('POST', 'http://x/', { host: 'x', expect: 'teapot' }))).toBe(417)
  })
})

describe('validateRequest on a raw head (Node)', () => {
  const get = (target: string, headers: string[], version?: string) =>
    validateRequest(
      req('GET', target.startsWith('http') ? target : `http://x${target}`, { host: 'x' }),
      raw(target, headers, version),
      limits,
    )

  it('sees duplicates the runtime would merge', () => {
    expect(get('/a', ['Host', 'x', 'Host', 'x'])?.status).toBe(400)
    const cl = validateRequest(
      req('POST', 'http://x/', { host: 'x', 'content-length': '3' }),
      raw('/', ['Host', 'x', 'Content-Length', '3', 'Content-Length', '3']),
      limits,
    )
    expect(cl).toMatchObject({ status: 400, close: true })
  })

  it('checks names and values byte for byte', () => {
    expect(get('/a', ['Host', 'x', 'X(A)', 'a'])?.status).toBe(400)
    expect(get('/a', ['Host', 'x', 'X-A', 'a\x7fb'])?.status).toBe(400)
    expect(get('/a', ['Host', 'x', 'X-A', 'a\rb'])?.status).toBe(400)
    expect(get('/a', ['Host', 'x', 'X-A', 'a\tb'])).toBe(undefined)
    expect(get('/a', ['Host', 'x', 'X-A', 'caf\xe9'])).toBe(undefined)
  })

  it('checks the raw target: absolute form, controls, bad forms', () => {
    expect(get('http://evil/a', ['Host', 'x'])?.status).toBe(400)
    expect(get('http://x/a', ['Host', 'x'])).toBe(undefined)
    expect(get('/a b', ['Host', 'x'])?.status).toBe(400)
    expect(get('a/b', ['Host', 'x'])?.status).toBe(400)
  })

  it('refuses Transfer-Encoding in HTTP/1.0, and lets HTTP/2 go without Host', () => {
    const te = validateRequest(
      req('POST', 'http://x/', { host: 'x', 'transfer-encoding': 'chunked' }),
      raw('/', ['Host', 'x', 'Transfer-Encoding', 'chunked'], '1.0'),
      limits,
    )
    expect(te?.status).toBe(400)
    const h2 = validateRequest(
      req('GET', 'https://x/a'),
      raw('/a', [':method', 'GET', ':authority', 'x', ':path', '/a'], '2.0'),
      limits,
    )
    expect(h2).toBe(undefined)
    expect(validateRequest(req('GET', 'http://localhost/a'), raw('/a', []), limits)?.status).toBe(
      400,
    )
  })
})

describe('validateRequest on a head the engine parsed', () => {
  /** A head the engine's parser framed: its request's fields are these very lines. */
  const framed = (headers: string[], version = '1.1'): RawRequestHead =>
    ({ version, target: '/', headers, [PARSER_FRAMED]: true }) as RawRequestHead
  const check = (method: string, headers: string[], version?: string) => {
    const request = { method, url: 'http://x/', headers: new Headers() } as Request
    return validateRequest(request, framed(headers, version), limits)?.status
  }

  it('reads Host, Content-Length, Transfer-Encoding and Expect off the lines, any case', () => {
    expect(check('GET', ['Host', 'x'])).toBe(undefined)
    expect(check('POST', ['HOST', 'x', 'content-LENGTH', '3'])).toBe(undefined)
    expect(check('POST', ['Host', 'x', 'Content-Length', '1001'])).toBe(413)
    expect(check('POST', ['Host', 'x', 'Content-Length', '3x'])).toBe(400)
    expect(check('POST', ['Host', 'x', 'Transfer-Encoding', 'gzip'])).toBe(400)
    expect(check('POST', ['Host', 'x', 'Transfer-Encoding', 'chunked'], '1.0')).toBe(400)
    expect(check('POST', ['Host', 'x', 'Expect', 'teapot'])).toBe(417)
    // Two Expect lines are joined as Headers.get joins them: not one 100-continue.
    expect(check('POST', ['Host', 'x', 'Expect', '100-continue'])).toBe(undefined)
    expect(check('POST', ['Host', 'x', 'Expect', '100-continue', 'expect', '100-continue'])).toBe(
      417,
    )
    expect(check('GET', [], '1.0')).toBe(400)
  })

  it('tests each new Host: one that passed lets no other through', () => {
    expect(check('GET', ['Host', 'x:8080'])).toBe(undefined)
    expect(check('GET', ['Host', 'x:8080'])).toBe(undefined)
    expect(check('GET', ['Host', 'x y'])).toBe(400)
    expect(check('GET', ['Host', 'x:8080'])).toBe(undefined)
    expect(check('GET', ['Host', ''])).toBe(400)
  })
})
