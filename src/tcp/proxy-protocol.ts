/**
 * The PROXY protocol, versions 1 and 2 (HAProxy's "The PROXY protocol Versions 1 & 2",
 * 2020/03/05, doc/proxy-protocol.txt; "§" below are its sections): the header a load balancer
 * puts before a connection's first byte to tell the next hop who the client was.
 *
 * - {@link encodeProxyV1} and {@link encodeProxyV2} build the header a sender writes first.
 * - {@link ProxyHeaderParser} reads one, chunk by chunk, and hands back the bytes after it.
 *
 * TCP over IPv4 and IPv6 only: that is what a TCP listener relays. The other v2 families (UDP,
 * AF_UNIX, AF_UNSPEC) are accepted without addresses, as §2.2 lets a receiver fall back to.
 *
 * @example
 * ```ts
 * const parser = new ProxyHeaderParser()
 * const result = parser.push(chunk)
 * if (result.state === 'done') {
 *   const client = result.header.source // undefined: LOCAL or UNKNOWN, keep the real peer
 *   forward(result.rest) // the client's first bytes
 * }
 * ```
 */

/** One end of a connection. */
export interface ProxyEndpoint {
  /** IPv4 dotted (`192.0.2.1`), or IPv6 as RFC 5952 writes it (`2001:db8::1`, `::ffff:1.2.3.4`). */
  readonly address: string
  /** 0 to 65535. */
  readonly port: number
}

/** What a sender tells: the client's connection, as the proxy saw it accepted. */
export interface ProxyInfo {
  /** The client (the connection's peer): what the receiver should take as its peer. */
  readonly source: ProxyEndpoint
  /** The address and port the client connected to. */
  readonly destination: ProxyEndpoint
}

/**
 * `PROXY`: the connection is relayed for `source`. `LOCAL` (v2 only, §2.2): the proxy opened it
 * for itself (a health check): the real peer stays the peer.
 */
export type ProxyCommand = 'LOCAL' | 'PROXY'

/**
 * `TCP4` and `TCP6` carry addresses. `UNKNOWN` has none: v1's `UNKNOWN` (§2.1), v2's LOCAL,
 * AF_UNSPEC, and the families fulcrum does not use (UDP, AF_UNIX), which fall back to it (§2.2).
 */
export type ProxyFamily = 'TCP4' | 'TCP6' | 'UNKNOWN'

/** A v2 Type-Length-Value vector (§2.2). */
export interface ProxyTlv {
  /** `PP2_TYPE_*`: 0x01 ALPN, 0x02 authority, 0x03 CRC32C, 0x04 noop, 0x05 unique id, … */
  readonly type: number
  readonly value: Uint8Array
}

/** A parsed header. */
export interface ProxyHeader {
  readonly version: 1 | 2
  readonly command: ProxyCommand
  readonly family: ProxyFamily
  /** The client; set only for `PROXY` over `TCP4`/`TCP6`. */
  readonly source?: ProxyEndpoint
  readonly destination?: ProxyEndpoint
  /** v2's TLVs, in order (a CRC32C one is verified, §2.2.3); none for v1 or LOCAL. */
  readonly tlvs: readonly ProxyTlv[]
}

/** What {@link ProxyHeaderParser.push} found. */
export type ProxyParseResult =
  | { readonly state: 'need-more' }
  | {
      readonly state: 'done'
      readonly header: ProxyHeader
      /** The bytes after the header (possibly empty): the client's first bytes. */
      readonly rest: Uint8Array
    }
  | { readonly state: 'error'; readonly reason: string }

/** Options for {@link ProxyHeaderParser}. */
export interface ProxyParserOptions {
  /**
   * The longest v2 header taken (16 + its length field, TLVs included); a longer one is refused
   * before it is read. HAProxy takes what fits its buffer (`tune.bufsize`, 16 KiB).
   * @default 16_384
   */
  maxHeaderBytes?: number
}

/** The v2 signature (§2.2): `\r\n\r\n\0\r\nQUIT\n`. */
export const PROXY_V2_SIGNATURE: Uint8Array = Uint8Array.of(
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
)

/** The longest v1 line, CRLF included (§2.1: `PROXY UNKNOWN` with two IPv6 addresses). */
export const PROXY_V1_MAX_LENGTH = 107

