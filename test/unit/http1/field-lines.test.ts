import { describe, expect, it } from 'vitest'
import { FieldLines, RepeatedLine, writeText } from '../../../src/http1/field-lines.ts'

/** The lines `lines` writes for a head, as latin1 text (measured, then written at offset 2). */
function join(
  lines: FieldLines,
  names: readonly string[],
  values: readonly string[],
  count: number,
): string {
  const size = lines.measure(names, values, count)
  const out = new Uint8Array(size + 3).fill(0x2e)
  expect(lines.write(out, 2)).toBe(2 + size)
  // Nothing written outside its room.
  expect([out[0], out[1], out[size + 2]]).toEqual([0x2e, 0x2e, 0x2e])
  return String.fromCharCode(...out.subarray(2, 2 + size))
}

describe('FieldLines', () => {
  it('writes the lines of each head, whatever the head before had in common with it', () => {
    const lines = new FieldLines()
    expect(join(lines, ['a', 'b', 'c'], ['1', '2', '3'], 3)).toBe('a: 1\r\nb: 2\r\nc: 3\r\n')
    // The same head again, one differing in the middle, a shorter one, a longer one.
    expect(join(lines, ['a', 'b', 'c'], ['1', '2', '3'], 3)).toBe('a: 1\r\nb: 2\r\nc: 3\r\n')
    expect(join(lines, ['a', 'b', 'c'], ['1', 'x', '3'], 3)).toBe('a: 1\r\nb: x\r\nc: 3\r\n')
    expect(join(lines, ['a', 'b'], ['1', 'x'], 2)).toBe('a: 1\r\nb: x\r\n')
    expect(join(lines, ['a', 'b', 'd', 'e'], ['1', 'x', '4', '5'], 4)).toBe(
      'a: 1\r\nb: x\r\nd: 4\r\ne: 5\r\n',
    )
    // A name that changes while the value stays.
    expect(join(lines, ['z', 'b'], ['1', 'x'], 2)).toBe('z: 1\r\nb: x\r\n')
    expect(join(lines, [], [], 0)).toBe('')
    expect(join(lines, ['a'], ['1'], 1)).toBe('a: 1\r\n')
  })

  it('writes values as latin1, a byte a code unit (obs-text included)', () => {
    const lines = new FieldLines()
    expect(join(lines, ['a'], ['caf\u00e9'], 1)).toBe('a: caf\u00e9\r\n')
    const out = new Uint8Array(4)
    expect(writeText(out, 1, '\u00ff!')).toBe(3)
    expect([...out]).toEqual([0, 0xff, 0x21, 0])
  })

  it('keeps the lines shared with the head before, and writes what follows them', () => {
    const lines = new FieldLines()
    // The shape of the request heads: the same lines, but the last (X-Request-Id).
    for (const id of ['1', '2', '3', '2']) {
      expect(join(lines, ['x-forwarded-for', 'x-request-id'], ['10.0.0.1', id], 2)).toBe(
        `x-forwarded-for: 10.0.0.1\r\nx-request-id: ${id}\r\n`,
      )
    }
    // A change inside the kept lines, then the same heads again.
    expect(join(lines, ['x-forwarded-for', 'x-request-id'], ['10.0.0.2', '4'], 2)).toBe(
      'x-forwarded-for: 10.0.0.2\r\nx-request-id: 4\r\n',
    )
    expect(join(lines, ['x-forwarded-for', 'x-request-id'], ['10.0.0.2', '4'], 2)).toBe(
      'x-forwarded-for: 10.0.0.2\r\nx-request-id: 4\r\n',
    )
    expect(join(lines, ['x-forwarded-for'], ['10.0.0.2'], 1)).toBe('x-forwarded-for: 10.0.0.2\r\n')
  })

  it('reads only the first `count` entries of the arrays', () => {
    const lines = new FieldLines()
    expect(join(lines, ['a', 'b', 'stale'], ['1', '2', 'old'], 2)).toBe('a: 1\r\nb: 2\r\n')
    expect(join(lines, ['a', 'b', 'other'], ['1', '2', 'x'], 2)).toBe('a: 1\r\nb: 2\r\n')
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

  it('gives the bytes of the line of each value', () => {
    const line = new RepeatedLine('date: ', '\r\n')
    expect(String.fromCharCode(...line.bytesOf('x'))).toBe('date: x\r\n')
    expect(String.fromCharCode(...line.bytesOf('x'))).toBe('date: x\r\n')
    expect(String.fromCharCode(...line.bytesOf('y\u00e9'))).toBe('date: y\u00e9\r\n')
    expect(line.of('z')).toBe('date: z\r\n')
    expect(String.fromCharCode(...line.bytesOf('z'))).toBe('date: z\r\n')
  })
})
