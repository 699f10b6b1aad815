/**
 * WebSocket proxying on the real entry points, over ws:// and wss://: echo (text and binary),
 * every subprotocol, extensions, close codes and reasons both ways, ping/pong, a backend that
 * dies, open WebSockets counting as load for least-connections, drain and shutdown closing with
 * 1001, and handshakes refused at the edge.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { send } from '../helpers/client.ts'
import { RUNTIMES, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'
import { exchange } from '../helpers/raw-http.ts'
import {
  RUNTIME_SCHEMES,
  makeTlsMaterial,
  schemeArgs,
  type TlsMaterial,
} from '../helpers/tls-material.ts'
import { startWsBackend, type WsBackend } from '../helpers/ws-backend.ts'

interface Client {
  ws: WebSocket
  /** The 101 answer's fields. */
  upgrade: IncomingMessage['headers']
  messages: { data: Buffer; binary: boolean }[]
  closed: Promise<{ code: number; reason: string }>
  next(): Promise<{ data: Buffer; binary: boolean }>
}

/** Open a WebSocket to `url`; over wss://, trusting the test certificate. */
function connect(url: string, protocols: string[] = []): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: true, ca: material.cert })
    const messages: Client['messages'] = []
    const waiters: ((m: Client['messages'][number]) => void)[] = []
    let upgrade: IncomingMessage['headers'] = {}
    ws.on('upgrade', (response) => (upgrade = response.headers))
    ws.on('message', (data, binary) => {
      const message = { data: data as Buffer, binary }
      const waiter = waiters.shift()
      if (waiter) waiter(message)
      else messages.push(message)
    })
    const closed = new Promise<{ code: number; reason: string }>((done) =>
      ws.on('close', (code, reason) => done({ code, reason: reason.toString() })),
    )
    ws.once('open', () =>
      resolve({
        ws,
        upgrade,
        messages,
        closed,
        next: () =>
          new Promise((done, fail) => {
            const queued = messages.shift()
            if (queued) return done(queued)
            waiters.push(done)
            setTimeout(() => fail(new Error('No message within 5 s')), 5000)
          }),
      }),
    )
    ws.once('error', reject)
  })
}

const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    promise,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms),
    ),
  ])

let dir: string
let material: TlsMaterial
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-ws-'))
  material = await makeTlsMaterial()
})
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
  material?.remove()
})

