import { describe, expect, it } from 'vitest'
import { createAddressMatcher, resolveClientAddress } from '../../src/net.ts'

describe('resolveClientAddress', () => {
  const trusted = createAddressMatcher(['10.0.0.0/8', '::1'])

  it('is the peer when the peer is not a trusted proxy, whatever X-Forwarded-For says', () => {
    expect(resolveClientAddress('203.0.113.9', '198.51.100.1', trusted)).toBe('203.0.113.9')
  })

  it('walks X-Forwarded-For from the right past trusted hops', () => {
    expect(resolveClientAddress('10.0.0.1', '198.51.100.7, 10.1.1.1, 10.2.2.2', trusted)).toBe(
      '198.51.100.7',
    )
  })

  it('stops at the first untrusted hop, so a client cannot spoof what lies left of it', () => {
    expect(resolveClientAddress('10.0.0.1', '1.1.1.1, 198.51.100.7', trusted)).toBe('198.51.100.7')
  })

  it('stops at a malformed hop and keeps the last valid one', () => {
    expect(resolveClientAddress('::1', 'garbage, 10.3.3.3', trusted)).toBe('10.3.3.3')
  })

  it('is the peer when a trusted proxy sent no X-Forwarded-For', () => {
    expect(resolveClientAddress('10.0.0.1', null, trusted)).toBe('10.0.0.1')
  })
})
