import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/cli.ts'
import { routeSchemas } from '../../src/config-routes.ts'
import {
  ConfigError,
  configSchemas,
  parseConfig,
  poolConfigOf,
  poolNames,
  type ConfigInput,
} from '../../src/config.ts'

const A = 'http://127.0.0.1:9001'
const B = 'http://127.0.0.1:9002'
const SECRET = 'a-sticky-secret-of-32-characters'
const OTHER = 'another-sticky-secret-32-chars!!'

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

/** The example: three pools behind four routes. */
const example = {
  pools: {
    api: {
      backends: [A, { url: B, weight: 2 }],
      strategy: 'least-time',
      healthCheck: { path: '/health', interval: '2s' },
      sticky: { secret: SECRET },
    },
    web: { backends: ['http://10.0.0.5:8080'], strategy: 'round-robin' },
    'web-v2': { backends: ['http://10.0.0.9:8080'] },
  },
  routes: [
    {
      name: 'api',
      match: { host: 'api.example.com', path: '/v1/*' },
      pool: 'api',
      stripPrefix: '/v1',
    },
    { name: 'beta', match: { headers: { 'x-beta': '1' } }, pool: 'web-v2' },
    {
      name: 'shop',
      match: { host: '*.example.com', path: '/shop/*', methods: ['GET', 'HEAD'] },
      pools: [
        { pool: 'web', weight: 90 },
        { pool: 'web-v2', weight: 10 },
      ],
    },
    {
      name: 'site',
      pool: 'web',
      compress: true,
      requestHeaders: { set: { 'x-env': 'prod' }, remove: ['x-debug'] },
      responseHeaders: { set: { 'x-served-by': 'fulcrum' }, remove: ['server'] },
    },
  ],
} satisfies ConfigInput

describe('pools and routes: the issue\u2019s example', () => {
  it('parses, with every pool filled in and the routes in order', () => {
    const config = parseConfig(example)
    expect(poolNames(config)).toEqual(['default', 'api', 'web', 'web-v2'])
    expect(config.pools.api!.backends.map((b) => [b.url, b.weight])).toEqual([
      [A, 1],
      [B, 2],
    ])
    expect(config.pools.api!.strategy).toBe('least-time')
    expect(config.pools.api!.healthCheck).toMatchObject({
      path: '/health',
      interval: 2000,
      timeout: 2000,
    })
    expect(config.pools.api!.sticky).toMatchObject({ enabled: true, secret: SECRET })
    expect(config.pools['web-v2']!.strategy).toBe('round-robin')
    expect(config.routes.map((r) => r.name)).toEqual(['api', 'beta', 'shop', 'site'])
    expect(config.routes[2]!.match!.methods).toEqual(['GET', 'HEAD'])
    expect(config.routes[3]).toMatchObject({
      compress: true,
      requestHeaders: { set: { 'x-env': 'prod' }, remove: ['x-debug'] },
    })
    // The flat part is the pool default, empty here.
    expect(config.backends).toEqual([])
  })

  it('normalises hosts, header names and methods', () => {
    const config = parseConfig({
      pools: { api: {} },
      routes: [
        {
          match: { host: 'API.Example.COM', methods: ['get'], headers: { 'X-Beta': '1' } },
          pool: 'api',
          requestHeaders: { set: { 'X-Env': 'prod' }, remove: ['X-Debug'] },
        },
      ],
    })
    expect(config.routes[0]!.match).toEqual({
      host: 'api.example.com',
      methods: ['GET'],
      headers: { 'x-beta': '1' },
    })
    expect(config.routes[0]!.requestHeaders).toEqual({
      set: { 'x-env': 'prod' },
      remove: ['x-debug'],
    })
    expect(config.routes[0]!.name).toBe('route0')
  })
})

describe('old flat configs', () => {
  it('are the pool default with one catch-all route', () => {
    const config = parseConfig({ backends: [A, B], strategy: 'least-connections' })
    expect(config.pools).toEqual({})
    expect(poolNames(config)).toEqual(['default'])
    expect(config.routes).toEqual([{ name: 'route0', pool: 'default', compress: false }])
    expect(poolConfigOf(config, 'default')).toBe(config)
    expect(poolConfigOf(config, 'nope')).toBeUndefined()
  })

  it('can be routed to by name beside named pools', () => {
    const config = parseConfig({
      backends: [A],
      pools: { api: { backends: [B] } },
      routes: [{ match: { path: '/api/*' }, pool: 'api' }, { pool: 'default' }],
    })
    expect(config.routes.map((r) => [r.name, r.pool])).toEqual([
      ['route0', 'api'],
      ['route1', 'default'],
    ])
  })
})

