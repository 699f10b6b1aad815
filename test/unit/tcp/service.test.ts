/**
 * A TCP listener's service over in-memory sockets, with a real pool, real strategies, real
 * metrics and a real access log: each call on a client or backend socket, and each connect, lands
 * in one ordered list. Checked: the pick (the client's address only), early bytes after the PROXY
 * header (v1 and v2, decoded), a refused connect retried on the next candidate, every candidate
 * failing, the connect timeout (fake time; the late socket destroyed, its events dropped), open
 * connections as load (least-connections) and connect time as latency (least-time), the caps per
 * listener and per backend, closeBackend and closeAll, and one access-log line per connection.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { AccessLog } from '../../../src/access-log.ts'
import type { StrategyName, TcpListenerConfig } from '../../../src/config.ts'
import type { SocketEvents } from '../../../src/socket.ts'
import { Metrics } from '../../../src/metrics.ts'
import { BackendPool } from '../../../src/pool.ts'
import { bindSelector, strategies } from '../../../src/strategies/index.ts'
import { ProxyHeaderParser, type ProxyHeader } from '../../../src/tcp/proxy-protocol.ts'
import type { RelayTimers } from '../../../src/tcp/relay.ts'
import { addressOf, TcpService } from '../../../src/tcp/service.ts'
import type { Backend, Logger } from '../../../src/types.ts'
import { concat, LoggedSocket, text } from './memory-socket.ts'

const BACKENDS: Backend[] = [
  { id: 'a', url: 'tcp://10.0.0.1:5432', weight: 1 },
  { id: 'b', url: 'tcp://10.0.0.2:5432', weight: 1 },
  { id: 'c', url: 'tcp://[2001:db8::3]:5432', weight: 1 },
]

/** How a connect to a backend goes: at once, refused, or when the test says. */
type Mode = 'ok' | 'refuse' | 'hang'

/** A connect the test holds ('hang'): it settles it later. */
interface Pending {
  id: string
  socket: LoggedSocket
  /** What the service gave the connect call (its gate in front of the relay). */
  events: SocketEvents
  resolve(): void
  reject(error: unknown): void
}

const CONFIG: TcpListenerConfig = {
  name: 'pg',
  listen: { host: '192.0.2.10', port: 5432 },
  pool: 'pg',
  idleTimeout: 600_000,
  maxConnections: 10_000,
}

interface SetupOptions {
  strategy?: StrategyName
  backends?: Backend[]
  config?: Partial<TcpListenerConfig>
  connectTimeout?: number
  modes?: Record<string, Mode>
}

/** A service on a real pool, selector, metrics and access log, with logged sockets. */
function setup(options: SetupOptions = {}) {
  const backends = options.backends ?? BACKENDS
  const log: string[] = []
  const warnings: string[] = []
  const lines: string[] = []
  let clock = 0
  let time = 0
  const pool = new BackendPool(backends, { clock: () => clock, now: () => clock })
  const select = bindSelector(pool, strategies[options.strategy ?? 'round-robin'])
  const metrics = new Metrics()
  const accessLog = new AccessLog({
    write: (batch) => lines.push(...batch.trimEnd().split('\n')),
    bufferSize: 1,
  })
  const logger: Logger = {
    info() {},
    warn: (msg, fields) => warnings.push(`${msg} ${String(fields?.backend)}`),
    error() {},
  }
  const timers: RelayTimers = {
    now: () => time,
    setTimeout: () => 0,
    clearTimeout() {},
  }
  const byHost = new Map(backends.map((b) => [addressOf(b).host, b.id]))
  const modes = options.modes ?? {}
  const pending: Pending[] = []
  /** Every backend socket made, by backend id (the last one made). */
  const sockets = new Map<string, LoggedSocket>()
  const service = new TcpService({
    config: { ...CONFIG, ...options.config },
    pool: () => ({
      name: 'pg',
      pool,
      selector: select(),
      connectTimeout: options.connectTimeout ?? 1000,
    }),
    connect: (host, port, events) => {
      const id = byHost.get(host) ?? `${host}?`
      log.push(`connect ${id} ${host} ${port}`)
      const socket = new LoggedSocket(id, log, host, port)
      socket.events = events
      sockets.set(id, socket)
      const mode = modes[id] ?? 'ok'
      if (mode === 'ok') return Promise.resolve(socket)
      if (mode === 'refuse') return Promise.reject(new Error('ECONNREFUSED'))
      return new Promise((resolve, reject) => {
        pending.push({ id, socket, events, resolve: () => resolve(socket), reject })
      })
    },
    logger,
    metrics,
    accessLog,
    timers,
  })
  let clients = 0
  /** A client connection from `address`, accepted as the runtime's listener would. */
  const connect = (address = '203.0.113.7', port = 51234) => {
    const client = new LoggedSocket(`c${++clients}`, log, address, port)
    client.events = service.accept(client)
    return client
  }
  /** The access-log lines so far, parsed, without the wall-clock `time`. */
  const records = () =>
    lines.map((line) => {
      const { time: at, ...rest } = JSON.parse(line) as Record<string, unknown>
      expect(typeof at).toBe('string')
      return rest
    })
  return {
    service,
    pool,
    metrics,
    log,
    warnings,
    records,
    pending,
    sockets,
    connect,
    /** The log so far, emptied. */
    take: () => log.splice(0),
    /** Move the pool's clock (connect times). */
    advanceClock: (ms: number) => (clock += ms),
    /** Move the relay's clock (durations). */
    advanceTime: (ms: number) => (time += ms),
    /** Counters of the listener and of each backend, as plain objects. */
    counters: (key?: string) => ({
      ...(key ? metrics.tcp.backend(key) : metrics.tcp.listener('pg')),
    }),
    inflight: () => Object.fromEntries(backends.map((b) => [b.id, pool.inflight(b)])),
  }
}

