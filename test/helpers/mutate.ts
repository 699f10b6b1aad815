/**
 * The seeded case generator of the differential test (test/unit/http1/differential.test.ts):
 * valid HTTP/1.1 requests (RFC 9112) built from a small PRNG, then bent by one to three mutations
 * of the kinds request smuggling is made of: byte flips, duplicated, oversized and odd fields,
 * bare CR and bare LF, obs-fold (RFC 9112 §5.2), chunk sizes and extensions (§7.1),
 * Content-Length and Transfer-Encoding combinations (§6), pipelined sequences, HTTP/1.0 and odd
 * versions (§2.3), odd methods (RFC 9110 §9.1) and targets (RFC 9112 §3.2).
 *
 * Every case is a function of `(seed, index)` alone, so that any case a run prints can be made
 * again on its own with {@link generateCase}.
 */

/**
 * mulberry32: a 32-bit PRNG, small and good enough to spread test cases; not for cryptography.
 *
 * @example
 * ```ts
 * const next = mulberry32(42)
 * next() // a float in [0, 1)
 * ```
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A seeded source of the choices a case is made of. */
export class Rng {
  readonly #next: () => number

  constructor(seed: number) {
    this.#next = mulberry32(seed)
  }

  /** A float in [0, 1). */
  float(): number {
    return this.#next()
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.#next() * n)
  }

  /** An integer in [min, max]. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1)
  }

  /** Whether an event of probability `p` happens. */
  chance(p: number): boolean {
    return this.#next() < p
  }

  /** One element of `items` (never empty). */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }
}

/** The seed of case `index` of a run seeded with `seed` (a 32-bit mix of both). */
export function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

// ---------------------------------------------------------------------------------------------
// Requests as parts, so that a mutation can change one part and the bytes stay consistent
// ---------------------------------------------------------------------------------------------

/** One field line: `name colon value eol` (RFC 9112 §5: `field-name ":" OWS field-value OWS`). */
interface Field {
  name: string
  /** The colon and the OWS after it, as sent (`': '` when well-formed). */
  colon: string
  value: string
  eol: string
}

/** One chunk (RFC 9112 §7.1): `size ext CRLF data CRLF`. */
interface Chunk {
  size: string
  ext: string
  data: string
  /** The line end after the size line, and after the data. */
  eol: string
  after: string
}

/** A request in parts: the request line, the fields, and the framed body. */
interface Request {
  method: string
  target: string
  version: string
  /** The separators of the request line (one SP each when well-formed) and its line end. */
  sp1: string
  sp2: string
  eol: string
  fields: Field[]
  /** The empty line that ends the head. */
  headEnd: string
  /** The body as sent after the head when it is not chunked (Content-Length or nothing). */
  body: string
  /** The chunks of a chunked body, the last chunk's size line and its trailers. */
  chunks: Chunk[] | undefined
  lastChunk: string
  trailers: Field[]
  /** Bytes sent before the request line (empty lines, RFC 9112 §2.2). */
  lead: string
}

const HOSTS = ['example.com', 'x', 'example.com:8080', '127.0.0.1', '[::1]:80']
const PATHS = ['/', '/a', '/a/b?c=d', '/index.html', '/api/v1/items?id=42&x=%20', '/~u/./../p']
const AGENTS = ['curl/8.5.0', 'Mozilla/5.0 (X11; Linux x86_64)', 'fuzz']

/** Latin1 text of `n` bytes: printable mostly, with CR, LF, NUL and request-like text at times. */
function bodyText(rng: Rng, n: number): string {
  if (n > 0 && rng.chance(0.15)) {
    const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'
    return (smuggled + 'z'.repeat(n)).slice(0, n)
  }
  let text = ''
  for (let i = 0; i < n; i++) {
    text += rng.chance(0.8)
      ? String.fromCharCode(rng.range(0x20, 0x7e))
      : String.fromCharCode(rng.pick([0x0d, 0x0a, 0x00, 0xff, rng.int(256)]))
  }
  return text
}

