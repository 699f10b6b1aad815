import { describe, expect, it } from 'vitest'
import { FieldLines, RepeatedLine } from '../../../src/http1/field-lines.ts'

describe('FieldLines', () => {
  it('joins the lines of each head, whatever the head before had in common with it', () => {
    const lines = new FieldLines()
    expect(lines.join(['a', 'b', 'c'], ['1', '2', '3'], 3)).toBe('a: 1\r\nb: 2\r\nc: 3\r\n')
    // The same head again, one differing in the middle, a shorter one, a longer one.
    expect(lines.join(['a', 'b', 'c'], ['1', '2', '3'], 3)).toBe('a: 1\r\nb: 2\r\nc: 3\r\n')
    expect(lines.join(['a', 'b', 'c'], ['1', 'x', '3'], 3)).toBe('a: 1\r\nb: x\r\nc: 3\r\n')
    expect(lines.join(['a', 'b'], ['1', 'x'], 2)).toBe('a: 1\r\nb: x\r\n')
    expect(lines.join(['a', 'b', 'd', 'e'], ['1', 'x', '4', '5'], 4)).toBe(
      'a: 1\r\nb: x\r\nd: 4\r\ne: 5\r\n',
    )
    // A name that changes while the value stays.
    expect(lines.join(['z', 'b'], ['1', 'x'], 2)).toBe('z: 1\r\nb: x\r\n')
    expect(lines.join([], [], 0)).toBe('')
    expect(lines.join(['a'], ['1'], 1)).toBe('a: 1\r\n')
  })

  it('reads only the first `count` entries of the arrays', () => {
    const lines = new FieldLines()
    expect(lines.join(['a', 'b', 'stale'], ['1', '2', 'old'], 2)).toBe('a: 1\r\nb: 2\r\n')
    expect(lines.join(['a', 'b', 'other'], ['1', '2', 'x'], 2)).toBe('a: 1\r\nb: 2\r\n')
  })
})

describe('RepeatedLine', () => {
  it('gives the line of each value, kept while the value repeats', () => {
    const line = new RepeatedLine('content-length: ', '\r\n')
    const first = line.of('100')
    expect(first).toBe('content-length: 100\r\n')
    expect(line.of(String(100))).toBe(first)
    expect(line.of('7')).toBe('content-length: 7\r\n')
    expect(line.of('')).toBe('content-length: \r\n')
  })
})