describe('pool inheritance', () => {
  it('takes a left-out setting from the top level, then the default', () => {
    const config = parseConfig({
      strategy: 'least-connections',
      pools: { inherits: {}, own: { strategy: 'random' } },
    })
    expect(config.pools.inherits!.strategy).toBe('least-connections')
    expect(config.pools.own!.strategy).toBe('random')
    const defaults = parseConfig({ pools: { bare: {} } })
    expect(defaults.pools.bare!.strategy).toBe('round-robin')
    expect(defaults.pools.bare!.healthCheck).toEqual(defaults.healthCheck)
    expect(defaults.pools.bare!.retries).toEqual(defaults.retries)
    expect(defaults.pools.bare!.queue).toEqual(defaults.queue)
  })

  it('never inherits backends or discovery: those belong to one pool', () => {
    const config = parseConfig({
      backends: [A],
      discovery: [{ name: 'web.internal', port: 8080 }],
      pools: { api: {} },
    })
    expect(config.discovery).toHaveLength(1)
    expect(config.pools.api!.backends).toEqual([])
    expect(config.pools.api!.discovery).toEqual([])
  })

  it('merges objects key by key, at any depth', () => {
    const config = parseConfig({
      healthCheck: { path: '/healthz', interval: '10s', rise: 3 },
      strategyOptions: { consistentHash: { key: 'header:x-user', virtualNodes: 40 } },
      retries: { attempts: 2 },
      pools: {
        api: {
          healthCheck: { interval: '1s' },
          strategyOptions: { consistentHash: { virtualNodes: 80 } },
        },
      },
    })
    const api = config.pools.api!
    expect(api.healthCheck).toMatchObject({
      path: '/healthz',
      interval: 1000,
      rise: 3,
      fall: 3,
      // The probe timeout follows the pool's own interval.
      timeout: 1000,
    })
    expect(api.strategyOptions.consistentHash).toEqual({
      key: 'header:x-user',
      virtualNodes: 80,
      epsilon: 0.25,
    })
    expect(api.retries.attempts).toBe(2)
    // The top level keeps its own.
    expect(config.healthCheck.interval).toBe(10_000)
    expect(config.strategyOptions.consistentHash.virtualNodes).toBe(40)
  })

  it('replaces arrays rather than merging them', () => {
    const config = parseConfig({
      retries: { statuses: [502, 503] },
      pools: { api: { retries: { statuses: [504] } } },
    })
    expect(config.pools.api!.retries.statuses).toEqual([504])
  })

  it('inherits only the upstream timeouts, and poolConfigOf lays them over the top level', () => {
    const config = parseConfig({
      timeouts: { connect: '1s', clientHeaders: '3s', clientIdle: '20s' },
      pools: { api: { timeouts: { responseHeaders: '5s' } }, web: {} },
    })
    expect(config.pools.api!.timeouts).toEqual({
      connect: 1000,
      responseHeaders: 5000,
      upstreamIdle: 60_000,
    })
    expect(config.pools.web!.timeouts).toEqual({
      connect: 1000,
      responseHeaders: 30_000,
      upstreamIdle: 60_000,
    })
    const api = poolConfigOf(config, 'api')!
    expect(api.timeouts).toEqual({
      connect: 1000,
      responseHeaders: 5000,
      upstreamIdle: 60_000,
      clientHeaders: 3000,
      clientKeepAlive: 5000,
      clientIdle: 20_000,
    })
    // A client-side timeout is not a pool's to set.
    expect(errorOf({ pools: { api: { timeouts: { clientHeaders: '1s' } } } })).toBe(
      'pools.api.timeouts.clientHeaders: Unknown key',
    )
  })

  it('gives poolConfigOf the pool\u2019s settings over the top level\u2019s', () => {
    const config = parseConfig({
      backends: [A],
      strategy: 'random',
      pools: { api: { backends: [B], strategy: 'least-time' } },
    })
    const api = poolConfigOf(config, 'api')!
    expect(api.backends.map((b) => b.url)).toEqual([B])
    expect(api.strategy).toBe('least-time')
    expect(api.listen).toEqual(config.listen)
    expect(api.routes).toBe(config.routes)
  })

  it('lets a pool give its own sticky secrets where the top level gives a secret', () => {
    const config = parseConfig({
      sticky: { secret: SECRET, cookie: 'sid' },
      pools: {
        rotated: { sticky: { secrets: [{ kid: 'k2', secret: OTHER }] } },
        own: { sticky: { secret: OTHER } },
        inherits: {},
      },
    })
    expect(config.pools.rotated!.sticky).toMatchObject({
      enabled: true,
      cookie: 'sid',
      secrets: [{ kid: 'k2', secret: OTHER }],
    })
    expect(config.pools.rotated!.sticky.secret).toBeUndefined()
    expect(config.pools.own!.sticky).toMatchObject({ secret: OTHER, cookie: 'sid' })
    expect(config.pools.inherits!.sticky).toMatchObject({ secret: SECRET, cookie: 'sid' })
  })

  it('validates a pool on its own: a duplicate backend names the pool\u2019s path', () => {
    expect(errorOf({ pools: { api: { backends: [A, A] } } })).toBe(
      'pools.api.backends.1: Duplicate backend url (same as backends.0)',
    )
    expect(configSchemas().PoolSchema.safeParse({ backends: [A], colour: 'red' }).success).toBe(
      false,
    )
  })
})

