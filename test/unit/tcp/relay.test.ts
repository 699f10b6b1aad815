/**
 * The layer-4 relay over in-memory sockets, each call logged in one ordered list: early client
 * bytes kept and sent first, backpressure both ways (write answering `false` pauses the other
 * side, `drain` resumes it), half-close both ways with the answer still delivered, resets, the
 * idle timeout on fake time (activity moves the deadline), and one report at the end.
 */
import { describe, expect, it } from 'vitest'
import { Relay, type RelayStats, type RelayTimers } from '../../../src/tcp/relay.ts'
import { LoggedSocket } from './memory-socket.ts'

/** Timers on a clock the test moves; due callbacks run in deadline order. */
function fakeTimers() {
  let time = 0
  let next = 1
  const pending = new Map<number, { at: number; callback: () => void }>()
  const timers: RelayTimers = {
    now: () => time,
    setTimeout: (callback, ms) => {
      pending.set(next, { at: time + ms, callback })
      return next++
    },
    clearTimeout: (handle) => void pending.delete(handle as number),
  }
  return {
    timers,
    pending: () => pending.size,
    advance(ms: number) {
      const until = time + ms
      for (;;) {
        const due = [...pending].filter(([, t]) => t.at <= until).sort((x, y) => x[1].at - y[1].at)
        if (due.length === 0) break
        const [id, timer] = due[0]!
        pending.delete(id)
        time = timer.at
        timer.callback()
      }
      time = until
    },
  }
}

/** A relay with both sides logged; the client attached, the backend not yet. */
function setup(idleTimeout = 60_000) {
  const log: string[] = []
  const ends: RelayStats[] = []
  const bytes: string[] = []
  const clock = fakeTimers()
  const relay = new Relay({
    idleTimeout,
    timers: clock.timers,
    onEnd: (stats) => {
      log.push(`onEnd ${stats.reason}`)
      ends.push(stats)
    },
    onBytes: (direction, count) => bytes.push(`${direction} ${count}`),
  })
  const client = new LoggedSocket('client', log)
  const backend = new LoggedSocket('backend', log)
  client.events = relay.attachClient(client)
  backend.events = relay.backendEvents
  /** Attach the backend, as the service does once it is connected. */
  const attach = () => relay.attachBackend(backend)
  /** The log so far, emptied. */
  const take = () => log.splice(0)
  return { relay, client, backend, attach, take, ends, bytes, clock }
}

describe('Relay: early bytes', () => {
  it('pauses the client until the backend is attached, then sends its bytes first, in order', () => {
    const { client, attach, take, backend } = setup()
    expect(client.events).toBeDefined()
    client.send('one ')
    client.send('two ')
    expect(take()).toEqual(['client.pause', 'client.pause'])
    attach()
    expect(take()).toEqual(['backend.write one ', 'backend.write two ', 'client.resume'])
    client.send('three')
    expect(take()).toEqual(['backend.write three'])
    expect(backend.output()).toBe('one two three')
  })

  it('keeps the client paused when the early bytes fill the backend, until it drains', () => {
    const { client, backend, attach, take } = setup()
    client.send('early')
    backend.writable = false
    take()
    attach()
    expect(take()).toEqual(['backend.write early'])
    expect(client.paused).toBe(true)
    backend.writable = true
    backend.events.drain()
    expect(take()).toEqual(['client.resume'])
  })

  it('passes a FIN that came before the backend after the early bytes', () => {
    const { client, attach, take, backend, relay } = setup()
    client.send('QUIT\r\n')
    client.sendEnd()
    take()
    attach()
    expect(take()).toEqual(['backend.write QUIT\r\n', 'backend.end', 'client.resume'])
    // The backend still answers the half-closed client.
    backend.send('221 bye\r\n')
    expect(take()).toEqual(['client.write 221 bye\r\n'])
    expect(relay.stats).toEqual({ bytesIn: 6, bytesOut: 9, reason: 'done' })
  })

  it('drops the backend of a client that left before it was attached', () => {
    const { client, attach, take, ends } = setup()
    client.send('x')
    client.sendClose()
    take()
    attach()
    expect(take()).toEqual(['backend.destroy', 'onEnd done'])
    expect(ends).toEqual([{ bytesIn: 1, bytesOut: 0, reason: 'done' }])
  })
})

describe('Relay: backpressure', () => {
  it('client to backend: a full backend pauses the client; its drain resumes it', () => {
    const { client, backend, attach, take } = setup()
    attach()
    take()
    backend.writable = false
    client.send('a')
    expect(take()).toEqual(['backend.write a', 'client.pause'])
    backend.writable = true
    backend.events.drain()
    expect(take()).toEqual(['client.resume'])
    client.send('b')
    expect(take()).toEqual(['backend.write b'])
  })

  it('backend to client: a full client pauses the backend; its drain resumes it', () => {
    const { client, backend, attach, take } = setup()
    attach()
    take()
    client.writable = false
    backend.send('A')
    expect(take()).toEqual(['client.write A', 'backend.pause'])
    // The client side keeps flowing meanwhile.
    client.send('q')
    expect(take()).toEqual(['backend.write q'])
    client.writable = true
    client.events.drain()
    expect(take()).toEqual(['backend.resume'])
    backend.send('B')
    expect(take()).toEqual(['client.write B'])
    expect(client.output()).toBe('AB')
  })
})

