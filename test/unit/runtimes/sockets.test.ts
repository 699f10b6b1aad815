/**
 * runtimes/bun/sockets.ts and runtimes/deno/sockets.ts over real loopback sockets: the shared
 * suite (socket-suite.ts) against test/fixtures/sockets/fixture.ts run by each runtime in a child
 * process, since vitest itself runs on Node.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe } from 'vitest'
import type { FixtureEvent } from '../../fixtures/sockets/fixture.ts'
import { socketSuite, type StartFixture } from './socket-suite.ts'

const root = resolve(import.meta.dirname, '../../..')
const fixture = join(root, 'test/fixtures/sockets/fixture.ts')

/** How each runtime runs the fixture on its own `sockets.ts`. */
const commands = {
  bun: [join(root, 'node_modules/.bin/bun'), 'run'],
  deno: [
    join(root, 'node_modules/deno/deno'),
    'run',
    '--allow-net',
    '--allow-read',
    '--allow-env',
    '--unstable-net',
  ],
} as const

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-sockets-'))
})
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

const starter =
  (runtime: keyof typeof commands): StartFixture =>
  async (config) => {
    const configPath = join(dir, `${runtime}-${Math.random().toString(36).slice(2)}.json`)
    writeFileSync(configPath, JSON.stringify(config), { mode: 0o600 })
    const module = pathToFileURL(join(root, `runtimes/${runtime}/sockets.ts`)).href
    const [command, ...args] = commands[runtime]
    const child = spawn(command, [...args, fixture, module, configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const events: FixtureEvent[] = []
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    const port = await new Promise<number>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout })
      lines.on('line', (line) => {
        const parsed = JSON.parse(line) as FixtureEvent | { port: number }
        if ('port' in parsed) resolve(parsed.port)
        else events.push(parsed)
      })
      child.once('exit', (code) => reject(new Error(`${runtime} exited ${code}: ${stderr}`)))
    })
    return {
      port,
      events: () => events,
      stop: async () => {
        child.kill()
        if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve))
      },
    }
  }

describe('bun sockets', () => socketSuite('bun', starter('bun')))
describe('deno sockets', () => socketSuite('deno', starter('deno')))
