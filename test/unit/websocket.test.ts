import { describe, expect, it } from 'vitest'
import { createBalancer } from '../../src/balancer.ts'
import { parseConfig, type ConfigInput } from '../../src/config.ts'
import {
  isWebSocketUpgrade,
  offeredProtocols,
  relayableCloseCode,
  type WebSocketRoute,
} from '../../src/websocket.ts'
import { silentLogger } from '../../src/log.ts'
import { concatAll } from '../../src/http1/bytes.ts'
import { closeFrame, FrameTracker } from '../../src/http1/ws-frames.ts'

/** A frame header and payload as a client (masked) or server would send it. */
function frame(opcode: number, length: number, masked: boolean): Uint8Array {
  const extended = length < 126 ? 0 : length < 65_536 ? 2 : 8
  const header = new Uint8Array(2 + extended + (masked ? 4 : 0))
  header[0] = 0x80 | opcode
  header[1] = (masked ? 0x80 : 0) | (extended === 0 ? length : extended === 2 ? 126 : 127)
  if (extended === 2) {
    header[2] = length >> 8
    header[3] = length & 0xff
  } else if (extended === 8) {
    let rest = length
    for (let i = 9; i >= 2; i--) {
      header[i] = rest % 256
      rest = Math.floor(rest / 256)
    }
  }
  const bytes = new Uint8Array(header.length + length)
  bytes.set(header)
  return bytes
}

describe('FrameTracker', () => {
  it('follows frames of every length form, split anywhere', () => {
    const stream = concatAll([
      frame(1, 5, true),
      frame(2, 300, false),
      frame(2, 70_000, true),
      frame(9, 0, true),
    ])
    // Every split point, one byte at a time.
    const tracker = new FrameTracker()
    const boundaries: number[] = []
    for (let i = 0; i < stream.length; i++) {
      tracker.advance(stream.subarray(i, i + 1))
      if (tracker.atBoundary) boundaries.push(i + 1)
    }
    const first = 2 + 4 + 5
    const second = first + 4 + 300
    const third = second + 10 + 4 + 70_000
    expect(boundaries).toEqual([first, second, third, third + 6])
  })

  it('stops at the next boundary when asked, and sees Close frames', () => {
    const tracker = new FrameTracker()
    const data = concatAll([frame(1, 10, false), frame(1, 10, false)])
    expect(tracker.advance(data.subarray(0, 5))).toBe(5)
    expect(tracker.advance(data.subarray(5), true)).toBe(7)
    expect(tracker.atBoundary).toBe(true)
    expect(tracker.advance(data.subarray(12), true)).toBe(0)
    expect(tracker.closeSeen).toBe(false)
    tracker.advance(closeFrame(1000, 'bye', true))
    expect(tracker.closeSeen).toBe(true)
    expect(tracker.atBoundary).toBe(true)
  })
})

describe('closeFrame', () => {
  it('encodes code and reason, masked for the client side only', () => {
    const plain = closeFrame(1001, 'Going away', false)
    expect([...plain.subarray(0, 4)]).toEqual([0x88, 12, 0x03, 0xe9])
    expect(new TextDecoder().decode(plain.subarray(4))).toBe('Going away')
    const masked = closeFrame(1001, 'Going away', true)
    expect(masked[1]).toBe(0x80 | 12)
    const mask = masked.subarray(2, 6)
    const payload = masked.subarray(6).map((b, i) => b ^ mask[i % 4]!)
    expect([payload[0], payload[1]]).toEqual([0x03, 0xe9])
    // Control frames carry at most 125 bytes.
    expect(closeFrame(1000, 'x'.repeat(500), false).length).toBe(2 + 125)
  })
})