describe('TcpService: the access log on a socket that forgets its peer once closed', () => {
  it('names the client, asked at the accept (Bun answers no address after the close)', async () => {
    const t = setup()
    const client = t.connect('198.51.100.23')
    client.send('hi')
    await settle()
    const backend = t.sockets.get('a')!
    backend.send('yo')
    backend.sendEnd()
    client.sendEnd()
    backend.sendClose()
    // As a closed Bun socket: no peer address any more.
    Object.defineProperty(client, 'remoteAddress', { value: undefined })
    client.sendClose()
    expect(t.records()).toEqual([
      record({ client: '198.51.100.23', backend: 'a', bytesIn: 2, bytesOut: 2, connectMs: 0 }),
    ])
  })
})

/** Let the connect attempts (promises) run their course. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

/** A record of the access log with the fields that every connection has. */
function record(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    type: 'tcp',
    listener: 'pg',
    client: '203.0.113.7',
    pool: 'pg',
    backend: null,
    bytesIn: 0,
    bytesOut: 0,
    connectMs: null,
    durationMs: 0,
    reason: 'done',
    ...fields,
  }
}

const COUNTERS = { open: 0, total: 0, bytesIn: 0, bytesOut: 0, connectFailures: 0, refused: 0 }

afterEach(() => {
  vi.useRealTimers()
  vi.restoreAllMocks()
})