describe.each(RUNTIME_SCHEMES)('WebSockets on %s over %s', (runtime, scheme) => {
  const tls = scheme === 'https'
  let a: WsBackend
  let b: WsBackend
  let fulcrum: FulcrumProcess
  let base: string
  const backendNamed = (name: string) => (name === 'a' ? a : b)

  beforeAll(async () => {
    a = await startWsBackend('a')
    b = await startWsBackend('b')
    const config = join(dir, `${runtime}-${scheme}.json`)
    writeFileSync(
      config,
      JSON.stringify({
        strategy: 'least-connections',
        shutdownGrace: '2s',
        healthCheck: { interval: '500ms' },
        backends: [a.url, b.url],
      }),
    )
    fulcrum = await startFulcrum(runtime, ['--config', config, ...schemeArgs(scheme, material)])
    base = `${tls ? 'wss' : 'ws'}://127.0.0.1:${fulcrum.port}`
  })
  afterAll(async () => {
    if (fulcrum?.child.exitCode === null) await fulcrum.stop()
    await Promise.all([a?.close(), b?.close()])
  })

  it('echoes text and binary messages both ways, with forwarding fields', async () => {
    const client = await connect(`${base}/chat?room=1`)
    client.ws.send('hello')
    const echo = await client.next()
    expect(echo.binary).toBe(false)
    const [name, text] = echo.data.toString().split(':')
    expect(text).toBe('hello')
    const bytes = Buffer.from([0, 1, 2, 255, 254, 128])
    client.ws.send(bytes)
    const back = await client.next()
    expect(back.binary).toBe(true)
    expect(Buffer.compare(back.data, bytes)).toBe(0)
    // A bigger message, in one piece.
    const big = 'x'.repeat(200_000)
    client.ws.send(big)
    expect((await client.next()).data.toString()).toBe(`${name}:${big}`)
    const seen = backendNamed(name!).sockets.at(-1)!
    expect(seen.url).toBe('/chat?room=1')
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1')
    expect(seen.headers.via).toContain('fulcrum')
    client.ws.close(1000)
    expect((await client.closed).code).toBe(1000)
  })

  it("offers every subprotocol upstream and answers with the backend's choice", async () => {
    const client = await connect(`${base}/proto`, ['chat.v1', 'chat.v2', 'chat.v3'])
    // The backend takes the last one offered.
    expect(client.ws.protocol).toBe('chat.v3')
    client.ws.send('which')
    const [name] = (await client.next()).data.toString().split(':')
    const seen = backendNamed(name!).sockets.at(-1)!
    const offered = String(seen.headers['sec-websocket-protocol']).split(',')
    expect(offered.map((p) => p.trim())).toEqual(['chat.v1', 'chat.v2', 'chat.v3'])
    expect(seen.protocol).toBe('chat.v3')
    // The tunnel negotiates extensions end to end.
    expect(client.ws.extensions).toContain('permessage-deflate')
    expect(seen.extensions).toContain('permessage-deflate')
    client.ws.close()
    await client.closed
  })

  it('passes close codes and reasons both ways', async () => {
    for (const [code, reason] of [
      [4001, 'bye'],
      [1011, 'oops'],
    ] as const) {
      const client = await connect(`${base}/close`)
      client.ws.send(`close:${code}:${reason}`)
      expect(await within(client.closed, 5000, 'close')).toEqual({ code, reason })
    }
    for (const [code, reason] of [
      [4002, 'client-bye'],
      [1001, 'away'],
    ] as const) {
      const client = await connect(`${base}/close`)
      client.ws.send('who')
      const [name] = (await client.next()).data.toString().split(':')
      const seen = backendNamed(name!).sockets.at(-1)!
      client.ws.close(code, reason)
      await client.closed
      const deadline = Date.now() + 5000
      while (!seen.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      expect(seen.closed).toEqual({ code, reason })
    }
  })

  it('passes pings through to the backend and back', async () => {
    const client = await connect(`${base}/ping`)
    const pong = new Promise<string>((resolve) =>
      client.ws.once('pong', (d) => resolve(d.toString())),
    )
    client.ws.ping('p1')
    expect(await within(pong, 5000, 'pong')).toBe('p1')
    client.ws.send('who')
    const [name] = (await client.next()).data.toString().split(':')
    expect(backendNamed(name!).sockets.at(-1)!.pings).toContain('p1')
    const ping = new Promise<string>((resolve) =>
      client.ws.once('ping', (d) => resolve(d.toString())),
    )
    client.ws.send('ping')
    expect(await within(ping, 5000, 'backend ping')).toBe('from-backend')
    client.ws.close()
    await client.closed
  })

  it('closes the client with 1014 when the backend dies, and tells the backend when the client goes', async () => {
    const client = await connect(`${base}/die`)
    client.ws.send('die')
    const diedAt = Date.now()
    const closed = await within(client.closed, 5000, 'close after backend death')
    expect(closed.code).toBe(1014)
    // The client hears of it within a second (issue 11).
    expect(Date.now() - diedAt).toBeLessThan(1000)

    const other = await connect(`${base}/gone`)
    other.ws.send('who')
    const [name] = (await other.next()).data.toString().split(':')
    const seen = backendNamed(name!).sockets.at(-1)!
    other.ws.terminate()
    const deadline = Date.now() + 5000
    while (!seen.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(seen.closed?.code).toBe(1001)
    // The process is fine.
    expect(fulcrum.child.exitCode).toBe(null)
  })

  it('counts open WebSockets as load for least-connections', async () => {
    const held = await connect(`${base}/held`)
    held.ws.send('who')
    const [busy] = (await held.next()).data.toString().split(':')
    const answers: string[] = []
    for (let i = 0; i < 6; i++) {
      answers.push((await send(fulcrum.url, { path: '/plain', ca: material.cert })).body.toString())
    }
    // While one WebSocket is open on `busy`, every request goes to the other backend.
    expect(answers.every((name) => name !== busy)).toBe(true)
    held.ws.close()
    await held.closed
  })

  it('refuses a handshake with another version (426) or no key (400) at the edge', async () => {
    const handshake = (fields: string) =>
      exchange(
        fulcrum.port,
        `GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${fields}\r\n`,
        { expect: 1, tls },
      )
    const old = await handshake(
      'Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n',
    )
    expect(old.responses[0]?.status).toBe(426)
    expect(old.responses[0]?.headers['sec-websocket-version']).toBe('13')
    const keyless = await handshake('Sec-WebSocket-Version: 13\r\n')
    expect(keyless.responses[0]?.status).toBe(400)
  })

  it('closes the WebSockets of a draining backend with 1001 after the grace period', async () => {
    const client = await connect(`${base}/drain`)
    client.ws.send('who')
    const [name] = (await client.next()).data.toString().split(':')
    const headers = { authorization: `Bearer ${fulcrum.adminToken}` }
    const { backends } = (await (
      await fetch(`${fulcrum.adminUrl}/backends`, { headers })
    ).json()) as {
      backends: { id: string; url: string }[]
    }
    const id = backends.find((x) => x.url === backendNamed(name!).url)!.id
    const startedAt = Date.now()
    const patched = await fetch(`${fulcrum.adminUrl}/backends/${id}`, {
      method: 'PATCH',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ draining: true }),
    })
    expect(patched.status).toBe(200)
    const closed = await within(client.closed, 10_000, 'close after drain')
    expect(closed).toEqual({ code: 1001, reason: 'Backend draining' })
    // The grace period (2 s) passed first.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1800)
    await fetch(`${fulcrum.adminUrl}/backends/${id}`, {
      method: 'PATCH',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ draining: false }),
    })
  })

  it('closes open WebSockets with 1001 on shutdown and exits 0 within the grace period', async () => {
    const client = await connect(`${base}/shutdown`)
    client.ws.send('hi')
    await client.next()
    const startedAt = Date.now()
    const exit = fulcrum.stop('SIGTERM')
    const closed = await within(client.closed, 10_000, 'close on shutdown')
    const closedAfter = Date.now() - startedAt
    expect(closed).toEqual({ code: 1001, reason: 'Server shutting down' })
    // They had the grace period (2 s) less the second kept for the close handshakes.
    expect(closedAfter).toBeGreaterThanOrEqual(900)
    expect(await exit).toBe(0)
    expect(Date.now() - startedAt).toBeLessThan(5000)
  })
})