function field(name: string, value: string): Field {
  return { name, colon: ': ', value, eol: '\r\n' }
}

function request(method: string, target: string, fields: Field[]): Request {
  return {
    method,
    target,
    version: 'HTTP/1.1',
    sp1: ' ',
    sp2: ' ',
    eol: '\r\n',
    fields,
    headEnd: '\r\n',
    body: '',
    chunks: undefined,
    lastChunk: '0\r\n',
    trailers: [],
    lead: '',
  }
}

/** A chunked body for `data`, cut into 1 to 3 chunks. */
function chunksOf(rng: Rng, data: string): Chunk[] {
  const chunks: Chunk[] = []
  let at = 0
  const count = data.length === 0 ? 0 : rng.range(1, 3)
  for (let i = 0; i < count && at < data.length; i++) {
    const size = i === count - 1 ? data.length - at : rng.range(1, data.length - at)
    const piece = data.slice(at, at + size)
    at += size
    chunks.push({
      size: piece.length.toString(16),
      ext: '',
      data: piece,
      eol: '\r\n',
      after: '\r\n',
    })
  }
  return chunks
}

/** The base requests every case starts from: all of them valid. */
const BASES: ((rng: Rng) => Request)[] = [
  // A GET with the usual fields.
  (rng) =>
    request('GET', rng.pick(PATHS), [
      field('Host', rng.pick(HOSTS)),
      field('User-Agent', rng.pick(AGENTS)),
      field('Accept', '*/*'),
    ]),
  // A POST framed by Content-Length.
  (rng) => {
    const body = bodyText(rng, rng.range(0, 40))
    const req = request('POST', rng.pick(PATHS), [
      field('Host', rng.pick(HOSTS)),
      field('Content-Type', 'application/octet-stream'),
      field('Content-Length', String(body.length)),
    ])
    req.body = body
    return req
  },
  // A chunked POST, sometimes with extensions and trailers.
  (rng) => {
    const req = request(rng.pick(['POST', 'PUT', 'PATCH']), rng.pick(PATHS), [
      field('Host', rng.pick(HOSTS)),
      field('Transfer-Encoding', 'chunked'),
    ])
    req.chunks = chunksOf(rng, bodyText(rng, rng.range(0, 40)))
    const first = req.chunks[0]
    if (rng.chance(0.3) && first) first.ext = ';name=value'
    if (rng.chance(0.3)) req.trailers.push(field('X-Checksum', 'abc'))
    return req
  },
  // HTTP/1.0, with or without keep-alive.
  (rng) => {
    const req = request('GET', rng.pick(PATHS), [field('User-Agent', rng.pick(AGENTS))])
    req.version = 'HTTP/1.0'
    if (rng.chance(0.5)) req.fields.push(field('Connection', 'keep-alive'))
    if (rng.chance(0.3)) req.fields.unshift(field('Host', rng.pick(HOSTS)))
    return req
  },
  // Other methods and target forms.
  (rng) =>
    rng.pick([
      request('OPTIONS', '*', [field('Host', 'x')]),
      request('HEAD', 'http://example.com/a?b', [field('Host', 'example.com')]),
      request('DELETE', '/items/7', [field('Host', 'x'), field('Connection', 'close')]),
      request('GET', '/chat', [
        field('Host', 'x'),
        field('Connection', 'Upgrade'),
        field('Upgrade', 'websocket'),
      ]),
    ]),
]

/** The bytes of `req`, latin1 (one char per byte). */
function serialize(req: Request): string {
  let text = `${req.lead}${req.method}${req.sp1}${req.target}${req.sp2}${req.version}${req.eol}`
  for (const f of req.fields) text += `${f.name}${f.colon}${f.value}${f.eol}`
  text += req.headEnd
  if (req.chunks === undefined) return text + req.body
  for (const c of req.chunks) text += `${c.size}${c.ext}${c.eol}${c.data}${c.after}`
  text += req.lastChunk
  for (const f of req.trailers) text += `${f.name}${f.colon}${f.value}${f.eol}`
  return text + '\r\n'
}

