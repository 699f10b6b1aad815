import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { RequestQueue } from '../../src/queue.ts'

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

describe('request queue', () => {
  it('wakes waiters first come, first served, one per freed slot', async () => {
    const queue = new RequestQueue({ size: 10, timeout: 5000 })
    const order: string[] = []
    const a = queue.wait().then((r) => order.push(`a:${r}`))
    const b = queue.wait().then((r) => order.push(`b:${r}`))
    expect(queue.length).toBe(2)
    queue.wake()
    await a
    expect(order).toEqual(['a:ready'])
    expect(queue.length).toBe(1)
    queue.wake()
    await b
    expect(order).toEqual(['a:ready', 'b:ready'])
  })

  it('answers full at once beyond its size', async () => {
    const queue = new RequestQueue({ size: 1, timeout: 5000 })
    void queue.wait()
    expect(await queue.wait()).toBe('full')
    expect(await new RequestQueue({ size: 0, timeout: 5000 }).wait()).toBe('full')
  })

  it('times a wait out after the queue timeout', async () => {
    const queue = new RequestQueue({ size: 10, timeout: 5000 })
    let result: string | undefined
    void queue.wait().then((r) => (result = r))
    await vi.advanceTimersByTimeAsync(4999)
    expect(result).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    expect(result).toBe('timeout')
    expect(queue.length).toBe(0)
  })

  it('lets an aborted request leave the queue', async () => {
    const queue = new RequestQueue({ size: 10, timeout: 5000 })
    const controller = new AbortController()
    const pending = queue.wait(controller.signal)
    controller.abort()
    expect(await pending).toBe('aborted')
    expect(queue.length).toBe(0)
    expect(await queue.wait(controller.signal)).toBe('aborted')
  })

  it('puts a woken request that lost its slot back at the head', async () => {
    const queue = new RequestQueue({ size: 10, timeout: 5000 })
    const order: string[] = []
    void queue.wait().then(() => order.push('first'))
    void queue.wait(undefined, true).then(() => order.push('again'))
    queue.wake()
    await vi.advanceTimersByTimeAsync(0)
    expect(order).toEqual(['again'])
    queue.wakeAll()
    await vi.advanceTimersByTimeAsync(0)
    expect(order).toEqual(['again', 'first'])
  })
})
