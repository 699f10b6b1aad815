import { describe, expect, it } from 'vitest'
import { LinkedSet, type Linked } from '../../src/linked-set.ts'

class Item implements Linked<Item> {
  linked = false
  prevLinked: Item | undefined = undefined
  nextLinked: Item | undefined = undefined
  constructor(readonly name: string) {}
}

const names = (set: LinkedSet<Item>) => set.toArray().map((item) => item.name)
const filled = (...all: string[]) => {
  const set = new LinkedSet<Item>()
  const items = all.map((name) => new Item(name))
  for (const item of items) set.add(item)
  return { set, items }
}

describe('LinkedSet', () => {
  it('keeps items oldest first and counts them', () => {
    const { set } = filled('a', 'b', 'c')
    expect(names(set)).toEqual(['a', 'b', 'c'])
    expect(set.size).toBe(3)
    expect(set.first?.name).toBe('a')
  })

  it.each([
    ['first', 0, ['b', 'c']],
    ['middle', 1, ['a', 'c']],
    ['last', 2, ['a', 'b']],
  ])('deletes the %s item and relinks its neighbours', (_, index, rest) => {
    const { set, items } = filled('a', 'b', 'c')
    expect(set.delete(items[index]!)).toBe(true)
    expect(names(set)).toEqual(rest)
    expect(set.size).toBe(2)
    expect(items[index]!.linked).toBe(false)
    // Walking backwards from the tail gives the same items: the prev links are right too.
    const backwards: string[] = []
    for (let item = set.toArray().at(-1); item; item = item.prevLinked) backwards.push(item.name)
    expect(backwards).toEqual([...rest].reverse())
  })

  it('ignores a second add and a delete of an item not in the set', () => {
    const { set, items } = filled('a', 'b')
    set.add(items[0]!)
    expect(names(set)).toEqual(['a', 'b'])
    expect(set.delete(new Item('x'))).toBe(false)
    set.delete(items[0]!)
    expect(set.delete(items[0]!)).toBe(false)
    expect(set.size).toBe(1)
  })

  it('empties, and takes items again afterwards (a deleted item may come back, at the tail)', () => {
    const { set, items } = filled('a', 'b')
    for (const item of set.toArray()) set.delete(item)
    expect(set.size).toBe(0)
    expect(set.first).toBeUndefined()
    set.add(items[0]!)
    set.add(new Item('c'))
    expect(names(set)).toEqual(['a', 'c'])
  })

  it('toArray is a copy: deleting while walking it visits every item', () => {
    const { set } = filled('a', 'b', 'c', 'd')
    const seen: string[] = []
    for (const item of set.toArray()) {
      seen.push(item.name)
      set.delete(item)
    }
    expect(seen).toEqual(['a', 'b', 'c', 'd'])
    expect(set.size).toBe(0)
  })
})
