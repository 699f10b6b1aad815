/**
 * The strict-input corpus: hand-written requests over raw sockets against the real entry points
 * of Node, Deno and Bun, each followed by a pipelined canary. Every attack must be refused (or
 * normalised where the runtime's parser makes it harmless), nothing smuggled may reach the
 * recording backend, a refused request must not reach it at all, and the process must survive.
 *
 * Every runtime serves HTTP/1.1 through fulcrum's own engine and its one strict parser
 * (src/http1/parser.ts), over plain TCP and over TLS alike, so every case has one expected
 * answer on all three runtimes and both schemes, and the last tests compare the verdict tables
 * case by case: the three runtimes per scheme, and HTTP with HTTPS per runtime.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackend, type TestBackend } from '../helpers/backends.ts'
import { send } from '../helpers/client.ts'
import { RUNTIMES, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'
import { exchange, rawConnect, whenConnected } from '../helpers/raw-http.ts'
import {
  RUNTIME_SCHEMES,
  SCHEMES,
  makeTlsMaterial,
  schemeArgs,
  type TlsMaterial,
} from '../helpers/tls-material.ts'

let material: TlsMaterial
beforeAll(async () => {
  material = await makeTlsMaterial()
})
afterAll(() => material?.remove())

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'
const CANARY = 'GET /canary HTTP/1.1\r\nHost: x\r\n\r\n'

interface Case {
  name: string
  /** The attack; `PATH` is replaced with a path unique to the case. */
  request: string
  /** The acceptable first answers, the same on every runtime. */
  expect: number[]
}

const post = (headers: string, body = '') =>
  `POST PATH HTTP/1.1\r\nHost: x\r\n${headers}\r\n${body}`
const get = (headers: string, target = 'PATH') => `GET ${target} HTTP/1.1\r\n${headers}\r\n`