/** v2's fixed part: signature, version and command, family and protocol, length (§2.2). */
const V2_FIXED = 16
const V1_PREFIX = ascii('PROXY ')
const CR = 0x0d
const LF = 0x0a
const NEED_MORE: ProxyParseResult = Object.freeze({ state: 'need-more' })

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * The v1 header (§2.1): `PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n`, or
 * `PROXY UNKNOWN\r\n` without `info` (the addresses are unknown).
 *
 * IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`, as a dual-stack socket reports IPv4 peers) are
 * sent as IPv4 when both ends are IPv4 or mapped: `TCP4`. When only one is, the family is `TCP6`
 * and the IPv4 one is written mapped, in hexadecimal groups (`::ffff:102:304`), as §2.1 asks of
 * IPv6 (HAProxy does the same). IPv6 is written as RFC 5952 has it; a zone (`%eth0`) is dropped.
 *
 * @throws {TypeError} when an address is not an IP address or a port is not 0 to 65535
 */
export function encodeProxyV1(info?: ProxyInfo): Uint8Array {
  if (!info) return ascii('PROXY UNKNOWN\r\n')
  const { v4, source, destination } = endpoints(info)
  const text = v4
    ? `PROXY TCP4 ${source.join('.')} ${destination.join('.')}`
    : `PROXY TCP6 ${formatIpv6(source, false)} ${formatIpv6(destination, false)}`
  return ascii(`${text} ${info.source.port} ${info.destination.port}\r\n`)
}

/**
 * The v2 header (§2.2): the signature, `0x21` (version 2, PROXY), `0x11` (TCP over IPv4) or
 * `0x21` (TCP over IPv6), the length, then the addresses and ports in network order. Without
 * `info`: `0x20` (LOCAL) and `0x00` (AF_UNSPEC) with no address, as HAProxy sends when it cannot
 * tell. IPv4-mapped addresses are handled as in {@link encodeProxyV1}. No TLV is sent.
 *
 * @throws {TypeError} when an address is not an IP address or a port is not 0 to 65535
 */
export function encodeProxyV2(info?: ProxyInfo): Uint8Array {
  if (!info) {
    const local = new Uint8Array(V2_FIXED)
    local.set(PROXY_V2_SIGNATURE)
    local[12] = 0x20
    return local
  }
  const { v4, source, destination } = endpoints(info)
  const size = v4 ? 4 : 16
  const length = 2 * size + 4
  const bytes = new Uint8Array(V2_FIXED + length)
  const view = new DataView(bytes.buffer)
  bytes.set(PROXY_V2_SIGNATURE)
  bytes[12] = 0x21
  bytes[13] = v4 ? 0x11 : 0x21
  view.setUint16(14, length)
  bytes.set(source, V2_FIXED)
  bytes.set(destination, V2_FIXED + size)
  view.setUint16(V2_FIXED + 2 * size, info.source.port)
  view.setUint16(V2_FIXED + 2 * size + 2, info.destination.port)
  return bytes
}

/** Both ends as bytes of one family: IPv4 when both are IPv4 or mapped, else IPv6. */
function endpoints(info: ProxyInfo): { v4: boolean; source: Uint8Array; destination: Uint8Array } {
  const source = addressBytes(info.source)
  const destination = addressBytes(info.destination)
  const v4 = source.length === 4 && destination.length === 4
  return {
    v4,
    source: v4 || source.length === 16 ? source : mapped(source),
    destination: v4 || destination.length === 16 ? destination : mapped(destination),
  }
}

/** An endpoint's address: 4 bytes for IPv4 and IPv4-mapped IPv6, else 16. */
function addressBytes(endpoint: ProxyEndpoint): Uint8Array {
  const { port } = endpoint
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new TypeError(`PROXY protocol: port ${String(port)} is not 0 to 65535`)
  }
  let text = String(endpoint.address)
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1)
  const zone = text.indexOf('%')
  if (zone !== -1 && text.includes(':')) text = text.slice(0, zone)
  const v4 = parseIpv4(text)
  if (v4) return v4
  const v6 = parseIpv6(text)
  if (!v6) throw new TypeError(`PROXY protocol: ${JSON.stringify(text)} is not an IP address`)
  return isMapped(v6) ? v6.slice(12) : v6
}

/** `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2). */
function mapped(v4: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(16)
  bytes[10] = 0xff
  bytes[11] = 0xff
  bytes.set(v4, 12)
  return bytes
}