// ---------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------

/** Bytes that matter to the grammar, for flips and insertions. */
const INTERESTING = [
  '\r',
  '\n',
  ' ',
  '\t',
  ':',
  ';',
  '=',
  ',',
  '"',
  '\\',
  '\x00',
  '\x01',
  '\x0b',
  '\x7f',
  '\x80',
  '\xff',
  '0',
  'a',
  'F',
  '/',
]

const ODD_METHODS = [
  'TRACK',
  'PURGE',
  'M-SEARCH',
  'get',
  'Get',
  'PROPFIND',
  'QUERY',
  'SEARCH',
  'LINK',
  'PRI',
  'SOURCE',
  'DESCRIBE',
  'SETUP',
  'X',
  'FOO-BAR',
  "!#$%&'*+-.^_`|~",
  'GE(T',
  'G\xc9T',
  'GET\x00',
  '',
  'CONNECT',
  'OPTIONS',
  'HEAD',
  'DELETE',
  'PATCH',
  'ACL',
  'REPORT',
]

const ODD_TARGETS = [
  '*',
  'http://example.com/a',
  'HTTP://EXAMPLE.COM:80',
  'example.com:443',
  '/a?b=c#frag',
  '/%00',
  '/a b',
  '/\xe9',
  '/\x01',
  '/a<b>{}|\\^`"',
  '//',
  '/a?',
  '?',
  '',
  "/~!$&'()*+,;=:@",
  '/\x7f',
  '/' + 'p'.repeat(300),
]

const ODD_VERSIONS = [
  'HTTP/1.0',
  'HTTP/1.1',
  'HTTP/1.2',
  'HTTP/1.9',
  'HTTP/2.0',
  'HTTP/3.0',
  'HTTP/0.9',
  'HTTP/1',
  'http/1.1',
  'HTTP/1.1 ',
  'HTTP/11',
  'HTTP/1.01',
  'HTTP/9.9',
  '',
  'HTTP/1.1\t',
  'HTTP/ 1.1',
]

const CONNECTIONS = [
  'close',
  'keep-alive',
  'Keep-Alive',
  'Upgrade',
  'close, upgrade',
  'keep-alive, close',
  'CLOSE',
  'foo, keep-alive',
  'keep-alive close',
  'closed',
  ' , close ,',
]

const TRANSFER_ENCODINGS = [
  'chunked',
  'Chunked',
  'CHUNKED',
  'chunked ',
  'gzip, chunked',
  'gzip,chunked',
  'chunked, gzip',
  'chunked, chunked',
  'identity',
  'gzip',
  'chunked;q=1',
  'xchunked',
  'chunkedx',
  '',
  ',chunked',
  'chunked,',
  'deflate , chunked',
  '"chunked"',
  'chunked\t',
]

/** Field lines with an odd but sometimes valid name, separator or value. */
function oddField(rng: Rng): Field {
  const pair = rng.pick<[string, string, string?]>([
    ['X-Empty', ''],
    ['X-Spaces', '   '],
    ['X-Tab', '\ta\tb\t'],
    ['X-Obs-Text', '\x80\xa0\xff'],
    ["!#$%&'*+-.^_`|~09azAZ", 'v'],
    ['X-Quoted', '"a, b"'],
    ['X-List', 'a, b,, c'],
    ['X(A)', 'v'],
    ['X A', 'v'],
    ['X\xe9', 'v'],
    ['', 'v'],
    ['X-Nul', 'a\x00b'],
    ['X-Ctl', 'a\x01b'],
    ['X-Del', 'a\x7fb'],
    ['X-Vt', '\x0bv'],
    ['X-Ff', 'v\x0c'],
    ['X-A', 'v', ' : '],
    ['X-A', 'v', '\t:'],
    ['X-A', 'v', ':'],
    ['X-A', 'v \t', ':\t\t'],
    ['Connection', rng.pick(CONNECTIONS)],
    ['Upgrade', 'websocket'],
    ['Expect', '100-continue'],
    ['Host', rng.pick(['', 'a b', 'x', 'example.com'])],
    ['Content-Length', '0'],
    ['Transfer-Encoding', rng.pick(TRANSFER_ENCODINGS)],
    ['Trailer', 'X-Checksum'],
  ])
  return { name: pair[0], colon: pair[2] ?? ': ', value: pair[1], eol: '\r\n' }
}

