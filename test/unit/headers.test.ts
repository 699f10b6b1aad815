import { describe, expect, it } from 'vitest'
import {
  acceptableRequestId,
  addForwardingHeaders,
  appendVia,
  forwardableCopy,
  forwardedFields,
  stripHopByHop,
  type ForwardingContext,
} from '../../src/headers.ts'
import { FieldList } from '../../src/http1/fields.ts'
import { createAddressMatcher, forwardedNode } from '../../src/net.ts'

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]

function context(overrides: Partial<ForwardingContext> = {}): ForwardingContext {
  return {
    clientIp: '192.0.2.7',
    proto: 'http',
    host: 'shop.example',
    trusted: false,
    via: 'fulcrum',
    requestId: 'req-1',
    ...overrides,
  }
}

describe('stripHopByHop (RFC 9110 §7.6.1)', () => {
  it('removes every hop-by-hop field and keeps the end-to-end ones', () => {
    const headers = new Headers({
      accept: 'text/html',
      'content-type': 'text/plain',
      cookie: 'a=1',
      authorization: 'Bearer x',
      'x-custom': 'y',
    })
    for (const name of HOP_BY_HOP) headers.set(name, name === 'connection' ? 'close' : 'v')
    stripHopByHop(headers)
    expect([...headers.keys()].sort()).toEqual([
      'accept',
      'authorization',
      'content-type',
      'cookie',
      'x-custom',
    ])
  })

  it('removes the fields named in Connection, case-insensitively, with odd spacing', () => {
    const headers = new Headers({
      connection: 'keep-alive, X-Secret ,,x-other,  Upgrade',
      'x-secret': '1',
      'x-other': '2',
      'x-kept': '3',
    })
    stripHopByHop(headers)
    expect([...headers.keys()]).toEqual(['x-kept'])
  })

  it('leaves headers alone when there is nothing to strip', () => {
    const headers = new Headers({ 'x-a': '1', 'x-b': '2' })
    stripHopByHop(headers)
    expect([...headers]).toEqual([
      ['x-a', '1'],
      ['x-b', '2'],
    ])
  })

  it('strips before fulcrum adds its own fields, so Connection cannot remove them', () => {
    const headers = new Headers({ connection: 'x-forwarded-for, via, x-request-id, forwarded' })
    stripHopByHop(headers)
    addForwardingHeaders(headers, context())
    expect(headers.get('x-forwarded-for')).toBe('192.0.2.7')
    expect(headers.get('via')).toBe('1.1 fulcrum')
    expect(headers.get('x-request-id')).toBe('req-1')
    expect(headers.get('forwarded')).toBe('for=192.0.2.7;proto=http;host=shop.example')
  })
})

describe('forwardableCopy', () => {
  const fields = [
    ['Connection', 'keep-alive, X-Secret'],
    ['Keep-Alive', 'timeout=5'],
    ['X-Secret', '1'],
    ['Accept', 'text/html'],
    ['TE', 'trailers'],
    ['Cookie', 'a=1'],
  ]

  it('copies an engine field list without its hop-by-hop fields, the list unchanged', () => {
    const list = FieldList.ofFields(fields.flat())
    const copy = forwardableCopy(list.asHeaders())
    expect([...copy]).toEqual([
      ['accept', 'text/html'],
      ['cookie', 'a=1'],
    ])
    copy.set('x-request-id', 'req-1')
    expect(list.size).toBe(fields.length)
    expect(list.has('x-request-id')).toBe(false)
  })

  it('gives a Headers the same answer as a field list', () => {
    const headers = new Headers(fields as [string, string][])
    const copy = forwardableCopy(headers)
    expect([...copy]).toEqual([...forwardableCopy(FieldList.ofFields(fields.flat()).asHeaders())])
    expect(headers.get('x-secret')).toBe('1')
  })
})

