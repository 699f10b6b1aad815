/** Active health probes: HTTP GET of a path, a bare TCP connect, or a program run. */
import {
  ExecDeniedError,
  type Backend,
  type Logger,
  type RuntimeDeps,
  type UpstreamFetch,
} from '../types.ts'

/**
 * Checks one backend once. Resolves when healthy (with what the check printed, if it prints);
 * rejects with the reason when not (a {@link ProbeFailure} carries the output too).
 */
export interface HealthProbe {
  check(backend: Backend, signal: AbortSignal): Promise<void | ProbeReport>
}

/** What a probe tells besides healthy or not. */
export interface ProbeReport {
  /** What the check printed, bounded: an `exec` check's output, for `/explain` and the log. */
  readonly output?: string
}

/** A failed probe: the message is the reason; `output` is what the check printed, if anything. */
export class ProbeFailure extends Error {
  override readonly name = 'ProbeFailure'
  readonly output?: string

  constructor(reason: string, output?: string) {
    super(reason)
    if (output !== undefined) this.output = output
  }
}

/** Options for {@link httpProbe}. */
export interface HttpProbeOptions {
  /** @default '/health' */
  path: string
  /** The inclusive range of statuses that count as healthy. @default 200-399 */
  expectStatus: { low: number; high: number }
  /** Sees each response's headers, healthy or not (for load reports). */
  onResponse?: (backend: Backend, response: Response) => void
}

/**
 * `GET path` on the backend; healthy when the status is in range. The body is discarded.
 *
 * @example
 * ```ts
 * const probe = httpProbe(fetch, { path: '/health', expectStatus: { low: 200, high: 399 } })
 * await probe.check(backend, AbortSignal.timeout(2000))
 * ```
 */
export function httpProbe(fetch: UpstreamFetch, options: HttpProbeOptions): HealthProbe {
  const { path, expectStatus, onResponse } = options
  return {
    async check(backend, signal) {
      const response = await fetch(backend.url + path, {
        method: 'GET',
        headers: new Headers({ 'user-agent': 'fulcrum-health-check', accept: '*/*' }),
        signal,
        redirect: 'manual',
      })
      await response.body?.cancel().catch(() => {})
      onResponse?.(backend, response)
      if (response.status < expectStatus.low || response.status > expectStatus.high) {
        throw new Error(
          `Status ${response.status}, expected ${expectStatus.low}-${expectStatus.high}`,
        )
      }
    },
  }
}

/** Opens a connection and closes it, as `RuntimeDeps.tcpConnect` does. */
export type TcpConnect = (host: string, port: number, signal: AbortSignal) => Promise<void>

/** Healthy when a TCP connection to the backend's host and port opens (HAProxy `check` with no `option httpchk`). */
export function tcpProbe(connect: TcpConnect): HealthProbe {
  return {
    check(backend, signal) {
      const url = new URL(backend.url)
      const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
      return connect(url.hostname.replace(/^\[|\]$/g, ''), port, signal)
    },
  }
}

/** `RuntimeDeps.exec`: runs a program. */
export type Exec = NonNullable<RuntimeDeps['exec']>

/** Options for {@link execProbe}. */
export interface ExecProbeOptions {
  /** The program and its arguments; `{host}` and `{port}` are filled in with the backend's. */
  command: readonly string[]
  /** Milliseconds the program may run before it is killed. */
  timeout: number
  /** Bytes of output kept (the last ones). @default 4096 */
  maxOutput?: number
  /** Where the one error about a runtime that may not run programs goes. */
  logger?: Logger
}

/** Bytes of a check's output kept by default. */
export const EXEC_OUTPUT_LIMIT = 4096

/** Characters of output quoted in a failure's reason: its last lines. */
const REASON_OUTPUT = 200

/**
 * Runs a program per backend, without a shell, as HAProxy's `external-check` and Consul's script
 * checks do: exit status 0 is healthy; another status, a signal or the timeout is not, with a
 * reason that gives the status and the last lines of output. The output, bounded, is kept for
 * `/explain` and the log either way.
 *
 * `{host}` is the backend's host, an IPv6 address without brackets; `{port}` its port (80 or
 * 443 by default for `http:` and `https:`).
 *
 * When the runtime's permissions forbid running programs, every check fails with the runtime's
 * message (which names the missing permission), logged once at error.
 *
 * @example
 * ```ts
 * const command = ['pg_isready', '-q', '-h', '{host}', '-p', '{port}']
 * const probe = execProbe(deps.exec, { command, timeout: 1000 })
 * await probe.check(backend, signal) // rejects with 'Exit status 2: …' when the server is down
 * ```
 */
export function execProbe(exec: Exec | undefined, options: ExecProbeOptions): HealthProbe {
  const { command, timeout, logger } = options
  const maxOutput = options.maxOutput ?? EXEC_OUTPUT_LIMIT
  let told = false
  const refuse = (reason: string): never => {
    if (!told) {
      told = true
      logger?.error('exec health checks cannot run programs: every check fails', {
        command: command[0],
        reason,
      })
    }
    throw new ProbeFailure(reason)
  }
  return {
    async check(backend, signal) {
      if (!exec) return refuse('This runtime cannot run programs')
      const argv = fillPlaceholders(command, backend.url)
      let result
      try {
        result = await exec(argv, { timeout, signal, maxOutput })
      } catch (error) {
        if (error instanceof ExecDeniedError) return refuse(error.message)
        throw new ProbeFailure(`Cannot run ${argv[0]}: ${(error as Error)?.message ?? error}`)
      }
      const output = (result.truncated ? '…' : '') + result.output.trimEnd()
      if (result.code === 0 && !result.timedOut) return output ? { output } : {}
      const status =
        result.timedOut || signal.aborted
          ? `Timed out after ${timeout} ms (killed)`
          : result.code !== null
            ? `Exit status ${result.code}`
            : `Killed by ${result.signal ?? 'a signal'}`
      const last = lastLines(result.output)
      throw new ProbeFailure(last ? `${status}: ${last}` : status, output || undefined)
    },
  }
}

/**
 * `command` with `{host}` and `{port}` replaced, in every argument, by the backend's.
 *
 * @example
 * ```ts
 * fillPlaceholders(['nc', '-z', '{host}', '{port}'], 'tcp://[::1]:5432') // nc -z ::1 5432
 * ```
 */
export function fillPlaceholders(command: readonly string[], backendUrl: string): string[] {
  const url = new URL(backendUrl)
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const port = url.port || (url.protocol === 'https:' ? '443' : '80')
  return command.map((arg) => arg.replaceAll('{host}', host).replaceAll('{port}', port))
}

/** The last non-empty lines of `output` (3 at most, {@link REASON_OUTPUT} characters), joined. */
function lastLines(output: string): string {
  const lines = output
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean)
  let text = lines.pop() ?? ''
  if (text.length > REASON_OUTPUT) return '…' + text.slice(-(REASON_OUTPUT - 1))
  for (let n = 1, line = lines.pop(); n < 3 && line !== undefined; n++, line = lines.pop()) {
    if (text.length + line.length + 3 > REASON_OUTPUT) break
    text = `${line} | ${text}`
  }
  return text
}