/** The Content-Length values tried for a body of `n` bytes. */
function contentLengths(n: number): string[] {
  return [
    String(n),
    String(n),
    '0',
    String(n + 1),
    String(Math.max(0, n - 1)),
    `00${n}`,
    `+${n}`,
    '-1',
    `${n}, ${n}`,
    `${n},${n + 1}`,
    `0x${n.toString(16)}`,
    '99999999999999999999',
    '18446744073709551615',
    '9007199254740992',
    '1 2',
    '',
    `${n}\t`,
    `${n}a`,
  ]
}

const CHUNK_EXTENSIONS = [
  ';a',
  ';a=b',
  ';a="b c"',
  ';a="\\""',
  ';a=b;c=d',
  ' ;a',
  '; a',
  ';a = b',
  '\t;a=b',
  ';',
  ';=b',
  ';a=',
  ';a="',
  ';a=b c',
  ';a=\x01',
  ';a="\x7f"',
  ';a=b ',
  ' ',
  ';' + 'x'.repeat(5000),
]

/** A mutation of one request `at` of the sequence `reqs` (which it may also extend). */
type Mutation = (rng: Rng, reqs: Request[], at: Request) => void
/** A mutation of the bytes once the requests are serialised. */
type ByteMutation = (rng: Rng, text: string) => string

/** The index of the first field of `req` named `lower` (case-insensitively), or -1. */
function indexOfField(req: Request, lower: string): number {
  return req.fields.findIndex((f) => f.name.toLowerCase() === lower)
}

function setField(req: Request, name: string, value: string): void {
  const index = indexOfField(req, name.toLowerCase())
  if (index === -1) req.fields.push(field(name, value))
  else req.fields[index]!.value = value
}

/** The body of `req`, as data (chunked or not). */
function dataOf(req: Request): string {
  return req.chunks ? req.chunks.map((c) => c.data).join('') : req.body
}

/** Frame `req` as chunked: its data re-cut into chunks, Content-Length removed. */
function toChunked(rng: Rng, req: Request): void {
  if (req.chunks) return
  req.chunks = chunksOf(rng, req.body || bodyText(rng, rng.range(1, 20)))
  req.body = ''
  if (rng.chance(0.8))
    req.fields = req.fields.filter((f) => f.name.toLowerCase() !== 'content-length')
}

/** Frame `req` by Content-Length, its chunks (if any) joined. */
function toLength(rng: Rng, req: Request, value?: string): void {
  const data = dataOf(req) || bodyText(rng, rng.range(0, 20))
  req.chunks = undefined
  req.trailers = []
  req.body = data
  if (rng.chance(0.8)) {
    req.fields = req.fields.filter((f) => f.name.toLowerCase() !== 'transfer-encoding')
  }
  setField(req, 'Content-Length', value ?? String(data.length))
}

