import { describe, expect, it } from 'vitest'
import {
  isWebSocketUpgrade,
  offeredProtocols,
  relayableCloseCode,
} from '../../src/edge/websocket.ts'
import { closeFrame, FrameTracker } from '../../src/edge/ws-frames.ts'

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

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

describe('FrameTracker', () => {
  it('follows frames of every length form, split anywhere', () => {
    const stream = concat(
      frame(1, 5, true),
      frame(2, 300, false),
      frame(2, 70_000, true),
      frame(9, 0, true),
    )
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
    const data = concat(frame(1, 10, false), frame(1, 10, false))
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