describe('Relay: half-close and close', () => {
  it('client FIN first: the backend gets a FIN and its answer still reaches the client', () => {
    const { client, backend, attach, take, ends, bytes } = setup()
    attach()
    take()
    client.send('GET')
    client.sendEnd()
    expect(take()).toEqual(['backend.write GET', 'backend.end'])
    backend.send('answer 1 ')
    backend.send('answer 2')
    backend.sendEnd()
    expect(take()).toEqual(['client.write answer 1 ', 'client.write answer 2', 'client.end'])
    backend.sendClose()
    // Not over until the client is gone too; its FIN went once, and is not sent again.
    expect(take()).toEqual([])
    expect(ends).toEqual([])
    client.sendClose()
    expect(take()).toEqual(['onEnd done'])
    expect(ends).toEqual([{ bytesIn: 3, bytesOut: 17, reason: 'done' }])
    expect(bytes).toEqual(['in 3', 'out 9', 'out 8'])
    expect(client.output()).toBe('answer 1 answer 2')
  })

  it('backend FIN first: the client gets a FIN and may still send to the backend', () => {
    const { client, backend, attach, take, ends } = setup()
    attach()
    take()
    backend.send('hello')
    backend.sendEnd()
    expect(take()).toEqual(['client.write hello', 'client.end'])
    client.send('still here')
    client.sendEnd()
    expect(take()).toEqual(['backend.write still here', 'backend.end'])
    client.sendClose()
    // The backend's FIN went once, with the client's; nothing more is sent.
    expect(take()).toEqual([])
    backend.sendClose()
    expect(take()).toEqual(['onEnd done'])
    expect(ends).toEqual([{ bytesIn: 10, bytesOut: 5, reason: 'done' }])
  })

  it('a client that closes without a FIN has its backend destroyed, and the relay ends', () => {
    const { client, attach, take, ends } = setup()
    attach()
    take()
    client.sendClose()
    // A destroyed socket reports nothing more (src/socket.ts): the relay ends here.
    expect(take()).toEqual(['backend.destroy', 'onEnd done'])
    expect(ends).toHaveLength(1)
  })

  it('a client reset destroys the backend: client-reset', () => {
    const { client, backend, attach, take, ends } = setup()
    attach()
    client.send('x')
    take()
    client.sendClose(new Error('ECONNRESET'))
    expect(take()).toEqual(['backend.destroy', 'onEnd client-reset'])
    expect(ends).toEqual([{ bytesIn: 1, bytesOut: 0, reason: 'client-reset' }])
    // A late event from the destroyed side changes nothing.
    backend.sendClose()
    expect(ends).toHaveLength(1)
  })

  it('a backend reset destroys the client: backend-reset', () => {
    const { backend, attach, take, ends } = setup()
    attach()
    backend.send('partial')
    take()
    backend.sendClose(new Error('ECONNRESET'))
    expect(take()).toEqual(['client.destroy', 'onEnd backend-reset'])
    expect(ends).toEqual([{ bytesIn: 0, bytesOut: 7, reason: 'backend-reset' }])
  })

  it('a backend that closes gives the client a FIN; client bytes after it go nowhere', () => {
    const { client, backend, attach, take, ends } = setup()
    attach()
    take()
    backend.sendClose()
    expect(take()).toEqual(['client.end'])
    client.send('late')
    // Nothing is written to the closed backend, and the client is not left paused.
    expect(take()).toEqual([])
    client.sendClose()
    expect(take()).toEqual(['onEnd done'])
    expect(ends).toEqual([{ bytesIn: 4, bytesOut: 0, reason: 'done' }])
  })

  it('close() destroys both sides once, with its reason; fail() closes the client', () => {
    const one = setup()
    one.attach()
    one.take()
    one.relay.close('shutdown')
    expect(one.take()).toEqual(['client.destroy', 'backend.destroy', 'onEnd shutdown'])
    one.relay.close('idle-timeout')
    one.backend.sendClose(new Error('late'))
    expect(one.ends).toEqual([{ bytesIn: 0, bytesOut: 0, reason: 'shutdown' }])

    const two = setup()
    two.client.send('x')
    two.take()
    two.relay.fail()
    expect(two.take()).toEqual(['client.destroy', 'onEnd connect-failed'])
    expect(two.ends).toEqual([{ bytesIn: 1, bytesOut: 0, reason: 'connect-failed' }])
  })
})

describe('Relay: idle timeout', () => {
  it('closes both sides after idleTimeout without a byte; activity moves the deadline', () => {
    const { client, backend, attach, take, ends, clock } = setup(1000)
    attach()
    take()
    clock.advance(600)
    client.send('a')
    clock.advance(400)
    // At 1000 the timer fires early (last byte at 600) and is re-armed for 1600.
    expect(take()).toEqual(['backend.write a'])
    clock.advance(100)
    backend.send('b')
    clock.advance(500)
    // At 1600 it fired again (last byte at 1100): the deadline is now 2100.
    expect(take()).toEqual(['client.write b'])
    clock.advance(499)
    expect(ends).toEqual([])
    clock.advance(1)
    expect(take()).toEqual(['client.destroy', 'backend.destroy', 'onEnd idle-timeout'])
    expect(ends).toEqual([{ bytesIn: 1, bytesOut: 1, reason: 'idle-timeout' }])
    expect(clock.pending()).toBe(0)
  })

  it('runs while the backend is not there yet, and no timer is left once the relay ends', () => {
    const { take, ends, clock, client, relay } = setup(1000)
    clock.advance(999)
    expect(ends).toEqual([])
    clock.advance(1)
    expect(take()).toEqual(['client.destroy', 'onEnd idle-timeout'])

    const other = setup(1000)
    other.attach()
    other.client.sendClose()
    expect(other.ends).toHaveLength(1)
    expect(other.clock.pending()).toBe(0)
    expect(client.destroyed && relay.stats.reason === 'idle-timeout').toBe(true)
  })
})
