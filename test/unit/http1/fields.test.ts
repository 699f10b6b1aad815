import { describe, expect, it } from 'vitest'
import { collectFields, FieldList } from '../../../src/http1/fields.ts'

const raw = ['Host', 'x', 'Accept', 'a', 'Set-Cookie', 'a=1', 'ACCEPT', 'b', 'set-cookie', 'b=2']

describe('FieldList', () => {
  it('reads case-insensitively and joins duplicates with ", " (RFC 9110 §5.3)', () => {
    const fields = FieldList.ofFields(raw)
    expect(fields.get('accept')).toBe('a, b')
    expect(fields.get('HOST')).toBe('x')
    expect(fields.get('missing')).toBe(null)
    expect(fields.has('Set-Cookie')).toBe(true)
    expect(fields.getSetCookie()).toEqual(['a=1', 'b=2'])
  })

  it('iterates each name once in arrival order, Set-Cookie line by line (RFC 6265 §3)', () => {
    expect([...FieldList.ofFields(raw)]).toEqual([
      ['host', 'x'],
      ['accept', 'a, b'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ])
  })

  it('sets in place of the first field, appends at the end, deletes every field of a name', () => {
    const fields = FieldList.ofFields(raw)
    fields.set('Accept', 'c')
    fields.append('Via', '1.1 fulcrum')
    fields.delete('set-cookie')
    expect([...fields]).toEqual([
      ['host', 'x'],
      ['accept', 'c'],
      ['via', '1.1 fulcrum'],
    ])
  })

  it('copies without the hop-by-hop fields: editing the copy leaves the original as it was', () => {
    const original = FieldList.ofFields([...raw, 'Connection', 'X-Trace', 'X-Trace', '1'])
    const copy = original.copyWithout((name) => name === 'connection')
    expect([...copy]).toEqual([...FieldList.ofFields(raw)])
    copy.delete('host')
    expect(original.get('host')).toBe('x')
    expect(original.get('x-trace')).toBe('1')
    expect(copy.has('host')).toBe(false)
  })

  it('reads the pairs of a Headers, and a Response takes it as its fields', () => {
    const fields = FieldList.from(new Headers({ 'X-A': '1' }))
    expect(fields.get('x-a')).toBe('1')
    const response = new Response(null, { headers: fields.asHeaders() })
    expect(response.headers.get('x-a')).toBe('1')
  })

  it('collectInto puts the fields as the iterator gives them, joining into what it put only', () => {
    const fields = FieldList.ofFields([...raw, 'Accept', 'c', 'X-One', '1'])
    // Stale names from an earlier head: a later Accept must not join one of them.
    const names = ['x-one', 'accept', 'stale', 'stale', 'stale', 'stale']
    const values = ['old', 'old', 'old', 'old', 'old', 'old']
    const count = fields.collectInto(names, values)
    expect(names.slice(0, count).map((name, i) => [name, values[i]])).toEqual([...fields])
    expect(values.slice(0, count)).toEqual(['x', 'a, b, c', 'a=1', 'b=2', '1'])
  })

  it('a Connection field naming only what is stripped anyway is read without a list', () => {
    const fields = FieldList.ofFields(['Connection', ' Keep-Alive ', 'Keep-Alive', 'timeout=5'])
    fields.stripNamed((name) => name === 'connection' || name === 'keep-alive')
    expect([...fields]).toEqual([])
    const close = FieldList.ofFields(['Connection', 'close', 'Close', 'x', 'Accept', 'a'])
    close.stripNamed((name) => name === 'connection')
    expect([...close]).toEqual([['accept', 'a']])
  })

  it('stripNamed drops the fixed names and those named in Connection, in one pass', () => {
    const fields = FieldList.ofFields([
      'Connection',
      'keep-alive, X-Trace',
      'Keep-Alive',
      'timeout=5',
      'X-Trace',
      '1',
      'Accept',
      'a',
      'TE',
      'trailers',
      'connection',
      ' Upgrade ',
    ])
    const copy = fields.copyWithout((name) => name === 'te' || name === 'connection')
    fields.stripNamed((name) => name === 'te' || name === 'connection')
    expect([...fields]).toEqual([['accept', 'a']])
    expect([...copy]).toEqual([['accept', 'a']])
  })
})

describe('collectFields', () => {
  it('gives the field lines as Headers iterates them, from an engine list or a Headers', () => {
    const names = ['stale', 'stale', 'stale']
    const values = ['x', 'x', 'x']
    const list = FieldList.ofFields(raw)
    const count = collectFields(list.asHeaders(), names, values)
    expect(names.slice(0, count).map((name, i) => [name, values[i]])).toEqual([...list])
    const headers = new Headers([
      ['X-A', '1'],
      ['x-a', '2'],
    ])
    expect(collectFields(headers, names, values)).toBe(1)
    expect([names[0], values[0]]).toEqual(['x-a', '1, 2'])
  })
})
