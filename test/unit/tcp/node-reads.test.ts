/**
 * The relay's bytes over Node's upstream sockets (runtimes/node/sockets.ts, and
 * runtimes/node/handle-sockets.ts on the same reader): large reads are
 * handed over without a copy, and a relay's borrowed chunks share memory from one read to the
 * next when its write took them whole. Neither may change a byte that someone still holds.
 */
import { createServer, Socket as NetSocket, type AddressInfo, type Server } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { handleSockets } from '../../../runtimes/node/handle-sockets.ts'
import * as netSockets from '../../../runtimes/node/sockets.ts'
import type { SocketEvents } from '../../../src/socket.ts'
import { Relay } from '../../../src/tcp/relay.ts'

const MiB = 1024 * 1024

/** `size` bytes of a pattern that repeats every 251 bytes (no read lines up with it). */
const pattern = (size: number) => new Uint8Array(size).map((_, i) => i % 251)

/** A backend that sends `body`, a few KiB at a time and all at once by turns, then ends. */
async function backend(body: Uint8Array): Promise<Server> {
  const server = createServer((peer: NetSocket) => {
    let at = 0
    const step = () => {
      while (at < body.byteLength) {
        const size = at % 3 === 0 ? 3000 : 200_000
        const more = peer.write(body.subarray(at, at + size))
        at += size
        if (!more) return void peer.once('drain', step)
      }
      peer.end()
    }
    step()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

const servers: { close(): unknown }[] = []
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close()
})

describe.each([
  ['node:net', netSockets],
  ['libuv handles', handleSockets(netSockets)!],
])('node upstream reads on %s', (_name, { connect, listen }) => {
  it('hands over chunks that stay as they were while held', async () => {
    const body = pattern(8 * MiB)
    const server = await backend(body)
    servers.push(server)
    const chunks: Uint8Array[] = []
    const sockets: Promise<{ destroy(): void }>[] = []
    const done = new Promise<void>((resolve) => {
      const events: SocketEvents = {
        data: (chunk) => chunks.push(chunk),
        drain: () => {},
        // Half-open: the peer's FIN is the end of the bytes (the socket stays open for writes).
        end: () => resolve(),
        close: () => {},
      }
      sockets.push(connect('127.0.0.1', (server.address() as AddressInfo).port, events))
    })
    await done
    for (const socket of sockets) (await socket).destroy()
    expect(Buffer.compare(Buffer.concat(chunks), body)).toBe(0)
    // Large reads came through: not everything was a small copy.
    expect(chunks.some((chunk) => chunk.byteLength > 4096)).toBe(true)
  })

  it('relays every byte to a slow client through borrowed chunks', async () => {
    const body = pattern(8 * MiB)
    const upstream = await backend(body)
    servers.push(upstream)
    const port = (upstream.address() as AddressInfo).port
    const listener = await listen({ host: '127.0.0.1', port: 0 }, (client) => {
      const relay = new Relay({ idleTimeout: 30_000, onEnd: () => {} })
      const events = relay.attachClient(client)
      void connect('127.0.0.1', port, relay.backendEvents).then((socket) =>
        relay.attachBackend(socket),
      )
      return events
    })
    servers.push(listener)
    const received = await new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = []
      const client = new NetSocket()
      client.connect(listener.port, '127.0.0.1')
      // Slow at first: the relay's writes queue, and the chunks they hold must stay whole.
      client.pause()
      setTimeout(() => client.resume(), 300)
      client.on('data', (chunk: Buffer) => parts.push(chunk))
      client.on('end', () => resolve(Buffer.concat(parts)))
      client.on('error', reject)
    })
    expect(received.byteLength).toBe(body.byteLength)
    expect(Buffer.compare(received, body)).toBe(0)
  })
})
