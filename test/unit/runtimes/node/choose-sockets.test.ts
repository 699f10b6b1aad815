/** runtimes/node/choose-sockets.ts: FULCRUM_NODE_SOCKETS picks libuv handles or node:net. */
import { describe, expect, it } from 'vitest'
import { chooseNodeSockets } from '../../../../runtimes/node/choose-sockets.ts'
import * as netSockets from '../../../../runtimes/node/sockets.ts'

describe('chooseNodeSockets', () => {
  it('takes libuv handles when unset, empty or "handles"', () => {
    for (const setting of [undefined, '', 'handles']) {
      const sockets = chooseNodeSockets(setting)
      expect(sockets.kind).toBe('libuv handles')
      expect(sockets.listen).not.toBe(netSockets.listen)
    }
  })

  it('keeps node:net for "net"', () => {
    const sockets = chooseNodeSockets('net')
    expect(sockets.kind).toBe('node:net')
    expect(sockets.listen).toBe(netSockets.listen)
    expect(sockets.connect).toBe(netSockets.connect)
  })

  it('refuses any other value, naming the variable', () => {
    expect(() => chooseNodeSockets('uv')).toThrow(
      'FULCRUM_NODE_SOCKETS must be "handles" or "net", not "uv"',
    )
  })
})
