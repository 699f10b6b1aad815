import { describe, expect, it } from 'vitest'
import { Watchers } from '../../../src/pools/watchers.ts'

describe('Watchers', () => {
  it('calls every listener in the order added, until it is stopped', () => {
    const watchers = new Watchers<number>()
    const calls: string[] = []
    const stopA = watchers.add((n) => calls.push(`a${n}`))
    watchers.add((n) => calls.push(`b${n}`))
    expect(watchers.size).toBe(2)
    watchers.emit(1)
    stopA()
    watchers.emit(2)
    expect(calls).toEqual(['a1', 'b1', 'b2'])
    expect(watchers.size).toBe(1)
  })

  it('lets a change made during a call take effect from the next call on', () => {
    const watchers = new Watchers<number>()
    const calls: string[] = []
    let stopB = () => {}
    watchers.add((n) => {
      calls.push(`a${n}`)
      if (n === 1) {
        stopB()
        watchers.add((m) => calls.push(`c${m}`))
      }
    })
    stopB = watchers.add((n) => calls.push(`b${n}`))
    watchers.emit(1)
    watchers.emit(2)
    // b was removed and c added while 1 was delivered: b still hears 1, c only hears 2.
    expect(calls).toEqual(['a1', 'b1', 'a2', 'c2'])
  })

  it('stops every registration of the same function', () => {
    const watchers = new Watchers<string>()
    const listener = () => {}
    const stop = watchers.add(listener)
    watchers.add(listener)
    stop()
    stop()
    expect(watchers.size).toBe(0)
  })
})
