/**
 * runtimes/node/sockets.ts over real loopback sockets: the shared suite in-process (echo,
 * half-close, backpressure with pause/resume, destroy, upstream connect, TLS with SNI and reload,
 * h2 by ALPN), and the upstream `connect` seen from the engine's side. The same for
 * runtimes/node/handle-sockets.ts, whose TLS and h2 cases go to the node:net fallback.
 */
import { createServer, type AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { handleSockets } from '../../../../runtimes/node/handle-sockets.ts'
import * as netSockets from '../../../../runtimes/node/sockets.ts'
import { startFixture, type FixtureEvent } from '../../../fixtures/sockets/fixture.ts'
import { socketSuite } from '../socket-suite.ts'

describe.each([
  ['node:net', netSockets],
  ['libuv handles', handleSockets(netSockets)!],
])('node sockets on %s', (_name, { connect, listen }) => {
  socketSuite('node', async (config) => {
    const events: FixtureEvent[] = []
    const listener = await startFixture({ listen, connect }, config, (e) => events.push(e))
    return {
      port: listener.port,
      events: () => events,
      stop: async () => {
        await listener.close()
        await listener.closeHttp2?.()
      },
    }
  })

  it('connect: the peer FIN is an end event, writing goes on, close comes once, last', async () => {
    // A server that says hello, ends, and reads until our FIN.
    const server = createServer({ allowHalfOpen: true }, (peer) => {
      const chunks: Buffer[] = []
      peer.on('data', (chunk: Buffer) => chunks.push(chunk))
      peer.on('end', () => {
        server.emit('received', Buffer.concat(chunks).toString())
        peer.end()
      })
      peer.end('hello')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    const received = new Promise<string>((resolve) => server.once('received', resolve))
    const log: string[] = []
    let done!: () => void
    const closed = new Promise<void>((resolve) => (done = resolve))
    const socket = await connect('127.0.0.1', port, {
      data: (chunk) => log.push(`data ${new TextDecoder().decode(chunk)}`),
      drain: () => log.push('drain'),
      end: () => {
        log.push('end')
        socket.write(new TextEncoder().encode('after fin'))
        socket.end()
      },
      close: (error) => {
        log.push(`close ${error ?? ''}`)
        done()
      },
    })
    expect(socket.encrypted).toBe(false)
    expect(socket.remoteAddress).toBe('127.0.0.1')
    expect(socket.remotePort).toBe(port)
    await closed
    expect(await received).toBe('after fin')
    expect(log).toEqual(['data hello', 'end', 'close '])
    server.close()
  })

  it('connect: rejects a refused connection', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    await new Promise((resolve) => server.close(resolve))
    const events = { data() {}, drain() {}, end() {}, close() {} }
    await expect(connect('127.0.0.1', port, events)).rejects.toMatchObject({
      code: 'ECONNREFUSED',
      syscall: 'connect',
    })
  })
})
