/**
 * The PROXY protocol end to end (issue 13, "PROXY protocol v1 and v2"):
 *
 * - `listen.acceptProxy` on the public HTTP listener of the real entry points (Node, Deno,
 *   Bun): a v1 or v2 header from a trusted loopback peer makes its source the client that the
 *   backend sees in X-Forwarded-For and Forwarded; a LOCAL header keeps the real peer; a peer
 *   that is not trusted, or a trusted one that sends no header, is closed with nothing forwarded.
 * - Against HAProxy, when it is installed: its `send-proxy` and `send-proxy-v2` (with a CRC32C)
 *   read by fulcrum's parser, and fulcrum's encoders read by its `accept-proxy`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import {
  createServer,
  connect as connectTcp,
  type AddressInfo,
  type Server,
  type Socket,
} from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ProxyHeaderParser,
  encodeProxyV1,
  encodeProxyV2,
  type ProxyHeader,
  type ProxyInfo,
} from '../../src/tcp/proxy-protocol.ts'
import { startBackend, type TestBackend } from '../helpers/backends.ts'
import { RUNTIMES, runFulcrum, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'
import { exchange, rawConnect, whenConnected } from '../helpers/raw-http.ts'

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-proxy-protocol-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A config file that accepts the PROXY protocol from `trusted` only. */
function writeConfig(name: string, backend: string, trusted: string[]): string {
  const path = join(dir, `${name}.json`)
  const config = {
    backends: [backend],
    healthCheck: { enabled: false },
    listen: { acceptProxy: { trusted } },
  }
  writeFileSync(path, JSON.stringify(config))
  return path
}

const CLIENT4: ProxyInfo = {
  source: { address: '203.0.113.7', port: 51234 },
  destination: { address: '192.0.2.10', port: 80 },
}
const CLIENT6: ProxyInfo = {
  source: { address: '2001:db8::7', port: 51234 },
  destination: { address: '2001:db8::10', port: 80 },
}

let sequence = 0
/** A request tagged so that the backend's record of it can be found. */
function request(): { id: string; bytes: Buffer } {
  const id = `pp${++sequence}`
  const head = `GET /who HTTP/1.1\r\nHost: example.com\r\nX-Test-Id: ${id}\r\nConnection: close\r\n\r\n`
  return { id, bytes: Buffer.from(head, 'latin1') }
}

describe.each(RUNTIMES)('PROXY protocol on the HTTP listener on %s', (runtime) => {
  let backend: TestBackend
  let trusting: FulcrumProcess
  let distrusting: FulcrumProcess

  beforeAll(async () => {
    backend = await startBackend('who')
    const trustLoopback = writeConfig(`trusted-${runtime}`, backend.url, ['127.0.0.1/32'])
    const trustOthers = writeConfig(`untrusted-${runtime}`, backend.url, ['10.0.0.0/8'])
    ;[trusting, distrusting] = await Promise.all([
      startFulcrum(runtime, ['--config', trustLoopback]),
      startFulcrum(runtime, ['--config', trustOthers]),
    ])
  })
  afterAll(async () => {
    await Promise.all([trusting?.stop(), distrusting?.stop()])
    await backend?.close()
  })

  /** Send `header` and a request on one connection; what came back, and what the backend saw. */
  async function send(port: number, header: Uint8Array) {
    const { id, bytes } = request()
    const result = await exchange(port, Buffer.concat([header, bytes]), { expect: 1 })
    const seen = backend.requests.find((r) => r.headers['x-test-id'] === id)
    return { ...result, seen }
  }

  it('takes the client from a v1 header as X-Forwarded-For', async () => {
    const { responses, seen } = await send(trusting.port, encodeProxyV1(CLIENT4))
    expect(responses[0]?.status).toBe(200)
    expect(seen?.headers['x-forwarded-for']).toBe('203.0.113.7')
    expect(seen?.headers['forwarded']).toMatch(/for=203\.0\.113\.7/)
  })

  it('takes the client from a v2 header, IPv4 and IPv6', async () => {
    const v4 = await send(trusting.port, encodeProxyV2(CLIENT4))
    expect(v4.responses[0]?.status).toBe(200)
    expect(v4.seen?.headers['x-forwarded-for']).toBe('203.0.113.7')
    const v6 = await send(trusting.port, encodeProxyV2(CLIENT6))
    expect(v6.responses[0]?.status).toBe(200)
    expect(v6.seen?.headers['x-forwarded-for']).toBe('2001:db8::7')
    expect(v6.seen?.headers['forwarded']).toMatch(/for="\[2001:db8::7\]"/)
  })

  it('keeps the real peer for a v2 LOCAL header', async () => {
    const { responses, seen } = await send(trusting.port, encodeProxyV2())
    expect(responses[0]?.status).toBe(200)
    expect(seen?.headers['x-forwarded-for']).toMatch(/^(::ffff:)?127\.0\.0\.1$/)
  })

  it('reads a header that arrives in pieces, then the request', async () => {
    const socket = rawConnect(trusting.port)
    await whenConnected(socket)
    const { id, bytes } = request()
    const header = encodeProxyV2(CLIENT6)
    let raw = ''
    socket.on('data', (chunk: Buffer) => (raw += chunk.toString('latin1')))
    const closed = new Promise((resolve) => socket.once('close', resolve))
    socket.write(header.subarray(0, 7))
    await new Promise((resolve) => setTimeout(resolve, 50))
    socket.write(header.subarray(7))
    await new Promise((resolve) => setTimeout(resolve, 50))
    socket.write(bytes)
    await closed
    expect(raw).toMatch(/^HTTP\/1\.1 200 /)
    const seen = backend.requests.find((r) => r.headers['x-test-id'] === id)
    expect(seen?.headers['x-forwarded-for']).toBe('2001:db8::7')
  })

  it('closes a trusted connection that sends no header, forwarding nothing', async () => {
    const { id, bytes } = request()
    const result = await exchange(trusting.port, bytes, { expect: 1 })
    expect(result.closed).toBe(true)
    expect(result.raw).toBe('')
    expect(backend.requests.some((r) => r.headers['x-test-id'] === id)).toBe(false)
  })

  it('closes a connection from outside the trusted CIDRs, forwarding nothing', async () => {
    for (const header of [encodeProxyV1(CLIENT4), encodeProxyV2(CLIENT6)]) {
      const { closed, raw, seen } = await send(distrusting.port, header)
      expect(closed).toBe(true)
      expect(raw).toBe('')
      expect(seen).toBeUndefined()
    }
  })
})

