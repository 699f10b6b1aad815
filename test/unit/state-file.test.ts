import { afterEach, describe, expect, it, vi } from 'vitest'
import { ConfigError, type ConfigInput } from '../../src/config.ts'
import { adminBalancer } from './admin-helpers.ts'

const A = 'http://127.0.0.1:9001'
const B = 'http://127.0.0.1:9002'
const C = 'http://127.0.0.1:9003'
const SECRET = 'a-sticky-secret-of-32-characters'

/** An in-memory file system behind `readTextFile` and `writeFileAtomic`. */
function memoryFs() {
  const files = new Map<string, string>()
  const writes: string[] = []
  return {
    files,
    writes,
    deps: {
      readTextFile: async (path: string) => {
        const text = files.get(path)
        if (text === undefined) throw new Error(`ENOENT: ${path}`)
        return text
      },
      writeFileAtomic: async (path: string, text: string) => {
        writes.push(path)
        files.set(path, text)
      },
    },
  }
}

const base: ConfigInput = {
  backends: [{ url: A, id: 'a' }],
  sticky: { secret: SECRET },
  admin: { stateFile: '/var/lib/fulcrum/state.json' },
}

afterEach(() => {
  vi.useRealTimers()
})

describe('the state file', () => {
  it('survives a restart: backends, weights, flags, leases and the strategy', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const fs = memoryFs()
    const first = adminBalancer(base, undefined, fs.deps)
    expect(await first.balancer.restoreState()).toBe(false)
    await first.admin('POST', '/backends', { url: B, id: 'b', ttl: '30s' })
    await first.admin('POST', '/backends', { url: C, id: 'c', weight: 2 })
    await first.admin('PATCH', '/backends/a', { weight: 4 })
    await first.admin('PATCH', '/backends/c', { enabled: false })
    await first.admin('PUT', '/strategy', { strategy: 'least-connections' })
    await first.balancer.stop()
    expect(fs.writes.length).toBeGreaterThan(0)

    const saved = JSON.parse(fs.files.get('/var/lib/fulcrum/state.json')!)
    expect(saved).toMatchObject({ fulcrum: 'state', version: 1 })
    // Secrets and settings that need a restart stay out of the state file.
    expect(JSON.stringify(saved)).not.toContain(SECRET)
    expect(saved.config.admin).toBeUndefined()
    expect(saved.config.listen).toBeUndefined()

    // The restart: the same config file, the state file on top.
    const second = adminBalancer(base, undefined, fs.deps)
    expect(await second.balancer.restoreState()).toBe(true)
    const { backends } = await (await second.admin('GET', '/backends')).json()
    expect(
      backends.map((b: Record<string, unknown>) => [b.id, b.url, b.weight, b.enabled, b.source]),
    ).toEqual([
      ['a', A, 4, true, 'config'],
      ['b', B, 1, true, 'config'],
      ['c', C, 2, false, 'config'],
    ])
    expect(backends[1].lease.ttl).toBe(30_000)
    expect(second.balancer.config.strategy).toBe('least-connections')
    expect(second.balancer.config.sticky.secret).toBe(SECRET)
    // The restored lease runs: without a heartbeat, b goes.
    vi.advanceTimersByTime(30_000)
    expect(second.balancer.pool.get('b')).toBeUndefined()
    await second.balancer.stop()
  })

  it('writes once more after changes made while a write was under way', async () => {
    const fs = memoryFs()
    let finish!: () => void
    const slow = {
      ...fs.deps,
      writeFileAtomic: async (path: string, text: string) => {
        await new Promise<void>((resolve) => (finish = resolve))
        await fs.deps.writeFileAtomic(path, text)
      },
    }
    const { admin, balancer } = adminBalancer(base, undefined, slow)
    await admin('POST', '/backends', { url: B, id: 'b' })
    await admin('POST', '/backends', { url: C, id: 'c' })
    finish()
    await new Promise((resolve) => setTimeout(resolve, 0))
    finish()
    await balancer.control.saved()
    expect(fs.writes).toHaveLength(2)
    const saved = JSON.parse(fs.files.get('/var/lib/fulcrum/state.json')!)
    expect(saved.config.backends.map((b: { id: string }) => b.id)).toEqual(['a', 'b', 'c'])
  })

  it('refuses a state file that is not valid, naming the file and the field', async () => {
    const fs = memoryFs()
    const path = '/var/lib/fulcrum/state.json'
    fs.files.set(path, '{ nope')
    const { balancer } = adminBalancer(base, undefined, fs.deps)
    await expect(balancer.restoreState()).rejects.toThrow(ConfigError)
    await expect(balancer.restoreState()).rejects.toThrow(`${path}: Invalid JSON`)
    fs.files.set(path, JSON.stringify({ fulcrum: 'state', version: 1, config: { strategy: 'x' } }))
    await expect(balancer.restoreState()).rejects.toThrow(
      `${path}: config.strategy: Invalid option`,
    )
    fs.files.set(path, '{"hello":1}')
    await expect(balancer.restoreState()).rejects.toThrow('Not a fulcrum state file')
  })
})
