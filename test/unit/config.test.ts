import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { ConfigError, configSchemas, normaliseOrigin, parseConfig } from '../../src/config.ts'
import { parseDuration } from '../../src/duration.ts'

/** The error text of an invalid config. */
function errorOf(input: unknown): string {
  try {
    parseConfig(input)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as Error).message
  }
  throw new Error('Expected the config to be rejected')
}

describe('configSchemas', () => {
  it('lets the schemas go once nothing holds them, and builds them again when asked', async () => {
    // First in the file: the schemas built when src/config.ts was loaded, the first of their
    // types that zod saw unless src/config-primitives.ts built those before.
    const built = new WeakRef(configSchemas().ConfigSchema)
    expect(parseConfig({ backends: ['http://127.0.0.1:9001'] }).backends).toHaveLength(1)
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    // A WeakRef holds its target until the current job ends.
    await new Promise((resolve) => setTimeout(resolve, 0))
    gc()
    expect(built.deref()).toBeUndefined()
    expect(configSchemas().ConfigSchema.safeParse({ colour: 'red' }).success).toBe(false)
  })
})

describe('parseConfig defaults', () => {
  it('fills in every default from an empty object', () => {
    const config = parseConfig({})
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 8080 })
    expect(config.tls).toEqual({
      enabled: false,
      certificates: [],
      http2: true,
      minVersion: 'TLSv1.2',
      watch: false,
    })
    expect(config.backends).toEqual([])
    expect(config.strategy).toBe('round-robin')
    expect(config.healthCheck).toEqual({
      enabled: true,
      type: 'http',
      path: '/health',
      interval: 5000,
      timeout: 2000,
      rise: 2,
      fall: 3,
      expectStatus: { low: 200, high: 399 },
      jitter: 0.1,
    })
    expect(config.timeouts).toEqual({
      connect: 5000,
      responseHeaders: 30_000,
      clientHeaders: 10_000,
      clientKeepAlive: 5000,
      upstreamIdle: 60_000,
      clientIdle: 60_000,
    })
    expect(config.forwarding).toEqual({ preserveHost: true, trustedProxies: [], via: 'fulcrum' })
    expect(config.shutdownGrace).toBe(10_000)
    expect(config.demo).toBe(false)
  })

  it('defaults the port to 8443 with TLS, and keeps an explicit port', () => {
    expect(parseConfig({ tls: { enabled: true } }).listen.port).toBe(8443)
    expect(parseConfig({ tls: { enabled: true }, listen: { port: 0 } }).listen.port).toBe(0)
    expect(parseConfig({ listen: { port: 9000 } }).listen.port).toBe(9000)
  })

  it('turns TLS on when a certificate and key are given, unless it is turned off', () => {
    const withCert = parseConfig({ tls: { cert: 'a.crt', key: 'a.key' } })
    expect(withCert.tls).toEqual({
      enabled: true,
      cert: 'a.crt',
      key: 'a.key',
      certificates: [],
      http2: true,
      minVersion: 'TLSv1.2',
      watch: false,
    })
    expect(withCert.listen.port).toBe(8443)
    const off = parseConfig({ tls: { enabled: false, cert: 'a.crt', key: 'a.key' } })
    expect(off.tls.enabled).toBe(false)
    expect(off.listen.port).toBe(8080)
  })

  it('parses an expected status range and a single status', () => {
    expect(
      parseConfig({ healthCheck: { expectStatus: '200-299' } }).healthCheck.expectStatus,
    ).toEqual({ low: 200, high: 299 })
    expect(parseConfig({ healthCheck: { expectStatus: '204' } }).healthCheck.expectStatus).toEqual({
      low: 204,
      high: 204,
    })
    expect(errorOf({ healthCheck: { expectStatus: '2xx' } })).toMatch(
      /^healthCheck\.expectStatus: /,
    )
  })
})

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['5s', 5000],
    ['1m', 60_000],
    ['1.5s', 1500],
    ['2h', 7_200_000],
    ['250', 250],
    [750, 750],
    [0, 0],
  ] as const)('%s is %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms)
    expect(parseConfig({ healthCheck: { interval: input, timeout: 0 } }).healthCheck.interval).toBe(
      ms,
    )
  })

  it.each(['5 seconds', 's', '-1s', '1d', '', 'ms5'])('rejects %j, naming the field', (input) => {
    expect(parseDuration(input)).toBeUndefined()
    expect(errorOf({ healthCheck: { interval: input } })).toBe(
      'healthCheck.interval: Expected a duration such as 500ms, 5s or 1m',
    )
  })

  it('rejects negative and non-finite numbers', () => {
    expect(parseDuration(-1)).toBeUndefined()
    expect(parseDuration(Number.POSITIVE_INFINITY)).toBeUndefined()
    expect(errorOf({ shutdownGrace: -5 })).toMatch(/^shutdownGrace: /)
  })

  it('defaults the probe timeout to 2s, or to the interval when that is shorter', () => {
    expect(parseConfig({ healthCheck: { interval: '10s' } }).healthCheck.timeout).toBe(2000)
    expect(parseConfig({ healthCheck: { interval: '500ms' } }).healthCheck.timeout).toBe(500)
    expect(
      parseConfig({ healthCheck: { interval: '1s', timeout: '100ms' } }).healthCheck.timeout,
    ).toBe(100)
  })

  it('refuses a probe timeout longer than the interval', () => {
    expect(errorOf({ healthCheck: { interval: '1s', timeout: '2s' } })).toBe(
      'healthCheck.timeout: The probe timeout must not exceed the interval',
    )
  })
})