describe('forwardedFields', () => {
  const lists = [
    [
      ['Host', 'shop.example'],
      ['Accept', '*/*'],
    ],
    [
      ['Host', 'shop.example'],
      ['X-Forwarded-For', '6.6.6.6'],
      ['Via', '1.0 edge'],
      ['Connection', 'keep-alive, X-Forwarded-Host, X-Secret'],
      ['X-Request-Id', 'old'],
      ['Forwarded', 'for=6.6.6.6'],
      ['X-Secret', '1'],
      ['via', '1.1 other'],
      ['X-Forwarded-Proto', 'https'],
      ['x-request-id', 'older'],
      ['X-Forwarded-Host', 'evil.example'],
      ['Cookie', 'a=1'],
    ],
    [
      ['Connection', 'close, Host'],
      ['HOST', 'a.example'],
      ['TE', 'trailers'],
    ],
  ]
  /** What the steps one by one leave: the copy, the forwarding fields, and Host dropped. */
  const stepByStep = (fields: string[][], ctx: ForwardingContext, preserveHost: boolean) => {
    const headers = forwardableCopy(FieldList.ofFields(fields.flat()).asHeaders())
    addForwardingHeaders(headers, ctx)
    if (!preserveHost) headers.delete('host')
    return [...headers]
  }

  it('gives the fields the steps give one by one, in the same order, from any peer', () => {
    const contexts = [
      context(),
      context({ host: undefined, clientIp: undefined }),
      context({ proto: 'https', host: 'a b', clientIp: '2001:db8::1' }),
      context(),
      context({ trusted: true, clientIp: '10.0.0.3' }),
    ]
    for (const fields of lists) {
      for (const ctx of contexts) {
        for (const preserveHost of [false, true]) {
          const list = FieldList.ofFields(fields.flat())
          const got = [...forwardedFields(list.asHeaders(), ctx, preserveHost)]
          expect(got).toEqual(stepByStep(fields, ctx, preserveHost))
          const headers = new Headers(fields as [string, string][])
          const fromHeaders = forwardedFields(headers, ctx, preserveHost)
          expect([...fromHeaders].sort()).toEqual([...got].sort())
          // The client's own list is left as it was.
          expect(list.size).toBe(fields.length)
        }
      }
    }
  })

  it("drops what an untrusted peer sent and appends fulcrum's own after the rest", () => {
    const list = FieldList.ofFields(lists[1]!.flat())
    expect([...forwardedFields(list.asHeaders(), context({ requestId: 'r-1' }), false)]).toEqual([
      ['via', '1.0 edge, 1.1 other, 1.1 fulcrum'],
      ['x-request-id', 'r-1'],
      ['cookie', 'a=1'],
      ['x-forwarded-for', '192.0.2.7'],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-host', 'shop.example'],
      ['forwarded', 'for=192.0.2.7;proto=http;host=shop.example'],
    ])
  })
})

describe('addForwardingHeaders', () => {
  it('sets X-Forwarded-*, Forwarded, Via and X-Request-Id for a direct client', () => {
    const headers = new Headers()
    addForwardingHeaders(headers, context({ proto: 'https', host: 'shop.example:8443' }))
    expect(Object.fromEntries(headers)).toEqual({
      'x-forwarded-for': '192.0.2.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'shop.example:8443',
      // RFC 7239 §4: host:port is not a token, so it is quoted.
      forwarded: 'for=192.0.2.7;proto=https;host="shop.example:8443"',
      via: '1.1 fulcrum',
      'x-request-id': 'req-1',
    })
  })

  it('replaces the forwarding headers an untrusted client sent', () => {
    const headers = new Headers({
      'x-forwarded-for': '10.9.9.9',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.example',
      forwarded: 'for=10.9.9.9',
    })
    addForwardingHeaders(headers, context())
    expect(headers.get('x-forwarded-for')).toBe('192.0.2.7')
    expect(headers.get('x-forwarded-proto')).toBe('http')
    expect(headers.get('x-forwarded-host')).toBe('shop.example')
    expect(headers.get('forwarded')).toBe('for=192.0.2.7;proto=http;host=shop.example')
  })

  it('appends to the forwarding headers of a trusted proxy and keeps its proto and host', () => {
    const headers = new Headers({
      'x-forwarded-for': '203.0.113.1, 10.0.0.2',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'public.example',
      forwarded: 'for=203.0.113.1;proto=https',
      via: '1.1 edge',
    })
    addForwardingHeaders(headers, context({ clientIp: '10.0.0.3', trusted: true }))
    expect(headers.get('x-forwarded-for')).toBe('203.0.113.1, 10.0.0.2, 10.0.0.3')
    expect(headers.get('x-forwarded-proto')).toBe('https')
    expect(headers.get('x-forwarded-host')).toBe('public.example')
    expect(headers.get('forwarded')).toBe(
      'for=203.0.113.1;proto=https, for=10.0.0.3;proto=http;host=shop.example',
    )
    expect(headers.get('via')).toBe('1.1 edge, 1.1 fulcrum')
  })

  it('always appends to Via, whoever sent it (RFC 9110 §7.6.3)', () => {
    const headers = new Headers({ via: '1.0 somewhere' })
    addForwardingHeaders(headers, context({ via: 'lb-7' }))
    expect(headers.get('via')).toBe('1.0 somewhere, 1.1 lb-7')
  })

  it('quotes and brackets IPv6 addresses in Forwarded (RFC 7239 §6) but not in X-Forwarded-For', () => {
    const headers = new Headers()
    addForwardingHeaders(headers, context({ clientIp: '2001:db8::1' }))
    expect(headers.get('x-forwarded-for')).toBe('2001:db8::1')
    expect(headers.get('forwarded')).toBe('for="[2001:db8::1]";proto=http;host=shop.example')
    expect(forwardedNode('::1')).toBe('"[::1]"')
    expect(forwardedNode('127.0.0.1')).toBe('127.0.0.1')
  })

  it('says unknown when the peer address is not known (RFC 7239 §6.3)', () => {
    const headers = new Headers()
    addForwardingHeaders(headers, context({ clientIp: undefined, host: undefined }))
    expect(headers.get('x-forwarded-for')).toBe('unknown')
    expect(headers.get('forwarded')).toBe('for=unknown;proto=http')
    expect(headers.has('x-forwarded-host')).toBe(false)
  })

  it('escapes quotes and backslashes in a quoted host', () => {
    const headers = new Headers()
    addForwardingHeaders(headers, context({ host: 'a"b\\c' }))
    expect(headers.get('forwarded')).toBe('for=192.0.2.7;proto=http;host="a\\"b\\\\c"')
  })

  it('quotes each host as its own, one after another (RFC 7239 §4)', () => {
    const forwarded = (host: string) => {
      const headers = new Headers()
      addForwardingHeaders(headers, context({ host }))
      return headers.get('forwarded')
    }
    expect(forwarded('a:8080')).toBe('for=192.0.2.7;proto=http;host="a:8080"')
    expect(forwarded('a:8080')).toBe('for=192.0.2.7;proto=http;host="a:8080"')
    expect(forwarded('b')).toBe('for=192.0.2.7;proto=http;host=b')
    expect(forwarded('a:8080')).toBe('for=192.0.2.7;proto=http;host="a:8080"')
  })
})