function isMapped(v6: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (v6[i] !== 0) return false
  return v6[10] === 0xff && v6[11] === 0xff
}

// ---------------------------------------------------------------------------------------------
// Parsing

/**
 * Read a PROXY header from the start of a connection, chunk by chunk. The version is told by
 * the first bytes (§2.2, "Identifying the protocol version"): `PROXY ` for v1, the 12-byte
 * signature for v2; anything else is refused at the first byte that differs, since a receiver
 * must not guess whether a header is there (§2, §5).
 *
 * - v1 (§2.1): one line of at most 107 bytes ending in CRLF (a bare CR or LF is refused);
 *   `TCP4` or `TCP6`, two addresses of that family and two ports, each field exactly as §2.1
 *   has it: one space between fields, no leading zero in an IPv4 byte or a port. IPv6 is read
 *   as `inet_pton` reads it (groups of one to four hex digits, one `::`, an IPv4 tail), which is
 *   what HAProxy's `inet_ntop` sends. `PROXY UNKNOWN` may carry anything up to the CRLF.
 * - v2 (§2.2): version 2 only, command LOCAL or PROXY, family AF_UNSPEC, AF_INET, AF_INET6 or
 *   AF_UNIX, protocol UNSPEC, STREAM or DGRAM; any other value is refused. The length is
 *   honoured up to `maxHeaderBytes`; after the addresses, the bytes must be well-formed TLVs,
 *   and a CRC32C TLV must match (§2.2.3). LOCAL ignores the rest of the block (§2.2).
 *
 * Bytes after the header come back as `rest` and are never lost. The parser keeps at most the
 * header itself: a split header costs a copy of the header only.
 */
export class ProxyHeaderParser {
  readonly #maxHeaderBytes: number
  #version: 0 | 1 | 2 = 0
  #buffer = new Uint8Array(0)
  #length = 0
  /** v2: 16 + the length field, once the fixed part is in. */
  #total = 0
  #finished = false

  constructor(options: ProxyParserOptions = {}) {
    this.#maxHeaderBytes = options.maxHeaderBytes ?? 16_384
  }

  /**
   * Take the next bytes of the connection.
   *
   * @returns `need-more` until the header is complete, then `done` with the bytes after it, or
   *   `error` with the reason as soon as the bytes cannot be a valid header
   * @throws {Error} when called again after `done` or `error`
   */
  push(chunk: Uint8Array): ProxyParseResult {
    if (this.#finished) throw new Error('ProxyHeaderParser: the header is already read')
    if (chunk.length === 0) return NEED_MORE
    if (this.#version === 0) {
      if (chunk[0] === V1_PREFIX[0]) {
        this.#version = 1
        this.#buffer = new Uint8Array(PROXY_V1_MAX_LENGTH)
      } else if (chunk[0] === PROXY_V2_SIGNATURE[0]) {
        this.#version = 2
        this.#buffer = new Uint8Array(V2_FIXED)
      } else {
        return this.#fail('not a PROXY protocol header (no v1 or v2 signature)')
      }
    }
    const result = this.#version === 1 ? this.#pushV1(chunk) : this.#pushV2(chunk)
    if (result.state !== 'need-more') {
      this.#finished = true
      this.#buffer = new Uint8Array(0)
    }
    return result
  }

  #fail(reason: string): ProxyParseResult {
    this.#finished = true
    return { state: 'error', reason }
  }