describe.each(RUNTIMES)('WebSockets over TLS with sticky sessions on %s', (runtime) => {
  let a: WsBackend
  let b: WsBackend
  let fulcrum: FulcrumProcess

  beforeAll(async () => {
    a = await startWsBackend('a')
    b = await startWsBackend('b')
    fulcrum = await startFulcrum(runtime, [
      '--tls',
      '--sticky',
      '--backend',
      a.url,
      '--backend',
      b.url,
    ])
  })
  afterAll(async () => {
    await fulcrum?.stop()
    await Promise.all([a?.close(), b?.close()])
  })

  const open = (cookie?: string) =>
    new Promise<{ ws: WebSocket; setCookie: string[] | undefined; name: string }>(
      (resolve, reject) => {
        const ws = new WebSocket(`wss://127.0.0.1:${fulcrum.port}/sticky`, {
          rejectUnauthorized: false,
          headers: cookie ? { cookie } : {},
        })
        let setCookie: string[] | undefined
        ws.on('upgrade', (response) => (setCookie = response.headers['set-cookie']))
        ws.once('open', () => ws.send('who'))
        ws.once('message', (data) =>
          resolve({ ws, setCookie, name: data.toString().split(':')[0]! }),
        )
        ws.once('error', reject)
      },
    )

  it('relays wss, pins the client with the lb_sid cookie in the 101, and honours the pin', async () => {
    const first = await open()
    expect(first.setCookie?.[0]).toMatch(/^lb_sid=[^;]+;.*HttpOnly.*Secure/)
    const cookie = first.setCookie![0]!.split(';')[0]!
    first.ws.close()
    for (let i = 0; i < 4; i++) {
      const again = await open(cookie)
      expect(again.name).toBe(first.name)
      again.ws.close()
    }
    expect(backendsSeenProto(first.name === 'a' ? a : b)).toBe('https')
  })
})

function backendsSeenProto(backend: WsBackend): string | undefined {
  return backend.sockets.at(-1)?.headers['x-forwarded-proto'] as string | undefined
}
