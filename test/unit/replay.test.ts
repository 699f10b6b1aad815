import { afterEach, describe, expect, it, vi } from 'vitest'
import { ClientBodyTimeoutError, ReplayableBody } from '../../src/replay.ts'

const encoder = new TextEncoder()

/** A client body the test feeds chunk by chunk. */
function clientBody() {
  let controller!: ReadableStreamDefaultController<Uint8Array>
  const stream = new ReadableStream<Uint8Array>({ start: (c) => (controller = c) })
  return {
    stream,
    send: (text: string) => controller.enqueue(encoder.encode(text)),
    end: () => controller.close(),
  }
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  return new Response(stream).text()
}

afterEach(() => {
  vi.useRealTimers()
})

describe('replayable body', () => {
  it('replays the bytes kept so far, then the rest, to a second attempt', async () => {
    const client = clientBody()
    const body = new ReplayableBody(client.stream, { limit: 100, idleTimeout: 60_000 })
    expect(body.unsent).toBe(true)
    const first = body.stream().getReader()
    client.send('hello ')
    expect(new TextDecoder().decode((await first.read()).value)).toBe('hello ')
    expect(body.unsent).toBe(false)
    expect(body.replayable).toBe(true)
    expect(body.complete).toBe(false)
    // The first attempt fails; a second one gets everything from the start.
    const second = body.stream()
    client.send('world')
    client.end()
    expect(await readAll(second)).toBe('hello world')
    expect(body.complete).toBe(true)
    // The first attempt's stream is dead.
    await expect(first.read()).rejects.toThrow(/newer attempt/)
  })

  it('stops keeping bytes beyond the limit: no replay then', async () => {
    const client = clientBody()
    const body = new ReplayableBody(client.stream, { limit: 8, idleTimeout: 60_000 })
    const stream = body.stream()
    client.send('12345')
    client.send('67890')
    client.end()
    expect(await readAll(stream)).toBe('1234567890')
    expect(body.replayable).toBe(false)
    expect(body.complete).toBe(false)
  })

  it('fills the buffer with the rest of a small body', async () => {
    const client = clientBody()
    const body = new ReplayableBody(client.stream, { limit: 100, idleTimeout: 60_000 })
    client.send('a')
    client.send('b')
    client.end()
    expect(await body.fill()).toBe(true)
    expect(await readAll(body.stream())).toBe('ab')
  })

  it('fails the body when the client goes silent for the idle timeout', async () => {
    vi.useFakeTimers()
    const client = clientBody()
    const body = new ReplayableBody(client.stream, { limit: 100, idleTimeout: 1000 })
    const reader = body.stream().getReader()
    client.send('x')
    await reader.read()
    const next = reader.read()
    const caught = next.catch((error) => error)
    await vi.advanceTimersByTimeAsync(1000)
    expect(await caught).toBeInstanceOf(ClientBodyTimeoutError)
    expect(body.timedOut).toBe(true)
    expect(body.replayable).toBe(false)
  })
})
