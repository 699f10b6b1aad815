/**
 * The command line on the real entry points: bad flags and bad config files name the field and
 * exit 2 without a stack trace; --help and --version exit 0.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pkg from '../../package.json' with { type: 'json' }
import { RUNTIMES, runFulcrum } from '../helpers/fulcrum.ts'

/** A stack frame as Node, Deno and Bun print them. */
const STACK_FRAME = /^\s+at\s/m

let dir: string
/** A loopback port that is taken, for the listen failures. */
let taken: Server
let takenPort: number
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-cli-'))
  taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  takenPort = (taken.address() as { port: number }).port
})
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true })
  await new Promise((resolve) => taken.close(resolve))
})

/** The lines of `text` that are not JSON log lines. */
const plainLines = (text: string) =>
  text.split('\n').filter((line) => line !== '' && !line.startsWith('{'))

/** Write a config file into the temp dir and return its path. */
function configFile(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

describe.each(RUNTIMES)('the command line on %s', (runtime) => {
  it.each([
    [['--bogus'], '--bogus: Unknown option'],
    [['--port', 'abc'], '--port: Expected a whole number, got "abc"'],
    [['--port', '70000'], 'listen.port: Too big'],
    [['--strategy', 'nope'], 'strategy: Invalid'],
    [
      ['--backend', 'ftp://x'],
      'backends.0.url: Unsupported scheme ftp, expected http, https or tcp',
    ],
    [['--backend', 'http://127.0.0.1:1=0'], 'backends.0.weight: Too small'],
    [['--health-interval', 'soon'], 'healthCheck.interval: Expected a duration'],
    [['--cert', 'a.crt'], 'tls.key: A certificate and a key go together'],
    [['--port'], '--port: Expected a value'],
  ])('refuses %j naming the field, exit 2, no stack trace', async (args, message) => {
    const { code, stdout, stderr } = await runFulcrum(runtime, args)
    expect(code).toBe(2)
    expect(stderr).toContain(`fulcrum: ${message}`)
    expect(stderr).not.toMatch(STACK_FRAME)
    expect(stdout).toBe('')
  })

  it.each([
    ['invalid JSON', 'bad.json', '{"backends": [', (path: string) => `${path}: Invalid JSON`],
    ['a wrong type', 'type.json', '{"healthCheck":{"rise":"x"}}', () => 'healthCheck.rise: '],
    [
      'an unknown key',
      'unknown.json',
      '{"healthCheck":{"intervall":"1s"}}',
      () => 'healthCheck.intervall: Unknown key',
    ],
    ['a top-level unknown key', 'top.json', '{"bakends":[]}', () => 'bakends: Unknown key'],
    ['not an object', 'array.json', '[]', (path: string) => `${path}: Expected a JSON object`],
    [
      'a bad backend',
      'backend.json',
      '{"backends":[{"url":"http://127.0.0.1:1/api"}]}',
      () => 'backends.0.url: A backend URL has no path',
    ],
  ])('refuses a config file with %s, naming it, exit 2', async (_what, name, text, message) => {
    const path = configFile(`${runtime}-${name}`, text)
    const { code, stdout, stderr } = await runFulcrum(runtime, ['--config', path])
    expect(code).toBe(2)
    expect(stderr).toContain(`fulcrum: ${message(path)}`)
    expect(stderr).not.toMatch(STACK_FRAME)
    expect(stdout).toBe('')
  })

  it('refuses a missing config file, naming it', async () => {
    const path = join(dir, 'missing.json')
    const { code, stderr } = await runFulcrum(runtime, ['--config', path])
    expect(code).toBe(2)
    expect(stderr).toContain(`fulcrum: --config: Cannot read ${path}`)
    expect(stderr).not.toMatch(STACK_FRAME)
  })

  it('reports every wrong field of a config file at once', async () => {
    const path = configFile(
      `${runtime}-many.json`,
      JSON.stringify({ listen: { port: -1 }, healthCheck: { fall: 0 }, demo: 'yes' }),
    )
    const { code, stderr } = await runFulcrum(runtime, ['--config', path])
    expect(code).toBe(2)
    const fields = stderr
      .trim()
      .split('\n')
      .map((line) => line.replace(/^fulcrum: /, '').split(':')[0])
    expect(fields).toEqual(['listen.port', 'healthCheck.fall', 'demo'])
  })

  // Issue 11: the runtimes' own texts repeat the address (`listen EADDRINUSE: address already in
  // use 127.0.0.1:N`, `Failed to start server. Is port N in use?`); the line names it once.
  it.each([
    ['admin', (port: number) => ['--port', '0', '--admin-port', String(port)], ' (admin)'],
    ['public', (port: number) => ['--port', String(port), '--admin-port', '0'], ''],
  ])('a taken %s port: one clean line, exit 1', async (_which, args, role) => {
    const { code, stdout, stderr } = await runFulcrum(runtime, [
      '--host',
      '127.0.0.1',
      ...args(takenPort),
    ])
    expect(code).toBe(1)
    expect(plainLines(stderr)).toEqual([
      `fulcrum: Cannot listen on 127.0.0.1:${takenPort}${role}: address already in use`,
    ])
    expect(plainLines(stdout)).toEqual([])
  })

  it('--help prints the usage and exits 0', async () => {
    const { code, stdout, stderr } = await runFulcrum(runtime, ['--help'])
    expect(code).toBe(0)
    expect(stdout).toContain('Usage: fulcrum [options]')
    for (const flag of ['--config FILE', '--tls', '--backend URL[=WEIGHT]', '--health-timeout']) {
      expect(stdout).toContain(flag)
    }
    expect(stderr).toBe('')
  })

  it('--version prints the version and exits 0', async () => {
    const { code, stdout } = await runFulcrum(runtime, ['--version'])
    expect(code).toBe(0)
    expect(stdout.trim()).toBe(pkg.version)
  })
})
