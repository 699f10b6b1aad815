/**
 * The PROXY protocol and half-close on fulcrum's TCP listeners (issue 13, "Done when"), on the
 * real entry points of Node, Deno and Bun, one fulcrum per runtime with a listener per case:
 *
 * - `sendProxy` v1 and v2 to a recording backend (a `node:net` server that keeps every byte of
 *   each connection): src/tcp/proxy-protocol.ts's parser reads the header in front of the
 *   client's bytes, with the client's address and port as the source and the address and port
 *   it reached as the destination (also under a listener on a name, which has no one address),
 *   for an IPv4 client (127.0.0.1) and an IPv6 one (::1; skipped without ::1).
 * - `acceptProxy` on a TCP listener: from a trusted address the header is taken off (the backend
 *   gets the payload only), and with `sendProxy` as well the backend sees the client the
 *   accepted header named (IPv4 and IPv6 ones), not fulcrum's peer; a trusted peer without a
 *   header, and any peer not trusted, is closed and nothing reaches the backend (it records no
 *   connection).
 * - Half-close: a client that shuts its write side (FIN) still receives the backend's whole
 *   answer, 1 MiB sent after the FIN, read slowly; and a backend that shuts its write side first
 *   still receives the client's whole 1 MiB upload.
 */
import { createHash } from 'node:crypto'
import {
  connect as connectTcp,
  createServer,
  type AddressInfo,
  type Server,
  type Socket,
} from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ProxyHeaderParser,
  encodeProxyV1,
  encodeProxyV2,
  type ProxyHeader,
  type ProxyInfo,
} from '../../src/tcp/proxy-protocol.ts'
import { RUNTIMES } from '../helpers/fulcrum.ts'
import { hasIpv6Loopback, startTcpFulcrum, until, type TcpFulcrum } from '../helpers/tcp-servers.ts'

const MIB = 1024 * 1024

/** A backend that keeps what each connection sent, and answers `bye` after the client's FIN. */
interface Recorder {
  readonly server: Server
  readonly port: number
  /** Every connection so far, in order: the bytes it sent, complete once `ended`. */
  readonly connections: { bytes: Buffer; ended: boolean }[]
  close(): Promise<void>
}

function listenOn(server: Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port))
  })
}

/** Track `server`'s connections, so that closing it ends them too. */
function closable(server: Server): () => Promise<void> {
  const open = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    open.add(socket)
    socket.on('close', () => open.delete(socket))
  })
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve())
      for (const socket of open) socket.destroy()
    })
}

async function startRecorder(host: string): Promise<Recorder> {
  const connections: Recorder['connections'] = []
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const record = { bytes: Buffer.alloc(0), ended: false }
    connections.push(record)
    socket.on('data', (chunk: Buffer) => (record.bytes = Buffer.concat([record.bytes, chunk])))
    socket.on('end', () => {
      record.ended = true
      socket.end('bye')
    })
    socket.on('error', () => {})
  })
  const close = closable(server)
  const port = await listenOn(server, host)
  return { server, port, connections, close }
}

/** The 1 MiB answer of the half-close backend: a pattern whose hash the test knows. */
const ANSWER = Buffer.alloc(MIB, 'fulcrum half-close ')
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

/**
 * The half-close backends: `answer` reads until the client's FIN, then sends {@link ANSWER} and
 * closes; `upload` sends `ready` and shuts its write side at once, then reports the length and
 * hash of everything it read, through `uploads`.
 */
