/** Client addresses: trusted-proxy matching and RFC 7239 node formatting. */
import ipaddr from 'ipaddr.js'

/**
 * Build a matcher for addresses and CIDR ranges, IPv4 and IPv6. IPv4-mapped IPv6 addresses
 * (`::ffff:10.0.0.1`) match their IPv4 ranges.
 *
 * @throws {Error} naming the entry that is neither an address nor a range
 */
export function createAddressMatcher(
  entries: readonly string[],
): (address: string | undefined) => boolean {
  const ranges = entries.map((entry) => {
    try {
      return entry.includes('/')
        ? ipaddr.parseCIDR(entry)
        : ([ipaddr.parse(entry), entry.includes(':') ? 128 : 32] as const)
    } catch {
      throw new Error(`"${entry}" is not an IP address or CIDR range`)
    }
  })
  if (ranges.length === 0) return () => false
  return (address) => {
    if (!address || !ipaddr.isValid(address)) return false
    const parsed = ipaddr.process(address)
    return ranges.some(
      ([range, bits]) => range.kind() === parsed.kind() && parsed.match(range, bits),
    )
  }
}

/** Strip an IPv4-mapped IPv6 prefix: `::ffff:127.0.0.1` → `127.0.0.1`. */
export function canonicalAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

/** A `Forwarded` node (RFC 7239 §6): IPv6 in brackets and quotes, `unknown` when absent. */
export function forwardedNode(address: string | undefined): string {
  if (!address) return 'unknown'
  return address.includes(':') ? `"[${address}]"` : address
}

/**
 * The client address behind trusted proxies: walk `X-Forwarded-For` from the right, skipping
 * trusted hops, and take the first address that is not trusted (as nginx's `real_ip_recursive`).
 * From an untrusted peer, the peer itself.
 */
export function resolveClientAddress(
  peer: string | undefined,
  forwardedFor: string | null,
  isTrusted: (address: string | undefined) => boolean,
): string | undefined {
  if (!forwardedFor || !isTrusted(peer)) return peer
  const hops = forwardedFor.split(',')
  let client = peer
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!.trim()
    if (!ipaddr.isValid(hop)) break
    client = canonicalAddress(hop)
    if (!isTrusted(client)) break
  }
  return client
}
