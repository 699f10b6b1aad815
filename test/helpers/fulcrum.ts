/**
 * Start the real fulcrum entry points (Node's built dist/node.js, Deno with the permissions from
 * deno.json's `start` task, Bun) as child processes, for end-to-end tests.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The project root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export type RuntimeName = 'node' | 'deno' | 'bun'
export const RUNTIMES: readonly RuntimeName[] = ['node', 'deno', 'bun']

const DENO_BIN = join(ROOT, 'node_modules', 'deno', 'deno')
const BUN_BIN = join(ROOT, 'node_modules', '.bin', 'bun')

/** The words of the `start` task in deno.json. */
function denoTask(): string[] {
  const task: string = JSON.parse(readFileSync(join(ROOT, 'deno.json'), 'utf8')).tasks.start
  return task.split(/\s+/)
}

/** `deno run` flags exactly as the `start` task in deno.json has them. */
function denoTaskFlags(): string[] {
  const words = denoTask()
  return words.slice(words.indexOf('run') + 1, words.indexOf('runtimes/deno.ts'))
}

/** The `NAME=value` environment the `start` task sets before the command (`MALLOC_ARENA_MAX`). */
function denoTaskEnv(): string[] {
  const words = denoTask()
  let first = 0
  while (/^[A-Z_][A-Z0-9_]*=/.test(words[first] ?? '')) first++
  return words.slice(0, first)
}

/** The command line that runs fulcrum on `runtime` with `args`. */
export function fulcrumCommand(runtime: RuntimeName, args: readonly string[]): [string, string[]] {
  switch (runtime) {
    case 'node':
      return [process.execPath, [join(ROOT, 'dist', 'node.js'), ...args]]
    case 'deno': {
      const run = ['run', ...denoTaskFlags(), join(ROOT, 'runtimes', 'deno.ts'), ...args]
      // The task's environment too, through env(1), which execs Deno in its place (same pid).
      const env = denoTaskEnv()
      return env.length > 0 ? ['env', [...env, DENO_BIN, ...run]] : [DENO_BIN, run]
    }
    case 'bun':
      return [BUN_BIN, ['run', join(ROOT, 'runtimes', 'bun.ts'), ...args]]
  }
}

/**
 * The command line of `deno task start` with `args`: deno.json's task, run by Deno's task runner,
 * which stays the parent of fulcrum's process.
 */
export function denoTaskCommand(args: readonly string[]): [string, string[]] {
  return [DENO_BIN, ['task', 'start', ...args]]
}

/** One JSON log line. */
export type LogLine = { level: string; msg: string } & Record<string, unknown>

/** A running (or exited) fulcrum process. */
export interface FulcrumProcess {
  readonly child: ChildProcess
  /** The public port, from the `listening` log line; 0 for a config that serves TCP only. */
  readonly port: number
  /** `http://127.0.0.1:PORT` or `https://…` */
  readonly url: string
  /** The admin listener, `http://127.0.0.1:PORT`, unless `--no-admin`. */
  readonly adminUrl: string | undefined
  /** The admin token: the one printed at start, or the one passed with `--admin-token`. */
  readonly adminToken: string | undefined
  /** Everything printed so far. */
  stdout(): string
  stderr(): string
  /** Parsed JSON log lines so far (stdout and stderr). */
  logs(): LogLine[]
  /** Resolves when a log line matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>
  /** Send a signal and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
  /** Resolves with the exit code. */
  exited: Promise<number | null>
}

/** Options for {@link startFulcrum}. */
export interface StartOptions {
  cwd?: string
  env?: Record<string, string>
  /** How long to wait for the {@link ready} line. @default 30 s */
  timeoutMs?: number
  /** The log line that says it is up. @default the `listening` line of the public listener */
  ready?: (line: LogLine) => boolean
  /**
   * Pass `args` as they are: no `--port 0`, `--host 127.0.0.1` or `--admin-port 0` added (a
   * config file that says where to listen, or serves TCP only). @default false
   */
  exactArgs?: boolean
  /** Another command line for the same arguments (e.g. {@link denoTaskCommand}). */
  command?: (args: readonly string[]) => [string, string[]]
  /**
   * Start it as the leader of a new process group, so that a test can signal the whole group
   * (`process.kill(-child.pid, signal)`), as systemd and a terminal do.
   */
  detached?: boolean
}

