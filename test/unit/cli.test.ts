import { describe, expect, it } from 'vitest'
import { USAGE, VERSION, loadConfig, mergeConfig, parseArgs } from '../../src/cli.ts'
import { ConfigError } from '../../src/config.ts'
import pkg from '../../package.json' with { type: 'json' }

function run(argv: string[]) {
  const command = parseArgs(argv)
  if (command.kind !== 'run') throw new Error(`Expected a run command, got ${command.kind}`)
  return command
}

function parseError(argv: string[]): string {
  try {
    parseArgs(argv)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as Error).message
  }
  throw new Error('Expected the command line to be rejected')
}

/** A fake file system for loadConfig. */
function files(contents: Record<string, string>) {
  return async (path: string) => {
    if (path in contents) return contents[path]!
    throw new Error(`ENOENT: no such file or directory, open '${path}'`)
  }
}

describe('parseArgs', () => {
  it('maps every flag onto the config shape', () => {
    expect(
      run([
        '--port',
        '9000',
        '--host',
        '127.0.0.1',
        '--tls',
        '--cert',
        'a.crt',
        '--key',
        'a.key',
        '--backend',
        'http://127.0.0.1:9001=2',
        '--backend',
        'http://127.0.0.1:9002',
        '--strategy',
        'round-robin',
        '--health-path',
        '/ready',
        '--health-interval',
        '200ms',
        '--health-timeout',
        '100ms',
        '--demo',
        '--config',
        'f.json',
      ]),
    ).toEqual({
      kind: 'run',
      configFile: 'f.json',
      overrides: {
        listen: { port: 9000, host: '127.0.0.1' },
        tls: { enabled: true, cert: 'a.crt', key: 'a.key' },
        backends: ['http://127.0.0.1:9001=2', 'http://127.0.0.1:9002'],
        strategy: 'round-robin',
        healthCheck: { path: '/ready', interval: '200ms', timeout: '100ms' },
        demo: true,
      },
    })
  })

  it('accepts --flag=value', () => {
    expect(run(['--port=0', '--backend=http://127.0.0.1:1=3']).overrides).toEqual({
      listen: { port: 0 },
      backends: ['http://127.0.0.1:1=3'],
    })
  })

  it('recognises --help and --version wherever they are', () => {
    expect(parseArgs(['--port', '1', '--help'])).toEqual({ kind: 'help' })
    expect(parseArgs(['-h'])).toEqual({ kind: 'help' })
    expect(parseArgs(['--version'])).toEqual({ kind: 'version' })
    expect(VERSION).toBe(pkg.version)
    expect(USAGE).toContain('--health-interval DUR')
  })

  it('returns an empty run for no arguments', () => {
    expect(parseArgs([])).toEqual({ kind: 'run', configFile: undefined, overrides: {} })
  })

  it.each([
    [['--bogus'], '--bogus: Unknown option (see --help)'],
    [['backend'], 'backend: Unknown option (see --help)'],
    [['--port', 'abc'], '--port: Expected a whole number, got "abc"'],
    [['--port', '-1'], '--port: Expected a whole number, got "-1"'],
    [['--port'], '--port: Expected a value'],
    [['--backend', '--tls'], '--backend: Expected a value'],
    [['--tls=yes'], '--tls: Takes no value'],
  ])('rejects %j: %s', (argv, message) => {
    expect(parseError(argv)).toBe(message)
  })
})

describe('mergeConfig', () => {
  it('deep-merges objects, and arrays and scalars in the override replace', () => {
    expect(
      mergeConfig(
        {
          listen: { host: '::', port: 1 },
          backends: ['http://a:1', 'http://b:1'],
          healthCheck: { rise: 5, path: '/x' },
        },
        { listen: { port: 2 }, backends: ['http://c:1'], healthCheck: { path: '/y' } },
      ),
    ).toEqual({
      listen: { host: '::', port: 2 },
      backends: ['http://c:1'],
      healthCheck: { rise: 5, path: '/y' },
    })
  })

  it('takes the override whole when the base is not an object', () => {
    expect(mergeConfig(undefined, { a: 1 })).toEqual({ a: 1 })
    expect(mergeConfig({ a: 'x' }, { a: { b: 1 } })).toEqual({ a: { b: 1 } })
  })
})