describe('backends', () => {
  it('accepts the URL=WEIGHT shorthand and plain URLs', () => {
    const { backends } = parseConfig({
      backends: ['http://127.0.0.1:9001=3', 'http://127.0.0.1:9002', 'https://[::1]:9443=10'],
    })
    expect(backends.map((b) => [b.url, b.weight, b.backup])).toEqual([
      ['http://127.0.0.1:9001', 3, false],
      ['http://127.0.0.1:9002', 1, false],
      ['https://[::1]:9443', 10, false],
    ])
  })

  it('accepts the object form with id and backup', () => {
    const { backends } = parseConfig({
      backends: [{ url: 'http://127.0.0.1:9001', weight: 2, id: 'api-1', backup: true }],
    })
    expect(backends).toEqual([
      { url: 'http://127.0.0.1:9001', weight: 2, id: 'api-1', backup: true },
    ])
  })

  it('normalises origins: case, default ports, trailing slash', () => {
    expect(normaliseOrigin('HTTP://LocalHost:80/')).toBe('http://localhost')
    expect(normaliseOrigin('https://Example.test:443')).toBe('https://example.test')
    expect(normaliseOrigin('http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080')
    expect(normaliseOrigin('http://[::1]:9000')).toBe('http://[::1]:9000')
  })

  it('gives a stable id derived from the normalised origin only', () => {
    const [a, b, c] = parseConfig({
      backends: [
        'http://127.0.0.1:9001/',
        { url: 'http://127.0.0.1:9002', weight: 5 },
        'http://127.0.0.1:9003=7',
      ],
    }).backends
    const again = parseConfig({ backends: ['HTTP://127.0.0.1:9001=4'] }).backends[0]!
    expect(a!.id).toMatch(/^b[0-9a-f]{12}$/)
    expect(again.id).toBe(a!.id)
    expect(new Set([a!.id, b!.id, c!.id]).size).toBe(3)
  })

  it('refuses duplicates by origin, after normalisation, and by id', () => {
    expect(errorOf({ backends: ['http://127.0.0.1:9001', 'http://127.0.0.1:9001/=2'] })).toBe(
      'backends.1: Duplicate backend url (same as backends.0)',
    )
    expect(
      errorOf({
        backends: [
          { url: 'http://127.0.0.1:9001', id: 'x' },
          { url: 'http://127.0.0.1:9002', id: 'x' },
        ],
      }),
    ).toBe('backends.1: Duplicate backend id (same as backends.0)')
  })

  it.each([
    ['ftp://x', 'backends.0.url: Unsupported scheme ftp, expected http, https or tcp'],
    [{ url: 'ftp://x' }, 'backends.0.url: Unsupported scheme ftp, expected http, https or tcp'],
    ['not a url', 'backends.0.url: Invalid URL'],
    ['http://127.0.0.1:9001/api', 'backends.0.url: A backend URL has no path, query or fragment'],
    ['http://u:p@127.0.0.1:9001', 'backends.0.url: Credentials are not allowed in a backend URL'],
    ['http://127.0.0.1:9001=0', 'backends.0.weight: Too small: expected number to be >=1'],
    [{ url: 'http://127.0.0.1:9001', weight: 1.5 }, 'backends.0.weight: '],
    [{ url: 'http://127.0.0.1:9001', id: 'has space' }, 'backends.0.id: Expected 1 to 64'],
    [42, 'backends.0: Expected string or object'],
  ] as const)('rejects %j with the field path', (backend, message) => {
    expect(errorOf({ backends: [backend] })).toContain(message)
    expect(errorOf({ backends: [backend] }).startsWith(message.split(':')[0]! + ':')).toBe(true)
  })
})

describe('errors name the field path', () => {
  it('names a wrong type', () => {
    expect(errorOf({ healthCheck: { rise: 'x' } })).toBe(
      'healthCheck.rise: Invalid input: expected number, received string',
    )
  })

  it('names unknown keys at every level', () => {
    expect(errorOf({ bogus: 1 })).toBe('bogus: Unknown key')
    expect(errorOf({ healthCheck: { intervall: '1s' } })).toBe('healthCheck.intervall: Unknown key')
    expect(errorOf({ backends: [{ url: 'http://127.0.0.1:1', wieght: 2 }] })).toBe(
      'backends.0.wieght: Unknown key',
    )
  })

  it('refuses a certificate without a key, and a key without a certificate', () => {
    expect(errorOf({ tls: { enabled: true, cert: 'a.crt' } })).toBe(
      'tls.key: A certificate and a key go together: give both or neither',
    )
    expect(errorOf({ tls: { key: 'a.key' } })).toBe(
      'tls.cert: A certificate and a key go together: give both or neither',
    )
  })

  it('names an unknown strategy', () => {
    expect(errorOf({ strategy: 'nope' })).toMatch(/^strategy: /)
  })

  it('names invalid trusted proxies and Via pseudonyms', () => {
    expect(errorOf({ forwarding: { trustedProxies: ['10.0.0.0/8', 'nope'] } })).toBe(
      'forwarding.trustedProxies.1: Expected an IP address or CIDR range',
    )
    expect(errorOf({ forwarding: { via: 'two words' } })).toBe('forwarding.via: Expected a token')
  })

  it('reports every wrong field, one per line', () => {
    const lines = errorOf({ listen: { port: 70000 }, healthCheck: { fall: 0 }, demo: 'yes' }).split(
      '\n',
    )
    expect(lines.map((line) => line.slice(0, line.indexOf(':')))).toEqual([
      'listen.port',
      'healthCheck.fall',
      'demo',
    ])
  })

  it('refuses a non-object config', () => {
    expect(errorOf([])).toMatch(/^\(config\): /)
  })
})
