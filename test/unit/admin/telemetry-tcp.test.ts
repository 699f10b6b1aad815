/**
 * Layer-4 telemetry: the `tcp` block of `GET /stats` (each listener's counters and window rates,
 * each TCP backend's open connections and bytes) and the `fulcrum_tcp_*` families of
 * `GET /metrics`, after real connections through a listener's service (in-memory sockets, fake
 * clock for the window). The exposition passes `promtool check metrics` where promtool is
 * installed (Debian's `prometheus`).
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { ConfigInput } from '../../../src/config.ts'
import type { Connect } from '../../../src/socket.ts'
import { adminBalancer } from '../admin-helpers.ts'
import { latin1, MemorySocket } from '../tcp/memory-socket.ts'

/** An admin API answer's JSON, read loosely: the tests check its shape. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p))

function promtool(text: string): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL!, ['check', 'metrics'], { input: text, encoding: 'utf8' })
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() }
}

/** A pool `pg` (round-robin over a and b, c refusing) behind the listener `pg`, at most 3 open. */
const CONFIG = {
  backends: ['http://127.0.0.1:9001'],
  pools: {
    pg: {
      backends: [
        { url: 'tcp://10.0.0.1:5432', id: 'a' },
        { url: 'tcp://10.0.0.2:5432', id: 'b' },
        { url: 'tcp://10.0.0.3:5432', id: 'c' },
      ],
      strategy: 'round-robin',
    },
  },
  tcp: [{ name: 'pg', listen: { port: 15432 }, pool: 'pg', maxConnections: 3 }],
} satisfies ConfigInput

const settle = () => new Promise((resolve) => setTimeout(resolve, 0))

function setup(config: ConfigInput = CONFIG) {
  const backends: MemorySocket[] = []
  const connect: Connect = async (host, port, events) => {
    if (host === '10.0.0.3') throw new Error('connect ECONNREFUSED')
    const socket = new MemorySocket(host, port)
    socket.events = events
    backends.push(socket)
    return socket
  }
  const parts = adminBalancer(config, undefined, { connect })
  const json = async (path: string) => (await (await parts.admin('GET', path)).json()) as Json
  /** A connection from `ip` that sends `ask` and gets `answer` back from its backend. */
  const exchange = async (ip: string, ask: string, answer: string) => {
    const client = MemorySocket.accept(parts.balancer.tcp[0]!.accept, ip)
    client.send(ask)
    await settle()
    const backend = backends.at(-1)!
    backend.events.data(latin1(answer))
    return { client, backend }
  }
  return { ...parts, json, exchange, backends }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('GET /stats: the tcp block', () => {
  it('gives each listener and TCP backend its counters, and rates over the window', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(new Date('2026-12-07T10:00:00Z'))
    const { json, exchange } = setup()
    const first = await json('/stats')
    // Before any connection: the listener and every backend of its pool, at 0, no rates yet.
    expect(first.tcp).toEqual({
      listeners: [
        {
          name: 'pg',
          host: '0.0.0.0',
          port: 15432,
          pool: 'pg',
          maxConnections: 3,
          open: 0,
          total: 0,
          bytesIn: 0,
          bytesOut: 0,
          connectFailures: 0,
          refused: 0,
          window: null,
        },
      ],
      backends: ['a', 'b', 'c'].map((id) => ({
        pool: 'pg',
        id,
        open: 0,
        total: 0,
        bytesIn: 0,
        bytesOut: 0,
        connectFailures: 0,
        window: null,
      })),
    })

    // Round-robin over a, b, c: c refuses, and its connection goes to the next candidate. The
    // first connection closes before the fourth (the listener takes three at once).
    const one = await exchange('192.0.2.1', 'hello', 'world!!')
    const two = await exchange('192.0.2.2', 'hello', 'world!!')
    const three = await exchange('192.0.2.3', 'hello', 'world!!')
    one.client.sendClose()
    await settle()
    const four = await exchange('192.0.2.4', 'hi', 'there')
    const reached = [one, two, three, four].map((c) => c.backend.remoteAddress)
    expect(reached).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.1', '10.0.0.1'])
    vi.setSystemTime(new Date('2026-12-07T10:00:02Z'))
    const stats = await json('/stats')
    expect(stats.windowSeconds).toBe(2)
    const [listener] = stats.tcp.listeners
    expect(listener).toMatchObject({
      name: 'pg',
      pool: 'pg',
      open: 3,
      total: 4,
      bytesIn: 17,
      bytesOut: 26,
      connectFailures: 1,
      refused: 0,
      window: { connectionsPerSecond: 2, bytesInPerSecond: 8.5, bytesOutPerSecond: 13 },
    })
    const byId = Object.fromEntries(stats.tcp.backends.map((b: Json) => [b.id, b]))
    expect(byId.a).toMatchObject({ open: 2, total: 3, bytesIn: 12, bytesOut: 19 })
    expect(byId.b).toMatchObject({ open: 1, total: 1, bytesIn: 5, bytesOut: 7 })
    expect(byId.c).toMatchObject({ open: 0, total: 0, bytesIn: 0, connectFailures: 1 })
    expect(byId.a.window).toEqual({
      connectionsPerSecond: 1.5,
      bytesInPerSecond: 6,
      bytesOutPerSecond: 9.5,
    })
    // The backends' figures add up to the listener's.
    const sum = (field: string) =>
      stats.tcp.backends.reduce((n: number, b: Json) => n + b[field], 0)
    for (const field of ['open', 'total', 'bytesIn', 'bytesOut', 'connectFailures']) {
      expect(sum(field), field).toBe(listener[field])
    }
    // The pool's backend views count open connections as their load; the HTTP requests in
    // flight do not.
    expect(stats.inflight).toBe(0)
    const views = stats.backends.filter((b: Json) => b.pool === 'pg')
    expect(views.map((b: Json) => [b.id, b.inflight])).toEqual([
      ['a', 2],
      ['b', 1],
      ['c', 0],
    ])
  })

  it('counts connections refused over maxConnections', async () => {
    const { json, exchange, balancer } = setup()
    for (let i = 1; i <= 3; i++) await exchange(`192.0.2.${i}`, 'x', 'y')
    const over = MemorySocket.accept(balancer.tcp[0]!.accept, '192.0.2.4')
    await settle()
    expect(over.destroyed || over.ended).toBe(true)
    const [listener] = (await json('/stats')).tcp.listeners
    expect(listener).toMatchObject({ open: 3, total: 4, refused: 1 })
  })

  it('is empty without TCP listeners', async () => {
    const { admin } = adminBalancer({ backends: ['http://127.0.0.1:9001'] })
    const stats = await (await admin('GET', '/stats')).json()
    expect(stats.tcp).toEqual({ listeners: [], backends: [] })
    expect(await (await admin('GET', '/metrics')).text()).not.toContain('fulcrum_tcp_')
  })
})

