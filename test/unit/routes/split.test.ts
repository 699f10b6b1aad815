import { describe, expect, it } from 'vitest'
import { WeightedSplit, type SplitShare } from '../../../src/routes/split.ts'

/** The next `n` picks, one letter per pick when the pools are named by one letter. */
function picks(split: WeightedSplit, n: number): string {
  return Array.from({ length: n }, () => split.next()).join('')
}

const count = (sequence: string, pool: string) => sequence.split(pool).length - 1

describe('WeightedSplit: smooth weighted round robin', () => {
  it('sends exactly 9 of every 10 requests to a 90/10 split\u2019s first pool, spread out', () => {
    const split = new WeightedSplit([
      { pool: 'a', weight: 90 },
      { pool: 'b', weight: 10 },
    ])
    const sequence = picks(split, 100)
    // The one pick of b sits mid-window, never two b in a row (nginx's smooth WRR).
    expect(sequence.slice(0, 10)).toBe('aaaaabaaaa')
    for (let window = 0; window < 10; window++) {
      const slice = sequence.slice(window * 10, window * 10 + 10)
      expect(slice, `window ${window}`).toBe('aaaaabaaaa')
    }
    expect(count(sequence, 'b')).toBe(10)
  })

  it('gives nginx\u2019s sequence for 5/1/1', () => {
    const split = new WeightedSplit([
      { pool: 'a', weight: 5 },
      { pool: 'b', weight: 1 },
      { pool: 'c', weight: 1 },
    ])
    expect(picks(split, 14)).toBe('aabacaa' + 'aabacaa')
  })

  it('alternates a 50/50 split and sends everything to the only weighted pool of 0/100', () => {
    expect(
      picks(
        new WeightedSplit([
          { pool: 'a', weight: 50 },
          { pool: 'b', weight: 50 },
        ]),
        6,
      ),
    ).toBe('ababab')
    expect(
      picks(
        new WeightedSplit([
          { pool: 'a', weight: 0 },
          { pool: 'b', weight: 100 },
        ]),
        5,
      ),
    ).toBe('bbbbb')
  })

  it('keeps exact shares for uneven weights over each full cycle', () => {
    const split = new WeightedSplit([
      { pool: 'a', weight: 3 },
      { pool: 'b', weight: 2 },
      { pool: 'c', weight: 2 },
    ])
    for (let cycle = 0; cycle < 5; cycle++) {
      const sequence = picks(split, 7)
      expect([count(sequence, 'a'), count(sequence, 'b'), count(sequence, 'c')]).toEqual([3, 2, 2])
    }
  })

  it('takes new weights at the next pick, the smoothing restarted (a rolling deploy)', () => {
    const split = new WeightedSplit([
      { pool: 'a', weight: 90 },
      { pool: 'b', weight: 10 },
    ])
    // Three picks into a 90/10 window, then 50/50, then 0/100.
    expect(picks(split, 3)).toBe('aaa')
    split.setWeights([
      { pool: 'a', weight: 50 },
      { pool: 'b', weight: 50 },
    ])
    expect(split.shares).toEqual([
      { pool: 'a', weight: 50 },
      { pool: 'b', weight: 50 },
    ])
    expect(picks(split, 6)).toBe('ababab')
    split.setWeights([
      { pool: 'a', weight: 0 },
      { pool: 'b', weight: 100 },
    ])
    expect(picks(split, 4)).toBe('bbbb')
    // And back: a fresh 90/10 window, as from the start.
    split.setWeights([
      { pool: 'a', weight: 90 },
      { pool: 'b', weight: 10 },
    ])
    expect(picks(split, 10)).toBe('aaaaabaaaa')
  })

  it('may change the set of pools, not only their weights', () => {
    const split = new WeightedSplit([{ pool: 'a', weight: 1 }])
    expect(picks(split, 3)).toBe('aaa')
    split.setWeights([
      { pool: 'b', weight: 1 },
      { pool: 'c', weight: 1 },
    ])
    expect(picks(split, 4)).toBe('bcbc')
  })

  it('refuses weights summing to 0 (and not a number), and keeps the weights in force', () => {
    expect(() => new WeightedSplit([{ pool: 'a', weight: 0 }])).toThrow(RangeError)
    expect(() => new WeightedSplit([])).toThrow('The weights sum to 0')
    const split = new WeightedSplit([
      { pool: 'a', weight: 1 },
      { pool: 'b', weight: 1 },
    ])
    expect(() =>
      split.setWeights([
        { pool: 'a', weight: 0 },
        { pool: 'b', weight: 0 },
      ]),
    ).toThrow(RangeError)
    expect(() => split.setWeights([{ pool: 'a', weight: Number.NaN }])).toThrow(RangeError)
    expect(split.shares.map((s) => s.weight)).toEqual([1, 1])
    expect(picks(split, 4)).toBe('abab')
  })

  it('copies the shares: changing the caller\u2019s array changes nothing', () => {
    const shares: SplitShare[] = [
      { pool: 'a', weight: 1 },
      { pool: 'b', weight: 3 },
    ]
    const split = new WeightedSplit(shares)
    Object.assign(shares[0]!, { weight: 100 })
    shares.push({ pool: 'c', weight: 100 })
    expect(split.shares).toEqual([
      { pool: 'a', weight: 1 },
      { pool: 'b', weight: 3 },
    ])
    expect(count(picks(split, 8), 'a')).toBe(2)
  })
})
