import { describe, expect, it } from 'vitest'
import { configFromArgs } from './cli-helpers.ts'

describe('edge flags', () => {
  it('pairs repeated --cert/--key: the first is the default, the rest go to SNI', async () => {
    const config = await configFromArgs([
      '--cert',
      'a.crt',
      '--key',
      'a.key',
      '--cert',
      'b.crt',
      '--key',
      'b.key',
      '--key',
      'c.key',
      '--cert',
      'c.crt',
    ])
    expect(config.tls).toMatchObject({ enabled: true, cert: 'a.crt', key: 'a.key' })
    expect(config.tls.certificates).toEqual([
      { cert: 'b.crt', key: 'b.key' },
      { cert: 'c.crt', key: 'c.key' },
    ])
  })

  it('reads the rate limit, access lists, body size, redirect port, HSTS and watch', async () => {
    const config = await configFromArgs([
      '--rate-limit',
      '100/1m',
      '--rate-limit-burst',
      '20',
      '--allow',
      '10.0.0.0/8',
      '--allow',
      '::1',
      '--deny',
      '10.6.6.6',
      '--max-body-size',
      '10MiB',
      '--tls',
      '--http-redirect-port',
      '8080',
      '--hsts-max-age',
      '1h',
      '--watch-certs',
    ])
    expect(config.rateLimit).toMatchObject({ requests: 100, per: 60_000, burst: 20, key: 'ip' })
    expect(config.access).toEqual({ allow: ['10.0.0.0/8', '::1'], deny: ['10.6.6.6'] })
    expect(config.limits.maxBodySize).toBe(10 * 1_048_576)
    expect(config.tls).toMatchObject({ redirectPort: 8080, watch: true })
    expect(config.tls.hsts).toEqual({ maxAge: 3_600_000, includeSubDomains: false, preload: false })
    expect((await configFromArgs(['--rate-limit', '5/s'])).rateLimit).toMatchObject({ per: 1000 })
  })

  it('names the flag when a value is wrong', async () => {
    await expect(configFromArgs(['--rate-limit', 'lots'])).rejects.toThrow(/^--rate-limit: /)
    await expect(configFromArgs(['--allow', '10.0.0.0/33'])).rejects.toThrow(/access\.allow\.0/)
    await expect(configFromArgs(['--max-body-size', 'huge'])).rejects.toThrow(/limits\.maxBodySize/)
  })
})
