/**
 * The upstream body (src/http1/body.ts): its reader, its backpressure, the watchers that hand it
 * to a runtime's server, and `rawBodyOf`, through which the engine's response writer gets it back
 * from under the `Response` that `toClientResponse` builds.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  rawBodyOf,
  UpstreamBody,
  UpstreamResponse,
  watchUpstreamBody,
  watchUpstreamBodyAsStream,
} from '../../../src/http1/body.ts'
import { UpstreamTimeoutError } from '../../../src/errors.ts'
import { toClientResponse } from '../../../src/forward.ts'
import type { BodyEnd } from '../../../src/stream.ts'

afterEach(() => {
  vi.useRealTimers()
})

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (chunk: Uint8Array | undefined) => new TextDecoder().decode(chunk)

/** A body with its producer's calls counted. */
function body() {
  const calls = { resumes: 0, aborts: [] as unknown[] }
  const upstream = new UpstreamBody(
    () => calls.resumes++,
    (reason) => calls.aborts.push(reason),
  )
  return { upstream, calls }
}

/** The client's response around `upstream`, as the app builds it, with what `onDone` heard. */
function clientResponse(upstream: UpstreamBody, watch = watchUpstreamBodyAsStream) {
  const done: [number, BodyEnd][] = []
  const fetched = new UpstreamResponse(200, 'OK', new Headers({ 'x-a': '1' }), upstream)
  const response = toClientResponse(
    fetched as unknown as Response,
    'GET',
    'fulcrum',
    (count, end) => done.push([count, end]),
    undefined,
    watch,
  )
  return { response, done }
}

describe('UpstreamBody', () => {
  it('hands chunks to a reader in order, then the end', async () => {
    const { upstream } = body()
    const reader = upstream.getReader()
    const pending = reader.read()
    upstream.push(bytes('a'))
    upstream.push(bytes('b'))
    upstream.end()
    expect(text((await pending).value)).toBe('a')
    expect(text((await reader.read()).value)).toBe('b')
    expect(await reader.read()).toEqual({ done: true, value: undefined })
    expect(() => upstream.getReader()).toThrow(TypeError)
  })

  it('asks for a pause at 64 KiB queued, and resumes once read below it', async () => {
    const { upstream, calls } = body()
    expect(upstream.push(new Uint8Array(32 * 1024))).toBe(true)
    expect(upstream.push(new Uint8Array(32 * 1024))).toBe(false)
    const reader = upstream.getReader()
    expect(calls.resumes).toBe(0)
    await reader.read()
    expect(calls.resumes).toBe(1)
  })

  it('tells a source object to resume and to abort, as it does the two callbacks', async () => {
    const calls = { resumes: 0, aborts: [] as unknown[] }
    const upstream = new UpstreamBody({
      resume: () => calls.resumes++,
      abort: (reason) => calls.aborts.push(reason),
    })
    expect(upstream.push(new Uint8Array(64 * 1024))).toBe(false)
    const reader = upstream.getReader()
    await reader.read()
    expect(calls.resumes).toBe(1)
    const reason = new Error('gone')
    await reader.cancel(reason)
    expect(calls.aborts).toEqual([reason])
  })

  it('is taken whole as one buffer once every byte has arrived', () => {
    const { upstream } = body()
    upstream.push(bytes('he'))
    upstream.push(bytes('llo'))
    expect(upstream.whole).toBe(false)
    upstream.end()
    expect(upstream.whole).toBe(true)
    expect(upstream.queued).toBe(5)
    expect(text(upstream.take())).toBe('hello')
    expect(upstream.locked).toBe(true)
  })

  it('fails its pending read, and aborts the exchange when cancelled early', async () => {
    const failing = body()
    const pending = failing.upstream.getReader().read()
    const error = new Error('reset')
    failing.upstream.fail(error)
    await expect(pending).rejects.toBe(error)

    const cancelled = body()
    cancelled.upstream.push(bytes('x'))
    const reason = new Error('client gone')
    await cancelled.upstream.getReader().cancel(reason)
    expect(cancelled.calls.aborts).toEqual([reason])
  })

  it('fails with UpstreamTimeoutError when watched and idle too long', async () => {
    vi.useFakeTimers()
    const { upstream, calls } = body()
    const done: BodyEnd[] = []
    upstream.watch((_bytes, end) => done.push(end), 1000)
    const read = upstream.getReader().read()
    read.catch(() => {})
    await vi.advanceTimersByTimeAsync(999)
    expect(done).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    await expect(read).rejects.toThrow(UpstreamTimeoutError)
    expect(done).toEqual(['timeout'])
    expect(calls.aborts[0]).toBeInstanceOf(UpstreamTimeoutError)
  })

  it('reads as a Response would: arrayBuffer and text', async () => {
    const { upstream } = body()
    const response = new UpstreamResponse(201, 'Created', new Headers(), upstream)
    upstream.push(bytes('caf'))
    upstream.push(new Uint8Array([0xc3, 0xa9]))
    upstream.end()
    expect(response.ok).toBe(true)
    expect(await response.text()).toBe('café')
    expect(response.bodyUsed).toBe(true)
  })
})

