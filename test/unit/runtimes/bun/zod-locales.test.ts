/**
 * runtimes/bun/zod-locales.ts: on Bun, zod loads without its translations, and still answers in
 * English.
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..', '..', '..', '..')
const BUN = join(ROOT, 'node_modules', '.bin', 'bun')

/** What zod looks like in a fresh Bun process, with or without {@link skipZodLocales} first. */
function zodOnBun(skip: boolean): { locales: number; message: string } {
  const script = `
    ${skip ? `(await import(${JSON.stringify(join(ROOT, 'runtimes', 'bun', 'zod-locales.ts'))})).skipZodLocales()` : ''}
    const z = await import('zod')
    const message = z.string().min(2).safeParse('a').error.issues[0].message
    console.log(JSON.stringify({ locales: Object.keys(z.locales).length, message }))
  `
  const run = spawnSync(BUN, ['-e', script], { cwd: ROOT, encoding: 'utf8' })
  expect(run.stderr).toBe('')
  return JSON.parse(run.stdout) as { locales: number; message: string }
}

describe('skipZodLocales', () => {
  it('leaves the translations out, and zod keeps its English messages', () => {
    const plain = zodOnBun(false)
    const skipped = zodOnBun(true)
    expect(plain.locales).toBeGreaterThan(40)
    expect(skipped.locales).toBe(0)
    expect(skipped.message).toBe(plain.message)
    expect(skipped.message).toMatch(/^Too small/)
  })
})
