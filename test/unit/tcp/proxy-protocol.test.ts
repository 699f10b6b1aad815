/**
 * The PROXY protocol (HAProxy's doc/proxy-protocol.txt, "§" its sections): exact bytes of the
 * spec's v1 example and of the v2 layout it gives (§2.2 `proxy_hdr_v2` and `proxy_addr`), round
 * trips, every split of a header over two chunks and byte by byte, the client's first bytes
 * kept, and malformed headers refused with a reason.
 */
import { describe, expect, it } from 'vitest'
import {
  PROXY_V1_MAX_LENGTH,
  PROXY_V2_SIGNATURE,
  ProxyHeaderParser,
  crc32c,
  encodeProxyV1,
  encodeProxyV2,
  parseProxyHeader,
  type ProxyHeader,
  type ProxyInfo,
  type ProxyParseResult,
} from '../../../src/tcp/proxy-protocol.ts'
import { concat, hexBytes, latin1, text } from './memory-socket.ts'

const SIG = '0d0a0d0a 000d0a51 5549540a'

/** §2.1's example: a v1 line before an HTTP request. */
const SPEC_V1 = 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'
const SPEC_REQUEST = 'GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n'
const SPEC_INFO: ProxyInfo = {
  source: { address: '192.168.0.1', port: 56324 },
  destination: { address: '192.168.0.11', port: 443 },
}
/** The same connection in v2: 0x21 (v2, PROXY), 0x11 (TCP over IPv4), 12 address bytes. */
const SPEC_V2 = hexBytes(`${SIG} 21 11 000c  c0a80001 c0a8000b  dc04 01bb`)

const V6_INFO: ProxyInfo = {
  source: { address: '2001:db8::1', port: 56324 },
  destination: { address: '2001:db8::11', port: 443 },
}
/** 0x21 (TCP over IPv6), 36 address bytes. */
const V6_V2 = hexBytes(
  `${SIG} 21 21 0024
   20010db8 00000000 00000000 00000001
   20010db8 00000000 00000000 00000011
   dc04 01bb`,
)

/** Feed `chunks` until the header is done; the chunks after it are the connection's bytes. */
function feed(chunks: Uint8Array[], parser = new ProxyHeaderParser()) {
  let result: ProxyParseResult = { state: 'need-more' }
  let i = 0
  while (i < chunks.length && result.state === 'need-more') result = parser.push(chunks[i++]!)
  const rest = result.state === 'done' ? concat(result.rest, ...chunks.slice(i)) : undefined
  return { result, rest }
}

function header(result: ProxyParseResult): ProxyHeader {
  if (result.state !== 'done') throw new Error(`expected a header: ${JSON.stringify(result)}`)
  return result.header
}

function reason(bytes: Uint8Array | string, parser?: ProxyHeaderParser): string {
  const { result } = feed([typeof bytes === 'string' ? latin1(bytes) : bytes], parser)
  if (result.state !== 'error') throw new Error(`expected an error: ${JSON.stringify(result)}`)
  return result.reason
}

