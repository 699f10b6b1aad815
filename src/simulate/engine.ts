/**
 * The simulator's event loop: it replays a {@link Workload} in virtual time through the real
 * strategy code (the `strategies` registry, a `BackendPool` as the `LoadView`, active health
 * checks through `recordProbe`, and the sticky layer's `pinnedFirst`), and records what every
 * request experienced.
 */
import { LOAD_METRICS_HEADER, recordLoadMetrics } from '../load-metrics.ts'
import { BackendPool } from '../pool.ts'
import type { StrategyName } from '../config.ts'
import { bindSelector } from '../strategies/bind.ts'
import type { Strategy } from '../strategies/strategy.ts'
import { pinnedFirst } from '../sticky.ts'
import type { Backend } from '../types.ts'
import { EventQueue } from './events.ts'
import { createRandom, seedOf } from './random.ts'
import type { Scenario } from './scenario.ts'
import type { Workload } from './workload.ts'

/** What one strategy did with one workload. */
export interface RunRecord {
  readonly strategy: StrategyName
  readonly sticky: boolean
  /** End-to-end latency of each answered request, in ms (retries included). */
  readonly latencies: Float64Array
  /** When each answered request arrived, in ms (parallel to {@link latencies}). */
  readonly answeredAt: Float64Array
  /** Requests answered by each backend, by id. */
  readonly served: Readonly<Record<string, number>>
  /** Time-averaged in-flight requests ÷ concurrency, per backend id. */
  readonly pressure: Readonly<Record<string, number>>
  /** Requests that were sent to a backend while it refused connections. */
  readonly hitFailed: number
  /** Requests that got no answer (every attempt refused, or no backend at all). */
  readonly errors: number
  /** Requests in the workload. */
  readonly requests: number
}

type Event =
  | { kind: 'arrive'; req: number }
  | { kind: 'done'; req: number; backend: number }
  | { kind: 'refused'; req: number; backend: number }
  | { kind: 'probe'; backend: number }

/**
 * Run one strategy over a workload.
 *
 * @example
 * ```ts
 * const scenario = defaultScenario({ seed: 1 })
 * runStrategy(scenario, generateWorkload(scenario), strategies['least-connections'])
 * ```
 */