describe('GET /metrics: the fulcrum_tcp_* families', () => {
  it('has every listener and TCP backend from the start, then counts what was relayed', async () => {
    const { admin, exchange, balancer } = setup()
    const scrape = async () => (await admin('GET', '/metrics')).text()
    const before = await scrape()
    expect(before).toContain('\nfulcrum_tcp_listener_connections_total{listener="pg"} 0\n')
    expect(before).toContain(
      '\nfulcrum_tcp_listener_info{listener="pg",pool="pg",host="0.0.0.0",port="15432"} 1\n',
    )
    for (const id of ['a', 'b', 'c']) {
      expect(before).toContain(
        `\nfulcrum_tcp_backend_open_connections{pool="pg",backend="${id}"} 0\n`,
      )
    }
    if (PROMTOOL) expect(promtool(before)).toEqual({ status: 0, output: '' })

    const one = await exchange('192.0.2.1', 'hello', 'world!!')
    await exchange('192.0.2.2', 'hello', 'world!!')
    await exchange('192.0.2.3', 'hello', 'world!!')
    one.client.sendClose()
    await settle()
    await exchange('192.0.2.4', 'hi', 'there')
    MemorySocket.accept(balancer.tcp[0]!.accept, '192.0.2.5')
    await settle()
    const text = await scrape()
    const sample = (series: string) => {
      const found = text.split('\n').find((l) => l.startsWith(`${series} `))
      return found === undefined ? undefined : Number(found.slice(series.length + 1))
    }
    expect(sample('fulcrum_tcp_listener_open_connections{listener="pg"}')).toBe(3)
    expect(sample('fulcrum_inflight_requests')).toBe(0)
    expect(sample('fulcrum_backend_inflight_requests{pool="pg",backend="a"}')).toBe(2)
    expect(sample('fulcrum_tcp_listener_connections_total{listener="pg"}')).toBe(5)
    expect(sample('fulcrum_tcp_listener_received_bytes_total{listener="pg"}')).toBe(17)
    expect(sample('fulcrum_tcp_listener_sent_bytes_total{listener="pg"}')).toBe(26)
    expect(sample('fulcrum_tcp_listener_connect_failures_total{listener="pg"}')).toBe(1)
    expect(sample('fulcrum_tcp_listener_refused_total{listener="pg"}')).toBe(1)
    expect(sample('fulcrum_tcp_backend_open_connections{pool="pg",backend="a"}')).toBe(2)
    expect(sample('fulcrum_tcp_backend_connections_total{pool="pg",backend="a"}')).toBe(3)
    expect(sample('fulcrum_tcp_backend_received_bytes_total{pool="pg",backend="a"}')).toBe(12)
    expect(sample('fulcrum_tcp_backend_sent_bytes_total{pool="pg",backend="b"}')).toBe(7)
    expect(sample('fulcrum_tcp_backend_connect_failures_total{pool="pg",backend="c"}')).toBe(1)
    // Each family once, with its HELP and TYPE.
    for (const family of [
      'fulcrum_tcp_listener_info',
      'fulcrum_tcp_listener_open_connections',
      'fulcrum_tcp_backend_open_connections',
      'fulcrum_tcp_listener_connections_total',
      'fulcrum_tcp_backend_connections_total',
      'fulcrum_tcp_listener_received_bytes_total',
      'fulcrum_tcp_backend_received_bytes_total',
      'fulcrum_tcp_listener_sent_bytes_total',
      'fulcrum_tcp_backend_sent_bytes_total',
      'fulcrum_tcp_listener_connect_failures_total',
      'fulcrum_tcp_backend_connect_failures_total',
      'fulcrum_tcp_listener_refused_total',
    ]) {
      expect(text.split(`\n# TYPE ${family} `).length, family).toBe(2)
      expect(text, family).toContain(`\n# HELP ${family} `)
    }
    if (PROMTOOL) expect(promtool(text)).toEqual({ status: 0, output: '' })
  })

  it.runIf(!PROMTOOL)('is skipped: promtool is not installed (apt-get install prometheus)', () => {
    console.warn('promtool not found: the Prometheus parser checks are skipped')
  })
})