async function startHalfCloseBackends() {
  const uploads: { length: number; hash: string }[] = []
  const answer = createServer({ allowHalfOpen: true }, (socket) => {
    let received = 0
    socket.on('data', (chunk: Buffer) => (received += chunk.length))
    socket.on('end', () => {
      socket.write(`${received}\n`)
      socket.end(ANSWER)
    })
    socket.on('error', () => {})
  })
  const upload = createServer({ allowHalfOpen: true }, (socket) => {
    const chunks: Buffer[] = []
    socket.end('ready')
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('end', () => {
      const all = Buffer.concat(chunks)
      uploads.push({ length: all.length, hash: sha256(all) })
    })
    socket.on('error', () => {})
  })
  const closers = [closable(answer), closable(upload)]
  const [answerPort, uploadPort] = await Promise.all([
    listenOn(answer, '127.0.0.1'),
    listenOn(upload, '127.0.0.1'),
  ])
  return {
    answerPort,
    uploadPort,
    uploads,
    close: () => Promise.all(closers.map((close) => close())),
  }
}

/** What a client saw of one connection. */
interface Seen {
  bytes: Buffer
  /** The peer's FIN came (as opposed to a reset, or nothing). */
  ended: boolean
  error?: string
  localAddress: string
  localPort: number
}

/**
 * Connect to `host:port`, send `payload`, shut the write side (FIN), and read until the
 * connection closes. `slowStart` pauses reading at first, so that fulcrum meets backpressure.
 */
function exchange(
  host: string,
  port: number,
  payload: Uint8Array,
  options: { slowStart?: number } = {},
): Promise<Seen> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host, port, allowHalfOpen: true })
    const chunks: Buffer[] = []
    const seen = { ended: false, error: undefined as string | undefined }
    let local = { address: '', port: 0 }
    const timer = setTimeout(() => socket.destroy(new Error('no close within 10 s')), 10_000)
    socket.on('connect', () => {
      local = { address: socket.localAddress!, port: socket.localPort! }
      if (options.slowStart) {
        socket.pause()
        setTimeout(() => socket.resume(), options.slowStart)
      }
      socket.end(payload)
    })
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('end', () => (seen.ended = true))
    socket.on('error', (error) => (seen.error = error.message))
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({
        bytes: Buffer.concat(chunks),
        ...seen,
        localAddress: local.address,
        localPort: local.port,
      })
    })
  })
}

/** The header at the start of `bytes` and what follows it. */
function parseHeader(bytes: Buffer): { header: ProxyHeader; rest: Buffer } {
  const result = new ProxyHeaderParser().push(bytes)
  if (result.state !== 'done') throw new Error(`No PROXY header: ${JSON.stringify(result)}`)
  return { header: result.header, rest: Buffer.from(result.rest) }
}

let sequence = 0
const tag = (what: string) => Buffer.from(`${what}-${++sequence}-${'x'.repeat(100)}\n`)

const CLIENT4: ProxyInfo = {
  source: { address: '203.0.113.7', port: 51234 },
  destination: { address: '192.0.2.10', port: 5432 },
}
const CLIENT6: ProxyInfo = {
  source: { address: '2001:db8::7', port: 40000 },
  destination: { address: '2001:db8::10', port: 6379 },
}