const MUTATIONS: Record<string, Mutation> = {
  'dup-field': (rng, _reqs, req) => {
    if (req.fields.length === 0) return
    const original = rng.pick(req.fields)
    const copy = { ...original }
    if (rng.chance(0.3)) copy.name = copy.name.toLowerCase()
    if (rng.chance(0.3)) copy.value = rng.pick(['', 'other', `${copy.value}, ${copy.value}`])
    req.fields.splice(
      rng.chance(0.5) ? req.fields.indexOf(original) + 1 : req.fields.length,
      0,
      copy,
    )
  },
  'odd-field': (rng, _reqs, req) => {
    req.fields.splice(rng.int(req.fields.length + 1), 0, oddField(rng))
  },
  'oversized-field': (rng, _reqs, req) => {
    const size = rng.pick([1000, 4000, rng.range(8000, 8300), 9000, 12000])
    const value = rng.chance(0.8) ? 'v'.repeat(size) : 'v'.repeat(size - 1) + '\x01'
    if (rng.chance(0.2)) req.fields.push(field('X-' + 'n'.repeat(size), 'v'))
    else req.fields.splice(rng.int(req.fields.length + 1), 0, field('X-Big', value))
  },
  'many-fields': (rng, _reqs, req) => {
    const count = rng.range(20, 70)
    for (let i = 0; i < count; i++) req.fields.push(field(`X-F${i}`, String(i)))
  },
  'obs-fold': (rng, _reqs, req) => {
    const fold = `\r\n${rng.pick([' ', '\t', '  '])}continued`
    if (req.fields.length === 0 || rng.chance(0.15)) {
      req.fields.unshift({ name: ' X-Folded', colon: ': ', value: 'v', eol: '\r\n' })
    } else rng.pick(req.fields).value += fold
  },
  method: (rng, _reqs, req) => {
    req.method = rng.pick(ODD_METHODS)
  },
  target: (rng, _reqs, req) => {
    req.target = rng.pick(ODD_TARGETS)
  },
  version: (rng, _reqs, req) => {
    req.version = rng.pick(ODD_VERSIONS)
  },
  'request-line': (rng, _reqs, req) => {
    const odd = rng.pick(['  ', '\t', '', ' \t'])
    if (rng.chance(0.5)) req.sp1 = odd
    else req.sp2 = odd
  },
  'content-length': (rng, _reqs, req) => {
    const values = contentLengths(dataOf(req).length)
    if (rng.chance(0.15)) {
      req.fields = req.fields.filter((f) => f.name.toLowerCase() !== 'content-length')
    } else toLength(rng, req, rng.pick(values))
  },
  'transfer-encoding': (rng, _reqs, req) => {
    const value = rng.pick(TRANSFER_ENCODINGS)
    if (rng.chance(0.7)) toChunked(rng, req)
    if (rng.chance(0.8)) setField(req, 'Transfer-Encoding', value)
    else req.fields.push(field('Transfer-Encoding', value))
  },
  'cl-and-te': (rng, _reqs, req) => {
    const length = field('Content-Length', rng.pick(contentLengths(dataOf(req).length)))
    const coding = field('Transfer-Encoding', rng.pick(['chunked', 'chunked', 'gzip, chunked']))
    if (rng.chance(0.5)) toChunked(rng, req)
    req.fields = req.fields.filter(
      (f) => !['content-length', 'transfer-encoding'].includes(f.name.toLowerCase()),
    )
    req.fields.push(...(rng.chance(0.5) ? [length, coding] : [coding, length]))
  },
  chunks: (rng, _reqs, req) => {
    if (!req.chunks) {
      toChunked(rng, req)
      setField(req, 'Transfer-Encoding', 'chunked')
    }
    const chunks = req.chunks!
    const chunk = chunks.length > 0 ? rng.pick(chunks) : undefined
    const kind = rng.int(9)
    if (kind === 0 && chunk) chunk.size = chunk.size.toUpperCase().padStart(rng.range(1, 6), '0')
    else if (kind === 1 && chunk) {
      chunk.size = rng.pick([
        (chunk.data.length + 1).toString(16),
        Math.max(0, chunk.data.length - 1).toString(16),
        'ffffffffffffffffff',
        '1fffffffffffff',
        `0x${chunk.size}`,
        ` ${chunk.size}`,
        `${chunk.size} `,
        `-${chunk.size}`,
        `+${chunk.size}`,
        '',
        'g',
      ])
    } else if (kind === 2) {
      const ext = rng.pick(CHUNK_EXTENSIONS)
      if (chunk && rng.chance(0.7)) chunk.ext = ext
      else req.lastChunk = `0${ext}\r\n`
    } else if (kind === 3 && chunk) chunk.after = rng.pick(['', '\n', '\r', 'X\r\n', '\r\n\r\n'])
    else if (kind === 4 && chunk) chunk.eol = rng.pick(['\n', '\r', '\r\r\n'])
    else if (kind === 5) {
      req.trailers.push(
        rng.pick([
          field('X-T', 'v'),
          { name: 'X-T', colon: ':', value: 'v', eol: '\r\n' },
          { name: 'X-T', colon: ': ', value: 'v\r\n folded', eol: '\r\n' },
          { name: 'X T', colon: ': ', value: 'v', eol: '\r\n' },
          { name: 'X-T', colon: ': ', value: 'v', eol: '\n' },
          field('X-T', 'a\x01b'),
          field('Content-Length', '5'),
        ]),
      )
    } else if (kind === 6) req.lastChunk = rng.pick(['000\r\n', '0\n', '0 \r\n', '0\r\r\n'])
    else if (kind === 7) chunks.push({ ...chunks[0]!, size: '0', data: '' })
    else {
      const data = bodyText(rng, rng.range(1, 30))
      chunks.push({ size: data.length.toString(16), ext: '', data, eol: '\r\n', after: '\r\n' })
    }
  },
  host: (rng, _reqs, req) => {
    const host = indexOfField(req, 'host')
    if (host !== -1 && rng.chance(0.5)) req.fields.splice(host, 1)
    else req.fields.push(field(rng.pick(['Host', 'host', 'HOST']), rng.pick(HOSTS)))
  },
  http10: (rng, _reqs, req) => {
    req.version = 'HTTP/1.0'
    if (rng.chance(0.5)) req.fields.push(field('Connection', rng.pick(CONNECTIONS)))
  },
  connection: (rng, _reqs, req) => {
    req.fields.push(field('Connection', rng.pick(CONNECTIONS)))
    if (rng.chance(0.3)) req.fields.push(field('Upgrade', 'websocket'))
  },
  'leading-lines': (rng, _reqs, req) => {
    req.lead = rng.pick(['\r\n', '\n', '\r', '\r\n\r\n', ' ', '\x00'])
  },
  'head-end': (rng, _reqs, req) => {
    req.headEnd = rng.pick(['\n', '\r', '\r\r\n', ' \r\n', '\r\n\r\n'])
    if (rng.chance(0.5)) req.eol = rng.pick(['\n', '\r', ' \r\n'])
  },
  pipeline: (rng, reqs) => {
    // A sequence of at most 3 requests.
    const more = reqs.length >= 3 ? 0 : rng.range(1, 3 - reqs.length)
    for (let i = 0; i < more; i++) reqs.push(rng.pick(BASES)(rng))
  },
}

