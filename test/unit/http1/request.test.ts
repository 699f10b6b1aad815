import { getPath } from 'hono/utils/url'
import { describe, expect, it } from 'vitest'
import { LightSignal } from '../../../src/abort.ts'
import type { RequestHead } from '../../../src/http1/parser.ts'
import { originTarget, requestPath, toRequest } from '../../../src/http1/request.ts'

/** The request the engine makes of a head with `target` and `host` (`null`: none). */
function engineRequest(target: string, host: string | null = 'h.example:8080'): Request {
  const head: RequestHead = {
    method: 'GET',
    target,
    minor: 1,
    fields: host === null ? [] : ['Host', host],
    framing: 'none',
    length: 0,
    keepAlive: true,
    upgrade: undefined,
    expectContinue: false,
    host: host ?? undefined,
    size: 0,
  }
  return toRequest(head, 'http', null, new LightSignal())
}

const TARGETS = [
  '/',
  '/a/b',
  '/a/b?c=d',
  '/a?b#c',
  '/a#b',
  '/?',
  '/a%20b/c?d',
  '/%E3%81%82',
  '/a%2Fb',
  '/a%25b',
  '/bad%zz',
  '/a:b/c',
  '//double',
  '*',
  'http://other.example/x?y',
  'h.example:443',
]

describe('the engine request', () => {
  it('has the URL of its target, made on first use', () => {
    expect(engineRequest('/a?b').url).toBe('http://h.example:8080/a?b')
    expect(engineRequest('/a', null).url).toBe('http://localhost/a')
    expect(engineRequest('http://other.example/x').url).toBe('http://other.example/x')
    expect(engineRequest('*').url).toBe('http://h.example:8080/')
  })

  it('gives the origin-form target as sent, and none for the other forms', () => {
    expect(originTarget(engineRequest('/a/b?c'))).toBe('/a/b?c')
    expect(originTarget(engineRequest('*'))).toBe(undefined)
    expect(originTarget(engineRequest('http://other.example/x'))).toBe(undefined)
    expect(originTarget(new Request('http://h/a'))).toBe(undefined)
  })

  it('has the path Hono’s getPath gives, for every form of target', () => {
    for (const target of TARGETS) {
      const request = engineRequest(target)
      expect(requestPath(request), target).toBe(getPath(new Request(request.url)))
    }
    expect(requestPath(new Request('http://h/x%20y?z'))).toBe('/x y')
  })
})
