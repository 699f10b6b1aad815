// Shared by the bench scripts: the processes a run starts (from the project root, pinned to a CPU
// with taskset where there is one, all killed when the script exits), its scratch directory
// (removed then), and what /proc says of a process tree: CPU time and peak RSS.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from './fulcrum.mjs'

/** Whether `tool` is on the PATH. */
export const has = (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0

/** Pinning is on where taskset is, unless the run says `--no-pin`. */
export const PIN = has('taskset') && !process.argv.slice(2).includes('--no-pin')

/** `command` to run on CPU `cpu` only (unchanged without pinning). */
export const pinned = (cpu, command) => (PIN ? ['taskset', '-c', String(cpu), ...command] : command)

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const children = new Set()
const scratch = []
process.on('exit', () => {
  stopAll()
  // Configs, logs, certificates: nothing of a run is kept.
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true })
})
process.on('SIGINT', () => process.exit(130))

/** A temporary directory, removed when the process exits. */
export function scratchDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  scratch.push(dir)
  return dir
}

/**
 * Start `command` in the project root, in a process group of its own (so that its workers, such
 * as nginx's, go with it); its stdout is ignored unless `options.stdio` says otherwise, and the
 * last 4,000 characters of its stderr are kept for `child.stderrText()`.
 */
export function start(command, options = {}) {
  const child = spawn(command[0], command.slice(1), {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
    ...options,
  })
  let stderr = ''
  child.stderr?.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)))
  child.stderrText = () => stderr
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** Send `signal` to the process group of `child` (one that {@link start} started). */
export function signal(child, name) {
  try {
    process.kill(-child.pid, name)
  } catch {}
}

/** SIGKILL the process group of every process `start` started that is still running. */
export function stopAll() {
  for (const child of children) signal(child, 'SIGKILL')
}

/** SIGTERM to `child`'s process group, then SIGKILL after 5 s. */
export async function stop(child) {
  const exited = new Promise((resolve) => child.once('exit', resolve))
  if (child.exitCode === null && child.signalCode === null) {
    signal(child, 'SIGTERM')
    await Promise.race([exited, sleep(5000)])
  }
  signal(child, 'SIGKILL')
}

/** `root` and its descendants, from /proc (just `root` where there is no /proc). */
export function treePids(root) {
  const parents = new Map()
  let entries = []
  try {
    entries = readdirSync('/proc')
  } catch {}
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch {}
  }
  const pids = [root]
  for (let i = 0; i < pids.length; i++) {
    for (const [pid, ppid] of parents) if (ppid === pids[i]) pids.push(pid)
  }
  return pids
}

/** The peak RSS (VmHWM) of `root`'s process tree, in MB. */
export function peakRssMb(root) {
  let kb = 0
  for (const pid of treePids(root)) {
    try {
      kb += Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
    } catch {}
  }
  return kb / 1024
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100

/**
 * CPU seconds (user + system, all threads) that `root`'s process tree has used, or NaN where
 * there is no /proc. Time other processes take from it does not count.
 */
export function cpuSeconds(root) {
  let ticks = 0
  for (const pid of treePids(root)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12]) // utime + stime
    } catch {
      if (pid === root) return NaN
    }
  }
  return ticks / CLOCK_TICKS
}

/** Busy and total jiffies of each CPU so far (`/proc/stat`); [] where there is none. */
export function cpuTimes() {
  try {
    return readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .filter((line) => /^cpu\d+ /.test(line))
      .map((line) => {
        const [user, nice, system, idle, iowait, irq, softirq, steal] = line
          .split(/\s+/)
          .slice(1)
          .map(Number)
        const busy = user + nice + system + irq + softirq + steal
        return { busy, total: busy + idle + iowait }
      })
  } catch {
    return []
  }
}

/** How busy each CPU was between two {@link cpuTimes}, in percent. */
export const busyPercent = (before, after) =>
  after.map((cpu, i) => (100 * (cpu.busy - before[i].busy)) / (cpu.total - before[i].total || 1))

/** The `q` quantile of the defined values of `xs` (nearest rank), or undefined. */
export function quantile(xs, q) {
  const sorted = xs.filter((x) => x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b)
  return sorted.length ? sorted[Math.round((sorted.length - 1) * q)] : undefined
}

/** The median of the defined values of `xs` (the mean of the middle two for an even count). */
export function median(xs) {
  const sorted = xs.filter((x) => x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b)
  if (sorted.length === 0) return undefined
  const mid = (sorted.length - 1) / 2
  return (sorted[Math.floor(mid)] + sorted[Math.ceil(mid)]) / 2
}
