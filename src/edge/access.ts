/** IP allow and deny lists (as nginx `allow`/`deny`, HAProxy `acl … src`): CIDR, IPv4 and IPv6. */
import { createAddressMatcher } from '../net.ts'

/** Options for {@link createAccessPolicy}. */
export interface AccessLists {
  /** When not empty, only these addresses and ranges are served. */
  readonly allow: readonly string[]
  /** These are refused, even when allowed. */
  readonly deny: readonly string[]
}

/**
 * Build the check. A client is refused when it matches `deny`, or when `allow` is not empty and
 * it matches none of it. An unknown address passes only when `allow` is empty.
 *
 * @example
 * ```ts
 * const allowed = createAccessPolicy({ allow: ['10.0.0.0/8', 'fd00::/8'], deny: ['10.6.6.6'] })
 * allowed('10.1.2.3') // true
 * ```
 * @returns `undefined` when both lists are empty (everyone is served)
 */
export function createAccessPolicy(
  lists: AccessLists,
): ((address: string | undefined) => boolean) | undefined {
  if (lists.allow.length === 0 && lists.deny.length === 0) return undefined
  const allowed = lists.allow.length > 0 ? createAddressMatcher(lists.allow) : () => true
  const denied = createAddressMatcher(lists.deny)
  return (address) => allowed(address) && !denied(address)
}