const BYTE_MUTATIONS: Record<string, ByteMutation> = {
  flip: (rng, text) => {
    if (text.length === 0) return text
    const at = rng.int(text.length)
    const byte = rng.chance(0.6)
      ? rng.pick(INTERESTING)
      : rng.chance(0.5)
        ? String.fromCharCode(text.charCodeAt(at) ^ (1 << rng.int(8)))
        : String.fromCharCode(rng.int(256))
    return text.slice(0, at) + byte + text.slice(at + 1)
  },
  insert: (rng, text) => {
    const at = rng.int(text.length + 1)
    return text.slice(0, at) + rng.pick(INTERESTING) + text.slice(at)
  },
  delete: (rng, text) => {
    const at = rng.int(text.length)
    return text.slice(0, at) + text.slice(at + 1)
  },
  'bare-cr': (rng, text) => lineEnd(rng, text, rng.pick(['\r', '\r\r\n', '\r \r\n'])),
  'bare-lf': (rng, text) => lineEnd(rng, text, rng.pick(['\n', '\n\r\n', '\r\n\n'])),
  truncate: (rng, text) => text.slice(0, rng.int(text.length)),
}

/** `text` with one of its CRLFs (chosen at random) replaced by `by`. */
function lineEnd(rng: Rng, text: string, by: string): string {
  const ends: number[] = []
  for (let at = text.indexOf('\r\n'); at !== -1; at = text.indexOf('\r\n', at + 2)) ends.push(at)
  if (ends.length === 0) return text
  const at = rng.pick(ends)
  return text.slice(0, at) + by + text.slice(at + 2)
}