describe('handshake helpers', () => {
  it('knows an upgrade request and its subprotocols', () => {
    const upgrade = new Request('http://x/', {
      headers: { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-protocol': 'a,b, c' },
    })
    expect(isWebSocketUpgrade(upgrade)).toBe(true)
    expect(isWebSocketUpgrade(new Request('http://x/', { headers: { upgrade: 'h2c' } }))).toBe(
      false,
    )
    expect(offeredProtocols(upgrade.headers)).toEqual(['a', 'b', 'c'])
    expect(offeredProtocols(new Headers({ 'sec-websocket-protocol': 'a b' }))).toBe(undefined)
    expect(offeredProtocols(new Headers())).toEqual([])
  })

  it('maps close codes to ones a peer may send', () => {
    expect(relayableCloseCode(1000, 1014)).toBe(1000)
    expect(relayableCloseCode(4001, 1014)).toBe(4001)
    expect(relayableCloseCode(1011, 1014)).toBe(1011)
    expect(relayableCloseCode(1005, 1014)).toBe(undefined)
    expect(relayableCloseCode(1006, 1014)).toBe(1014)
    expect(relayableCloseCode(1015, 1001)).toBe(1001)
    expect(relayableCloseCode(2000, 1001)).toBe(1001)
  })
})

const A = 'http://127.0.0.1:9001'
const B = 'http://127.0.0.1:9002'
const KEY = 'dGhlIHNhbXBsZSBub25jZQ=='

/** A balancer whose WebSocket router takes handshakes; the peer comes from `env.ip`. */
function router(config: ConfigInput) {
  const balancer = createBalancer(
    parseConfig({ backends: [A, B], healthCheck: { enabled: false }, ...config }),
    {
      fetch: async () => new Response('never'),
      clientAddress: (_request, env) => (env as { ip?: string } | undefined)?.ip,
      tcpConnect: async () => {},
      readTextFile: async () => '',
      logger: silentLogger,
    },
  )
  const open = async (
    headers: Record<string, string> = {},
    ip = '192.0.2.1',
    path = '/chat?x=1',
  ) => {
    const request = new Request(`http://shop.example${path}`, {
      headers: {
        host: 'shop.example',
        upgrade: 'websocket',
        connection: 'Upgrade, X-Hop',
        'sec-websocket-key': KEY,
        'sec-websocket-version': '13',
        ...headers,
      },
    })
    return balancer.webSockets.open(request, { ip })
  }
  return { balancer, open }
}

const routed = (result: WebSocketRoute | Response): WebSocketRoute => {
  if (result instanceof Response) throw new Error(`refused: ${result.status}`)
  return result
}

describe('WebSocketRouter.open', () => {
  it("forwards the end-to-end fields with fulcrum's own, without hop-by-hop and key fields", async () => {
    const { balancer, open } = router({})
    const route = routed(
      await open({
        'x-hop': 'gone',
        'x-keep': 'kept',
        'x-request-id': 'ws-1',
        origin: 'https://a',
      }),
    )
    expect(route.requestId).toBe('ws-1')
    expect(route.url).toBe('ws://127.0.0.1:9001/chat?x=1')
    // Sorted here: fulcrum keeps the arrival order, with its own fields after the client's.
    expect([...route.headers].sort(([a], [b]) => a.localeCompare(b))).toEqual([
      ['forwarded', 'for=192.0.2.1;proto=http;host=shop.example'],
      ['host', 'shop.example'],
      ['origin', 'https://a'],
      ['via', '1.1 fulcrum'],
      ['x-forwarded-for', '192.0.2.1'],
      ['x-forwarded-host', 'shop.example'],
      ['x-forwarded-proto', 'http'],
      ['x-keep', 'kept'],
      ['x-request-id', 'ws-1'],
    ])
    expect(route.setCookie).toBeUndefined()
    expect(balancer.pool.inflight(route.backend)).toBe(1)
    route.end()
    route.end()
    expect(balancer.pool.inflight(route.backend)).toBe(0)
  })

  it('answers a bad handshake with the request id it would have forwarded', async () => {
    const { open } = router({})
    const old = (await open({ 'sec-websocket-version': '8', 'x-request-id': 'ws-2' })) as Response
    expect(old.status).toBe(426)
    expect(old.headers.get('sec-websocket-version')).toBe('13')
    expect(await old.json()).toEqual({ error: 'Unsupported WebSocket version', requestId: 'ws-2' })
    const bad = (await open({ 'sec-websocket-key': 'short' })) as Response
    expect(bad.status).toBe(400)
  })

  it('hashes on the client a trusted proxy forwarded, and keeps its forwarding fields', async () => {
    const { open } = router({
      strategy: 'ip-hash',
      forwarding: { trustedProxies: ['10.0.0.0/8'], preserveHost: false },
    })
    const one = routed(await open({ 'x-forwarded-for': '203.0.113.7' }, '10.0.0.1'))
    const two = routed(await open({ 'x-forwarded-for': '203.0.113.7' }, '10.0.0.2'))
    expect(two.backend.id).toBe(one.backend.id)
    expect(one.headers.get('x-forwarded-for')).toBe('203.0.113.7, 10.0.0.1')
    expect(one.headers.has('host')).toBe(false)
    const spoofed = routed(await open({ 'x-forwarded-for': '203.0.113.7' }, '192.0.2.9'))
    expect(spoofed.headers.get('x-forwarded-for')).toBe('192.0.2.9')
  })

  it('keeps a sticky session on its backend, and pins again when it is full', async () => {
    const { open } = router({
      backends: [
        { url: A, maxConnections: 1 },
        { url: B, maxConnections: 1 },
      ],
      sticky: { secret: 'x'.repeat(32) },
    })
    const first = routed(await open())
    expect(first.setCookie).toMatch(/^lb_sid=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/)
    const cookie = `other=1; ${first.setCookie!.split(';')[0]!}`
    first.end()
    for (let i = 0; i < 4; i++) {
      const again = routed(await open({ cookie }))
      expect(again.backend.id).toBe(first.backend.id)
      expect(again.setCookie).toBeUndefined()
      again.end()
    }
    // The pinned backend is full: the other one takes the handshake, and the pin moves.
    const held = routed(await open({ cookie }))
    const moved = routed(await open({ cookie }))
    expect(moved.backend.id).not.toBe(held.backend.id)
    expect(moved.setCookie).toMatch(/^lb_sid=/)
    held.end()
    moved.end()
    // A forged cookie counts as none.
    const forged = routed(await open({ cookie: `${cookie}x` }))
    expect(forged.setCookie).toMatch(/^lb_sid=/)
  })

  it('answers 503 when no backend takes the handshake', async () => {
    const { open } = router({ backends: [] })
    const none = (await open()) as Response
    expect(none.status).toBe(503)
    expect(none.headers.get('retry-after')).toBe('1')
  })
})
