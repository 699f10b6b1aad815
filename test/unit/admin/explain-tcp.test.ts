/**
 * `GET /explain?listener=NAME&ip=` (and `?pool=NAME&ip=`): which backend of a TCP listener's pool
 * a new connection from an address would get, and why. Checked against real connections through
 * the listener's service (in-memory sockets, a recording connect): the explained pick is the
 * backend the service connects to, open connections are the load least-connections orders by,
 * backups come last on standby, and a full listener or a backend at its cap says so.
 */
import { describe, expect, it } from 'vitest'
import type { ConfigInput } from '../../../src/config.ts'
import type { Connect } from '../../../src/socket.ts'
import { adminBalancer } from '../admin-helpers.ts'
import { MemorySocket } from '../tcp/memory-socket.ts'

/** An admin API answer's JSON, read loosely: the tests check its shape. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const PG = [
  { url: 'tcp://10.0.0.1:5432', id: 'a' },
  { url: 'tcp://10.0.0.2:5432', id: 'b' },
  { url: 'tcp://10.0.0.3:5432', id: 'c' },
]

/** A pool `pg` of three backends behind the listener `pg`, and an HTTP pool `web`. */
function pgConfig(pool: Record<string, unknown> = {}, listener: Record<string, unknown> = {}) {
  return {
    backends: ['http://127.0.0.1:9001'],
    pools: { pg: { backends: PG, strategy: 'consistent-hash', ...pool } },
    tcp: [{ name: 'pg', listen: { port: 15432 }, pool: 'pg', ...listener }],
  } as ConfigInput
}

/** Let the service's connect (a few promise turns) finish. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0))

/** The admin helpers over a TCP config, with a connect that records each backend reached. */
function setup(config: ConfigInput) {
  const reached: string[] = []
  const backends: MemorySocket[] = []
  const connect: Connect = async (host, port, events) => {
    reached.push(`${host}:${port}`)
    const socket = new MemorySocket(host, port)
    socket.events = events
    backends.push(socket)
    return socket
  }
  const parts = adminBalancer(config, undefined, { connect })
  const json = async (path: string) => {
    const response = await parts.admin('GET', path)
    return { status: response.status, body: (await response.json()) as Json }
  }
  /** A new connection to the listener from `ip`, once its backend is connected. */
  const open = async (ip: string) => {
    const client = MemorySocket.accept(parts.balancer.tcp[0]!.accept, ip)
    await settle()
    return client
  }
  return { ...parts, json, open, reached, backends }
}

/** The URL's host:port, as the service connects to it. */
const addressOf = (id: string) => PG.find((b) => b.id === id)!.url.slice('tcp://'.length)