const CASES: Case[] = [
  // Framing: Content-Length and Transfer-Encoding (RFC 9112 §6).
  {
    name: 'Content-Length and Transfer-Encoding',
    request: post('Content-Length: 4\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n' + SMUGGLED),
    expect: [400],
  },
  {
    name: 'Transfer-Encoding then Content-Length',
    request: post('Transfer-Encoding: chunked\r\nContent-Length: 40\r\n', '0\r\n\r\n' + SMUGGLED),
    expect: [400],
  },
  {
    name: 'duplicate Content-Length, same value',
    request: post('Content-Length: 3\r\nContent-Length: 3\r\n', 'abc'),
    expect: [400],
  },
  {
    name: 'duplicate Content-Length, different values',
    request: post('Content-Length: 3\r\nContent-Length: 37\r\n', 'abc' + SMUGGLED),
    expect: [400],
  },
  { name: 'Content-Length list', request: post('Content-Length: 3, 3\r\n', 'abc'), expect: [400] },
  {
    name: 'Content-Length with a sign',
    request: post('Content-Length: +3\r\n', 'abc'),
    expect: [400],
  },
  { name: 'Content-Length in hex', request: post('Content-Length: 0x3\r\n', 'abc'), expect: [400] },
  {
    name: 'negative Content-Length',
    request: post('Content-Length: -1\r\n', 'abc'),
    expect: [400],
  },
  {
    name: 'Content-Length with inner space',
    request: post('Content-Length: 1 0\r\n', 'abc'),
    expect: [400],
  },
  {
    name: 'Transfer-Encoding gzip only',
    request: post('Transfer-Encoding: gzip\r\n', 'abc' + SMUGGLED),
    expect: [400],
  },
  {
    name: 'Transfer-Encoding chunked, gzip',
    request: post('Transfer-Encoding: chunked, gzip\r\n', '0\r\n\r\n' + SMUGGLED),
    expect: [400],
  },
  {
    name: 'Transfer-Encoding gzip, chunked',
    request: post('Transfer-Encoding: gzip, chunked\r\n', '0\r\n\r\n'),
    expect: [501],
  },
  {
    name: 'Transfer-Encoding xchunked',
    request: post('Transfer-Encoding: xchunked\r\n', '0\r\n\r\n' + SMUGGLED),
    expect: [400],
  },
  {
    name: 'Transfer-Encoding twice',
    request: post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'),
    expect: [400],
  },
  {
    name: 'Transfer-Encoding with a space before the colon',
    request: post('Transfer-Encoding : chunked\r\n', '0\r\n\r\n' + SMUGGLED),
    expect: [400],
  },
  {
    name: 'Transfer-Encoding after a vertical tab',
    request: post('Transfer-Encoding:\x0bchunked\r\n', '0\r\n\r\n' + SMUGGLED),
    expect: [400],
  },
  {
    name: 'Transfer-Encoding identity',
    request: post('Transfer-Encoding: identity\r\n', 'abc'),
    expect: [400],
  },
  {
    name: 'chunk size ended by a bare LF',
    request: post('Transfer-Encoding: chunked\r\n', '3\nabc\r\n0\r\n\r\n' + SMUGGLED),
    expect: [400],
  },
  {
    name: 'chunk size that overflows',
    request: post('Transfer-Encoding: chunked\r\n', 'fffffffffffffffff1\r\nabc\r\n0\r\n\r\n'),
    expect: [400, 0],
  },
  {
    name: 'chunk extension (allowed, normalised away)',
    request: post('Transfer-Encoding: chunked\r\n', '3;x=y\r\nabc\r\n0\r\n\r\n'),
    expect: [200],
  },
  {
    name: 'Transfer-Encoding: Chunked (case-insensitive, allowed)',
    request: post('Transfer-Encoding: Chunked\r\n', '0\r\n\r\n'),
    expect: [200],
  },
  // Header syntax (RFC 9110 §5.5, RFC 9112 §5).
  { name: 'obs-fold', request: get('Host: x\r\nX-A: a\r\n b\r\n'), expect: [400] },
  {
    name: 'obs-fold continuing Transfer-Encoding',
    request: post('Transfer-Encoding: gzip\r\n chunked\r\n', '0\r\n\r\n' + SMUGGLED),
    expect: [400],
  },
  { name: 'NUL in a value', request: get('Host: x\r\nX-A: a\x00b\r\n'), expect: [400] },
  {
    name: 'control character in a value',
    request: get('Host: x\r\nX-A: a\x01b\r\n'),
    expect: [400],
  },
  { name: 'DEL in a value', request: get('Host: x\r\nX-A: a\x7fb\r\n'), expect: [400] },
  { name: 'bare CR in a value', request: get('Host: x\r\nX-A: a\rb\r\n'), expect: [400] },
  {
    name: 'bare LF line endings',
    request: 'GET PATH HTTP/1.1\nHost: x\nX-A: a\n\n',
    expect: [400],
  },
  { name: 'parenthesis in a name', request: get('Host: x\r\nX(A): a\r\n'), expect: [400] },
  { name: 'quote in a name', request: get('Host: x\r\nX"A: a\r\n'), expect: [400] },
  { name: 'space in a name', request: get('Host: x\r\nX A: a\r\n'), expect: [400] },
  { name: 'space before the colon', request: get('Host: x\r\nX-A : a\r\n'), expect: [400] },
  // The target and Host (RFC 9112 §3.2).
  {
    name: 'absolute-form naming another host',
    request: 'GET http://evil.example/PATH HTTP/1.1\r\nHost: x\r\n\r\n',
    expect: [400],
  },
  {
    name: 'absolute-form naming another port',
    request: 'GET http://x:99/PATH HTTP/1.1\r\nHost: x\r\n\r\n',
    expect: [400],
  },
  {
    name: 'absolute-form naming its own host',
    request: 'GET http://x/PATH HTTP/1.1\r\nHost: x\r\n\r\n',
    expect: [200],
  },
  { name: 'no Host', request: get(''), expect: [400] },
  { name: 'empty Host', request: get('Host: \r\n'), expect: [400] },
  { name: 'two Host fields', request: get('Host: x\r\nHost: y\r\n'), expect: [400] },
  { name: 'Host with a path', request: get('Host: x/y@z\r\n'), expect: [400] },
  { name: 'Host with a space', request: get('Host: x y\r\n'), expect: [400] },
  { name: 'Host with userinfo', request: get('Host: user@x\r\n'), expect: [400] },
  {
    name: 'HTTP/1.0 without Host',
    request: 'GET PATH HTTP/1.0\r\n\r\n',
    expect: [400],
  },
  { name: 'fragment in the target', request: get('Host: x\r\n', 'PATH#frag'), expect: [400] },
  {
    name: 'HTTP/0.9 request line',
    request: 'GET PATH\r\n\r\n',
    expect: [400],
  },
  {
    name: 'HTTP/1.2',
    request: 'GET PATH HTTP/1.2\r\nHost: x\r\n\r\n',
    expect: [400],
  },
  // Methods.
  { name: 'TRACE', request: 'TRACE PATH HTTP/1.1\r\nHost: x\r\n\r\n', expect: [405] },
  {
    name: 'TRACK',
    request: 'TRACK PATH HTTP/1.1\r\nHost: x\r\n\r\n',
    // An extension method is a token (RFC 9110 §9.1): parsed, then refused by the edge.
    expect: [405],
  },
  { name: 'CONNECT', request: 'CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n', expect: [501] },
  // Limits.
  {
    name: 'a 20 KiB header field',
    request: get(`Host: x\r\nX-A: ${'a'.repeat(20_000)}\r\n`),
    expect: [431],
  },
  {
    name: 'a 70 KiB header field',
    request: get(`Host: x\r\nX-A: ${'a'.repeat(70_000)}\r\n`),
    expect: [431],
  },
  {
    name: '200 header fields',
    request: get('Host: x\r\n' + Array.from({ length: 200 }, (_, i) => `X-${i}: a\r\n`).join('')),
    expect: [431],
  },
  {
    name: 'a 10 KiB target',
    request: get('Host: x\r\n', `PATH/${'a'.repeat(10_000)}`),
    expect: [414],
  },
  {
    name: 'a declared body over the limit',
    request: post('Content-Length: 209715200\r\n', 'abc' + SMUGGLED),
    expect: [413],
  },
  {
    name: 'an unknown expectation',
    request: post('Content-Length: 0\r\nExpect: teapot\r\n'),
    expect: [417],
  },
]