describe('TcpService: a relayed connection', () => {
  it('connects to the pick, sends the early bytes, relays both ways, and logs one line', async () => {
    const t = setup()
    const client = t.connect()
    client.send('startup')
    expect(t.take()).toEqual(['connect a 10.0.0.1 5432', 'c1.pause'])
    expect(t.service.size).toBe(1)
    await settle()
    expect(t.take()).toEqual(['a.write startup', 'c1.resume'])
    const backend = t.sockets.get('a')!
    backend.send('ready')
    client.send('query')
    client.sendEnd()
    backend.send('rows')
    backend.sendEnd()
    expect(t.take()).toEqual([
      'c1.write ready',
      'a.write query',
      'a.end',
      'c1.write rows',
      'c1.end',
    ])
    expect(t.inflight()).toEqual({ a: 1, b: 0, c: 0 })
    expect(t.counters('pg/a')).toEqual({ ...COUNTERS, open: 1, total: 1, bytesIn: 12, bytesOut: 9 })
    t.advanceTime(250)
    backend.sendClose()
    client.sendClose()
    // Each side got its FIN once (Node builds an error to drop for a second end()).
    expect(t.take()).toEqual([])
    expect(t.records()).toEqual([
      record({ backend: 'a', bytesIn: 12, bytesOut: 9, connectMs: 0, durationMs: 250 }),
    ])
    expect(t.inflight()).toEqual({ a: 0, b: 0, c: 0 })
    expect(t.service.size).toBe(0)
    expect(t.counters()).toEqual({ ...COUNTERS, total: 1, bytesIn: 12, bytesOut: 9 })
    expect(t.counters('pg/a')).toEqual({ ...COUNTERS, total: 1, bytesIn: 12, bytesOut: 9 })
  })

  it('picks in the strategy order, IPv6 backends included (round-robin: a b c a)', async () => {
    const t = setup()
    for (let i = 0; i < 4; i++) t.connect()
    await settle()
    expect(t.take().filter((line) => line.startsWith('connect'))).toEqual([
      'connect a 10.0.0.1 5432',
      'connect b 10.0.0.2 5432',
      'connect c 2001:db8::3 5432',
      'connect a 10.0.0.1 5432',
    ])
    expect(t.inflight()).toEqual({ a: 2, b: 1, c: 1 })
    expect(t.counters()).toEqual({ ...COUNTERS, open: 4, total: 4 })
  })

  it('hashes on the client address only (ip-hash: the same client, the same backend)', async () => {
    const t = setup({ strategy: 'ip-hash' })
    const picks = (address: string) => {
      for (let i = 0; i < 3; i++) t.connect(address, 40000 + i)
      return t
        .take()
        .filter((line) => line.startsWith('connect'))
        .map((line) => line.split(' ')[1])
    }
    const one = picks('198.51.100.1')
    expect(new Set(one).size).toBe(1)
    expect(picks('198.51.100.1')).toEqual(one)
    await settle()
  })

  it('a backend that resets: the client is destroyed and the line says backend-reset', async () => {
    const t = setup()
    const client = t.connect()
    await settle()
    t.take()
    t.sockets.get('a')!.sendClose(new Error('ECONNRESET'))
    expect(t.take()).toEqual(['c1.destroy'])
    expect(client.destroyed).toBe(true)
    expect(t.records()).toEqual([record({ backend: 'a', connectMs: 0, reason: 'backend-reset' })])
    expect(t.inflight()).toEqual({ a: 0, b: 0, c: 0 })
    expect(t.counters('pg/a').open).toBe(0)
  })
})

