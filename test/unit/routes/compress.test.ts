import { describe, expect, it } from 'vitest'
import { acceptsGzip, compressResponse } from '../../../src/routes/compress.ts'

const TEXT = 'fulcrum balances load. '.repeat(200) // 4600 bytes, compresses well

function request(acceptEncoding: string | null = 'gzip', method = 'GET', init: HeadersInit = {}) {
  const headers = new Headers(init)
  if (acceptEncoding !== null) headers.set('accept-encoding', acceptEncoding)
  return { method, headers }
}

function textResponse(headers: HeadersInit = {}, init: ResponseInit = {}, body = TEXT): Response {
  return new Response(body, {
    ...init,
    headers: { 'content-type': 'text/html; charset=utf-8', ...headers },
  })
}

async function gunzip(response: Response): Promise<Uint8Array> {
  const plain = response.body!.pipeThrough(new DecompressionStream('gzip'))
  return new Uint8Array(await new Response(plain).arrayBuffer())
}

/** Deterministic bytes: xorshift32 noise and repeated text, mixed so gzip has work to do. */
function variedBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size)
  const text = new TextEncoder().encode(
    'GET /api/v1/items?page=42 HTTP/1.1\r\nHost: shop.example\r\n',
  )
  let x = 0x9e3779b9
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    bytes[i] = (i >> 12) % 2 === 0 ? text[i % text.length]! : x & 0xff
  }
  return bytes
}

/** A stream of `bytes` in chunks of 1 to 64 KiB, as a backend would send them. */
function chunked(bytes: Uint8Array): { stream: ReadableStream<Uint8Array>; chunks: number } {
  const pieces: Uint8Array[] = []
  let offset = 0
  for (let n = 0; offset < bytes.length; n++) {
    const size = 1 + ((n * 7919) % 65536)
    pieces.push(bytes.slice(offset, offset + size))
    offset += size
  }
  let next = 0
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next < pieces.length) controller.enqueue(pieces[next++]!)
      else controller.close()
    },
  })
  return { stream, chunks: pieces.length }
}

describe('compressResponse: compression', () => {
  it('round-trips a text body byte for byte and sets the coding fields', async () => {
    const original = textResponse({ 'content-length': String(TEXT.length) })
    const compressed = compressResponse(request(), original)
    expect(compressed).not.toBe(original)
    expect(compressed.headers.get('content-encoding')).toBe('gzip')
    expect(compressed.headers.has('content-length')).toBe(false)
    expect(compressed.headers.get('vary')).toBe('Accept-Encoding')
    const wire = new Uint8Array(await compressed.clone().arrayBuffer())
    expect([wire[0], wire[1]]).toEqual([0x1f, 0x8b]) // gzip magic (RFC 1952 §2.3.1)
    expect(wire.length).toBeLessThan(TEXT.length / 10)
    expect(new TextDecoder().decode(await gunzip(compressed))).toBe(TEXT)
  })

  it('round-trips ~1 MiB of varied data streamed in many chunks', async () => {
    const bytes = variedBytes(1024 * 1024 + 17)
    const { stream, chunks } = chunked(bytes)
    expect(chunks).toBeGreaterThan(20)
    const original = new Response(stream, { headers: { 'content-type': 'application/json' } })
    const compressed = compressResponse(request(), original)
    expect(compressed.headers.get('content-encoding')).toBe('gzip')
    const plain = await gunzip(compressed)
    expect(plain.length).toBe(bytes.length)
    expect(plain.findIndex((byte, i) => byte !== bytes[i])).toBe(-1)
  })

  it('streams: compressed bytes flow before the backend body has ended', async () => {
    let finish!: () => void
    const ended = new Promise<void>((resolve) => (finish = resolve))
    const noise = variedBytes(512 * 1024).map((b, i) => b ^ (i * 31)) // little to gain: flushes
    let offset = 0
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (offset < noise.length) {
          controller.enqueue(noise.slice(offset, (offset += 16384)))
        } else {
          await ended // the backend holds the last bytes back
          controller.close()
        }
      },
    })
    const compressed = compressResponse(
      request(),
      new Response(stream, { headers: { 'content-type': 'text/plain' } }),
    )
    const reader = compressed.body!.getReader()
    const first = await reader.read()
    expect(first.done).toBe(false)
    expect(first.value!.length).toBeGreaterThan(0)
    finish()
    let last = first
    while (!last.done) last = await reader.read()
  })

  it('keeps status, status text and every other field, each Set-Cookie separate', async () => {
    const headers = new Headers({
      'content-type': 'application/json',
      'cache-control': 'public, max-age=60',
      'x-request-id': 'req-7',
      date: 'Tue, 01 Jul 2025 10:00:00 GMT',
    })
    headers.append('set-cookie', 'a=1; Path=/; HttpOnly')
    headers.append('set-cookie', 'b=2; Expires=Wed, 09 Jun 2027 10:18:14 GMT')
    const original = new Response(TEXT, { status: 404, statusText: 'Not Here', headers })
    const compressed = compressResponse(request(), original)
    expect(compressed.status).toBe(404)
    expect(compressed.statusText).toBe('Not Here')
    expect(compressed.headers.getSetCookie()).toEqual([
      'a=1; Path=/; HttpOnly',
      'b=2; Expires=Wed, 09 Jun 2027 10:18:14 GMT',
    ])
    const rest = (h: Headers) => [...h].filter(([name]) => name !== 'set-cookie')
    expect(rest(compressed.headers)).toEqual([
      ['cache-control', 'public, max-age=60'],
      ['content-encoding', 'gzip'],
      ['content-type', 'application/json'],
      ['date', 'Tue, 01 Jul 2025 10:00:00 GMT'],
      ['vary', 'Accept-Encoding'],
      ['x-request-id', 'req-7'],
    ])
    expect(new TextDecoder().decode(await gunzip(compressed))).toBe(TEXT)
  })

  it('does not modify the original headers', () => {
    const original = textResponse({ 'content-length': String(TEXT.length), etag: '"v1"' })
    compressResponse(request(), original)
    expect(original.headers.get('content-length')).toBe(String(TEXT.length))
    expect(original.headers.get('etag')).toBe('"v1"')
    expect(original.headers.has('content-encoding')).toBe(false)
  })

  it('replaces Content-Encoding: identity', () => {
    const compressed = compressResponse(request(), textResponse({ 'content-encoding': 'identity' }))
    expect(compressed.headers.get('content-encoding')).toBe('gzip')
  })

  it('drops Accept-Ranges: ranges were of the identity bytes', () => {
    const compressed = compressResponse(request(), textResponse({ 'accept-ranges': 'bytes' }))
    expect(compressed.headers.get('content-encoding')).toBe('gzip')
    expect(compressed.headers.has('accept-ranges')).toBe(false)
  })

  it('never encodes twice', async () => {
    const once = compressResponse(request(), textResponse())
    const twice = compressResponse(request(), once)
    expect(twice).toBe(once)
    expect(new TextDecoder().decode(await gunzip(twice))).toBe(TEXT)
  })
})