/** The mutation names, with a weight each (how often they are drawn). */
const WEIGHTS: [string, number][] = [
  ['dup-field', 6],
  ['odd-field', 10],
  ['oversized-field', 2],
  ['many-fields', 1],
  ['obs-fold', 4],
  ['method', 5],
  ['target', 4],
  ['version', 4],
  ['request-line', 2],
  ['content-length', 7],
  ['transfer-encoding', 7],
  ['cl-and-te', 4],
  ['chunks', 10],
  ['host', 3],
  ['http10', 3],
  ['connection', 3],
  ['leading-lines', 2],
  ['head-end', 2],
  ['pipeline', 8],
  ['flip', 8],
  ['insert', 4],
  ['delete', 3],
  ['bare-cr', 3],
  ['bare-lf', 3],
  ['truncate', 1],
]
const TOTAL_WEIGHT = WEIGHTS.reduce((sum, [, weight]) => sum + weight, 0)

function drawMutation(rng: Rng): string {
  let n = rng.int(TOTAL_WEIGHT)
  for (const [name, weight] of WEIGHTS) {
    n -= weight
    if (n < 0) return name
  }
  return WEIGHTS[0]![0]
}

/** One generated case: its bytes, how it was made, and where the split feed cuts it. */
export interface GeneratedCase {
  seed: number
  index: number
  /** The mutations applied, in order (empty for a base request left valid). */
  mutations: string[]
  bytes: Uint8Array
  /** The offset at which the second feed of the case splits it, in [0, bytes.length]. */
  split: number
}

/**
 * Case `index` of the run seeded with `seed`: 1 to 3 base requests (a pipelined sequence at
 * times), then 1 to 3 mutations (none in about one case of ten).
 *
 * @example
 * ```ts
 * const { bytes, split } = generateCase(0x5eed, 17)
 * ```
 */
export function generateCase(seed: number, index: number): GeneratedCase {
  const rng = new Rng(caseSeed(seed, index))
  const reqs = [rng.pick(BASES)(rng)]
  if (rng.chance(0.15)) reqs.push(rng.pick(BASES)(rng))
  const count = rng.chance(0.1) ? 0 : rng.range(1, 3)
  const names: string[] = []
  for (let i = 0; i < count; i++) names.push(drawMutation(rng))
  // The mutations of the parts first, then those of the bytes.
  const structural = names.filter((name) => name in MUTATIONS)
  const bytewise = names.filter((name) => name in BYTE_MUTATIONS)
  for (const name of structural) MUTATIONS[name]!(rng, reqs, rng.pick(reqs))
  let text = reqs.map(serialize).join('')
  for (const name of bytewise) text = BYTE_MUTATIONS[name]!(rng, text)
  const bytes = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i)
  return {
    seed,
    index,
    mutations: [...structural, ...bytewise],
    bytes,
    split: rng.int(bytes.length + 1),
  }
}
