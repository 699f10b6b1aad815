/**
 * runtimes/start/exec.ts: `RuntimeDeps.exec` on `node:child_process`, here on Node (the e2e test
 * health-exec.test.ts runs it on Deno and Bun inside fulcrum).
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { exec } from '../../../../runtimes/start/exec.ts'

const options = { timeout: 5000, maxOutput: 4096 }

/** Whether a process with this pid still runs (a zombie, killed but not reaped, counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}

describe('exec', () => {
  it('runs a program without a shell and reports its exit status and output', async () => {
    expect(await exec(['sh', '-c', 'echo out; echo err >&2; exit 3'], options)).toEqual({
      code: 3,
      signal: null,
      output: 'out\nerr\n',
      truncated: false,
      timedOut: false,
    })
    expect(await exec(['true'], options)).toMatchObject({ code: 0, output: '', timedOut: false })
    // No shell: the argument reaches the program as it is, unexpanded.
    expect((await exec(['echo', '$HOME *'], options)).output).toBe('$HOME *\n')
  })

  it('keeps the last maxOutput bytes, never half a character', async () => {
    const result = await exec(['sh', '-c', 'seq 1 20000; echo last'], { ...options, maxOutput: 64 })
    expect(result.truncated).toBe(true)
    expect(Buffer.byteLength(result.output)).toBeLessThanOrEqual(64)
    expect(result.output.endsWith('19999\n20000\nlast\n')).toBe(true)
    // 'é' is two bytes: a cut inside it drops the half, not decodes it as U+FFFD.
    const utf8 = await exec(['printf', 'éééé'], { ...options, maxOutput: 3 })
    expect(utf8).toMatchObject({ output: 'é', truncated: true })
  })

  it('kills the program and what it started (SIGKILL, the group) at the timeout', async () => {
    const started = Date.now()
    const result = await exec(['sh', '-c', 'sleep 30 & echo $!; sleep 30'], {
      ...options,
      timeout: 300,
    })
    expect(Date.now() - started).toBeLessThan(3000)
    expect(result).toMatchObject({ code: null, signal: 'SIGKILL', timedOut: true })
    const grandchild = Number(result.output.trim())
    expect(grandchild).toBeGreaterThan(0)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(alive(grandchild)).toBe(false)
  })

  it('kills the program when the signal aborts, and is not timed out then', async () => {
    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error('stop')), 100)
    const result = await exec(['sleep', '30'], { ...options, signal: controller.signal })
    expect(result).toMatchObject({ code: null, signal: 'SIGKILL', timedOut: false })
  })

  it('keeps the exit status of a program that left a child holding its output', async () => {
    const result = await exec(['sh', '-c', 'echo bye; sleep 30 & exit 0'], {
      ...options,
      timeout: 300,
    })
    expect(result).toMatchObject({ code: 0, output: 'bye\n', timedOut: false })
  })

  it('rejects when the program cannot start', async () => {
    await expect(exec(['fulcrum-no-such-program'], options)).rejects.toMatchObject({
      code: 'ENOENT',
    })
    await expect(exec([], options)).rejects.toThrow('Empty command')
  })
})