describe('compressResponse: ETag', () => {
  it.each([
    ['"abc"', 'W/"abc"'],
    ['""', 'W/""'],
    ['W/"abc"', 'W/"abc"'],
    ['  "abc"  ', 'W/"abc"'],
  ])('%j becomes %j', (etag, expected) => {
    const compressed = compressResponse(request(), textResponse({ etag }))
    expect(compressed.headers.get('content-encoding')).toBe('gzip')
    expect(compressed.headers.get('etag')).toBe(expected)
  })

  it.each(['abc', 'w/"abc"', '"a"b"', '"abc", "def"'])('removes the malformed %j', (etag) => {
    const compressed = compressResponse(request(), textResponse({ etag }))
    expect(compressed.headers.get('content-encoding')).toBe('gzip')
    expect(compressed.headers.has('etag')).toBe(false)
  })

  it('leaves the ETag of an uncompressed response alone', () => {
    const compressed = compressResponse(request('identity'), textResponse({ etag: '"abc"' }))
    expect(compressed.headers.get('etag')).toBe('"abc"')
  })
})

describe('compressResponse: Vary', () => {
  it.each([
    ['Origin', 'Origin, Accept-Encoding'],
    ['Origin, Cookie', 'Origin, Cookie, Accept-Encoding'],
    ['accept-encoding', 'accept-encoding'],
    ['Origin, Accept-Encoding', 'Origin, Accept-Encoding'],
    ['ACCEPT-ENCODING,Origin', 'ACCEPT-ENCODING,Origin'],
    ['*', '*'],
    ['Origin, *', 'Origin, *'],
  ])('merges into %j as %j', (vary, expected) => {
    const compressed = compressResponse(request(), textResponse({ vary }))
    expect(compressed.headers.get('content-encoding')).toBe('gzip')
    expect(compressed.headers.get('vary')).toBe(expected)
  })

  it('merges into two Vary fields', () => {
    const headers = new Headers({ 'content-type': 'text/plain' })
    headers.append('vary', 'Origin')
    headers.append('vary', 'Cookie')
    const compressed = compressResponse(request(), new Response(TEXT, { headers }))
    expect(compressed.headers.get('vary')).toBe('Origin, Cookie, Accept-Encoding')
  })

  it('adds Vary, and only Vary, when a candidate is refused for its Accept-Encoding', async () => {
    for (const acceptEncoding of [null, 'identity', 'gzip;q=0', 'br']) {
      const original = textResponse({ 'content-length': String(TEXT.length), vary: 'Origin' })
      const sent = compressResponse(request(acceptEncoding), original)
      expect(sent).not.toBe(original)
      expect([...sent.headers]).toEqual([
        ['content-length', String(TEXT.length)],
        ['content-type', 'text/html; charset=utf-8'],
        ['vary', 'Origin, Accept-Encoding'],
      ])
      expect(await sent.text()).toBe(TEXT)
    }
  })

  it('returns the response itself when refused and Vary already covers Accept-Encoding', () => {
    for (const vary of ['Accept-Encoding', '*']) {
      const original = textResponse({ vary })
      expect(compressResponse(request('identity'), original)).toBe(original)
    }
  })
})