describe.each(RUNTIMES)('PROXY protocol and half-close on TCP listeners on %s', (runtime) => {
  let ipv6 = false
  let rec4: Recorder
  let rec6: Recorder | undefined
  let refused: Recorder
  let halfClose: Awaited<ReturnType<typeof startHalfCloseBackends>>
  let fulcrum: TcpFulcrum
  const port = (name: string) => fulcrum.ports.get(name)!

  beforeAll(async () => {
    ipv6 = await hasIpv6Loopback()
    ;[rec4, refused, halfClose, rec6] = await Promise.all([
      startRecorder('127.0.0.1'),
      startRecorder('127.0.0.1'),
      startHalfCloseBackends(),
      ipv6 ? startRecorder('::1') : undefined,
    ])
    const pool = (url: string) => ({ backends: [url], healthCheck: { enabled: false } })
    const listener = (name: string, pool: string, extra: object = {}, host = '127.0.0.1') => ({
      name,
      listen: { host, port: 0 },
      pool,
      ...extra,
    })
    const trustLoopback = { acceptProxy: { trusted: ['127.0.0.1/32', '::1/128'] } }
    fulcrum = await startTcpFulcrum(runtime, {
      pools: {
        rec4: pool(`tcp://127.0.0.1:${rec4.port}`),
        refused: pool(`tcp://127.0.0.1:${refused.port}`),
        answer: pool(`tcp://127.0.0.1:${halfClose.answerPort}`),
        upload: pool(`tcp://127.0.0.1:${halfClose.uploadPort}`),
        ...(rec6 ? { rec6: pool(`tcp://[::1]:${rec6.port}`) } : {}),
      },
      tcp: [
        listener('v1-4', 'rec4', { sendProxy: 'v1' }),
        listener('v2-4', 'rec4', { sendProxy: 'v2' }),
        listener('v2-name', 'rec4', { sendProxy: 'v2' }, 'localhost'),
        ...(rec6
          ? [
              listener('v1-6', 'rec6', { sendProxy: 'v1' }, '::1'),
              listener('v2-6', 'rec6', { sendProxy: 'v2' }, '::1'),
            ]
          : []),
        listener('accept', 'rec4', trustLoopback),
        listener('accept-send', 'rec4', { ...trustLoopback, sendProxy: 'v2' }),
        listener('refuse', 'refused', { acceptProxy: { trusted: ['10.0.0.0/8'] } }),
        listener('answer', 'answer'),
        listener('upload', 'upload'),
      ],
    })
  })
  afterAll(async () => {
    await fulcrum?.stop()
    await Promise.all([rec4?.close(), rec6?.close(), refused?.close(), halfClose?.close()])
  })

  /** The recorded connection whose bytes hold `payload`, once the client's FIN came. */
  const recorded = async (recorder: Recorder, payload: Buffer) => {
    const find = () => recorder.connections.find((c) => c.ended && c.bytes.includes(payload))
    await until(async () => find() !== undefined, 'the backend to record the payload', 5000)
    return find()!.bytes
  }

  for (const version of ['v1', 'v2'] as const) {
    it(`sends PROXY ${version} with an IPv4 client's address`, async () => {
      const payload = tag(`send-${version}-4`)
      const seen = await exchange('127.0.0.1', port(`${version}-4`), payload)
      expect(seen.bytes.toString()).toBe('bye')
      const { header, rest } = parseHeader(await recorded(rec4, payload))
      expect(rest).toEqual(payload)
      expect(header).toMatchObject({ version: Number(version[1]), command: 'PROXY' })
      expect(header.family).toBe('TCP4')
      expect(header.source).toEqual({ address: '127.0.0.1', port: seen.localPort })
      expect(header.destination).toEqual({ address: '127.0.0.1', port: port(`${version}-4`) })
    })

    it(`sends PROXY ${version} with an IPv6 client's address`, async (context) => {
      if (!rec6) return context.skip('no IPv6 loopback (::1) on this machine')
      const payload = tag(`send-${version}-6`)
      const seen = await exchange('::1', port(`${version}-6`), payload)
      expect(seen.bytes.toString()).toBe('bye')
      const { header, rest } = parseHeader(await recorded(rec6, payload))
      expect(rest).toEqual(payload)
      expect(header).toMatchObject({ version: Number(version[1]), command: 'PROXY' })
      expect(header.family).toBe('TCP6')
      expect(header.source).toEqual({ address: '::1', port: seen.localPort })
      expect(header.destination).toEqual({ address: '::1', port: port(`${version}-6`) })
    })
  }

  it('names the address the client reached, not the listener host, as the destination', async () => {
    // A listener on a name (as on 0.0.0.0 or ::) has no one address: the accepted socket's own
    // is the one. On loopback the client's address and the one it reached are the same.
    const payload = tag('send-name')
    const seen = await exchange('localhost', port('v2-name'), payload)
    expect(seen.bytes.toString()).toBe('bye')
    const { header } = parseHeader(await recorded(rec4, payload))
    expect(header.source).toEqual({ address: seen.localAddress, port: seen.localPort })
    expect(['127.0.0.1', '::1']).toContain(header.destination?.address)
    expect(header.destination).toEqual({ address: seen.localAddress, port: port('v2-name') })
  })

  it('accepts PROXY v1 and v2 from a trusted address and takes the header off', async () => {
    for (const header of [encodeProxyV1(CLIENT4), encodeProxyV2(CLIENT6)]) {
      const payload = tag('accept')
      const seen = await exchange('127.0.0.1', port('accept'), Buffer.concat([header, payload]))
      expect(seen.bytes.toString()).toBe('bye')
      expect(await recorded(rec4, payload)).toEqual(payload)
    }
  })

  it('sends on the client that the accepted header named', async () => {
    for (const [client, family] of [
      [CLIENT4, 'TCP4'],
      [CLIENT6, 'TCP6'],
    ] as const) {
      for (const encode of [encodeProxyV1, encodeProxyV2]) {
        const payload = tag('accept-send')
        const sent = Buffer.concat([encode(client), payload])
        const seen = await exchange('127.0.0.1', port('accept-send'), sent)
        expect(seen.bytes.toString()).toBe('bye')
        const { header, rest } = parseHeader(await recorded(rec4, payload))
        expect(rest).toEqual(payload)
        expect(header.version).toBe(2)
        expect(header.family).toBe(family)
        expect(header.source).toEqual(client.source)
        // The balancer in front named where its client arrived: that is passed on too.
        expect(header.destination).toEqual(client.destination)
      }
    }
  })

  it('closes a trusted peer that sends no header, and forwards nothing', async () => {
    const before = rec4.connections.length
    const payload = tag('no-header')
    const seen = await exchange('127.0.0.1', port('accept'), payload)
    expect(seen.bytes.length).toBe(0)
    expect(rec4.connections.slice(before).some((c) => c.bytes.includes(payload))).toBe(false)
  })

  it('refuses PROXY from an untrusted address: closed, and the backend records nothing', async () => {
    for (const header of [encodeProxyV2(CLIENT4), encodeProxyV1(CLIENT4)]) {
      const seen = await exchange(
        '127.0.0.1',
        port('refuse'),
        Buffer.concat([header, tag('refuse')]),
      )
      expect(seen.bytes.length).toBe(0)
    }
    // Give a connection that should not exist time to show up.
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(refused.connections).toEqual([])
    const warned = fulcrum
      .logs()
      .filter((l) => l.msg === 'tcp connection refused' && l.listener === 'refuse')
    expect(warned.length).toBe(2)
    for (const line of warned) expect(line.reason).toMatch(/untrusted peer/)
  })

  it("half-close: a client that shuts its write side gets the backend's whole answer", async () => {
    const request = Buffer.alloc(64 * 1024, 'q')
    // Read slowly at first: the 1 MiB answer meets backpressure on the client's side.
    const seen = await exchange('127.0.0.1', port('answer'), request, { slowStart: 300 })
    expect(seen.error).toBeUndefined()
    expect(seen.ended).toBe(true)
    const newline = seen.bytes.indexOf('\n')
    expect(seen.bytes.subarray(0, newline).toString()).toBe(String(request.length))
    const answer = seen.bytes.subarray(newline + 1)
    expect(answer.length).toBe(MIB)
    expect(sha256(answer)).toBe(sha256(ANSWER))
  })

  it('half-close: a backend that shuts its write side first still gets the whole upload', async () => {
    const upload = Buffer.alloc(MIB)
    for (let i = 0; i < upload.length; i++) upload[i] = (i * 7 + (i >> 10)) & 0xff
    const before = halfClose.uploads.length
    const seen = await exchange('127.0.0.1', port('upload'), upload)
    expect(seen.bytes.toString()).toBe('ready')
    await until(async () => halfClose.uploads.length > before, 'the upload to end', 5000)
    expect(halfClose.uploads[before]).toEqual({ length: MIB, hash: sha256(upload) })
  })
})