describe('PROXY protocol on a TLS listener', () => {
  it('is a config error (exit 2) naming the field: the header would come before the handshake', async () => {
    const path = join(dir, 'tls.json')
    const config = {
      backends: ['http://127.0.0.1:9'],
      healthCheck: { enabled: false },
      tls: { enabled: true },
      listen: { acceptProxy: { trusted: ['127.0.0.1/32'] } },
    }
    writeFileSync(path, JSON.stringify(config))
    const args = ['--config', path, '--port', '0', '--host', '127.0.0.1', '--no-admin']
    const { code, stderr } = await runFulcrum('node', args, { cwd: dir })
    expect(code).toBe(2)
    expect(stderr).toContain('listen.acceptProxy: Not supported with TLS')
  })
})

// ---------------------------------------------------------------------------------------------

const HAPROXY = spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0

/** A free TCP port on `host` (closed again: HAProxy binds it right after). */
async function freePort(host: string): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** A TCP server that reads a PROXY header from each connection with fulcrum's parser. */
async function startRecorder(): Promise<{
  server: Server
  port: number
  next(): Promise<{ header: ProxyHeader; rest: string }>
}> {
  const waiting: ((value: { header: ProxyHeader; rest: string }) => void)[] = []
  const failures: string[] = []
  const server = createServer((socket) => {
    const parser = new ProxyHeaderParser()
    let header: ProxyHeader | undefined
    let rest = ''
    socket.on('data', (chunk: Buffer) => {
      if (header) {
        rest += chunk.toString('latin1')
      } else {
        const result = parser.push(chunk)
        if (result.state === 'error') failures.push(result.reason)
        if (result.state !== 'done') return
        header = result.header
        rest = Buffer.from(result.rest).toString('latin1')
      }
      if (rest.endsWith('\n')) {
        socket.end('ok\n')
        waiting.shift()?.({ header, rest })
      }
    })
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    server,
    port: (server.address() as AddressInfo).port,
    next: () =>
      new Promise((resolve, reject) => {
        waiting.push(resolve)
        setTimeout(() => reject(new Error(`nothing recorded: ${failures.join('; ')}`)), 5000)
      }),
  }
}

/** Connect to `host:port`, send a line, and wait for the answer. */
async function sendLine(
  host: string,
  port: number,
  bytes: Uint8Array,
): Promise<{ localPort: number; answer: string }> {
  const socket: Socket = connectTcp({ host, port })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  const localPort = socket.localPort!
  let answer = ''
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')))
  const closed = new Promise((resolve) => socket.once('close', resolve))
  socket.write(bytes)
  await closed
  return { localPort, answer }
}

describe.skipIf(!HAPROXY)('PROXY protocol against HAProxy', () => {
  let haproxy: ChildProcess
  let recorder: Awaited<ReturnType<typeof startRecorder>>
  const ports = { v1: 0, v2: 0, v1six: 0, v2six: 0, accept: 0 }

  beforeAll(async () => {
    recorder = await startRecorder()
    ports.v1 = await freePort('127.0.0.1')
    ports.v2 = await freePort('127.0.0.1')
    ports.v1six = await freePort('::1')
    ports.v2six = await freePort('::1')
    ports.accept = await freePort('127.0.0.1')
    const server = `127.0.0.1:${recorder.port}`
    const config = `
global
  maxconn 64
defaults
  mode tcp
  timeout connect 2s
  timeout client 10s
  timeout server 10s
listen v1
  bind 127.0.0.1:${ports.v1}
  server recorder ${server} send-proxy
listen v2
  bind 127.0.0.1:${ports.v2}
  server recorder ${server} send-proxy-v2 proxy-v2-options crc32c
listen v1six
  bind [::1]:${ports.v1six}
  server recorder ${server} send-proxy
listen v2six
  bind [::1]:${ports.v2six}
  server recorder ${server} send-proxy-v2
listen accept
  bind 127.0.0.1:${ports.accept} accept-proxy
  server recorder ${server} send-proxy-v2
`
    const file = join(dir, 'haproxy.cfg')
    writeFileSync(file, config)
    haproxy = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    haproxy.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    // Ready once every listener accepts.
    const deadline = Date.now() + 10_000
    for (const [port, host] of [
      [ports.v1, '127.0.0.1'],
      [ports.v2, '127.0.0.1'],
      [ports.v1six, '::1'],
      [ports.v2six, '::1'],
      [ports.accept, '127.0.0.1'],
    ] as const) {
      for (;;) {
        const ok = await new Promise<boolean>((resolve) => {
          const probe = connectTcp({ host, port }, () => {
            probe.destroy()
            resolve(true)
          })
          probe.once('error', () => resolve(false))
        })
        if (ok) break
        if (Date.now() > deadline || haproxy.exitCode !== null) {
          throw new Error(`haproxy did not start:\n${stderr}`)
        }
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  })
  afterAll(async () => {
    if (haproxy && haproxy.exitCode === null) {
      const exited = new Promise((resolve) => haproxy.once('exit', resolve))
      haproxy.kill('SIGTERM')
      await exited
    }
    await new Promise((resolve) => recorder?.server.close(resolve))
  })

  /** Through HAProxy's listener `port` on `host`: the header the recorder read. */
  async function through(host: string, port: number) {
    // (The readiness probes send no line: the recorder answers lines only.)
    const recorded = recorder.next()
    const { localPort, answer } = await sendLine(host, port, Buffer.from('hello\n'))
    expect(answer).toBe('ok\n')
    return { ...(await recorded), localPort }
  }

  it('reads send-proxy (v1) over IPv4 and IPv6', async () => {
    const v4 = await through('127.0.0.1', ports.v1)
    expect(v4.header).toMatchObject({ version: 1, command: 'PROXY', family: 'TCP4' })
    expect(v4.header.source).toEqual({ address: '127.0.0.1', port: v4.localPort })
    expect(v4.header.destination).toEqual({ address: '127.0.0.1', port: ports.v1 })
    expect(v4.rest).toBe('hello\n')
    const v6 = await through('::1', ports.v1six)
    expect(v6.header).toMatchObject({ version: 1, family: 'TCP6' })
    expect(v6.header.source).toEqual({ address: '::1', port: v6.localPort })
    expect(v6.header.destination).toEqual({ address: '::1', port: ports.v1six })
  })

  it('reads send-proxy-v2 over IPv4 (with a CRC32C TLV) and IPv6', async () => {
    const v4 = await through('127.0.0.1', ports.v2)
    expect(v4.header).toMatchObject({ version: 2, command: 'PROXY', family: 'TCP4' })
    expect(v4.header.source).toEqual({ address: '127.0.0.1', port: v4.localPort })
    expect(v4.header.destination).toEqual({ address: '127.0.0.1', port: ports.v2 })
    expect(v4.header.tlvs.map((tlv) => tlv.type)).toContain(0x03)
    expect(v4.rest).toBe('hello\n')
    const v6 = await through('::1', ports.v2six)
    expect(v6.header).toMatchObject({ version: 2, family: 'TCP6' })
    expect(v6.header.source).toEqual({ address: '::1', port: v6.localPort })
  })

  it.each([
    ['v1, IPv4', encodeProxyV1, CLIENT4],
    ['v1, IPv6', encodeProxyV1, CLIENT6],
    ['v2, IPv4', encodeProxyV2, CLIENT4],
    ['v2, IPv6', encodeProxyV2, CLIENT6],
  ] as const)('has HAProxy accept-proxy read what fulcrum sends (%s)', async (_n, encode, info) => {
    const recorded = recorder.next()
    const line = Buffer.concat([encode(info), Buffer.from('hello\n')])
    const { answer } = await sendLine('127.0.0.1', ports.accept, line)
    expect(answer).toBe('ok\n')
    const { header, rest } = await recorded
    expect(header.source).toEqual(info.source)
    expect(header.destination).toEqual(info.destination)
    expect(rest).toBe('hello\n')
  })
})
