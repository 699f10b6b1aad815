import { describe, expect, it } from 'vitest'
import { newRequestId } from '../../src/request-id.ts'

/** RFC 9562 §5.4: version 4, variant 10xx, lower-case hex. */
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('newRequestId', () => {
  it('gives random version-4 UUIDs, none twice, across refills of its pool', () => {
    const ids = Array.from({ length: 1000 }, () => newRequestId())
    for (const id of ids) expect(id).toMatch(UUID_V4)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('draws every digit from the random bytes: each position but the fixed ones varies', () => {
    const ids = Array.from({ length: 600 }, () => newRequestId())
    for (let position = 0; position < 36; position++) {
      const seen = new Set(ids.map((id) => id[position]))
      if ([8, 13, 18, 23].includes(position)) expect(seen).toEqual(new Set(['-']))
      else if (position === 14) expect(seen).toEqual(new Set(['4']))
      else if (position === 19) expect(seen).toEqual(new Set(['8', '9', 'a', 'b']))
      else expect(seen.size).toBe(16)
    }
  })
})