/** The verdicts of each runtime over each scheme, case by case: the first answer's status (0: none). */
const verdicts = new Map<string, number[]>()
const tableName = (runtime: string, scheme: string) => `${runtime} over ${scheme}`

describe.each(RUNTIME_SCHEMES)('strict input on %s over %s', (runtime, scheme) => {
  let backend: TestBackend
  let fulcrum: FulcrumProcess
  const tls = scheme === 'https'

  beforeAll(async () => {
    backend = await startBackend('a')
    fulcrum = await startFulcrum(runtime, [
      '--backend',
      backend.url,
      ...schemeArgs(scheme, material),
    ])
  })
  afterAll(async () => {
    await fulcrum?.stop()
    await backend?.close()
  })

  it('refuses or normalises every case, smuggles nothing, and survives', async () => {
    const failures: string[] = []
    const table: number[] = []
    verdicts.set(tableName(runtime, scheme), table)
    for (const [index, c] of CASES.entries()) {
      const path = `/attack-${index}`
      const before = backend.requests.length
      const result = await exchange(fulcrum.port, c.request.replaceAll('PATH', path) + CANARY, {
        timeoutMs: 2000,
        tls,
      })
      const first = result.responses[0]?.status ?? 0
      table.push(first)
      const allowed = c.expect
      const seen = backend.requests.slice(before).map((r) => r.url)
      const problems: string[] = []
      if (!allowed.includes(first)) problems.push(`answered ${first}, expected ${allowed}`)
      if (first === 0 && !result.closed) problems.push('no answer and the connection stayed open')
      const accepted = first === 200
      if (!accepted && seen.some((url) => url.startsWith(path))) {
        problems.push('a refused request reached the backend')
      }
      const second = result.responses[1]
      if (second && (second.status !== 200 || second.body !== 'a')) {
        problems.push(`the canary got ${second.status} ${JSON.stringify(second.body)}`)
      }
      if (result.responses.length > 2) problems.push(`${result.responses.length} answers`)
      if (problems.length > 0) failures.push(`${c.name}: ${problems.join('; ')}`)
    }
    expect(failures).toEqual([])
    // Nothing smuggled ever reached the backend.
    expect(backend.requests.filter((r) => r.url.includes('smuggled'))).toEqual([])
    // The process is alive and still serves.
    expect(fulcrum.child.exitCode).toBe(null)
    const response = await send(fulcrum.url, { path: '/after', ca: material.cert })
    expect(response.status).toBe(200)
    expect(response.body.toString()).toBe('a')
  })

  it('closes the connection after a framing error (RFC 9112 §6.3)', async () => {
    const result = await exchange(
      fulcrum.port,
      post('Content-Length: 3\r\nContent-Length: 3\r\n', 'abc').replace('PATH', '/close') + CANARY,
      { timeoutMs: 2000, tls },
    )
    expect(result.responses[0]?.status).toBe(400)
    expect(result.responses[0]?.headers.connection).toBe('close')
    expect(result.closed).toBe(true)
    expect(result.responses).toHaveLength(1)
  })

  it('answers Expect: 100-continue, then forwards the body without the expectation', async () => {
    const socket = rawConnect(fulcrum.port, tls)
    let raw = ''
    socket.on('data', (chunk: Buffer) => (raw += chunk.toString('latin1')))
    await whenConnected(socket)
    socket.write(
      'POST /expect HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n',
    )
    const deadline = Date.now() + 5000
    while (!raw.includes('100 Continue') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(raw).toMatch(/^HTTP\/1\.1 100 Continue\r\n/)
    socket.write('hello')
    while (!/HTTP\/1\.1 200/.test(raw) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    socket.destroy()
    expect(raw).toMatch(/HTTP\/1\.1 200 OK/)
    const seen = backend.requests.find((r) => r.url === '/expect')
    expect(seen).toBeDefined()
    expect(seen!.headers.expect).toBe(undefined)
  })
})

/** The cases where the tables named differ, with each one's answer. */
function differences(names: readonly string[]): string[] {
  const tables = names.map((name) => verdicts.get(name))
  expect(tables.every((table) => table?.length === CASES.length)).toBe(true)
  return CASES.flatMap((c, index) => {
    const answers = names.map((name, at) => `${name} ${tables[at]![index]}`)
    return new Set(tables.map((table) => table![index])).size === 1
      ? []
      : [`${c.name}: ${answers.join(', ')}`]
  })
}

describe('strict input on every runtime and scheme', () => {
  it.each(SCHEMES)(
    'gives the same verdict, case by case, on Node, Deno and Bun over %s',
    (scheme) => {
      expect(differences(RUNTIMES.map((runtime) => tableName(runtime, scheme)))).toEqual([])
    },
  )

  it.each(RUNTIMES)(
    'gives the same verdict, case by case, over HTTP and HTTPS on %s',
    (runtime) => {
      expect(differences(SCHEMES.map((scheme) => tableName(runtime, scheme)))).toEqual([])
    },
  )
})