/**
 * Run fulcrum and wait until it listens. Pass `--port 0` (the default here when no `--port` is
 * given) to get a free port.
 */
export async function startFulcrum(
  runtime: RuntimeName,
  args: readonly string[],
  options: StartOptions = {},
): Promise<FulcrumProcess> {
  const finalArgs = [...args]
  if (!options.exactArgs) {
    if (!finalArgs.includes('--port')) finalArgs.push('--port', '0')
    if (!finalArgs.includes('--host')) finalArgs.push('--host', '127.0.0.1')
    // Tests run in parallel: each fulcrum's admin listener takes a free port, not 9090.
    if (!finalArgs.includes('--admin-port') && !finalArgs.includes('--no-admin')) {
      finalArgs.push('--admin-port', '0')
    }
  }
  const [command, commandArgs] = options.command
    ? options.command(finalArgs)
    : fulcrumCommand(runtime, finalArgs)
  const child = spawn(command, commandArgs, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  })
  let out = ''
  let err = ''
  const lines: LogLine[] = []
  const waiters = new Set<() => void>()
  // A line may arrive split across chunks: keep each stream's unfinished last line.
  const partial = { out: '', err: '' }
  const collect = (chunk: string, into: 'out' | 'err') => {
    if (into === 'out') out += chunk
    else err += chunk
    const parts = (partial[into] + chunk).split('\n')
    partial[into] = parts.pop()!
    for (const line of parts) {
      if (!line.startsWith('{')) continue
      try {
        lines.push(JSON.parse(line))
      } catch {
        // not JSON after all; the full text is still in stdout()/stderr()
      }
    }
    for (const wake of waiters) wake()
  }
  child.stdout!.setEncoding('utf8').on('data', (c: string) => collect(c, 'out'))
  child.stderr!.setEncoding('utf8').on('data', (c: string) => collect(c, 'err'))
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  )

  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs = 30_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const found = lines.find(match)
        if (found) {
          cleanup()
          resolve(found)
        }
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(
          new Error(
            `No matching log line within ${timeoutMs} ms.\nstdout:\n${out}\nstderr:\n${err}`,
          ),
        )
      }, timeoutMs)
      const onExit = () => {
        cleanup()
        reject(new Error(`fulcrum exited before the log line.\nstdout:\n${out}\nstderr:\n${err}`))
      }
      const cleanup = () => {
        clearTimeout(timer)
        waiters.delete(check)
        child.off('exit', onExit)
      }
      waiters.add(check)
      child.once('exit', onExit)
      check()
    })

  const isListening = (l: LogLine) => l.msg === 'listening'
  await waitForLog(options.ready ?? isListening, options.timeoutMs ?? 30_000)
  const listening = lines.find(isListening)
  const port = (listening?.port as number | undefined) ?? 0
  const scheme = String(listening?.url).startsWith('https') ? 'https' : 'http'
  const adminLine = lines.find((l) => l.msg === 'admin listening')
  const tokenAt = finalArgs.indexOf('--admin-token')
  return {
    child,
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    adminUrl: adminLine ? `http://127.0.0.1:${adminLine.port as number}` : undefined,
    adminToken:
      tokenAt !== -1
        ? finalArgs[tokenAt + 1]
        : ((lines.find((l) => l.msg.startsWith('admin token generated'))?.token as string) ??
          options.env?.FULCRUM_ADMIN_TOKEN),
    stdout: () => out,
    stderr: () => err,
    logs: () => lines,
    waitForLog,
    exited,
    async stop(signal = 'SIGTERM') {
      // A detached one is stopped with its whole group, so that no child of it outlives it.
      const kill = (signal: NodeJS.Signals) => {
        if (!options.detached) return void child.kill(signal)
        try {
          process.kill(-child.pid!, signal)
        } catch {
          // The group is gone already.
        }
      }
      if ((child.exitCode === null && child.signalCode === null) || options.detached) kill(signal)
      const timer = setTimeout(() => kill('SIGKILL'), 20_000)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
}

/** Run fulcrum to completion (for `--help`, bad flags and the like). */
export function runFulcrum(
  runtime: RuntimeName,
  args: readonly string[],
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [command, commandArgs] = fulcrumCommand(runtime, args)
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(
        new Error(
          `fulcrum ${args.join(' ')} did not exit.\nstdout:\n${stdout}\nstderr:\n${stderr}`,
        ),
      )
    }, options.timeoutMs ?? 30_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