describe('compressResponse: refusals', () => {
  /** The response comes back as the same object, its body unread. */
  async function expectUntouched(
    req: { method: string; headers: Headers },
    original: Response,
    options?: { minLength?: number },
  ) {
    const before = [...original.headers]
    const sent = compressResponse(req, original, options)
    expect(sent).toBe(original)
    expect([...sent.headers]).toEqual(before)
    expect(sent.bodyUsed).toBe(false)
  }

  it('HEAD requests', async () => {
    await expectUntouched(request('gzip', 'HEAD'), textResponse())
    await expectUntouched(request('gzip', 'head'), textResponse())
  })

  it.each([204, 205, 304])('status %i', async (status) => {
    await expectUntouched(
      request(),
      new Response(null, { status, headers: { 'content-type': 'text/plain' } }),
    )
  })

  it('a null body', async () => {
    await expectUntouched(
      request(),
      new Response(null, { headers: { 'content-type': 'text/plain' } }),
    )
  })

  it.each(['gzip', 'br', 'zstd', 'GZIP', 'identity, gzip', 'x-custom'])(
    'Content-Encoding: %s',
    async (encoding) => {
      await expectUntouched(request(), textResponse({ 'content-encoding': encoding }))
    },
  )

  it.each(['no-transform', 'public, no-transform', 'max-age=60,No-Transform', 'NO-TRANSFORM'])(
    'response Cache-Control: %s',
    async (cacheControl) => {
      await expectUntouched(request(), textResponse({ 'cache-control': cacheControl }))
    },
  )

  it('request Cache-Control: no-transform', async () => {
    await expectUntouched(
      request('gzip', 'GET', { 'cache-control': 'no-transform' }),
      textResponse(),
    )
  })

  it('compresses when no-transform only appears inside a quoted value or a longer name', () => {
    for (const cacheControl of ['private="a, no-transform, b"', 'x-no-transform', 'max-age=60']) {
      const compressed = compressResponse(
        request(),
        textResponse({ 'cache-control': cacheControl }),
      )
      expect(compressed.headers.get('content-encoding')).toBe('gzip')
    }
  })

  it('206 and Content-Range', async () => {
    const range = { 'content-range': 'bytes 0-4599/10000' }
    await expectUntouched(request(), textResponse(range, { status: 206 }))
    await expectUntouched(request(), textResponse(range))
    await expectUntouched(request(), textResponse({}, { status: 206 }))
    await expectUntouched(
      request(),
      textResponse({ 'content-range': 'bytes */10000' }, { status: 416 }),
    )
  })

  it.each(['content-digest', 'repr-digest', 'digest', 'content-md5'])(
    'a %s field',
    async (name) => {
      await expectUntouched(request(), textResponse({ [name]: 'sha-256=:AAAA:' }))
    },
  )

  it('small bodies, by Content-Length below minLength', async () => {
    await expectUntouched(
      request(),
      textResponse({ 'content-length': '1023' }, {}, 'x'.repeat(1023)),
    )
    await expectUntouched(request(), textResponse({ 'content-length': '2' }, {}, 'hi'))
    await expectUntouched(request(), textResponse({ 'content-length': '4600' }), {
      minLength: 4601,
    })
  })

  it('compresses at minLength and without Content-Length', () => {
    const at = compressResponse(
      request(),
      textResponse({ 'content-length': '1024' }, {}, 'x'.repeat(1024)),
    )
    expect(at.headers.get('content-encoding')).toBe('gzip')
    const tiny = compressResponse(request(), textResponse({}, {}, 'hi'))
    expect(tiny.headers.get('content-encoding')).toBe('gzip')
    const zero = compressResponse(request(), textResponse({ 'content-length': '2' }, {}, 'hi'), {
      minLength: 0,
    })
    expect(zero.headers.get('content-encoding')).toBe('gzip')
    const repeated = compressResponse(request(), textResponse({ 'content-length': '4600, 4600' }))
    expect(repeated.headers.get('content-encoding')).toBe('gzip')
  })

  it.each(['abc', '-5', '4600, 4601', '1e4'])('a malformed Content-Length %j', async (length) => {
    await expectUntouched(request(), textResponse({ 'content-length': length }))
  })

  it.each([
    'image/png',
    'image/jpeg',
    'image/webp',
    'video/mp4',
    'audio/mpeg',
    'application/zip',
    'application/gzip',
    'application/x-gzip',
    'application/zstd',
    'application/octet-stream',
    'application/pdf',
    'font/woff',
    'font/woff2',
    'text/event-stream',
    'application/grpc',
    'application/grpc+proto',
    'application/epub+zip',
    'application/tlsrpt+gzip',
    'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    'IMAGE/PNG; charset=binary',
  ])('Content-Type %s', async (contentType) => {
    await expectUntouched(
      request(),
      new Response(TEXT, { headers: { 'content-type': contentType } }),
    )
  })

  it('no Content-Type, or an empty or malformed one', async () => {
    const noType = new Response(new TextEncoder().encode(TEXT))
    expect(noType.headers.has('content-type')).toBe(false)
    await expectUntouched(request(), noType)
    await expectUntouched(request(), new Response(TEXT, { headers: { 'content-type': '' } }))
    await expectUntouched(request(), new Response(TEXT, { headers: { 'content-type': 'html' } }))
  })

  it.each([
    'text/html; charset=utf-8',
    'TEXT/PLAIN',
    'text/css',
    'application/json',
    'application/javascript',
    'application/problem+json',
    'application/wasm',
    'image/svg+xml',
    'image/x-icon',
  ])('compresses Content-Type %s', (contentType) => {
    const compressed = compressResponse(
      request(),
      new Response(TEXT, { headers: { 'content-type': contentType } }),
    )
    expect(compressed.headers.get('content-encoding')).toBe('gzip')
  })

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects minLength %d', (minLength) => {
    expect(() => compressResponse(request(), textResponse(), { minLength })).toThrow(RangeError)
  })
})