describe('config errors name the path', () => {
  it('refuses a route an earlier route shadows', () => {
    expect(
      errorOf({
        pools: { api: {} },
        routes: [
          { name: 'api', match: { path: '/api/*' }, pool: 'api' },
          { name: 'users', match: { path: '/api/users' }, pool: 'api' },
        ],
      }),
    ).toBe('routes.1.match: Never matches: routes.0 (api) takes every request it would')
    expect(
      errorOf({
        pools: { api: {} },
        routes: [{ pool: 'api' }, { match: { host: 'a.example.com' }, pool: 'default' }],
      }),
    ).toBe('routes.1.match: Never matches: routes.0 (route0) takes every request it would')
  })

  it('accepts the same routes in the specific-first order', () => {
    const config = parseConfig({
      pools: { api: {} },
      routes: [
        { name: 'users', match: { path: '/api/users' }, pool: 'api' },
        { name: 'api', match: { path: '/api/*' }, pool: 'api' },
        { name: 'x-star', match: { path: '/x*' }, pool: 'api' },
        { name: 'x', match: { path: '/x/*' }, pool: 'api' },
      ],
    })
    expect(config.routes.map((r) => r.name)).toEqual(['users', 'api', 'x-star', 'x'])
    // /x/* does not take all of /x* (it misses /xy): the other order is fine too.
    expect(() =>
      parseConfig({
        pools: { api: {} },
        routes: [
          { match: { path: '/x/*' }, pool: 'api' },
          { match: { path: '/x*' }, pool: 'api' },
        ],
      }),
    ).not.toThrow()
  })

  it('refuses an unknown pool, in a route and in a split', () => {
    expect(
      errorOf({
        pools: { web: {} },
        routes: [
          { match: { path: '/a' }, pool: 'api' },
          {
            pools: [
              { pool: 'web', weight: 1 },
              { pool: 'web-v3', weight: 1 },
            ],
          },
        ],
      }),
    ).toBe('routes.0.pool: Unknown pool api\nroutes.1.pools.1.pool: Unknown pool web-v3')
  })

  it('refuses weights that sum to 0, and a pool listed twice in a split', () => {
    expect(
      errorOf({
        pools: { web: {}, v2: {} },
        routes: [
          {
            pools: [
              { pool: 'web', weight: 0 },
              { pool: 'v2', weight: 0 },
            ],
          },
        ],
      }),
    ).toBe('routes.0.pools: The weights sum to 0')
    expect(
      errorOf({
        pools: { web: {} },
        routes: [
          {
            pools: [
              { pool: 'web', weight: 1 },
              { pool: 'web', weight: 2 },
            ],
          },
        ],
      }),
    ).toBe('routes.0.pools.1.pool: Pool listed twice')
    expect(errorOf({ pools: { web: {} }, routes: [{ pools: [] }] })).toMatch(/^routes\.0\.pools: /)
    expect(
      errorOf({ pools: { web: {} }, routes: [{ pools: [{ pool: 'web', weight: -1 }] }] }),
    ).toMatch(/^routes\.0\.pools\.0\.weight: /)
  })

  it('refuses duplicate route names, given or defaulted', () => {
    expect(
      errorOf({
        pools: { api: {} },
        routes: [
          { name: 'a', match: { path: '/a' }, pool: 'api' },
          { name: 'a', match: { path: '/b' }, pool: 'api' },
        ],
      }),
    ).toBe('routes.1.name: Duplicate route name (same as routes.0)')
    expect(
      errorOf({
        pools: { api: {} },
        routes: [
          { match: { path: '/a' }, pool: 'api' },
          { name: 'route0', match: { path: '/b' }, pool: 'api' },
        ],
      }),
    ).toBe('routes.1.name: Duplicate route name (same as routes.0)')
  })

  it('refuses a pool named default: the top level is that pool', () => {
    expect(errorOf({ pools: { default: { backends: [A] } } })).toBe(
      'pools.default: The top-level settings are the pool default: give them there',
    )
  })

  it('needs pool or pools in each route, not both', () => {
    expect(errorOf({ pools: { api: {} }, routes: [{ match: { path: '/a' } }] })).toBe(
      'routes.0.pool: Give pool or pools, one of them',
    )
    expect(
      errorOf({
        pools: { api: {} },
        routes: [{ pool: 'api', pools: [{ pool: 'api', weight: 1 }] }],
      }),
    ).toBe('routes.0.pool: Give pool or pools, one of them')
  })

  it('names wrong match fields', () => {
    const message = errorOf({
      pools: { api: {} },
      routes: [
        {
          match: {
            host: 'http://api.example.com',
            path: 'v1/*',
            methods: [],
            headers: { 'bad header': '1', 'x-ok': 'line\r\nbreak' },
            port: 80,
          },
          pool: 'api',
        },
      ],
    })
    const paths = message.split('\n').map((line) => line.slice(0, line.indexOf(':')))
    expect(paths.sort()).toEqual(
      [
        'routes.0.match.host',
        'routes.0.match.path',
        'routes.0.match.methods',
        'routes.0.match.headers.bad header',
        'routes.0.match.headers.x-ok',
        'routes.0.match.port',
      ].sort(),
    )
    expect(message).toContain('routes.0.match.port: Unknown key')
    // A bad record key says why, not zod's bare "Invalid key in record".
    expect(message).toContain('routes.0.match.headers.bad header: Expected a header name (a token)')
    expect(errorOf({ pools: { 'bad name': {} } })).toMatch(/^pools\.bad name: Expected 1 to 64/)
  })

  it('reports every problem at once, one line per path', () => {
    const lines = errorOf({
      pools: { default: {}, web: {} },
      routes: [
        { name: 'all', pool: 'web' },
        { name: 'all', match: { path: '/x' }, pool: 'nope' },
      ],
    }).split('\n')
    expect(lines).toEqual([
      'pools.default: The top-level settings are the pool default: give them there',
      'routes.1.pool: Unknown pool nope',
      'routes.1.name: Duplicate route name (same as routes.0)',
      'routes.1.match: Never matches: routes.0 (all) takes every request it would',
    ])
  })

  it('reaches the command line as a ConfigError naming the path (exit 2)', async () => {
    const file = JSON.stringify({
      pools: { api: {} },
      routes: [{ pool: 'api' }, { match: { path: '/x' }, pool: 'api' }],
    })
    await expect(
      loadConfig({ kind: 'run', configFile: 'f.json', overrides: {} }, async () => file),
    ).rejects.toThrow(
      new ConfigError(
        'routes.1.match: Never matches: routes.0 (route0) takes every request it would',
      ),
    )
  })
})

