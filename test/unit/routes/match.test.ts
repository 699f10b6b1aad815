import { describe, expect, it } from 'vitest'
import { headersMatch, hostMatches, hostOf, methodMatches } from '../../../src/routes/match.ts'

describe('hostOf', () => {
  it('lower-cases the host and drops the port', () => {
    expect(hostOf('http://api.example.com/v1')).toBe('api.example.com')
    expect(hostOf('http://api.example.com:8443/v1')).toBe('api.example.com')
    expect(hostOf('https://API.Example.COM:8443')).toBe('api.example.com')
  })

  it('keeps the colons of an IPv6 literal, and drops its port', () => {
    expect(hostOf('http://[::1]:8080/x')).toBe('[::1]')
    expect(hostOf('http://[2001:db8::1]/x')).toBe('[2001:db8::1]')
  })

  it('gives a key no host pattern matches when there is no host', () => {
    expect(hostOf('http:///x')).toBe('_')
    expect(hostOf('http://:8080/x')).toBe('_')
  })
})

describe('hostMatches', () => {
  it('matches any host without a pattern, and an exact one by equality', () => {
    expect(hostMatches(undefined, 'x')).toBe(true)
    expect(hostMatches('api.example.com', 'api.example.com')).toBe(true)
    expect(hostMatches('api.example.com', 'www.example.com')).toBe(false)
  })

  it('matches a wildcard for one label or more before the suffix, not the bare name', () => {
    expect(hostMatches('*.example.com', 'a.example.com')).toBe(true)
    expect(hostMatches('*.example.com', 'a.b.example.com')).toBe(true)
    expect(hostMatches('*.example.com', 'example.com')).toBe(false)
    expect(hostMatches('*.example.com', '.example.com')).toBe(false)
    expect(hostMatches('*.example.com', 'badexample.com')).toBe(false)
  })
})

describe('headersMatch', () => {
  const headers = new Headers({ 'X-Beta': '1', 'x-user': 'ann' })

  it('needs the exact value, or only presence for true; names are case-insensitive', () => {
    expect(headersMatch(undefined, headers)).toBe(true)
    expect(headersMatch({ 'x-beta': '1' }, headers)).toBe(true)
    expect(headersMatch({ 'x-beta': '2' }, headers)).toBe(false)
    expect(headersMatch({ 'x-user': true }, headers)).toBe(true)
    expect(headersMatch({ 'x-admin': true }, headers)).toBe(false)
    expect(headersMatch({ 'x-beta': '1', 'x-user': true }, headers)).toBe(true)
    expect(headersMatch({ 'x-beta': '1', 'x-admin': true }, headers)).toBe(false)
  })

  it('compares values exactly: case and extra values count', () => {
    expect(headersMatch({ 'x-user': 'Ann' }, headers)).toBe(false)
    const twice = new Headers([
      ['x-beta', '1'],
      ['x-beta', '2'],
    ])
    expect(headersMatch({ 'x-beta': '1' }, twice)).toBe(false)
    expect(headersMatch({ 'x-beta': true }, twice)).toBe(true)
    // Present but empty is present.
    expect(headersMatch({ 'x-empty': true }, new Headers({ 'x-empty': '' }))).toBe(true)
  })
})

describe('methodMatches', () => {
  it('matches any method without a list, else only the listed ones', () => {
    expect(methodMatches(undefined, 'DELETE')).toBe(true)
    expect(methodMatches(['GET', 'HEAD'], 'HEAD')).toBe(true)
    expect(methodMatches(['GET'], 'HEAD')).toBe(false)
    expect(methodMatches(['GET'], 'POST')).toBe(false)
  })
})