describe('appendVia', () => {
  it('starts or extends the chain', () => {
    const headers = new Headers()
    appendVia(headers, 'fulcrum')
    appendVia(headers, 'fulcrum')
    expect(headers.get('via')).toBe('1.1 fulcrum, 1.1 fulcrum')
  })
})

describe('acceptableRequestId', () => {
  it('keeps a sane client id and refuses absent, empty, long or non-visible ones', () => {
    expect(acceptableRequestId('abc-123_XYZ')).toBe('abc-123_XYZ')
    expect(acceptableRequestId('x'.repeat(128))).toBe('x'.repeat(128))
    expect(acceptableRequestId(null)).toBeUndefined()
    expect(acceptableRequestId('')).toBeUndefined()
    expect(acceptableRequestId('x'.repeat(129))).toBeUndefined()
    expect(acceptableRequestId('has space')).toBeUndefined()
    expect(acceptableRequestId('tab\there')).toBeUndefined()
  })
})

describe('createAddressMatcher (trustedProxies)', () => {
  it('matches IPv4 and IPv6 addresses and CIDR ranges', () => {
    const trusted = createAddressMatcher(['10.0.0.0/8', '192.168.1.5', 'fd00::/8', '::1'])
    expect(trusted('10.1.2.3')).toBe(true)
    expect(trusted('11.0.0.1')).toBe(false)
    expect(trusted('192.168.1.5')).toBe(true)
    expect(trusted('192.168.1.6')).toBe(false)
    expect(trusted('fd12:3456::1')).toBe(true)
    expect(trusted('fe80::1')).toBe(false)
    expect(trusted('::1')).toBe(true)
  })

  it('matches IPv4-mapped IPv6 peers against IPv4 ranges', () => {
    expect(createAddressMatcher(['127.0.0.0/8'])('::ffff:127.0.0.1')).toBe(true)
  })

  it('trusts nobody by default, and nothing that is not an address', () => {
    expect(createAddressMatcher([])('127.0.0.1')).toBe(false)
    const trusted = createAddressMatcher(['0.0.0.0/0'])
    expect(trusted(undefined)).toBe(false)
    expect(trusted('not-an-ip')).toBe(false)
  })

  it('names an entry that is neither an address nor a range', () => {
    expect(() => createAddressMatcher(['10.0.0.0/33'])).toThrow(
      '"10.0.0.0/33" is not an IP address or CIDR range',
    )
  })
})
