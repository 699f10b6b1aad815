import { describe, expect, it } from 'vitest'
import { ConfigError, DEFAULT_STRATEGY_OPTIONS, parseConfig } from '../../src/config.ts'
import { configFromArgs } from './cli-helpers.ts'

describe('strategyOptions', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_STRATEGY_OPTIONS).toEqual({
      leastTime: { decay: 10_000 },
      consistentHash: { key: 'ip', epsilon: 0.25, virtualNodes: 160 },
      urlHash: { includeQuery: false },
      threshold: { connections: 10 },
      resource: { capacity: {} },
    })
    expect(parseConfig({}).strategyOptions).toEqual(DEFAULT_STRATEGY_OPTIONS)
  })

  it('takes every strategy option from the command line', async () => {
    const config = await configFromArgs([
      '--strategy',
      'consistent-hash',
      '--hash-key',
      'header:x-user',
      '--hash-epsilon',
      '0.5',
      '--least-time-decay',
      '2s',
      '--threshold',
      '4',
      '--url-hash-query',
    ])
    expect(config.strategy).toBe('consistent-hash')
    expect(config.strategyOptions).toMatchObject({
      consistentHash: { key: 'header:x-user', epsilon: 0.5 },
      leastTime: { decay: 2000 },
      threshold: { connections: 4 },
      urlHash: { includeQuery: true },
    })
    const unbounded = await configFromArgs(['--hash-epsilon', 'none', '--hash-key=cookie:sid'])
    expect(unbounded.strategyOptions.consistentHash).toMatchObject({
      epsilon: null,
      key: 'cookie:sid',
    })
  })

  it('names the field and the reason for a bad value', async () => {
    expect(() => parseConfig({ strategy: 'fastest' })).toThrow(/^strategy: /)
    expect(() => parseConfig({ strategyOptions: { consistentHash: { key: 'query' } } })).toThrow(
      'strategyOptions.consistentHash.key: Expected ip, path, header:NAME or cookie:NAME',
    )
    expect(() => parseConfig({ strategyOptions: { leastTime: { decay: 0 } } })).toThrow(
      /strategyOptions\.leastTime\.decay: Expected a positive duration/,
    )
    await expect(configFromArgs(['--hash-epsilon', 'lots'])).rejects.toThrow(ConfigError)
    await expect(configFromArgs(['--threshold', '0'])).rejects.toThrow(/strategyOptions\.threshold/)
  })
})
