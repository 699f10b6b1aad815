/**
 * DNS service discovery: a name's A/AAAA records (each address one backend) or its SRV records
 * (RFC 2782: targets and ports; the lowest priority serves, higher ones are backups), resolved on
 * an interval through the runtime's {@link DnsResolver}, so that the pool follows an autoscaling
 * group or a Kubernetes headless service. A failed lookup keeps the backends found before, as
 * Envoy's strict DNS clusters do.
 */
import { defaultBackendId, normaliseOrigin, type DnsDiscovery } from './config.ts'
import { ProbeScheduler } from './health/scheduler.ts'
import type { Backend, DnsResolver, Logger } from './types.ts'

/** The key a discovery entry's backends are grouped under: `dns:HOST:PORT` or `dns+srv:NAME`. */
export function discoveryKey(entry: DnsDiscovery): string {
  return entry.type === 'SRV' ? `dns+srv:${entry.name}` : `dns:${entry.name}:${entry.port}`
}

/** A backend for one resolved address. */
function backendFor(
  entry: DnsDiscovery,
  address: string,
  port: number,
  weight: number,
  backup: boolean,
): Backend {
  const host = address.includes(':') ? `[${address}]` : address
  const url = normaliseOrigin(`${entry.scheme}://${host}:${port}`)
  return {
    id: defaultBackendId(url),
    url,
    weight,
    backup,
    meta: { source: discoveryKey(entry) },
  }
}

/** An IPv4 or IPv6 literal, which needs no lookup. */
function isAddress(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(':')
}

async function addressesOf(
  resolver: DnsResolver,
  name: string,
  type: 'A' | 'AAAA' | 'A+AAAA' | 'SRV',
): Promise<string[]> {
  if (isAddress(name)) return [name]
  const families: (4 | 6)[] = type === 'A' ? [4] : type === 'AAAA' ? [6] : [4, 6]
  const results = await Promise.allSettled(families.map((f) => resolver.addresses(name, f)))
  const found = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []))
  // Every family failing is a failed lookup; one family without records is not.
  if (found.length === 0 && results.every((r) => r.status === 'rejected')) {
    throw (results[0] as PromiseRejectedResult).reason
  }
  return found
}

/**
 * Resolve one discovery entry to its backends, in a stable order.
 *
 * @throws when the lookup itself failed (as opposed to finding no records)
 */
export async function resolveEntry(entry: DnsDiscovery, resolver: DnsResolver): Promise<Backend[]> {
  const backends = new Map<string, Backend>()
  if (entry.type === 'SRV') {
    const records = await resolver.srv(entry.name)
    const primary = Math.min(...records.map((r) => r.priority))
    for (const record of [...records].sort((a, b) => a.priority - b.priority)) {
      const target = record.name.replace(/\.$/, '')
      // RFC 2782: a target of "." means the service is decidedly not available.
      if (target === '') continue
      const addresses = await addressesOf(resolver, target, 'A+AAAA').catch(() => [])
      const weight = Math.min(10_000, Math.max(1, record.weight)) * entry.weight
      for (const address of addresses) {
        const backup = entry.backup || record.priority > primary
        const backend = backendFor(entry, address, record.port, Math.min(weight, 10_000), backup)
        if (!backends.has(backend.id)) backends.set(backend.id, backend)
      }
    }
  } else {
    for (const address of await addressesOf(resolver, entry.name, entry.type)) {
      const backend = backendFor(entry, address, entry.port!, entry.weight, entry.backup)
      if (!backends.has(backend.id)) backends.set(backend.id, backend)
    }
  }
  return [...backends.values()].sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0))
}

/** Options for {@link DnsDiscoveryRunner}. */
export interface DiscoveryOptions {
  readonly entries: readonly DnsDiscovery[]
  readonly resolver: DnsResolver
  /** The backends an entry resolves to now, after each successful lookup. */
  readonly onUpdate: (key: string, backends: Backend[]) => void
  readonly logger?: Logger
}

/**
 * Resolves each entry at its interval (rounds never overlap; ±10% jitter) and reports the result.
 *
 * @example
 * ```ts
 * const discovery = new DnsDiscoveryRunner({ entries, resolver, onUpdate })
 * discovery.start()
 * ```
 */
export class DnsDiscoveryRunner {
  readonly #schedulers: ProbeScheduler[]

  constructor(options: DiscoveryOptions) {
    const { resolver, onUpdate, logger } = options
    this.#schedulers = options.entries.map((entry) => {
      const key = discoveryKey(entry)
      let failing = false
      return new ProbeScheduler({
        interval: entry.interval,
        jitter: 0.1,
        round: async (signal) => {
          let backends: Backend[]
          try {
            backends = await resolveEntry(entry, resolver)
          } catch (error) {
            if (!failing) {
              logger?.warn('dns discovery failed: keeping the backends found before', {
                name: key,
                error: String((error as Error)?.message ?? error),
              })
            }
            failing = true
            return
          }
          failing = false
          if (!signal.aborted) onUpdate(key, backends)
        },
      })
    })
  }

  /** Resolve every entry now, then at its interval. */
  start(): void {
    for (const scheduler of this.#schedulers) scheduler.start()
  }

  async stop(): Promise<void> {
    await Promise.all(this.#schedulers.map((scheduler) => scheduler.stop()))
  }
}