describe('rawBodyOf', () => {
  it('gives the whole buffer under a response whose body had arrived whole', () => {
    const { upstream } = body()
    upstream.push(bytes('small'))
    upstream.end()
    const { response, done } = clientResponse(upstream)
    const raw = rawBodyOf(response)
    expect(raw).toBeInstanceOf(Uint8Array)
    expect(text(raw as Uint8Array)).toBe('small')
    // Already reported: writing it is all that is left.
    expect(done).toEqual([[5, 'end']])
    expect(response.headers.get('via')).toBe('1.1 fulcrum')
  })

  it('gives the UpstreamBody, still watched, under a body still arriving', async () => {
    const { upstream } = body()
    upstream.push(bytes('first '))
    const { response, done } = clientResponse(upstream)
    const raw = rawBodyOf(response)
    expect(raw).toBe(upstream)
    const reader = (raw as UpstreamBody).getReader()
    expect(text((await reader.read()).value)).toBe('first ')
    upstream.push(bytes('second'))
    upstream.end()
    expect(text((await reader.read()).value)).toBe('second')
    expect((await reader.read()).done).toBe(true)
    expect(done).toEqual([[12, 'end']])
  })

  it('reports the end to the watcher when the engine takes a body that became whole', () => {
    const { upstream } = body()
    upstream.push(bytes('late'))
    const { response, done } = clientResponse(upstream)
    upstream.push(bytes(' end'))
    upstream.end()
    const raw = rawBodyOf(response) as UpstreamBody
    expect(raw.whole).toBe(true)
    expect(text(raw.take())).toBe('late end')
    expect(done).toEqual([[8, 'end']])
  })

  it('cancelling the raw body aborts the upstream exchange and reports the cancel', async () => {
    const { upstream, calls } = body()
    upstream.push(bytes('part'))
    const { response, done } = clientResponse(upstream)
    const reason = new Error('client gone')
    await (rawBodyOf(response) as UpstreamBody).getReader().cancel(reason)
    expect(calls.aborts).toEqual([reason])
    expect(done).toEqual([[0, 'cancel']])
  })

  it('gives nothing once the Web stream was read: response.body is the one to send', async () => {
    const { upstream } = body()
    upstream.push(bytes('streamed'))
    const { response } = clientResponse(upstream)
    const reader = response.body!.getReader()
    expect(text((await reader.read()).value)).toBe('streamed')
    expect(rawBodyOf(response)).toBeUndefined()
  })

  it('gives the body itself under the Node watcher, which hands it over unwrapped', () => {
    const { upstream } = body()
    upstream.push(bytes('x'))
    const { response } = clientResponse(upstream, watchUpstreamBody)
    expect(rawBodyOf(response)).toBe(upstream)
  })

  it('gives nothing for a body that is not an UpstreamBody, or a response built elsewhere', () => {
    const stream = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(bytes('web')) })
    const fetched = new Response(stream, { status: 200 })
    const response = toClientResponse(fetched, 'GET', 'fulcrum', () => {})
    expect(rawBodyOf(response)).toBeUndefined()
    expect(rawBodyOf(new Response('plain'))).toBeUndefined()
  })
})
