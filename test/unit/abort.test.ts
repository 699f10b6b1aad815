import { describe, expect, it } from 'vitest'
import { LightSignal } from '../../src/abort.ts'

describe('LightSignal', () => {
  it('calls its listeners once, in the order added, functions and listener objects alike', () => {
    const signal = new LightSignal()
    const heard: string[] = []
    signal.addEventListener('abort', () => heard.push('a'))
    signal.addEventListener('abort', { handleEvent: () => heard.push('b') })
    signal.addEventListener('abort', () => heard.push('c'))
    const reason = new Error('stop')
    signal.abort(reason)
    signal.abort(new Error('again'))
    expect(heard).toEqual(['a', 'b', 'c'])
    expect(signal.aborted).toBe(true)
    expect(signal.reason).toBe(reason)
  })

  it('keeps the order of the listeners left after removals, the first one included', () => {
    const signal = new LightSignal()
    const heard: string[] = []
    const listener = (name: string) => () => void heard.push(name)
    const a = listener('a')
    const b = listener('b')
    const c = listener('c')
    const d = listener('d')
    signal.addEventListener('abort', a)
    signal.addEventListener('abort', b)
    signal.addEventListener('abort', c)
    signal.removeEventListener('abort', a)
    signal.addEventListener('abort', d)
    signal.removeEventListener('abort', c)
    signal.removeEventListener('abort', () => {})
    signal.abort()
    expect(heard).toEqual(['b', 'd'])
    expect((signal.reason as DOMException).name).toBe('AbortError')
  })

  it('calls no listener that was removed, and none added after the abort', () => {
    const signal = new LightSignal()
    const heard: string[] = []
    const only = { handleEvent: () => heard.push('removed') }
    signal.addEventListener('abort', only)
    signal.removeEventListener('abort', only)
    signal.abort()
    signal.addEventListener('abort', () => heard.push('late'))
    expect(heard).toEqual([])
  })
})
