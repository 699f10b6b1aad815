import { describe, expect, it } from 'vitest'
import { allocate, copyBytes, copySmall, encodeHead } from '../../../src/http1/bytes.ts'

describe('bytes', () => {
  it('allocate hands out fresh zeroed memory that is never handed out again', () => {
    const a = allocate(10)
    a.fill(1)
    const b = allocate(10)
    expect([...b]).toEqual(new Array(10).fill(0))
    b.fill(2)
    expect([...a]).toEqual(new Array(10).fill(1))
    expect(allocate(100_000).byteLength).toBe(100_000)
  })

  it('copyBytes copies: a later change to the source does not show', () => {
    const source = new Uint8Array([1, 2, 3, 4])
    const copy = copyBytes(source, 1, 3)
    source.fill(9)
    expect([...copy]).toEqual([2, 3])
  })

  it('copySmall copies the range: a later change to the source does not show', () => {
    const source = new Uint8Array([1, 2, 3, 4, 5])
    const copy = copySmall(source, 1, 4)
    source.fill(9)
    expect([...copy]).toEqual([2, 3, 4])
    expect(copySmall(source, 2, 2).byteLength).toBe(0)
  })

  it('encodeHead writes latin1 (obs-text as one byte) and the body after it', () => {
    const body = new Uint8Array([0x61, 0x62])
    expect([...encodeHead('A\r\n', body)]).toEqual([0x41, 13, 10, 0x61, 0x62])
    // U+00E9 is one byte, 0xE9, and does not spill into the body.
    expect([...encodeHead('\u00e9:', body)]).toEqual([0xe9, 0x3a, 0x61, 0x62])
    expect([...encodeHead('ok')]).toEqual([0x6f, 0x6b])
  })
})