describe('TcpService: connect failures', () => {
  it('a refused connect goes to the next candidate; one connect failure is counted', async () => {
    const t = setup({ modes: { a: 'refuse' } })
    const client = t.connect()
    client.send('hi')
    await settle()
    expect(t.take()).toEqual([
      'connect a 10.0.0.1 5432',
      'c1.pause',
      'connect b 10.0.0.2 5432',
      'b.write hi',
      'c1.resume',
    ])
    expect(t.warnings).toEqual(['tcp connect failed a'])
    expect(t.inflight()).toEqual({ a: 0, b: 1, c: 0 })
    expect(t.counters('pg/a')).toEqual({ ...COUNTERS, connectFailures: 1 })
    expect(t.counters('pg/b')).toEqual({ ...COUNTERS, open: 1, total: 1, bytesIn: 2 })
    expect(t.counters()).toEqual({ ...COUNTERS, open: 1, total: 1, bytesIn: 2, connectFailures: 1 })
    client.sendClose()
    expect(t.records()).toEqual([record({ backend: 'b', bytesIn: 2, connectMs: 0 })])
  })

  it('every candidate failing: the client is destroyed and connect-failed is logged', async () => {
    const t = setup({ modes: { a: 'refuse', b: 'refuse', c: 'refuse' } })
    t.advanceTime(3)
    t.connect()
    await settle()
    t.advanceTime(5)
    expect(t.take()).toEqual([
      'connect a 10.0.0.1 5432',
      'connect b 10.0.0.2 5432',
      'connect c 2001:db8::3 5432',
      'c1.destroy',
    ])
    expect(t.warnings).toEqual([
      'tcp connect failed a',
      'tcp connect failed b',
      'tcp connect failed c',
    ])
    expect(t.records()).toEqual([record({ reason: 'connect-failed' })])
    expect(t.counters()).toEqual({ ...COUNTERS, total: 1, connectFailures: 3, refused: 1 })
    for (const id of ['a', 'b', 'c']) {
      expect(t.counters(`pg/${id}`)).toEqual({ ...COUNTERS, connectFailures: 1 })
    }
    expect(t.inflight()).toEqual({ a: 0, b: 0, c: 0 })
    expect(t.service.size).toBe(0)
  })

  it('a backup is tried once every primary failed to connect', async () => {
    const backends = [BACKENDS[0]!, BACKENDS[1]!, { ...BACKENDS[2]!, backup: true }]
    const t = setup({ backends, modes: { a: 'refuse', b: 'refuse' } })
    t.connect()
    await settle()
    expect(t.take()).toEqual([
      'connect a 10.0.0.1 5432',
      'connect b 10.0.0.2 5432',
      'connect c 2001:db8::3 5432',
    ])
    expect(t.inflight()).toEqual({ a: 0, b: 0, c: 1 })
  })

  it('a connect timeout: the next candidate takes it; the late socket is destroyed unheard', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    // The wall clock stands still, as it does when all of this runs within one millisecond:
    // the next candidate's deadline, set when the first one's passes, is still 1000 ms away.
    vi.spyOn(Date, 'now').mockReturnValue(1_000_000)
    const t = setup({ modes: { a: 'hang' }, connectTimeout: 1000 })
    const client = t.connect()
    client.send('early')
    vi.advanceTimersByTime(999)
    await settle()
    expect(t.take()).toEqual(['connect a 10.0.0.1 5432', 'c1.pause'])
    vi.advanceTimersByTime(1)
    await settle()
    expect(t.take()).toEqual(['connect b 10.0.0.2 5432', 'b.write early', 'c1.resume'])
    expect(t.counters('pg/a')).toEqual({ ...COUNTERS, connectFailures: 1 })
    expect(t.inflight()).toEqual({ a: 0, b: 1, c: 0 })

    // The abandoned attempt connects after all: destroyed at once, and nothing it reports
    // reaches the client.
    const late = t.pending[0]!
    late.events.data(new TextEncoder().encode('late greeting'))
    late.resolve()
    await settle()
    late.events.data(new TextEncoder().encode('late data'))
    late.events.end()
    late.events.close(new Error('reset'))
    expect(t.take()).toEqual(['a.destroy'])
    expect(client.destroyed).toBe(false)
    t.sockets.get('b')!.send('from b')
    expect(t.take()).toEqual(['c1.write from b'])
    expect(client.output()).toBe('from b')
    expect(t.inflight()).toEqual({ a: 0, b: 1, c: 0 })
  })

  it('a connect that fails after its timeout changes nothing more', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const t = setup({ modes: { a: 'hang', b: 'hang', c: 'hang' }, connectTimeout: 100 })
    t.connect()
    for (let i = 0; i < 3; i++) {
      vi.advanceTimersByTime(100)
      await settle()
    }
    expect(t.take()).toEqual([
      'connect a 10.0.0.1 5432',
      'connect b 10.0.0.2 5432',
      'connect c 2001:db8::3 5432',
      'c1.destroy',
    ])
    for (const attempt of t.pending) attempt.reject(new Error('ETIMEDOUT'))
    await settle()
    expect(t.take()).toEqual([])
    expect(t.records()).toEqual([record({ reason: 'connect-failed' })])
    expect(t.counters()).toEqual({ ...COUNTERS, total: 1, connectFailures: 3, refused: 1 })
  })
})

