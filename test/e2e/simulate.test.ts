/**
 * `npm run simulate` end to end: the script under Bun writes the HTML report and the Markdown
 * table, prints the table, replays exactly for a seed, and rejects bad flags.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { strategies } from '../../src/strategies/index.ts'
import { ROOT } from '../helpers/fulcrum.ts'

const BUN = join(ROOT, 'node_modules', '.bin', 'bun')
const dir = mkdtempSync(join(tmpdir(), 'fulcrum-simulate-'))

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      BUN,
      ['run', join(ROOT, 'scripts', 'simulate.ts'), ...args],
      { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    )
  })
}

afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('npm run simulate', () => {
  it('writes a self-contained report and prints the same table, identically for a seed', async () => {
    const outputs = ['a', 'b', 'c'].map((name) => ({
      html: join(dir, `${name}.html`),
      md: join(dir, `${name}.md`),
    }))
    const args = (i: number, seed: number) => [
      '--seed',
      String(seed),
      '--requests',
      '3000',
      '--out',
      outputs[i]!.html,
      '--markdown',
      outputs[i]!.md,
    ]
    const [first, second, other] = await Promise.all([
      run(args(0, 11)),
      run(args(1, 11)),
      run(args(2, 12)),
    ])
    for (const result of [first, second, other]) expect(result.code, result.stderr).toBe(0)

    expect(first.stdout).toMatch(/^seed 11, \d+ requests over 7\.5 s/)
    expect(first.stdout).toContain(`Report: ${outputs[0]!.html}`)
    const html = readFileSync(outputs[0]!.html, 'utf8')
    const markdown = readFileSync(outputs[0]!.md, 'utf8')
    expect(html).toMatch(/^<!doctype html>/)
    expect(html).toContain('<svg ')
    expect(html).not.toMatch(/<script|<link|src=/)
    for (const name of Object.keys(strategies)) {
      expect(first.stdout).toMatch(new RegExp(`^${name} +\\d`, 'm'))
      expect(markdown).toContain(`| ${name} |`)
      expect(html).toContain(`<th>${name}</th>`)
    }

    // The same seed replays exactly; another seed does not.
    expect(second.stdout.replace(outputs[1]!.html, '')).toBe(
      first.stdout.replace(outputs[0]!.html, ''),
    )
    expect(readFileSync(outputs[1]!.html, 'utf8')).toBe(html)
    expect(readFileSync(outputs[1]!.md, 'utf8')).toBe(markdown)
    expect(readFileSync(outputs[2]!.html, 'utf8')).not.toBe(html)
  })

  it('runs chosen strategies with sticky clients', async () => {
    const out = join(dir, 'sticky.html')
    const result = await run([
      '--strategies',
      'round-robin,least-time',
      '--sticky',
      '--duration',
      '3',
      '--out',
      out,
    ])
    expect(result.code, result.stderr).toBe(0)
    const rows = result.stdout.split('\n').filter((l) => /^(round-robin|least-time)/.test(l))
    expect(rows.map((l) => l.split(/ {2,}/)[0])).toEqual([
      'round-robin',
      'least-time',
      'round-robin + sticky',
      'least-time + sticky',
    ])
  })

  it('rejects bad flags with exit status 2', async () => {
    const unknown = await run(['--frobnicate'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/^simulate: .*frobnicate/)
    const strategy = await run(['--strategies', 'nope', '--out', join(dir, 'x.html')])
    expect(strategy.code).toBe(2)
    expect(strategy.stderr).toContain('Unknown strategy "nope"')
    const seed = await run(['--seed', '-1'])
    expect(seed.code).toBe(2)
  })
})