describe('acceptsGzip (RFC 9110 §12.5.3)', () => {
  it.each([
    ['gzip', true],
    ['GZIP', true],
    ['x-gzip', true],
    ['gzip, deflate, br, zstd', true],
    ['br;q=1.0, gzip;q=0.8, *;q=0.1', true],
    ['gzip;q=0.001', true],
    ['gzip ; q=0.5', true],
    ['gzip;Q=0.5', true],
    ['gzip;q=1.000', true],
    ['*', true],
    ['*;q=0.3', true],
    [', ,gzip,', true],
    ['gzip, identity;q=0', true],
    ['gzip;q=0.5, identity;q=0.5', true],
    ['gzip;q=0.5', true],
    ['gzip;q=0', false],
    ['gzip;q=0.000', false],
    ['GZIP;Q=0', false],
    ['*;q=0', false],
    ['*, gzip;q=0', false],
    ['gzip;q=0, *', false],
    ['x-gzip;q=0', false],
    ['identity', false],
    ['identity;q=1, *;q=0', false],
    ['br, deflate, zstd', false],
    ['gzips', false],
    ['', false],
    ['   ', false],
    ['gzip;q=0.5, identity', false],
    ['gzip;q=0.5, *', false],
    ['gzip;q=1.001', false],
    ['gzip;q=2', false],
    ['gzip;q=abc', false],
    ['gzip;q=.5', false],
    ['gzip;q=0.1234', false],
    ['gzip;q=-1', false],
    ['"gzip"', false],
  ])('%j → %s', (value, expected) => {
    expect(acceptsGzip(value)).toBe(expected)
  })

  it('no field accepts no coding', () => {
    expect(acceptsGzip(null)).toBe(false)
  })

  it('drives compressResponse', () => {
    for (const [value, coded] of [
      ['gzip;q=0.8', true],
      ['*', true],
      ['gzip;q=0', false],
      ['identity', false],
    ] as const) {
      const sent = compressResponse(request(value), textResponse())
      expect(sent.headers.get('content-encoding')).toBe(coded ? 'gzip' : null)
    }
  })
})