describe('TcpService: load and limits', () => {
  it('least-connections counts open connections; they drop when a connection ends', async () => {
    const t = setup({ strategy: 'least-connections' })
    const clients = [t.connect(), t.connect(), t.connect()]
    await settle()
    expect(t.inflight()).toEqual({ a: 1, b: 1, c: 1 })
    t.take()
    // b's client leaves: b has the fewest open connections, so it takes the next one.
    clients[1]!.sendClose()
    expect(t.take()).toEqual(['b.destroy'])
    expect(t.inflight()).toEqual({ a: 1, b: 0, c: 1 })
    t.connect()
    t.connect()
    await settle()
    expect(t.take().filter((line) => line.startsWith('connect'))).toEqual([
      'connect b 10.0.0.2 5432',
      'connect a 10.0.0.1 5432',
    ])
    expect(t.inflight()).toEqual({ a: 2, b: 1, c: 1 })
    expect(t.counters('pg/b')).toEqual({ ...COUNTERS, open: 1, total: 2 })
  })

  it('least-time learns the connect time; the access log has it', async () => {
    const t = setup({ strategy: 'least-time', modes: { a: 'hang' } })
    const first = t.connect()
    t.advanceClock(30)
    t.pending[0]!.resolve()
    await settle()
    expect(t.pool.latency(BACKENDS[0]!)).toBe(30)
    // a is slow and busy: the next connections go elsewhere.
    t.connect()
    t.connect()
    await settle()
    expect(t.take().filter((line) => line.startsWith('connect'))).toEqual([
      'connect a 10.0.0.1 5432',
      'connect b 10.0.0.2 5432',
      'connect c 2001:db8::3 5432',
    ])
    first.sendClose()
    expect(t.records()).toEqual([record({ backend: 'a', connectMs: 30 })])
  })

  it('over maxConnections on the listener, a connection is closed at once: refused', async () => {
    const t = setup({ config: { maxConnections: 2 } })
    const [one] = [t.connect(), t.connect()]
    await settle()
    t.take()
    t.connect('198.51.100.9')
    expect(t.take()).toEqual(['c3.destroy'])
    expect(t.records()).toEqual([record({ client: '198.51.100.9', reason: 'refused' })])
    expect(t.counters()).toEqual({ ...COUNTERS, open: 2, total: 3, refused: 1 })
    expect(t.service.size).toBe(2)
    // A slot frees up: the next one is taken.
    one!.sendClose()
    t.connect()
    await settle()
    expect(t.take()).toEqual(['a.destroy', 'connect c 2001:db8::3 5432'])
    expect(t.service.size).toBe(2)
  })

  it("a backend at its maxConnections is passed over; with none left, it's connect-failed", async () => {
    const backends = BACKENDS.map((b) => ({ ...b, maxConnections: 1 }))
    const t = setup({ strategy: 'ip-hash', backends })
    for (let i = 0; i < 4; i++) t.connect()
    await settle()
    const connects = t.log.filter((line) => line.startsWith('connect')).map((l) => l.split(' ')[1])
    expect([...connects].sort()).toEqual(['a', 'b', 'c'])
    expect(t.log.filter((line) => line.startsWith('c4'))).toEqual(['c4.destroy'])
    expect(t.inflight()).toEqual({ a: 1, b: 1, c: 1 })
    expect(t.records()).toEqual([record({ reason: 'connect-failed' })])
    expect(t.counters()).toEqual({ ...COUNTERS, open: 3, total: 4, refused: 1 })
  })
})

describe('TcpService: PROXY protocol', () => {
  /** The backend's bytes: the header first, in a write of its own, then the client's. */
  async function sent(version: 'v1' | 'v2', client: string, listen: string) {
    const t = setup({ config: { sendProxy: version, listen: { host: listen, port: 5432 } } })
    t.connect(client, 51234).send('SSLRequest')
    await settle()
    const written = t.sockets.get('a')!.written
    const alone = new ProxyHeaderParser().push(written[0]!)
    expect(alone.state === 'done' && alone.rest.length).toBe(0)
    const all = new ProxyHeaderParser().push(concat(...written))
    if (all.state !== 'done') throw new Error(`not a PROXY header: ${JSON.stringify(all)}`)
    return { header: all.header, rest: text(all.rest) }
  }

  it('v1 comes first, with the client and the listener address (TCP4)', async () => {
    expect(await sent('v1', '203.0.113.7', '192.0.2.10')).toEqual({
      header: {
        version: 1,
        command: 'PROXY',
        family: 'TCP4',
        source: { address: '203.0.113.7', port: 51234 },
        destination: { address: '192.0.2.10', port: 5432 },
        tlvs: [],
      } satisfies ProxyHeader,
      rest: 'SSLRequest',
    })
  })

  it('v2 comes first, IPv4 and IPv6', async () => {
    const four = await sent('v2', '203.0.113.7', '192.0.2.10')
    expect(four.rest).toBe('SSLRequest')
    expect(four.header).toMatchObject({
      version: 2,
      command: 'PROXY',
      family: 'TCP4',
      source: { address: '203.0.113.7', port: 51234 },
      destination: { address: '192.0.2.10', port: 5432 },
    })
    const six = await sent('v2', '2001:db8::7', '2001:db8::10')
    expect(six.rest).toBe('SSLRequest')
    expect(six.header).toMatchObject({
      version: 2,
      command: 'PROXY',
      family: 'TCP6',
      source: { address: '2001:db8::7', port: 51234 },
      destination: { address: '2001:db8::10', port: 5432 },
    })
  })

  it('nothing is sent before the backend answers the connect, without sendProxy', async () => {
    const t = setup()
    t.connect().send('x')
    await settle()
    expect(t.sockets.get('a')!.written.map(text)).toEqual(['x'])
  })
})