describe('encodeProxyV1', () => {
  it('writes the spec example exactly (§2.1)', () => {
    expect(text(encodeProxyV1(SPEC_INFO))).toBe(SPEC_V1)
  })

  it('writes TCP6 with RFC 5952 addresses', () => {
    expect(text(encodeProxyV1(V6_INFO))).toBe('PROXY TCP6 2001:db8::1 2001:db8::11 56324 443\r\n')
    const full = {
      source: { address: 'FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF', port: 65535 },
      destination: { address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', port: 65535 },
    }
    // §2.1's longest TCP6 line: 104 bytes.
    expect(encodeProxyV1(full)).toHaveLength(104)
  })

  it('writes PROXY UNKNOWN when the addresses are unknown', () => {
    expect(text(encodeProxyV1())).toBe('PROXY UNKNOWN\r\n')
  })

  it('sends IPv4-mapped IPv6 as TCP4 when both ends are IPv4', () => {
    const info = {
      source: { address: '::ffff:203.0.113.7', port: 1 },
      destination: { address: '192.0.2.1', port: 80 },
    }
    expect(text(encodeProxyV1(info))).toBe('PROXY TCP4 203.0.113.7 192.0.2.1 1 80\r\n')
  })

  it('sends TCP6, the IPv4 end mapped in hex groups, when only one end is IPv4', () => {
    const info = {
      source: { address: '1.2.3.4', port: 1 },
      destination: { address: '[2001:db8::1%eth0]', port: 2 },
    }
    expect(text(encodeProxyV1(info))).toBe('PROXY TCP6 ::ffff:102:304 2001:db8::1 1 2\r\n')
  })

  it('refuses what is not an address or a port', () => {
    const bad =
      (address: string, port = 1) =>
      () =>
        encodeProxyV1({ source: { address, port }, destination: { address: '1.2.3.4', port: 2 } })
    expect(bad('example.com')).toThrow(/"example.com" is not an IP address/)
    expect(bad('1.2.3.4', 65536)).toThrow(/port 65536 is not 0 to 65535/)
    expect(bad('1.2.3.4', -1)).toThrow(TypeError)
    expect(bad('1.2.3.04')).toThrow(TypeError)
  })
})

describe('encodeProxyV2', () => {
  it('writes TCP over IPv4 as the §2.2 layout has it', () => {
    expect(encodeProxyV2(SPEC_INFO)).toEqual(SPEC_V2)
  })

  it('writes TCP over IPv6', () => {
    expect(encodeProxyV2(V6_INFO)).toEqual(V6_V2)
  })

  it('writes LOCAL with AF_UNSPEC and no address when the addresses are unknown', () => {
    expect(encodeProxyV2()).toEqual(hexBytes(`${SIG} 20 00 0000`))
  })

  it('sends IPv4-mapped IPv6 as AF_INET when both ends are IPv4', () => {
    const info = {
      source: { address: '::ffff:192.168.0.1', port: 56324 },
      destination: { address: '::FFFF:c0a8:b', port: 443 },
    }
    expect(encodeProxyV2(info)).toEqual(SPEC_V2)
  })

  it('maps the IPv4 end when the other is IPv6', () => {
    const bytes = encodeProxyV2({
      source: { address: '192.0.2.1', port: 1 },
      destination: { address: '::1', port: 2 },
    })
    expect(bytes.subarray(13, 16)).toEqual(hexBytes('21 0024'))
    expect(bytes.subarray(16, 32)).toEqual(hexBytes('00000000 00000000 0000ffff c0000201'))
    expect(header(parseProxyHeader(bytes)).source).toEqual({
      address: '::ffff:192.0.2.1',
      port: 1,
    })
  })
})

describe('ProxyHeaderParser', () => {
  it('reads the spec example and hands back the request after it (§2.1)', () => {
    const result = parseProxyHeader(latin1(SPEC_V1 + SPEC_REQUEST))
    expect(result).toEqual({
      state: 'done',
      header: {
        version: 1,
        command: 'PROXY',
        family: 'TCP4',
        source: SPEC_INFO.source,
        destination: SPEC_INFO.destination,
        tlvs: [],
      },
      rest: latin1(SPEC_REQUEST),
    })
  })

  it('reads the v2 IPv4 and IPv6 layouts', () => {
    const v4 = parseProxyHeader(concat(SPEC_V2, latin1(SPEC_REQUEST)))
    expect(header(v4)).toEqual({
      version: 2,
      command: 'PROXY',
      family: 'TCP4',
      ...SPEC_INFO,
      tlvs: [],
    })
    expect(v4.state === 'done' && text(v4.rest)).toBe(SPEC_REQUEST)
    expect(header(parseProxyHeader(V6_V2))).toEqual({
      version: 2,
      command: 'PROXY',
      family: 'TCP6',
      ...V6_INFO,
      tlvs: [],
    })
  })

  it('takes the longest v1 lines of §2.1 and not one byte more', () => {
    const v4 = 'PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n'
    expect(v4).toHaveLength(56)
    expect(header(parseProxyHeader(latin1(v4))).source).toEqual({
      address: '255.255.255.255',
      port: 65535,
    })
    const f = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'
    const v6 = `PROXY TCP6 ${f} ${f} 65535 65535\r\n`
    expect(v6).toHaveLength(104)
    expect(header(parseProxyHeader(latin1(v6))).destination?.address).toBe(f)
    const worst = `PROXY UNKNOWN ${f} ${f} 65535 65535\r\n`
    expect(worst).toHaveLength(PROXY_V1_MAX_LENGTH)
    expect(header(parseProxyHeader(latin1(worst)))).toEqual({
      version: 1,
      command: 'PROXY',
      family: 'UNKNOWN',
      tlvs: [],
    })
    const over = `PROXY UNKNOWN ${f} ${f} 65535 655350\r\n`
    expect(reason(over)).toBe('v1: no CRLF within 107 bytes')
  })

  it('reads PROXY UNKNOWN without addresses, ignoring what comes before the CRLF', () => {
    for (const line of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN whatever\tis here\r\n']) {
      const result = parseProxyHeader(latin1(`${line}hello`))
      expect(header(result).family).toBe('UNKNOWN')
      expect(header(result).source).toBeUndefined()
      expect(result.state === 'done' && text(result.rest)).toBe('hello')
    }
  })

  it('reads IPv6 as inet_pton does and gives it back as RFC 5952 writes it', () => {
    const cases: [string, string][] = [
      ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['::1', '::1'],
      ['::', '::'],
      ['1::', '1::'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
      ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
      ['::ffff:102:304', '::ffff:1.2.3.4'],
      ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ]
    for (const [sent, read] of cases) {
      const line = `PROXY TCP6 ${sent} ::1 1 2\r\n`
      expect(header(parseProxyHeader(latin1(line))).source?.address, sent).toBe(read)
    }
  })

  it('reads a LOCAL v2 header as the real peer, ignoring its address block (§2.2)', () => {
    // LOCAL with TCP over IPv4 addresses, and LOCAL as HAProxy's health checks send it.
    for (const bytes of [
      hexBytes(`${SIG} 20 11 000c c0a80001 c0a8000b dc04 01bb`),
      hexBytes(`${SIG} 20 00 0000`),
      hexBytes(`${SIG} 20 ff 0002 abcd`),
    ]) {
      expect(header(parseProxyHeader(bytes))).toEqual({
        version: 2,
        command: 'LOCAL',
        family: 'UNKNOWN',
        tlvs: [],
      })
    }
  })

  it('falls back to the real peer for AF_UNSPEC, UDP and AF_UNIX (§2.2)', () => {
    const unix = new Uint8Array(216).fill(0x2f)
    for (const bytes of [
      hexBytes(`${SIG} 21 00 0000`),
      hexBytes(`${SIG} 21 00 0003 010203`),
      hexBytes(`${SIG} 21 12 000c c0a80001 c0a8000b 0035 0035`),
      hexBytes(`${SIG} 21 10 0004 01020304`),
      concat(hexBytes(`${SIG} 21 31 00d8`), unix),
    ]) {
      const found = header(parseProxyHeader(bytes))
      expect(found.command).toBe('PROXY')
      expect(found.family).toBe('UNKNOWN')
      expect(found.source).toBeUndefined()
    }
  })

  it('reads TLVs after the addresses and checks a CRC32C one (§2.2.3)', () => {
    // The CRC32c check value of RFC 3720 B.4 / iSCSI: "123456789" → 0xe3069283.
    expect(crc32c(latin1('123456789'))).toBe(0xe3069283)
    const tlvs = hexBytes(`01 0002 6832  02 000b ${Buffer.from('example.com').toString('hex')}`)
    const crc = hexBytes('03 0004 00000000')
    const body = concat(SPEC_V2.subarray(16), tlvs, crc)
    const bytes = concat(SPEC_V2.subarray(0, 14), hexBytes('0000'), body)
    new DataView(bytes.buffer).setUint16(14, body.length)
    new DataView(bytes.buffer).setUint32(bytes.length - 4, crc32c(bytes))
    const found = header(parseProxyHeader(concat(bytes, latin1('rest'))))
    expect(found.source).toEqual(SPEC_INFO.source)
    expect(found.tlvs.map((t) => [t.type, text(t.value)])).toEqual([
      [0x01, 'h2'],
      [0x02, 'example.com'],
      [0x03, text(bytes.subarray(-4))],
    ])
    // One bit off anywhere in the header, and the checksum no longer matches.
    const flipped = bytes.slice()
    flipped[17]! ^= 1
    expect(reason(flipped)).toBe('v2: the CRC32C TLV does not match the header')
  })

  /** Each info, and the addresses read back (the same, unless they had to change family). */
  const roundTrips: [string, ProxyInfo, [string, string]][] = [
    ['IPv4', SPEC_INFO, ['192.168.0.1', '192.168.0.11']],
    ['IPv6', V6_INFO, ['2001:db8::1', '2001:db8::11']],
    [
      'IPv6 without ::',
      {
        source: { address: '2001:db8:1:2:3:4:5:6', port: 0 },
        destination: { address: 'FE80:0:0:0:1:0:0:1', port: 65535 },
      },
      ['2001:db8:1:2:3:4:5:6', 'fe80::1:0:0:1'],
    ],
    [
      'IPv4 and IPv4-mapped, as IPv4',
      {
        source: { address: '10.0.0.1', port: 5 },
        destination: { address: '::ffff:1:2', port: 6 },
      },
      ['10.0.0.1', '0.1.0.2'],
    ],
    [
      'IPv4 and IPv6, as IPv6',
      {
        source: { address: '10.0.0.1', port: 5 },
        destination: { address: '2001:db8::5', port: 6 },
      },
      ['::ffff:10.0.0.1', '2001:db8::5'],
    ],
  ]
  it.each(roundTrips)('round-trips %s through v1 and v2', (_name, info, [source, destination]) => {
    for (const encode of [encodeProxyV1, encodeProxyV2]) {
      const found = header(parseProxyHeader(encode(info)))
      expect(found.version).toBe(encode === encodeProxyV1 ? 1 : 2)
      expect(found.family).toBe(source.includes(':') ? 'TCP6' : 'TCP4')
      expect(found.source).toEqual({ address: source, port: info.source.port })
      expect(found.destination).toEqual({ address: destination, port: info.destination.port })
    }
  })

  it('round-trips unknown addresses as UNKNOWN and LOCAL', () => {
    expect(header(parseProxyHeader(encodeProxyV1()))).toMatchObject({ family: 'UNKNOWN' })
    expect(header(parseProxyHeader(encodeProxyV2()))).toMatchObject({ command: 'LOCAL' })
  })

  const splits: [string, Uint8Array][] = [
    ['v1 IPv4', latin1(SPEC_V1)],
    ['v1 IPv6', encodeProxyV1(V6_INFO)],
    ['v1 UNKNOWN', latin1('PROXY UNKNOWN\r\n')],
    ['v2 IPv4', SPEC_V2],
    ['v2 IPv6', V6_V2],
    ['v2 LOCAL', encodeProxyV2()],
  ]
  it.each(splits)('reads %s split at every byte, and byte by byte', (_name, bytes) => {
    const payload = latin1(SPEC_REQUEST)
    const whole = concat(bytes, payload)
    const expected = header(parseProxyHeader(whole))
    for (let at = 0; at <= whole.length; at++) {
      const { result, rest } = feed([whole.subarray(0, at), whole.subarray(at)])
      expect(header(result), `split at ${at}`).toEqual(expected)
      expect(text(rest!), `split at ${at}`).toBe(SPEC_REQUEST)
    }
    const { result, rest } = feed([...whole].map((byte) => Uint8Array.of(byte)))
    expect(header(result)).toEqual(expected)
    expect(text(rest!)).toBe(SPEC_REQUEST)
    // Until the last byte of the header, it wants more; the rest is empty when nothing follows.
    const parser = new ProxyHeaderParser()
    for (let i = 0; i < bytes.length - 1; i++) {
      expect(parser.push(bytes.subarray(i, i + 1)).state).toBe('need-more')
    }
    const last = parser.push(bytes.subarray(-1))
    expect(last.state === 'done' && last.rest.length).toBe(0)
  })

  it('wants more on an empty chunk and refuses to be fed after the header', () => {
    const parser = new ProxyHeaderParser()
    expect(parser.push(new Uint8Array(0))).toEqual({ state: 'need-more' })
    expect(parser.push(latin1(SPEC_V1)).state).toBe('done')
    expect(() => parser.push(latin1('x'))).toThrow(/already read/)
  })

  describe('refuses malformed v1 lines', () => {
    const cases: [string, string, string | RegExp][] = [
      ['HTTP', 'GET / HTTP/1.1\r\n', 'not a PROXY protocol header (no v1 or v2 signature)'],
      ['TLS', '\x16\x03\x01\x02\x00', 'not a PROXY protocol header (no v1 or v2 signature)'],
      ['lower case', 'proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n', /no v1 or v2 signature/],
      ['no space', 'PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n', 'not a PROXY protocol header'],
      [
        'two spaces',
        'PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n',
        'v1: unknown protocol "" (TCP4, TCP6 or UNKNOWN)',
      ],
      ['a protocol', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n', /unknown protocol "UDP4"/],
      ['a short line', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', 'v1: 4 fields after PROXY, 5 expected'],
      [
        'a long line',
        'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n',
        'v1: 6 fields after PROXY, 5 expected',
      ],
      ['a trailing space', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n', /6 fields after PROXY/],
      [
        'a leading zero',
        'PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n',
        'v1: source address "1.2.3.04" is not TCP4',
      ],
      [
        'a byte over 255',
        'PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n',
        /destination address "5.6.7.256"/,
      ],
      ['three bytes', 'PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n', /source address "1.2.3" is not TCP4/],
      ['IPv6 in TCP4', 'PROXY TCP4 ::1 5.6.7.8 1 2\r\n', /source address "::1" is not TCP4/],
      [
        'IPv4 in TCP6',
        'PROXY TCP6 ::1 5.6.7.8 1 2\r\n',
        /destination address "5.6.7.8" is not TCP6/,
      ],
      ['two ::', 'PROXY TCP6 1::2::3 ::1 1 2\r\n', /source address "1::2::3"/],
      ['nine groups', 'PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n', /source address/],
      ['seven groups', 'PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n', /source address/],
      [':: and eight', 'PROXY TCP6 1:2:3:4::5:6:7:8 ::1 1 2\r\n', /source address/],
      ['five digits', 'PROXY TCP6 12345::1 ::1 1 2\r\n', /source address/],
      ['a zone', 'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n', /source address "fe80::1%eth0"/],
      ['brackets', 'PROXY TCP6 [::1] ::1 1 2\r\n', /source address "\[::1\]"/],
      ['IPv4 before ::', 'PROXY TCP6 1.2.3.4:: ::1 1 2\r\n', /source address/],
      [
        'a port over 65535',
        'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n',
        'v1: source port "65536" is not 0 to 65535',
      ],
      ['a port with a zero', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 080\r\n', /destination port "080"/],
      ['a signed port', 'PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n', /source port "\+1"/],
      ['a bare LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', 'v1: a bare LF ends the line'],
      ['a bare CR', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rGET', 'v1: a CR not followed by LF'],
      ['no CRLF', `PROXY UNKNOWN ${'x'.repeat(200)}`, 'v1: no CRLF within 107 bytes'],
    ]
    it.each(cases)('%s', (_name, line, expected) => {
      if (typeof expected === 'string') expect(reason(line)).toBe(expected)
      else expect(reason(line)).toMatch(expected)
    })

    it('at the first byte that cannot be a header', () => {
      expect(parseProxyHeader(latin1('G')).state).toBe('error')
      expect(parseProxyHeader(latin1('PROXX')).state).toBe('error')
      expect(parseProxyHeader(latin1('PROXY')).state).toBe('need-more')
      expect(parseProxyHeader(latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r')).state).toBe('need-more')
    })
  })

  describe('refuses malformed v2 headers', () => {
    const cases: [string, string, string][] = [
      ['a signature byte', '0d0a0d0a 000d0a51 5549550a 21 11 000c', 'not a PROXY protocol header'],
      ['version 1', `${SIG} 11 11 000c`, 'v2: unsupported version 1'],
      ['version 3', `${SIG} 31 11 000c`, 'v2: unsupported version 3'],
      ['command 2', `${SIG} 22 11 000c`, 'v2: unknown command 0x02'],
      ['command 15', `${SIG} 2f 11 000c`, 'v2: unknown command 0x0f'],
      ['family 4', `${SIG} 21 41 000c`, 'v2: unsupported address family and protocol 0x41'],
      ['protocol 3', `${SIG} 21 13 000c`, 'v2: unsupported address family and protocol 0x13'],
      [
        'a short IPv4 block',
        `${SIG} 21 11 0008 c0a80001 c0a8000b`,
        'v2: 8 address bytes, family 0x11 needs 12',
      ],
      [
        'a short IPv6 block',
        `${SIG} 21 21 000c c0a80001 c0a8000b dc04 01bb`,
        'v2: 12 address bytes, family 0x21 needs 36',
      ],
      [
        'a TLV past the length',
        `${SIG} 21 11 0011 c0a80001 c0a8000b dc04 01bb 04 0003 0000`,
        "v2: TLV 0x04 runs past the header's length",
      ],
      [
        'stray bytes',
        `${SIG} 21 11 000e c0a80001 c0a8000b dc04 01bb 0400`,
        'v2: 2 stray bytes after the TLVs',
      ],
      [
        'a short CRC32C',
        `${SIG} 21 11 0011 c0a80001 c0a8000b dc04 01bb 03 0002 0000`,
        'v2: a CRC32C TLV of 2 bytes, not 4',
      ],
      [
        'a length over the limit',
        `${SIG} 21 11 ffff`,
        'v2: a 65551-byte header is over the 16384-byte limit',
      ],
    ]
    it.each(cases)('%s', (_name, hex, expected) => {
      expect(reason(hexBytes(hex))).toBe(expected)
    })

    it('as soon as a byte is wrong, without waiting for the rest', () => {
      expect(reason(hexBytes('0d0a0d0a 00 0d 0a 52'))).toBe('not a PROXY protocol header')
      expect(reason(hexBytes(`${SIG} 11`))).toBe('v2: unsupported version 1')
      expect(reason(hexBytes(`${SIG} 21 51`))).toMatch(/0x51/)
      // The limit is known from the fixed part alone: nothing of the 64 KiB is awaited.
      expect(reason(hexBytes(`${SIG} 21 11 4000`))).toMatch(/over the 16384-byte limit/)
      expect(parseProxyHeader(hexBytes(`${SIG} 21 11 000c c0a8`)).state).toBe('need-more')
    })

    it('with a limit of its own', () => {
      const parser = new ProxyHeaderParser({ maxHeaderBytes: 28 })
      expect(feed([SPEC_V2], parser).result.state).toBe('done')
      const tight = new ProxyHeaderParser({ maxHeaderBytes: 27 })
      expect(reason(SPEC_V2, tight)).toBe('v2: a 28-byte header is over the 27-byte limit')
    })
  })

  it('exports the v2 signature', () => {
    expect(PROXY_V2_SIGNATURE).toEqual(hexBytes(SIG))
    expect(text(PROXY_V2_SIGNATURE)).toBe('\r\n\r\n\0\r\nQUIT\n')
  })
})
