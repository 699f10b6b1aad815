/**
 * runtimes/node/handle-sockets.ts: what is its own beside the socket contract, which
 * test/unit/runtimes/node/sockets.test.ts runs on it: the bindings found on this Node, a bind
 * refused, and what stays on node:net.
 */
import { describe, expect, it } from 'vitest'
import { handleSockets } from '../../../../runtimes/node/handle-sockets.ts'
import * as netSockets from '../../../../runtimes/node/sockets.ts'
import type { Accept, Connect } from '../../../../src/socket.ts'
import type { ListenOptions } from '../../../../runtimes/adapter.ts'

const quiet = { data() {}, drain() {}, end() {}, close() {} }

describe('node handle sockets', () => {
  it('finds the bindings it needs on this Node', () => {
    expect(handleSockets(netSockets)).toBeDefined()
  })

  it('refuses a port in use with its code', async () => {
    const sockets = handleSockets(netSockets)!
    const taken = await sockets.listen({ host: '127.0.0.1', port: 0 }, () => quiet)
    await expect(
      sockets.listen({ host: '127.0.0.1', port: taken.port }, () => quiet),
    ).rejects.toMatchObject({ code: 'EADDRINUSE' })
    await taken.close()
  })

  it('leaves TLS listeners and host names to node:net', async () => {
    const calls: string[] = []
    const fallback = {
      listen: async (options: ListenOptions, _accept: Accept) => {
        calls.push(`listen ${options.host} ${options.tls ? 'tls' : 'plain'}`)
        return { port: 1, close: async () => {} }
      },
      connect: (async (host: string) => {
        calls.push(`connect ${host}`)
        throw new Error('fallback')
      }) as Connect,
    }
    const sockets = handleSockets(fallback)!
    const tls = { cert: '', key: '', certificates: [], minVersion: 'TLSv1.2' as const }
    await sockets.listen({ host: '127.0.0.1', port: 0, tls }, () => quiet)
    await sockets.listen({ host: 'localhost', port: 0 }, () => quiet)
    await expect(sockets.connect('localhost', 1, quiet)).rejects.toThrow('fallback')
    const plain = await sockets.listen({ host: '127.0.0.1', port: 0 }, () => quiet)
    await plain.close()
    expect(calls).toEqual(['listen 127.0.0.1 tls', 'listen localhost plain', 'connect localhost'])
  })
})
