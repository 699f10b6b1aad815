/** Header rules for forwarding: hop-by-hop stripping and the proxy's own forwarding headers. */
import { FieldList } from './http1/fields.ts'
import { forwardedNode } from './net.ts'

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1, plus the de-facto `Keep-Alive` and `Proxy-Connection`).
 * `Proxy-Authorization` and `Proxy-Authenticate` are meant for this hop only (RFC 9110 §11.7).
 */
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

/**
 * Remove hop-by-hop fields, including every field named in `Connection` (RFC 9110 §7.6.1), in
 * place. Run this before adding fulcrum's own fields, so a client can't use `Connection` to
 * strip them.
 */
export function stripHopByHop(headers: Headers): void {
  // The engine's field lists (a request or response crossing fulcrum) in one pass.
  if ((headers as unknown) instanceof FieldList) {
    return (headers as unknown as FieldList).stripNamed(isHopByHop)
  }
  const connection = headers.get('connection')
  if (connection) {
    for (const token of connection.split(',')) {
      const name = token.trim().toLowerCase()
      if (name) headers.delete(name)
    }
  }
  for (const name of HOP_BY_HOP) headers.delete(name)
}

/**
 * The fields to forward, as a new list to edit: `headers` without its hop-by-hop fields (see
 * {@link stripHopByHop}), `headers` itself unchanged.
 */
export function forwardableCopy(headers: Headers): Headers {
  if ((headers as unknown) instanceof FieldList) {
    return (headers as unknown as FieldList).copyWithout(isHopByHop).asHeaders()
  }
  const copy = FieldList.from(headers).asHeaders()
  stripHopByHop(copy)
  return copy
}

/** Whether a lower-case name is in {@link HOP_BY_HOP}: by length first, no hashing. */
function isHopByHop(name: string): boolean {
  switch (name.length) {
    case 2:
      return name === 'te'
    case 7:
      return name === 'trailer' || name === 'upgrade'
    case 10:
      return name === 'connection' || name === 'keep-alive'
    case 16:
      return name === 'proxy-connection'
    case 17:
      return name === 'transfer-encoding'
    case 18:
      return name === 'proxy-authenticate'
    case 19:
      return name === 'proxy-authorization'
    default:
      return false
  }
}

/** What the proxy knows about the client side of a request. */
export interface ForwardingContext {
  /** Peer address of the client connection, or the resolved client when a proxy is trusted. */
  clientIp: string | undefined
  /** `http` or `https`, as the client reached fulcrum. */
  proto: 'http' | 'https'
  /** The Host the client asked for. */
  host: string | undefined
  /** Whether the peer is a trusted proxy, whose forwarding headers are kept and appended to. */
  trusted: boolean
  /** The `Via` pseudonym. */
  via: string
  requestId: string
}

/** Forwarding headers a client may only send through a trusted proxy. */
const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']

/** Whether a lower-case name is in {@link FORWARDING_HEADERS}. */
function isForwarding(name: string): boolean {
  return (
    name === 'forwarded' ||
    name === 'x-forwarded-for' ||
    name === 'x-forwarded-proto' ||
    name === 'x-forwarded-host'
  )
}

/** What an untrusted peer's fields lose on the way: the hop-by-hop and forwarding ones. */
const untrustedDropped = (name: string) => isHopByHop(name) || isForwarding(name)
/** The same, and `Host` (not preserved). */
const untrustedDroppedAndHost = (name: string) => untrustedDropped(name) || name === 'host'

/**
 * The fields for the backend: {@link forwardableCopy} with the forwarding fields of
 * {@link addForwardingHeaders}, and without `Host` unless `preserveHost`. From an untrusted peer
 * (the usual case), the engine's list is copied without the fields that go in the same pass, and
 * fulcrum's own are appended: the same fields in the same order, without a search for each.
 */
