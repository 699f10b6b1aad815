import { describe, expect, it } from 'vitest'
import { parseArgs } from '../../src/cli.ts'
import { ConfigError } from '../../src/config.ts'
import { configFromArgs } from './cli-helpers.ts'

describe('control-plane flags', () => {
  it('sets the admin listener, token, state file and access log', async () => {
    const config = await configFromArgs([
      '--admin-port',
      '0',
      '--admin-host',
      '::1',
      '--admin-token',
      'tok-0123456789abcdef',
      '--state',
      'state.json',
      '--access-log',
      '-',
      '--access-log-format',
      'combined',
    ])
    expect(config.admin).toMatchObject({
      enabled: true,
      host: '::1',
      port: 0,
      token: 'tok-0123456789abcdef',
      stateFile: 'state.json',
    })
    expect(config.accessLog).toMatchObject({ enabled: true, path: '-', format: 'combined' })
  })

  it('defaults to an admin listener on 127.0.0.1:9090 with no access log', async () => {
    const config = await configFromArgs([])
    expect(config.admin).toMatchObject({ enabled: true, host: '127.0.0.1', port: 9090 })
    expect(config.admin.token).toBeUndefined()
    expect(config.accessLog.enabled).toBe(false)
    expect((await configFromArgs(['--no-admin'])).admin.enabled).toBe(false)
  })

  it('takes the token from FULCRUM_ADMIN_TOKEN unless one is given', async () => {
    const env = { FULCRUM_ADMIN_TOKEN: 'env-token-0123456789' }
    expect((await configFromArgs([], env)).admin.token).toBe('env-token-0123456789')
    expect(
      (await configFromArgs(['--admin-token', 'flag-token-0123456789'], env)).admin.token,
    ).toBe('flag-token-0123456789')
  })

  it('sends dns: backends to discovery', async () => {
    const config = await configFromArgs([
      '--backend',
      'http://127.0.0.1:9001',
      '--backend',
      'dns:api.internal:8080',
      '--backend',
      'dns+srv:_http._tcp.api.internal',
    ])
    expect(config.backends.map((b) => b.url)).toEqual(['http://127.0.0.1:9001'])
    expect(config.discovery.map((d) => [d.name, d.type, d.port])).toEqual([
      ['api.internal', 'A+AAAA', 8080],
      ['_http._tcp.api.internal', 'SRV', undefined],
    ])
  })

  it('names bad values', async () => {
    await expect(configFromArgs(['--admin-port', 'x'])).rejects.toThrow(
      '--admin-port: Expected a whole number',
    )
    await expect(configFromArgs(['--admin-token', 'short'])).rejects.toThrow(
      'admin.token: Expected 16 to 256 visible ASCII characters',
    )
    await expect(configFromArgs(['--access-log-format', 'xml'])).rejects.toThrow(ConfigError)
    await expect(configFromArgs(['--backend', 'dns:nope'])).rejects.toThrow(
      'discovery.0: Expected dns:HOST:PORT or dns+srv:NAME',
    )
    expect(() => parseArgs(['--no-admin=1'])).toThrow('--no-admin: Takes no value')
  })
})