describe('loadConfig', () => {
  const file = JSON.stringify({
    listen: { host: '127.0.0.1', port: 7000 },
    backends: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002'],
    healthCheck: { interval: '10s', rise: 4 },
  })

  it('reads the file and lets flags override it', async () => {
    const config = await loadConfig(
      run([
        '--config',
        'f.json',
        '--port',
        '7001',
        '--health-interval',
        '1s',
        '--backend',
        'http://127.0.0.1:9003=2',
      ]),
      files({ 'f.json': file }),
    )
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 7001 })
    expect(config.healthCheck.interval).toBe(1000)
    expect(config.healthCheck.rise).toBe(4)
    expect(config.backends.map((b) => [b.url, b.weight])).toEqual([['http://127.0.0.1:9003', 2]])
  })

  it('keeps the file values that no flag names', async () => {
    const config = await loadConfig(run(['--config', 'f.json']), files({ 'f.json': file }))
    expect(config.listen.port).toBe(7000)
    expect(config.backends).toHaveLength(2)
    expect(config.healthCheck.interval).toBe(10_000)
  })

  it('needs no file', async () => {
    const config = await loadConfig(run(['--tls']), files({}))
    expect(config.listen.port).toBe(8443)
  })

  it.each([
    ['{bad', /^f\.json: Invalid JSON: /],
    ['[]', /^f\.json: Expected a JSON object$/],
    ['"x"', /^f\.json: Expected a JSON object$/],
    ['{"healthCheck":{"rise":"x"}}', /^healthCheck\.rise: Invalid input: expected number/],
    ['{"bogus":true}', /^bogus: Unknown key$/],
  ])('rejects the file %s, naming the file or field', async (text, message) => {
    const error = await loadConfig(run(['--config', 'f.json']), files({ 'f.json': text })).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as Error).message).toMatch(message)
  })

  it('names a missing file', async () => {
    const error = await loadConfig(run(['--config', 'nope.json']), files({})).catch((e: Error) => e)
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as Error).message).toMatch(/^--config: Cannot read nope\.json: ENOENT/)
  })

  it('validates flag values through the schema, naming the config field', async () => {
    const error = await loadConfig(run(['--strategy', 'nope']), files({})).catch((e: Error) => e)
    expect((error as Error).message).toMatch(/^strategy: /)
    const bad = await loadConfig(run(['--health-interval', 'soon']), files({})).catch(
      (e: Error) => e,
    )
    expect((bad as Error).message).toBe(
      'healthCheck.interval: Expected a duration such as 500ms, 5s or 1m',
    )
  })
})

describe('pools and routes on the command line', () => {
  it('--pool makes a named pool and --route a route, in order', async () => {
    const command = run([
      '--pool',
      'api=http://127.0.0.1:9001,http://127.0.0.1:9002=3',
      '--pool',
      'web=http://127.0.0.1:9003',
      '--route',
      'api.example.com/v1/*=api',
      '--route',
      '*.example.com=web',
      '--route',
      '/static/*=web',
      '--route',
      '*=default',
    ])
    const config = await loadConfig(command, files({}))
    expect(config.pools.api!.backends.map((b) => [b.url, b.weight])).toEqual([
      ['http://127.0.0.1:9001', 1],
      ['http://127.0.0.1:9002', 3],
    ])
    expect(config.pools.web!.backends.map((b) => b.url)).toEqual(['http://127.0.0.1:9003'])
    expect(config.routes.map((r) => [r.match, r.pool])).toEqual([
      [{ host: 'api.example.com', path: '/v1/*' }, 'api'],
      [{ host: '*.example.com' }, 'web'],
      [{ path: '/static/*' }, 'web'],
      [undefined, 'default'],
    ])
  })

  it('refuses a malformed flag, and a route to an unknown pool names the field', async () => {
    expect(parseError(['--pool', 'http://127.0.0.1:9001'])).toMatch(/^--pool: Expected NAME=URL/)
    expect(parseError(['--route', 'example.com'])).toMatch(/^--route: Expected \[HOST\]/)
    await expect(loadConfig(run(['--route', '/x/*=nope']), files({}))).rejects.toThrow(
      'routes.0.pool: Unknown pool nope',
    )
  })

  it('--help documents both flags', () => {
    expect(USAGE).toContain('--pool NAME=URL,URL')
    expect(USAGE).toContain('--route [HOST][/PATH]=POOL')
  })
})

describe('layer 4 and fleet flags', () => {
  it('--tcp adds a listener on a pool, and --etcd turns fleet mode on', async () => {
    const command = run([
      '--pool',
      'pg=tcp://127.0.0.1:5432,tcp://127.0.0.1:5433',
      '--tcp',
      '6432=pg',
      '--tcp',
      '[::1]:6433=pg',
      '--etcd',
      'http://127.0.0.1:2379,http://127.0.0.1:22379',
      '--cluster-name',
      'lb-1',
    ])
    const config = await loadConfig(command, files({}))
    expect(config.tcp.map((t) => [t.name, t.listen.host, t.listen.port, t.pool])).toEqual([
      ['tcp-6432', '0.0.0.0', 6432, 'pg'],
      ['tcp-6433', '::1', 6433, 'pg'],
    ])
    expect(config.pools.pg!.healthCheck.type).toBe('tcp')
    expect(config.cluster).toMatchObject({
      etcd: ['http://127.0.0.1:2379', 'http://127.0.0.1:22379'],
      name: 'lb-1',
      prefix: '/fulcrum',
    })
  })

  it('refuses a malformed --tcp', () => {
    expect(parseError(['--tcp', 'pg'])).toMatch(/^--tcp: Expected \[HOST:\]PORT=POOL/)
  })
})
