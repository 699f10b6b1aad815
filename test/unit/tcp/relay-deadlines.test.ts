/**
 * The relay's idle timeout without timers of its own (`timers` not given), on the fake clock:
 * src/deadlines.ts's shared deadline (one runtime timer for every relay of one idle timeout), and
 * a runtime timer of its own only for the rest of a period that saw activity.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Relay, type RelayStats } from '../../../src/tcp/relay.ts'
import { LoggedSocket } from './memory-socket.ts'

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

/** A relay on the real (here: fake) clock, both sides attached. */
function relayed(idleTimeout: number, name: string) {
  const log: string[] = []
  const ends: RelayStats[] = []
  const relay = new Relay({ idleTimeout, onEnd: (stats) => ends.push(stats) })
  const client = new LoggedSocket(`${name}.client`, log)
  const backend = new LoggedSocket(`${name}.backend`, log)
  client.events = relay.attachClient(client)
  backend.events = relay.backendEvents
  relay.attachBackend(backend)
  return { relay, client, backend, ends, log }
}

describe('Relay: idle timeout on shared deadlines', () => {
  it('relays of one idle timeout share one runtime timer; each closes at its own deadline', () => {
    const first = relayed(3_001, 'a')
    vi.advanceTimersByTime(1000)
    const second = relayed(3_001, 'b')
    expect(vi.getTimerCount()).toBe(1)
    vi.advanceTimersByTime(2001)
    expect(first.ends).toEqual([{ bytesIn: 0, bytesOut: 0, reason: 'idle-timeout' }])
    expect(second.ends).toEqual([])
    vi.advanceTimersByTime(999)
    expect(second.ends).toEqual([])
    vi.advanceTimersByTime(1)
    expect(second.ends).toEqual([{ bytesIn: 0, bytesOut: 0, reason: 'idle-timeout' }])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('activity moves the deadline: the rest of the period runs on a timer of its own', () => {
    const { client, backend, ends, log } = relayed(3_002, 'c')
    vi.advanceTimersByTime(2000)
    client.send('a')
    vi.advanceTimersByTime(1002)
    // The shared deadline came early (last byte at 2000): due again at 5002.
    expect(ends).toEqual([])
    expect(vi.getTimerCount()).toBe(1)
    backend.send('b')
    vi.advanceTimersByTime(2000)
    // At 5002 it came early again (last byte at 3002): due at 6004.
    expect(ends).toEqual([])
    vi.advanceTimersByTime(1001)
    expect(ends).toEqual([])
    vi.advanceTimersByTime(1)
    expect(ends).toEqual([{ bytesIn: 1, bytesOut: 1, reason: 'idle-timeout' }])
    expect(log).toContain('c.client.destroy')
    expect(vi.getTimerCount()).toBe(0)
  })

  it('a relay that ends leaves no timer behind', () => {
    const { client, ends } = relayed(3_003, 'd')
    expect(vi.getTimerCount()).toBe(1)
    client.sendClose()
    expect(ends).toHaveLength(1)
    expect(vi.getTimerCount()).toBe(0)
  })
})
