/**
 * runtimes/bun/memory.ts: fulcrum on Bun re-executes itself (same PID) with JSC's heap bound,
 * once, on the Bun versions the option was checked on, and leaves a value the user set.
 */
import { existsSync, readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { HEAP_GROWTH_VARIABLE, heapBoundEnvironment } from '../../../../runtimes/bun/memory.ts'
import { startFulcrum, type FulcrumProcess } from '../../../helpers/fulcrum.ts'

describe('heapBoundEnvironment', () => {
  it('adds the bound to the environment on a checked Bun', () => {
    expect(heapBoundEnvironment({ PATH: '/bin', EMPTY: '' }, '1.4.5')).toEqual({
      PATH: '/bin',
      EMPTY: '',
      [HEAP_GROWTH_VARIABLE]: '1',
    })
  })

  it('asks for no re-execution once the variable is set, by the user or by the last one', () => {
    expect(heapBoundEnvironment({ [HEAP_GROWTH_VARIABLE]: '1' }, '1.4.5')).toBeUndefined()
    expect(heapBoundEnvironment({ [HEAP_GROWTH_VARIABLE]: '3' }, '1.4.5')).toBeUndefined()
  })

  it('leaves a Bun it was not checked on alone (an unknown BUN_JSC_ variable stops Bun)', () => {
    expect(heapBoundEnvironment({}, '1.3.9')).toBeUndefined()
    expect(heapBoundEnvironment({}, '1.5.0')).toBeUndefined()
    expect(heapBoundEnvironment({}, '2.4.0')).toBeUndefined()
  })
})

/** The environment of a running process, by name (Linux). */
function environmentOf(pid: number): Map<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean)
  return new Map(
    entries.map((entry) => [
      entry.slice(0, entry.indexOf('=')),
      entry.slice(entry.indexOf('=') + 1),
    ]),
  )
}

describe.skipIf(!existsSync('/proc/self/environ'))('bun run runtimes/bun.ts', () => {
  let fulcrum: FulcrumProcess | undefined
  afterEach(async () => {
    await fulcrum?.stop()
    fulcrum = undefined
  })

  it('serves as the same process, re-executed with the bound', async () => {
    fulcrum = await startFulcrum('bun', ['--backend', 'http://127.0.0.1:9', '--no-admin'])
    expect(environmentOf(fulcrum.child.pid!).get(HEAP_GROWTH_VARIABLE)).toBe('1')
  })

  it("keeps the user's own value", async () => {
    fulcrum = await startFulcrum('bun', ['--backend', 'http://127.0.0.1:9', '--no-admin'], {
      env: { [HEAP_GROWTH_VARIABLE]: '3' },
    })
    expect(environmentOf(fulcrum.child.pid!).get(HEAP_GROWTH_VARIABLE)).toBe('3')
  })
})