  #append(chunk: Uint8Array, count: number): number {
    const start = this.#length
    this.#buffer.set(count === chunk.length ? chunk : chunk.subarray(0, count), start)
    this.#length += count
    return start
  }

  /** v1: look for the CRLF within the first 107 bytes (§2.1). */
  #pushV1(chunk: Uint8Array): ProxyParseResult {
    const start = this.#append(chunk, Math.min(chunk.length, PROXY_V1_MAX_LENGTH - this.#length))
    const buffer = this.#buffer
    for (let i = start; i < this.#length; i++) {
      const byte = buffer[i]!
      if (i < V1_PREFIX.length) {
        if (byte !== V1_PREFIX[i]) return { state: 'error', reason: 'not a PROXY protocol header' }
        continue
      }
      if (buffer[i - 1] === CR) {
        if (byte !== LF) return { state: 'error', reason: 'v1: a CR not followed by LF' }
        const parsed = parseV1Line(buffer.subarray(0, i - 1))
        if (typeof parsed === 'string') return { state: 'error', reason: parsed }
        return { state: 'done', header: parsed, rest: chunk.subarray(i + 1 - start) }
      }
      if (byte === LF) return { state: 'error', reason: 'v1: a bare LF ends the line' }
    }
    if (this.#length === PROXY_V1_MAX_LENGTH) {
      return { state: 'error', reason: `v1: no CRLF within ${PROXY_V1_MAX_LENGTH} bytes` }
    }
    return NEED_MORE
  }

  /** v2: the fixed 16 bytes, then exactly the length they announce (§2.2). */
  #pushV2(chunk: Uint8Array): ProxyParseResult {
    let at = 0
    while (at < chunk.length) {
      const wanted = (this.#total === 0 ? V2_FIXED : this.#total) - this.#length
      const count = Math.min(chunk.length - at, wanted)
      const start = this.#append(at === 0 ? chunk : chunk.subarray(at), count)
      at += count
      const reason = checkV2Fixed(this.#buffer, start, this.#length)
      if (reason) return { state: 'error', reason }
      if (this.#total === 0 && this.#length === V2_FIXED) {
        this.#total = V2_FIXED + ((this.#buffer[14]! << 8) | this.#buffer[15]!)
        if (this.#total > this.#maxHeaderBytes) {
          return {
            state: 'error',
            reason: `v2: a ${this.#total}-byte header is over the ${this.#maxHeaderBytes}-byte limit`,
          }
        }
        const full = new Uint8Array(this.#total)
        full.set(this.#buffer)
        this.#buffer = full
      }
      if (this.#total !== 0 && this.#length === this.#total) {
        const parsed = parseV2(this.#buffer)
        if (typeof parsed === 'string') return { state: 'error', reason: parsed }
        return { state: 'done', header: parsed, rest: chunk.subarray(at) }
      }
    }
    return NEED_MORE
  }
}

/**
 * Parse one complete header at the start of `bytes` (a convenience over
 * {@link ProxyHeaderParser}: `need-more` means `bytes` ends inside the header).
 */
export function parseProxyHeader(
  bytes: Uint8Array,
  options?: ProxyParserOptions,
): ProxyParseResult {
  return new ProxyHeaderParser(options).push(bytes)
}

/** Check the bytes `from`–`to` of v2's fixed part as they arrive, to refuse early. */
function checkV2Fixed(buffer: Uint8Array, from: number, to: number): string | undefined {
  for (let i = from; i < Math.min(to, V2_FIXED); i++) {
    const byte = buffer[i]!
    if (i < PROXY_V2_SIGNATURE.length) {
      if (byte !== PROXY_V2_SIGNATURE[i]) return 'not a PROXY protocol header'
    } else if (i === 12) {
      if (byte >> 4 !== 2) return `v2: unsupported version ${byte >> 4}`
      if ((byte & 0x0f) > 1) return `v2: unknown command 0x${hex(byte & 0x0f)}`
    } else if (i === 13 && (buffer[12]! & 0x0f) === 1) {
      // §2.2: families above AF_UNIX and protocols above DGRAM "must be rejected as invalid".
      if (byte >> 4 > 3 || (byte & 0x0f) > 2) {
        return `v2: unsupported address family and protocol 0x${hex(byte)}`
      }
    }
  }
  return undefined
}

/** The address block's size for the v2 family and protocol byte, when its layout is known. */
const V2_ADDRESS_BYTES: Readonly<Record<number, number>> = {
  0x11: 12, // TCP over IPv4
  0x12: 12, // UDP over IPv4
  0x21: 36, // TCP over IPv6
  0x22: 36, // UDP over IPv6
  0x31: 216, // UNIX stream
  0x32: 216, // UNIX datagram
}

/** A complete v2 header (its fixed part already checked), or why it is refused. */
function parseV2(bytes: Uint8Array): ProxyHeader | string {
  if ((bytes[12]! & 0x0f) === 0) {
    // LOCAL (§2.2): "discard the protocol block including the family".
    return { version: 2, command: 'LOCAL', family: 'UNKNOWN', tlvs: [] }
  }
  const family = bytes[13]!
  const addresses = V2_ADDRESS_BYTES[family]
  if (addresses === undefined) {
    // AF_UNSPEC, or a family with the UNSPEC protocol: no address to read, nothing to parse.
    return { version: 2, command: 'PROXY', family: 'UNKNOWN', tlvs: [] }
  }
  if (bytes.length < V2_FIXED + addresses) {
    return `v2: ${bytes.length - V2_FIXED} address bytes, family 0x${hex(family)} needs ${addresses}`
  }
  const tlvs = parseTlvs(bytes, V2_FIXED + addresses)
  if (typeof tlvs === 'string') return tlvs
  if (family !== 0x11 && family !== 0x21) {
    // UDP and AF_UNIX: §2.2 lets a receiver fall back to UNSPEC (the real peer).
    return { version: 2, command: 'PROXY', family: 'UNKNOWN', tlvs }
  }
  const size = family === 0x11 ? 4 : 16
  const ports = V2_FIXED + 2 * size
  const format = (at: number) =>
    size === 4 ? bytes.subarray(at, at + 4).join('.') : formatIpv6(bytes.subarray(at, at + 16))
  return {
    version: 2,
    command: 'PROXY',
    family: size === 4 ? 'TCP4' : 'TCP6',
    source: { address: format(V2_FIXED), port: (bytes[ports]! << 8) | bytes[ports + 1]! },
    destination: {
      address: format(V2_FIXED + size),
      port: (bytes[ports + 2]! << 8) | bytes[ports + 3]!,
    },
    tlvs,
  }
}

/** The TLVs from `from` to the end (§2.2), each within the header, and the CRC32C checked. */
function parseTlvs(bytes: Uint8Array, from: number): ProxyTlv[] | string {
  const tlvs: ProxyTlv[] = []
  let checksum = -1
  for (let at = from; at < bytes.length;) {
    if (bytes.length - at < 3) return `v2: ${bytes.length - at} stray bytes after the TLVs`
    const type = bytes[at]!
    const length = (bytes[at + 1]! << 8) | bytes[at + 2]!
    const end = at + 3 + length
    if (end > bytes.length) return `v2: TLV 0x${hex(type)} runs past the header's length`
    if (type === 0x03) {
      if (length !== 4) return `v2: a CRC32C TLV of ${length} bytes, not 4`
      checksum = at + 3
    }
    tlvs.push({ type, value: bytes.subarray(at + 3, end) })
    at = end
  }
  if (checksum !== -1) {
    // §2.2.3: the CRC32C of the whole header, with the checksum's own bytes as zeros.
    const sent = new DataView(bytes.buffer, bytes.byteOffset).getUint32(checksum)
    const zeroed = bytes.slice()
    zeroed.fill(0, checksum, checksum + 4)
    if (crc32c(zeroed) !== sent) return 'v2: the CRC32C TLV does not match the header'
  }
  return tlvs
}

/** A v1 line without its CRLF (§2.1), or why it is refused. */
function parseV1Line(line: Uint8Array): ProxyHeader | string {
  const text = String.fromCharCode(...line)
  if (text === 'PROXY UNKNOWN' || text.startsWith('PROXY UNKNOWN ')) {
    // §2.1: "the receiver must ignore anything presented before the CRLF".
    return { version: 1, command: 'PROXY', family: 'UNKNOWN', tlvs: [] }
  }
  const fields = text.split(' ')
  const protocol = fields[1]
  if (protocol !== 'TCP4' && protocol !== 'TCP6') {
    return `v1: unknown protocol ${JSON.stringify(protocol)} (TCP4, TCP6 or UNKNOWN)`
  }
  if (fields.length !== 6) return `v1: ${fields.length - 1} fields after PROXY, 5 expected`
  const addresses: string[] = []
  for (const [index, name] of [
    [2, 'source'],
    [3, 'destination'],
  ] as const) {
    const field = fields[index]!
    const v4 = protocol === 'TCP4' ? parseIpv4(field) : undefined
    const v6 = protocol === 'TCP6' ? parseIpv6(field) : undefined
    if (!v4 && !v6) return `v1: ${name} address ${JSON.stringify(field)} is not ${protocol}`
    addresses.push(v4 ? v4.join('.') : formatIpv6(v6!))
  }
  const ports: number[] = []
  for (const [index, name] of [
    [4, 'source'],
    [5, 'destination'],
  ] as const) {
    const field = fields[index]!
    const port = /^(0|[1-9][0-9]{0,4})$/.test(field) ? Number(field) : 65536
    if (port > 0xffff) return `v1: ${name} port ${JSON.stringify(field)} is not 0 to 65535`
    ports.push(port)
  }
  return {
    version: 1,
    command: 'PROXY',
    family: protocol,
    source: { address: addresses[0]!, port: ports[0]! },
    destination: { address: addresses[1]!, port: ports[1]! },
    tlvs: [],
  }
}

// ---------------------------------------------------------------------------------------------
// Addresses

/** Dotted IPv4, four decimal bytes without leading zeros (§2.1). */
function parseIpv4(text: string): Uint8Array | undefined {
  if (!/^(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}$/.test(text)) return undefined
  const parts = text.split('.').map(Number)
  return parts.every((part) => part <= 255) ? Uint8Array.from(parts) : undefined
}

/**
 * IPv6 text as `inet_pton` reads it: eight groups of one to four hex digits, one `::` for one
 * or more zero groups, and optionally an IPv4 address as the last 32 bits. No zone, no brackets.
 */
function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45) return undefined
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const groups = (half: string) => (half === '' ? [] : half.split(':'))
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  const words: number[] = []
  // The IPv4 part can only be the last 32 bits: after the `::`, if there is one.
  const last = halves.length === 2 ? tail : head
  let v4: Uint8Array | undefined
  if (last.length > 0 && last[last.length - 1]!.includes('.')) {
    v4 = parseIpv4(last.pop()!)
    if (!v4) return undefined
  }
  for (const group of [...head, ...tail]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined
  }
  const explicit = head.length + tail.length + (v4 ? 2 : 0)
  if (halves.length === 2 ? explicit > 7 : explicit !== 8) return undefined
  words.push(...head.map((g) => parseInt(g, 16)))
  words.push(...new Array<number>(8 - explicit).fill(0))
  words.push(...tail.map((g) => parseInt(g, 16)))
  const bytes = new Uint8Array(16)
  words.forEach((word, i) => {
    bytes[2 * i] = word >> 8
    bytes[2 * i + 1] = word & 0xff
  })
  if (v4) bytes.set(v4, 12)
  return bytes
}

/**
 * IPv6 as RFC 5952 §4 writes it (lowercase, no leading zeros, the first longest run of two or
 * more zero groups as `::`). With `mixed`, an IPv4-mapped address ends in dotted IPv4 (§5), as
 * `inet_ntop` (and so the runtimes' sockets) write it: `::ffff:192.0.2.1`.
 */
function formatIpv6(bytes: Uint8Array, mixed = true): string {
  const words: number[] = []
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!)
  let best = -1
  let bestLength = 0
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLength) [best, bestLength] = [i, j - i]
    i = j
  }
  if (bestLength < 2) best = -1
  if (mixed && best === 0 && bestLength === 5 && words[5] === 0xffff) {
    return `::ffff:${bytes.subarray(12).join('.')}`
  }
  if (best === -1) return words.map((w) => w.toString(16)).join(':')
  const left = words.slice(0, best).map((w) => w.toString(16))
  const right = words.slice(best + bestLength).map((w) => w.toString(16))
  return `${left.join(':')}::${right.join(':')}`
}

// ---------------------------------------------------------------------------------------------
// Helpers

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0))
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0')
}

let CRC32C_TABLE: Uint32Array | undefined

/** CRC32c (Castagnoli, RFC 4960 Appendix B), as §2.2.3 asks. */
export function crc32c(bytes: Uint8Array): number {
  if (!CRC32C_TABLE) {
    CRC32C_TABLE = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1
      CRC32C_TABLE[n] = c >>> 0
    }
  }
  let crc = 0xffffffff
  for (const byte of bytes) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}