describe('RouteSchema', () => {
  const { RouteSchema } = routeSchemas()

  it('fills in the defaults of a route', () => {
    expect(RouteSchema.parse({ pool: 'api' })).toEqual({ pool: 'api', compress: false })
    expect(RouteSchema.parse({ pool: 'api', requestHeaders: {} })).toEqual({
      pool: 'api',
      compress: false,
      requestHeaders: { set: {}, remove: [] },
    })
  })

  it('takes per-route timeouts, retries and a rate limit', () => {
    const route = RouteSchema.parse({
      pool: 'api',
      stripPrefix: '/v1',
      timeouts: { responseHeaders: '2s' },
      retries: { attempts: 1, statuses: [503] },
      rateLimit: { requests: 10, per: '1m' },
    })
    expect(route.timeouts).toEqual({ responseHeaders: 2000 })
    expect(route.retries).toEqual({ attempts: 1, statuses: [503] })
    expect(route.rateLimit).toMatchObject({ enabled: true, requests: 10, per: 60_000 })
    expect(RouteSchema.safeParse({ pool: 'api', timeouts: { clientIdle: '1s' } }).success).toBe(
      false,
    )
    expect(RouteSchema.safeParse({ pool: 'api', retries: { statuses: [404] } }).success).toBe(false)
    expect(RouteSchema.safeParse({ pool: 'api', stripPrefix: 'v1' }).success).toBe(false)
  })
})
