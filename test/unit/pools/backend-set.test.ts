import { describe, expect, it } from 'vitest'
import { BackendSet } from '../../../src/pools/backend-set.ts'
import type { Backend } from '../../../src/types.ts'
import { backend, stateOf } from './fake-pool.ts'

const A = backend('a')
const B = backend('b', { weight: 2 })
const C = backend('c')
const X = backend('x', { backup: true })
const Y = backend('y', { backup: true })

function setOf(...backends: Backend[]): BackendSet {
  const set = new BackendSet()
  for (const b of backends) set.insert(stateOf(b))
  return set
}

const ids = (backends: readonly Backend[]) => backends.map((b) => b.id)

describe('BackendSet membership', () => {
  it('keeps members in insertion order and finds them by id', () => {
    const set = setOf(A, B, C)
    expect(set.size).toBe(3)
    expect([...set.values()].map((s) => s.backend.id)).toEqual(['a', 'b', 'c'])
    expect(set.get('b')!.backend).toBe(B)
    expect(set.has('b')).toBe(true)
    expect(set.get('z')).toBeUndefined()
    expect(set.has('z')).toBe(false)
  })

  it('moves the version on each insert, delete and reorder, and not on a missed delete', () => {
    const set = new BackendSet()
    const versions = [set.version]
    set.insert(stateOf(A))
    versions.push(set.version)
    set.insert(stateOf(B))
    versions.push(set.version)
    expect(set.delete('z')).toBe(false)
    versions.push(set.version)
    expect(set.delete('a')).toBe(true)
    versions.push(set.version)
    set.reorder([B])
    versions.push(set.version)
    set.changed()
    versions.push(set.version)
    expect(versions).toEqual([0, 1, 2, 2, 3, 4, 5])
  })

  it('reorders to the order given', () => {
    const set = setOf(A, B, C)
    set.reorder([C, A, B])
    expect([...set.values()].map((s) => s.backend.id)).toEqual(['c', 'a', 'b'])
    expect(ids(set.eligible())).toEqual(['c', 'a', 'b'])
  })
})

describe('BackendSet eligibility', () => {
  it('lists the available primaries in order, and keeps the list until a change', () => {
    const set = setOf(A, B, C)
    const first = set.eligible()
    expect(ids(first)).toEqual(['a', 'b', 'c'])
    set.get('b')!.healthy = false
    // Not told yet: the cached list stands, as selectors are rebuilt only on a new version.
    expect(set.eligible()).toBe(first)
    set.changed()
    expect(ids(set.eligible())).toEqual(['a', 'c'])
  })

  it('holds backups in standby while a primary is available, else makes them eligible', () => {
    const set = setOf(X, A, Y, B)
    expect(ids(set.eligible())).toEqual(['a', 'b'])
    expect(ids(set.standby())).toEqual(['x', 'y'])
    set.get('a')!.draining = true
    set.get('b')!.ejected = true
    set.get('y')!.circuit = 'open'
    set.changed()
    expect(ids(set.eligible())).toEqual(['x'])
    expect(set.standby()).toEqual([])
  })

  it('is empty when nothing is available', () => {
    const set = setOf(A, X)
    set.get('a')!.enabled = false
    set.get('x')!.healthy = false
    set.changed()
    expect(set.eligible()).toEqual([])
    expect(set.standby()).toEqual([])
  })

  it('gives ramping backends their effective weight, and the others as they are', () => {
    const set = setOf(A, B, C)
    set.get('b')!.rampFactor = 0.3
    set.changed()
    const effective = set.effectiveEligible()
    expect(effective.map((b) => `${b.id}:${b.weight}`)).toEqual(['a:1', 'b:0.6', 'c:1'])
    expect(effective[0]).toBe(A)
    expect(effective[1]).not.toBe(B)
    expect(set.effectiveEligible()).toBe(effective)
    set.get('b')!.rampFactor = 1
    set.changed()
    expect(set.effectiveEligible()).toEqual([A, B, C])
  })
})