describe('GET /explain?listener=&ip=', () => {
  it('explains the consistent-hash pick by client address, and the connection goes there', async () => {
    const { json, open, reached } = setup(pgConfig())
    const { status, body } = await json('/explain?listener=pg&ip=203.0.113.7')
    expect(status).toBe(200)
    expect(body).toMatchObject({
      connection: { ip: '203.0.113.7', listener: 'pg', pool: 'pg' },
      listeners: [{ name: 'pg', listen: { port: 15432 }, open: 0, maxConnections: 10_000 }],
      strategy: 'consistent-hash',
      deterministic: true,
      hashKey: { source: 'ip', value: '203.0.113.7' },
      excluded: [],
    })
    expect(body.candidates.map((c: Json) => c.rank)).toEqual([1, 2, 3])
    expect(new Set(body.candidates.map((c: Json) => c.id))).toEqual(new Set(['a', 'b', 'c']))
    expect(body.chosen).toBe(body.candidates[0].id)
    expect(body.verdict).toBeUndefined()
    // No HTTP in sight: the answer has no request, route or sticky verdict.
    expect(body).not.toHaveProperty('request')
    expect(body).not.toHaveProperty('sticky')

    // Addresses spread over the backends, and each connection lands where explain said.
    const picks = new Set<string>()
    for (let i = 1; i <= 24; i++) {
      const ip = `198.51.100.${i}`
      const { body: answer } = await json(`/explain?listener=pg&ip=${ip}`)
      picks.add(answer.chosen)
      const client = await open(ip)
      expect(reached.at(-1), ip).toBe(addressOf(answer.chosen))
      client.sendClose()
    }
    expect(picks.size).toBeGreaterThan(1)
  })

  it('answers the same through ?pool=, naming every listener in front of the pool', async () => {
    const config = pgConfig()
    ;(config.tcp as Json[]).push({ name: 'pg-ro', listen: { port: 15433 }, pool: 'pg' })
    const { json } = setup(config)
    const byListener = (await json('/explain?listener=pg-ro&ip=2001:db8::7')).body
    const byPool = (await json('/explain?pool=pg&ip=2001:db8::7')).body
    expect(byListener.connection).toEqual({ ip: '2001:db8::7', listener: 'pg-ro', pool: 'pg' })
    expect(byListener.listeners.map((l: Json) => l.name)).toEqual(['pg-ro'])
    expect(byPool.connection).toEqual({ ip: '2001:db8::7', pool: 'pg' })
    expect(byPool.listeners.map((l: Json) => l.name)).toEqual(['pg', 'pg-ro'])
    expect(byPool.chosen).toBe(byListener.chosen)
    expect(byPool.candidates).toEqual(byListener.candidates)
  })

  it('orders least-connections by open connections, and says who is excluded and why', async () => {
    const { json, open, balancer, admin } = setup(
      pgConfig({
        strategy: 'least-connections',
        backends: [...PG, { url: 'tcp://10.0.0.4:5432', id: 'd', backup: true }],
      }),
    )
    // Two connections held open: least-connections sends them to a, then b.
    const first = await open('192.0.2.10')
    const second = await open('192.0.2.11')
    const body = (await json('/explain?listener=pg&ip=192.0.2.12')).body
    expect(body.hashKey).toBeNull()
    expect(body.listeners[0].open).toBe(2)
    expect(body.candidates.map((c: Json) => [c.id, c.inflight, c.score])).toEqual([
      ['c', 0, 0],
      ['a', 1, 1],
      ['b', 1, 1],
      ['d', 0, 0],
    ])
    expect(body.chosen).toBe('c')
    // The backup is tried last, when every candidate fails to connect.
    expect(body.candidates[3]).toMatchObject({ rank: 4, id: 'd', backup: true, standby: true })
    expect(body.candidates.slice(0, 3).every((c: Json) => c.standby === undefined)).toBe(true)

    // Down and draining backends are excluded, with the reason.
    for (let i = 0; i < 3; i++) balancer.pools.get('pg')!.pool.recordProbe('c', false, 'refused')
    expect((await admin('PATCH', '/pools/pg/backends/a', { draining: true })).status).toBe(200)
    const later = (await json('/explain?listener=pg&ip=192.0.2.12')).body
    expect(later.chosen).toBe('b')
    expect(later.candidates.map((c: Json) => c.id)).toEqual(['b', 'd'])
    expect(Object.fromEntries(later.excluded.map((e: Json) => [e.id, e.reason]))).toEqual({
      a: 'draining',
      c: 'down',
    })
    expect(later.excluded.find((e: Json) => e.id === 'c').lastProbe).toMatchObject({
      ok: false,
      reason: 'refused',
    })
    first.sendClose()
    second.sendClose()
    const after = (await json('/explain?listener=pg&ip=192.0.2.12')).body
    expect(after.listeners[0].open).toBe(0)
    expect(after.candidates[0]).toMatchObject({ id: 'b', inflight: 0 })
  })

  it('passes over a backend at its maxConnections, and says when the listener is full', async () => {
    const { json, open } = setup(
      pgConfig(
        {
          strategy: 'round-robin',
          backends: [{ ...PG[0], maxConnections: 1 }, PG[1]],
        },
        { maxConnections: 2 },
      ),
    )
    const first = await open('192.0.2.20')
    const body = (await json('/explain?listener=pg&ip=192.0.2.21')).body
    expect(body.deterministic).toBe(false)
    expect(body.candidates[0]).toMatchObject({ id: 'a', skipped: 'at maxConnections (1)' })
    expect(body.chosen).toBe('b')
    const second = await open('192.0.2.21')
    const full = (await json('/explain?listener=pg&ip=192.0.2.22')).body
    expect(full.listeners[0]).toMatchObject({ open: 2, maxConnections: 2 })
    expect(full.chosen).toBeNull()
    expect(full.verdict).toBe(
      'Listener pg is at maxConnections (2): the connection would be closed at once',
    )
    // Asked by pool, the pick stands: another listener in front of it may have room.
    const byPool = (await json('/explain?pool=pg&ip=192.0.2.22')).body
    expect(byPool.listeners[0]).toMatchObject({ open: 2, maxConnections: 2 })
    expect(byPool.chosen).toBe('b')
    expect(byPool.verdict).toBeUndefined()
    first.sendClose()
    second.sendClose()
  })

  it('says when no backend is available', async () => {
    const { json, admin } = setup(pgConfig({ backends: [PG[0]] }))
    await admin('PATCH', '/pools/pg/backends/a', { enabled: false })
    const body = (await json('/explain?listener=pg&ip=192.0.2.30')).body
    expect(body.chosen).toBeNull()
    expect(body.candidates).toEqual([])
    expect(body.verdict).toBe('No backend available: the connection would be closed at once')
    expect(body.excluded).toEqual([expect.objectContaining({ id: 'a', reason: 'disabled' })])
  })

  it('answers 400 naming the parameter: unknown listener or pool, bad ip, HTTP fields', async () => {
    const { json } = setup(pgConfig())
    const cases: [string, string][] = [
      ['/explain?listener=redis&ip=192.0.2.1', 'listener: Unknown TCP listener redis (known: pg)'],
      ['/explain?listener=pg&pool=pg', 'pool: Give listener or pool, not both'],
      ['/explain?listener=pg&ip=300.1.1.1', 'ip: Expected an IPv4 or IPv6 address'],
      [
        '/explain?listener=pg&path=/x',
        'path: Not for a TCP listener: a connection has only its ip',
      ],
      [
        '/explain?pool=pg&header=a:%20b',
        'header: Not for a TCP listener: a connection has only its ip',
      ],
      ['/explain?pool=nope&path=/', 'pool: Unknown pool nope'],
    ]
    for (const [path, error] of cases) {
      expect(await json(path), path).toEqual({ status: 400, body: { error } })
    }
  })

  it('explains an HTTP pool named by ?pool= without the routes, and HTTP requests as before', async () => {
    const { json } = setup(pgConfig())
    const pooled = (await json('/explain?pool=default&path=/cart&ip=192.0.2.40')).body
    expect(pooled).toMatchObject({
      request: { method: 'GET', path: '/cart', ip: '192.0.2.40' },
      pool: 'default',
      chosen: expect.any(String),
    })
    expect(pooled).not.toHaveProperty('routes')
    const routed = (await json('/explain?path=/cart')).body
    expect(routed).toMatchObject({ route: 'route0', pool: 'default' })
    expect(routed.candidates.map((c: Json) => c.url)).toEqual(['http://127.0.0.1:9001'])
  })

  it('is listed on the admin index', async () => {
    const { json } = setup(pgConfig())
    expect((await json('/')).body.routes).toContain('GET /explain?listener=&ip= (or ?pool=&ip=)')
  })
})