export function runStrategy(scenario: Scenario, workload: Workload, strategy: Strategy): RunRecord {
  const sims = scenario.backends
  const count = sims.length
  const backends: Backend[] = sims.map((b) => ({
    id: b.id,
    url: `http://${b.id}.sim:80`,
    weight: b.weight,
  }))
  const indexOf = new Map(backends.map((b, i) => [b.id, i]))
  let now = 0
  const pool = new BackendPool(backends, {
    rise: scenario.probe.rise,
    fall: scenario.probe.fall,
    now: () => now,
    clock: () => now,
  })
  // As the balancer does: rebuilt when the eligible set changes, told of every load change.
  // Strategy randomness is seeded per strategy, so each replays exactly.
  const random = createRandom(seedOf(strategy.name, scenario.seed)).next
  const currentSelector = bindSelector(pool, strategy, { random })
  const loadMetrics = strategy.needs?.utilisation === true

  // Backend state: busy workers, FIFO queues, and the in-flight integral for the pressure figure.
  const busy = new Uint32Array(count)
  const queues: number[][] = sims.map(() => [])
  const queueHead = new Uint32Array(count)
  const inflight = new Uint32Array(count)
  const area = new Float64Array(count)
  const lastChange = new Float64Array(count)
  const served = new Float64Array(count)
  const failing = (i: number, t: number) =>
    sims[i]!.failures?.some((w) => t >= w.from && t < w.to) ?? false

  const n = workload.at.length
  const attempts = new Uint8Array(n)
  const hit = new Uint8Array(n)
  const attemptStart = new Float64Array(n)
  const iterators: (Iterator<Backend> | undefined)[] = new Array(n)
  const pins = new Map<number, string>()
  const latencies: number[] = []
  const answeredAt: number[] = []
  let errors = 0

  const events = new EventQueue<Event>()
  const probeRandom = createRandom(seedOf('probes', scenario.seed))
  const probeGap = () =>
    scenario.probe.intervalMs * (1 + scenario.probe.jitter * (2 * probeRandom.next() - 1))
  for (let i = 0; i < count; i++) events.push(probeGap(), { kind: 'probe', backend: i })

  const load = (i: number, delta: 1 | -1) => {
    area[i]! += inflight[i]! * (now - lastChange[i]!)
    lastChange[i] = now
    inflight[i]! += delta
    if (delta === 1) pool.acquire(backends[i]!)
    else pool.release(backends[i]!)
  }

  const input = (req: number) => {
    const c = workload.client[req]!
    const path = `/item/${workload.path[req]}`
    return {
      clientIp: `10.${(c >> 16) & 255}.${(c >> 8) & 255}.${c & 255}`,
      path,
      query: '',
      header: () => null,
      cookie: () => undefined,
    }
  }

  const start = (i: number, req: number) => {
    busy[i]!++
    events.push(now + workload.cost[req]! * sims[i]!.serviceMs, { kind: 'done', req, backend: i })
  }

  const dispatch = (req: number) => {
    let candidates = iterators[req]
    if (!candidates) {
      const base = currentSelector().candidates(input(req), pool)
      const pin = scenario.sticky ? pins.get(workload.client[req]!) : undefined
      const pinned = pin === undefined ? undefined : pool.sessionTarget(pin)
      candidates = (pinned ? pinnedFirst(pinned, base) : base)[Symbol.iterator]()
      iterators[req] = candidates
    }
    const next = candidates.next()
    if (next.done) {
      errors++
      iterators[req] = undefined
      return
    }
    const i = indexOf.get(next.value.id)!
    attempts[req]!++
    attemptStart[req] = now
    load(i, 1)
    if (failing(i, now)) {
      hit[req] = 1
      events.push(now + scenario.connectFailMs, { kind: 'refused', req, backend: i })
    } else if (busy[i]! < sims[i]!.concurrency) {
      start(i, req)
    } else {
      queues[i]!.push(req)
    }
  }

  let arrival = 0
  while (arrival < n || events.size > 0) {
    if (arrival < n && workload.at[arrival]! < events.peekTime()) {
      now = workload.at[arrival]!
      dispatch(arrival++)
      continue
    }
    const { time, item } = events.pop()!
    now = time
    switch (item.kind) {
      case 'probe': {
        if (now >= scenario.durationMs && arrival >= n) break
        pool.recordProbe(backends[item.backend]!.id, !failing(item.backend, now), 'simulated')
        events.push(now + probeGap(), item)
        break
      }
      case 'refused': {
        load(item.backend, -1)
        if (attempts[item.req]! < scenario.maxAttempts) dispatch(item.req)
        else {
          errors++
          iterators[item.req] = undefined
        }
        break
      }
      case 'done': {
        const i = item.backend
        const req = item.req
        const sim = sims[i]!
        // What the proxy measures of a response: the time to its headers, and (for the
        // strategies that need it) the utilisation the backend reports in its
        // `Endpoint-Load-Metrics` header: here, its busy share of workers.
        pool.observeLatency(backends[i]!, now - attemptStart[req]!)
        if (loadMetrics) {
          const utilisation = (busy[i]! / sim.concurrency).toFixed(3)
          const headers = new Headers({
            [LOAD_METRICS_HEADER]: `TEXT cpu_utilization=${utilisation}`,
          })
          recordLoadMetrics(pool, backends[i]!, headers)
        }
        busy[i]!--
        load(i, -1)
        served[i]!++
        latencies.push(now - workload.at[req]!)
        answeredAt.push(workload.at[req]!)
        iterators[req] = undefined
        if (scenario.sticky) pins.set(workload.client[req]!, backends[i]!.id)
        const queue = queues[i]!
        if (queueHead[i]! < queue.length) {
          start(i, queue[queueHead[i]!++]!)
          if (queueHead[i]! > 1024 && queueHead[i]! * 2 > queue.length) {
            queue.splice(0, queueHead[i]!)
            queueHead[i] = 0
          }
        }
        break
      }
    }
  }

  const end = Math.max(now, scenario.durationMs)
  const pressure: Record<string, number> = {}
  const servedBy: Record<string, number> = {}
  backends.forEach((b, i) => {
    area[i]! += inflight[i]! * (end - lastChange[i]!)
    pressure[b.id] = area[i]! / end / sims[i]!.concurrency
    servedBy[b.id] = served[i]!
  })
  return {
    strategy: strategy.name,
    sticky: scenario.sticky,
    latencies: Float64Array.from(latencies),
    answeredAt: Float64Array.from(answeredAt),
    served: servedBy,
    pressure,
    hitFailed: hit.reduce((sum, h) => sum + h, 0),
    errors,
    requests: n,
  }
}