export function forwardedFields(
  fields: Headers,
  ctx: ForwardingContext,
  preserveHost: boolean,
): Headers {
  if (!ctx.trusted && (fields as unknown) instanceof FieldList) {
    const list = fields as unknown as FieldList
    const headers = list.copyWithout(preserveHost ? untrustedDropped : untrustedDroppedAndHost)
    const ip = ctx.clientIp ?? 'unknown'
    headers.append('x-forwarded-for', ip)
    headers.append('x-forwarded-proto', ctx.proto)
    if (ctx.host) headers.append('x-forwarded-host', ctx.host)
    headers.append('forwarded', forwardedElement(ctx))
    const forwarded = headers.asHeaders()
    finishForwarding(forwarded, ctx)
    return forwarded
  }
  const headers = forwardableCopy(fields)
  addForwardingHeaders(headers, ctx)
  if (!preserveHost) headers.delete('host')
  return headers
}

/**
 * Add `X-Forwarded-For/Proto/Host`, `Forwarded` (RFC 7239), `Via` (RFC 9110 §7.6.3) and
 * `X-Request-Id`. From an untrusted peer, any forwarding headers it sent are replaced.
 */
export function addForwardingHeaders(headers: Headers, ctx: ForwardingContext): void {
  if (!ctx.trusted) for (const name of FORWARDING_HEADERS) headers.delete(name)
  const ip = ctx.clientIp
  const priorFor = headers.get('x-forwarded-for')
  headers.set('x-forwarded-for', priorFor ? `${priorFor}, ${ip ?? 'unknown'}` : (ip ?? 'unknown'))
  if (!headers.has('x-forwarded-proto')) headers.set('x-forwarded-proto', ctx.proto)
  if (ctx.host && !headers.has('x-forwarded-host')) headers.set('x-forwarded-host', ctx.host)
  const element = forwardedElement(ctx)
  const priorForwarded = headers.get('forwarded')
  headers.set('forwarded', priorForwarded ? `${priorForwarded}, ${element}` : element)
  finishForwarding(headers, ctx)
}

/** The last element {@link forwardedElement} made, and what it was made of. */
let lastElement = ''
let lastElementIp: string | undefined = ''
let lastElementProto = ''
let lastElementHost: string | undefined = ''

/** This hop's `Forwarded` element (RFC 7239 §4); a keep-alive client's requests share one. */
function forwardedElement(ctx: ForwardingContext): string {
  const { clientIp, proto, host } = ctx
  if (clientIp === lastElementIp && proto === lastElementProto && host === lastElementHost) {
    return lastElement
  }
  const element = `for=${forwardedNode(clientIp)};proto=${proto}`
  lastElement = host ? `${element};host=${quoteIfNeeded(host)}` : element
  lastElementIp = clientIp
  lastElementProto = proto
  lastElementHost = host
  return lastElement
}

/** The fields that follow the forwarding ones: `Via`, then `X-Request-Id`. */
function finishForwarding(headers: Headers, ctx: ForwardingContext): void {
  appendVia(headers, ctx.via)
  headers.set('x-request-id', ctx.requestId)
}

/** The last pseudonym {@link appendVia} was given, and this hop's entry for it. */
let lastPseudonym = ''
let lastEntry = ''

/** Append `1.1 <pseudonym>` to `Via` (RFC 9110 §7.6.3). */
export function appendVia(headers: Headers, pseudonym: string): void {
  if (pseudonym !== lastPseudonym) {
    lastPseudonym = pseudonym
    lastEntry = `1.1 ${pseudonym}`
  }
  const prior = headers.get('via')
  headers.set('via', prior ? `${prior}, ${lastEntry}` : lastEntry)
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** The last value {@link quoteIfNeeded} was given, and its answer: a Host rarely changes. */
let lastValue = ''
let lastQuoted = ''

/** RFC 7239 §4: a value that is not a token is a quoted-string. */
function quoteIfNeeded(value: string): string {
  if (value === lastValue) return lastQuoted
  lastValue = value
  lastQuoted = TOKEN.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`
  return lastQuoted
}

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/

/** The client's `X-Request-Id` when it is sane (visible ASCII, at most 128 bytes), else none. */
export function acceptableRequestId(value: string | null): string | undefined {
  return value !== null && REQUEST_ID.test(value) ? value : undefined
}
