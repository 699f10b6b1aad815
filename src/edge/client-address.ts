/**
 * The client's address: the socket's peer, or, when the peer is a trusted proxy, the address it
 * forwarded in `X-Forwarded-For` or `Forwarded` (RFC 7239), walked from the right past trusted
 * hops (as nginx's `real_ip_recursive`).
 */
import ipaddr from 'ipaddr.js'
import { canonicalAddress, resolveClientAddress } from '../net.ts'

/**
 * The `for=` nodes of a `Forwarded` field (RFC 7239 §4, §6), as addresses: quotes, brackets and
 * ports removed. Obfuscated and `unknown` nodes are kept as they are, and are not addresses.
 */
export function forwardedFor(value: string): string[] {
  const nodes: string[] = []
  for (const element of value.split(',')) {
    for (const pair of element.split(';')) {
      const eq = pair.indexOf('=')
      if (eq === -1 || pair.slice(0, eq).trim().toLowerCase() !== 'for') continue
      let node = pair.slice(eq + 1).trim()
      if (node.startsWith('"') && node.endsWith('"')) node = node.slice(1, -1)
      if (node.startsWith('[')) node = node.slice(1, node.indexOf(']'))
      else if (node.indexOf(':') === node.lastIndexOf(':')) node = node.split(':')[0]!
      nodes.push(node)
    }
  }
  return nodes
}

/**
 * Resolve the client address.
 *
 * @param peer the connection's peer address
 * @param headers the request's header fields
 * @param isTrusted whether an address is a trusted proxy
 */
export function clientAddressOf(
  peer: string | undefined,
  headers: Headers,
  isTrusted: (address: string | undefined) => boolean,
): string | undefined {
  if (!isTrusted(peer)) return peer
  const xff = headers.get('x-forwarded-for')
  if (xff) return resolveClientAddress(peer, xff, isTrusted)
  const forwarded = headers.get('forwarded')
  if (!forwarded) return peer
  const hops = forwardedFor(forwarded)
  let client = peer
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!ipaddr.isValid(hops[i]!)) break
    client = canonicalAddress(hops[i]!)
    if (!isTrusted(client)) break
  }
  return client
}
