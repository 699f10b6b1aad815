/**
 * `RuntimeDeps.exec`: run a program for an `exec` health check, with `node:child_process`, which
 * Node, Deno and Bun all implement (each kills a process group through `process.kill(-pid)`).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import process from 'node:process'
import { ExecDeniedError, type ExecOptions, type ExecResult } from '../../src/types.ts'

/**
 * Run `command` without a shell; see `RuntimeDeps.exec` for the contract.
 *
 * The program leads a process group of its own (`detached`), so that the kill reaches what it
 * started too. Once it has exited, its output is read until the pipes close, at most until the
 * timeout: then whatever it left behind holding them is killed with the group, and its exit
 * status stands.
 *
 * @example
 * ```ts
 * const result = await exec(['pg_isready', '-h', 'db1'], { timeout: 2000, maxOutput: 512 })
 * ```
 */
export function exec(command: readonly string[], options: ExecOptions): Promise<ExecResult> {
  const { timeout, signal, maxOutput } = options
  const [program, ...args] = command
  if (program === undefined) return Promise.reject(new TypeError('exec: Empty command'))
  if (signal?.aborted) return Promise.reject(signal.reason)
  let child: ChildProcess
  try {
    child = spawn(program, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: process.platform !== 'win32',
      windowsHide: true,
    })
  } catch (error) {
    // Deno checks its permissions synchronously (`NotCapable`), Node's permission model too.
    return Promise.reject(denied(program, error) ?? error)
  }
  return new Promise((resolve, reject) => {
    const output = new Tail(maxOutput)
    let timedOut = false
    let exit: { code: number | null; signal: string | null } | undefined
    let done = false

    const kill = () => {
      try {
        // The group: the program and whatever it started that stayed in it.
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        // No group (Windows, or it is gone already): the program alone.
        child.kill('SIGKILL')
      }
    }
    const finish = () => {
      if (done || !exit) return
      done = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      child.stdout?.destroy()
      child.stderr?.destroy()
      resolve({ ...exit, ...output.read(), timedOut })
    }
    const stop = (byTimeout: boolean) => {
      if (done) return
      timedOut = byTimeout && !exit
      kill()
      // Its exit status may be known already; then stop waiting for the pipes.
      finish()
    }
    const onAbort = () => stop(false)
    const timer = setTimeout(() => stop(true), timeout)
    signal?.addEventListener('abort', onAbort, { once: true })

    child.stdout!.on('data', (chunk: Uint8Array) => output.push(chunk))
    child.stderr!.on('data', (chunk: Uint8Array) => output.push(chunk))
    child.once('error', (error) => {
      if (exit || done) return
      done = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      reject(denied(program, error) ?? error)
    })
    child.once('exit', (code, by) => {
      exit = { code, signal: by }
      if (timedOut || signal?.aborted) finish()
    })
    child.once('close', finish)
  })
}

/** The runtime's refusal to run programs, as an {@link ExecDeniedError}; else `undefined`. */
function denied(program: string, error: unknown): ExecDeniedError | undefined {
  const { name, code, message } = error as { name?: string; code?: string; message?: string }
  // Deno: NotCapable, 'Requires run access to "sh", run again with the --allow-run flag'.
  // Node with --permission: ERR_ACCESS_DENIED.
  if (name === 'NotCapable' || name === 'PermissionDenied' || code === 'ERR_ACCESS_DENIED') {
    return new ExecDeniedError(`Not allowed to run ${program}: ${message ?? String(error)}`, {
      cause: error,
    })
  }
  return undefined
}

/** The last `max` bytes of a stream of chunks. */
class Tail {
  #chunks: Uint8Array[] = []
  #size = 0
  #dropped = false
  readonly #max: number

  constructor(max: number) {
    this.#max = Math.max(0, max)
  }

  push(chunk: Uint8Array): void {
    this.#chunks.push(chunk)
    this.#size += chunk.byteLength
    while (this.#size > this.#max && this.#chunks.length > 0) {
      const first = this.#chunks[0]!
      const excess = this.#size - this.#max
      this.#dropped = true
      if (first.byteLength <= excess) {
        this.#chunks.shift()
        this.#size -= first.byteLength
      } else {
        this.#chunks[0] = first.subarray(excess)
        this.#size -= excess
      }
    }
  }

  /** The bytes kept, as UTF-8, without a character cut in two at the start. */
  read(): { output: string; truncated: boolean } {
    const bytes = new Uint8Array(this.#size)
    let at = 0
    for (const chunk of this.#chunks) {
      bytes.set(chunk, at)
      at += chunk.byteLength
    }
    let start = 0
    // UTF-8 continuation bytes (10xxxxxx) at the cut belong to a character that was dropped.
    if (this.#dropped) while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++
    return {
      output: new TextDecoder().decode(bytes.subarray(start)),
      truncated: this.#dropped,
    }
  }
}
