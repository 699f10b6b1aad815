import { describe, expect, it } from 'vitest'
import { parseByteSize } from '../../src/byte-size.ts'

describe('parseByteSize', () => {
  it('reads numbers and binary units', () => {
    expect(parseByteSize(512)).toBe(512)
    expect(parseByteSize('16k')).toBe(16_384)
    expect(parseByteSize('10MiB')).toBe(10_485_760)
    expect(parseByteSize('1.5 kb')).toBe(1536)
    expect(parseByteSize('1g')).toBe(1_073_741_824)
    expect(parseByteSize('ten')).toBe(undefined)
    expect(parseByteSize(-1)).toBe(undefined)
    expect(parseByteSize('3x')).toBe(undefined)
  })
})