describe('TcpService: closing', () => {
  it('closeBackend closes the connections to that backend only; closeAll the rest', async () => {
    const t = setup()
    const clients = [t.connect(), t.connect(), t.connect(), t.connect()]
    await settle()
    t.take()
    t.service.closeBackend('a')
    expect(t.take()).toEqual(['c1.destroy', 'a.destroy', 'c4.destroy', 'a.destroy'])
    expect(t.records()).toEqual([
      record({ backend: 'a', connectMs: 0, reason: 'shutdown' }),
      record({ backend: 'a', connectMs: 0, reason: 'shutdown' }),
    ])
    expect(t.service.size).toBe(2)
    expect(t.inflight()).toEqual({ a: 0, b: 1, c: 1 })
    expect(t.counters('pg/a').open).toBe(0)
    expect(clients[1]!.destroyed).toBe(false)

    expect(t.service.closeAll()).toBe(2)
    expect(t.take()).toEqual(['c2.destroy', 'b.destroy', 'c3.destroy', 'c.destroy'])
    expect(t.service.size).toBe(0)
    expect(t.inflight()).toEqual({ a: 0, b: 0, c: 0 })
    expect(t.counters()).toEqual({ ...COUNTERS, total: 4 })
  })

  it('connections that end on their own leave the open ones, in order: first, middle, last', async () => {
    const t = setup()
    const clients = [1, 2, 3, 4, 5].map(() => t.connect())
    await settle()
    expect(t.service.size).toBe(5)
    // c1 is the first of the open ones, c3 one in the middle, c5 the last.
    for (const at of [0, 2, 4]) clients[at]!.sendClose(new Error('ECONNRESET'))
    expect(t.service.size).toBe(2)
    t.take()
    expect(t.service.closeAll()).toBe(2)
    expect(t.take()).toEqual(['c2.destroy', 'b.destroy', 'c4.destroy', 'a.destroy'])
    expect(t.service.size).toBe(0)
    // Accepting again after the list was emptied.
    t.connect()
    await settle()
    expect(t.service.size).toBe(1)
    expect(t.service.closeAll()).toBe(1)
    expect(t.service.size).toBe(0)
  })

  it('a client gone while connecting: the backend socket is dropped and its slot freed', async () => {
    const t = setup({ modes: { a: 'hang' } })
    const client = t.connect()
    client.send('x')
    client.sendClose()
    t.pending[0]!.resolve()
    await settle()
    expect(t.take()).toEqual(['connect a 10.0.0.1 5432', 'c1.pause', 'a.destroy'])
    expect(t.records()).toEqual([record({ backend: 'a', bytesIn: 1, connectMs: 0 })])
    expect(t.inflight()).toEqual({ a: 0, b: 0, c: 0 })
    expect(t.counters('pg/a').open).toBe(0)
    expect(t.service.size).toBe(0)
  })

  it('closeAll while connecting: the late socket is dropped and its slot freed', async () => {
    const t = setup({ modes: { a: 'hang' } })
    t.connect()
    expect(t.service.closeAll()).toBe(1)
    expect(t.records()).toEqual([record({ reason: 'shutdown' })])
    t.pending[0]!.resolve()
    await settle()
    expect(t.take()).toEqual(['connect a 10.0.0.1 5432', 'c1.destroy', 'a.destroy'])
    expect(t.inflight()).toEqual({ a: 0, b: 0, c: 0 })
    expect(t.counters('pg/a').open).toBe(0)
    expect(t.records()).toHaveLength(1)
  })
})
