/**
 * Real TCP servers from Debian's packages for the layer-4 end-to-end tests (issue 13): PostgreSQL
 * (initdb into a temporary folder, run as the `postgres` user when the tests run as root, since
 * PostgreSQL refuses root) and Redis, on loopback and free ports; tiny raw-protocol clients for
 * both (PostgreSQL's v3 simple query, RESP); and fulcrum started with a config of TCP listeners
 * only, whose listeners' ports come from its `tcp listening` log lines.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect as connectTcp, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startFulcrum, type FulcrumProcess, type LogLine, type RuntimeName } from './fulcrum.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A port free on `host` now (another process may take it before it is used: rare). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Whether this machine can listen on `::1` (IPv6 loopback). */
export function hasIpv6Loopback(): Promise<boolean> {
  return freePort('::1').then(
    () => true,
    () => false,
  )
}

/** The path of `name` on PATH, or `undefined`. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name)
  }
  return undefined
}

/** One attempt of {@link connectionLoops}: when it began, and the server that answered. */
export interface Attempt {
  at: number
  ok: boolean
  port?: number
}

/**
 * `clients` loops, each opening one fresh connection after another through `serverPort` (which
 * answers the port of the server the connection reached), every attempt recorded, until `stop`.
 */
export function connectionLoops(
  serverPort: () => Promise<number>,
  clients = 2,
): { attempts: Attempt[]; stop(): Promise<void> } {
  const attempts: Attempt[] = []
  let stopped = false
  const loop = async () => {
    while (!stopped) {
      const at = Date.now()
      try {
        attempts.push({ at, ok: true, port: await serverPort() })
      } catch {
        attempts.push({ at, ok: false })
      }
    }
  }
  const loops = Array.from({ length: clients }, loop)
  return {
    attempts,
    async stop() {
      stopped = true
      await Promise.all(loops)
    },
  }
}

/** Wait until `ready()` resolves true, polling; throws with `what` after `timeoutMs`. */
export async function until(ready: () => Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await ready().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`)
    await sleep(100)
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/** The newest `/usr/lib/postgresql/<version>/bin` with initdb and postgres, or `undefined`. */
function postgresBinDir(): string | undefined {
  const base = '/usr/lib/postgresql'
  if (!existsSync(base)) return undefined
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a))
  return versions.length > 0 ? join(base, versions[0]!, 'bin') : undefined
}

/** The user ids PostgreSQL runs as: `postgres` when we are root, ourselves otherwise. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  const found = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' })
  const group = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' })
  if (found.status !== 0 || group.status !== 0) return undefined
  return { uid: Number(found.stdout.trim()), gid: Number(group.stdout.trim()) }
}

/**
 * Why the PostgreSQL tests cannot run here, or `undefined` when they can: the server
 * (`postgresql`), `pgbench` and `pg_isready` (`postgresql-client`) are needed, and as root a
 * `postgres` user to run the server as.
 */
export function postgresMissing(): string | undefined {
  const bin = postgresBinDir()
  if (!bin) return 'PostgreSQL is not installed (apt-get install postgresql)'
  for (const tool of ['pgbench', 'pg_isready']) {
    if (!which(tool) && !existsSync(join(bin, tool))) return `${tool} is not installed`
  }
  if (process.getuid?.() === 0 && !postgresUser()) return 'running as root without a postgres user'
  return undefined
}

/** The path of a PostgreSQL client program (the versioned one if the wrapper is missing). */
export function pgTool(name: string): string {
  return which(name) ?? join(postgresBinDir() ?? '/usr/bin', name)
}

/** A PostgreSQL server started by {@link startPostgres}. */
export interface PostgresInstance {
  readonly host: '127.0.0.1'
  readonly port: number
  /** `tcp://127.0.0.1:PORT` */
  readonly url: string
  readonly dir: string
  /** The postmaster's pid (changes on restart). */
  pid(): number
  /** Whether the postmaster runs (not killed, not stopped). */
  running(): boolean
  /** Kill the postmaster with SIGKILL (a crash): the port refuses from then on. */
  kill(): Promise<void>
  /** Start it again on the same port and folder, after a kill (crash recovery runs). */
  restart(): Promise<void>
  /** Stop it (fast shutdown) and remove its folder. */
  stop(): Promise<void>
  /** What the server printed (its log goes to stderr). */
  log(): string
}

/**
 * initdb into a temporary folder and start PostgreSQL on 127.0.0.1 with trust authentication,
 * its unix socket in that folder, and durability off (a test database).
 */
export async function startPostgres(): Promise<PostgresInstance> {
  const bin = postgresBinDir()
  if (!bin) throw new Error('PostgreSQL is not installed')
  const user = postgresUser()
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-pg-'))
  if (user) chownSync(dir, user.uid, user.gid)
  const data = join(dir, 'data')
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C' }
  const init = spawnSync(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { ...user, env, encoding: 'utf8', cwd: dir },
  )
  if (init.status !== 0) throw new Error(`initdb failed:\n${init.stdout}\n${init.stderr}`)
  const port = await freePort()
  let child: ChildProcess | undefined
  let exited: Promise<unknown> = Promise.resolve()
  let output = ''

  const launch = () => {
    output += `--- start on ${port}\n`
    const started = spawn(
      join(bin, 'postgres'),
      [
        ...['-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir],
        ...['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
        ...['-c', 'max_connections=60', '-c', 'shared_buffers=16MB'],
      ],
      { ...user, env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    started.stdout!.setEncoding('utf8').on('data', (c: string) => (output += c))
    started.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c))
    exited = new Promise((resolve) => started.once('exit', resolve))
    child = started
    return started
  }
  const ready = async () => {
    // A crashed instance may refuse to start while its orphaned backends still hold its shared
    // memory: try again for a while.
    for (let attempt = 0; ; attempt++) {
      const started = launch()
      const alive = () => started.exitCode === null && started.signalCode === null
      const deadline = Date.now() + 15_000
      while (alive() && Date.now() < deadline) {
        const up = await pgQuery(port, 'select 1').then(
          (one) => one === '1',
          () => false,
        )
        if (up) return
        await sleep(100)
      }
      if (alive()) {
        started.kill('SIGKILL')
        await exited
      }
      if (attempt >= 20) throw new Error(`PostgreSQL did not start on ${port}:\n${output}`)
      await sleep(250)
    }
  }
  await ready()

  const signal = async (name: NodeJS.Signals) => {
    const running = child
    if (running && running.exitCode === null && running.signalCode === null) {
      running.kill(name)
      await exited
    }
  }
  return {
    host: '127.0.0.1',
    port,
    url: `tcp://127.0.0.1:${port}`,
    dir,
    pid: () => child?.pid ?? 0,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    kill: () => signal('SIGKILL'),
    restart: ready,
    async stop() {
      await signal('SIGINT')
      rmSync(dir, { recursive: true, force: true })
    },
    log: () => output,
  }
}

/** One PostgreSQL connection over the v3 protocol (simple queries, trust authentication). */
export class PgSession {
  readonly #socket: Socket
  #buffer = Buffer.alloc(0)
  #rows: string[][] = []
  #error: string | undefined
  #waiter: { resolve: (rows: string[][]) => void; reject: (error: Error) => void } | undefined
  #closed: Error | undefined
  /** Start-up is over (the first ReadyForQuery came). */
  #sawReady = false

  private constructor(socket: Socket) {
    this.#socket = socket
    socket.on('data', (chunk: Buffer) => this.#read(chunk))
    socket.on('error', () => {})
    socket.on('close', () => {
      this.#closed = new Error('connection closed')
      this.#waiter?.reject(this.#closed)
      this.#waiter = undefined
    })
  }

  /** Connect and authenticate; rejects on a refused, reset or failed start-up (or 5 s). */
  static async connect(port: number, host = '127.0.0.1'): Promise<PgSession> {
    const socket = connectTcp({ host, port })
    const session = new PgSession(socket)
    const params = Buffer.from('user\0postgres\0database\0postgres\0\0', 'latin1')
    const startup = Buffer.alloc(8)
    startup.writeInt32BE(8 + params.length, 0)
    startup.writeInt32BE(196608, 4)
    socket.write(Buffer.concat([startup, params]))
    try {
      await session.#next()
    } catch (error) {
      socket.destroy()
      throw error
    }
    return session
  }

  /** Run `sql`; the rows, each column as text (`''` for NULL). */
  query(sql: string): Promise<string[][]> {
    const text = Buffer.from(`${sql}\0`, 'utf8')
    const head = Buffer.alloc(5)
    head.write('Q', 0, 'latin1')
    head.writeInt32BE(4 + text.length, 1)
    this.#socket.write(Buffer.concat([head, text]))
    return this.#next()
  }

  /** Say goodbye (Terminate) and close. */
  close(): void {
    this.#socket.end(Buffer.from([0x58, 0, 0, 0, 4]))
  }

  /** Resolves at the next ReadyForQuery with the rows since, or rejects on an error. */
  #next(): Promise<string[][]> {
    if (this.#closed) return Promise.reject(this.#closed)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined
        this.#socket.destroy()
        reject(new Error('PostgreSQL did not answer within 5 s'))
      }, 5000)
      this.#waiter = {
        resolve: (rows) => (clearTimeout(timer), resolve(rows)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      }
    })
  }

  #read(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk])
    while (this.#buffer.length >= 5) {
      const length = this.#buffer.readInt32BE(1)
      if (this.#buffer.length < 1 + length) return
      const type = String.fromCharCode(this.#buffer[0]!)
      const body = this.#buffer.subarray(5, 1 + length)
      this.#buffer = this.#buffer.subarray(1 + length)
      if (type === 'R' && body.readInt32BE(0) !== 0) {
        this.#error = `authentication ${body.readInt32BE(0)} asked: trust expected`
      } else if (type === 'D') {
        const row: string[] = []
        let at = 2
        for (let i = 0; i < body.readInt16BE(0); i++) {
          const size = body.readInt32BE(at)
          at += 4
          row.push(size < 0 ? '' : body.toString('utf8', at, at + size))
          at += Math.max(size, 0)
        }
        this.#rows.push(row)
      } else if (type === 'E') {
        const message = /M([^\0]*)/.exec(body.toString('utf8'))?.[1]
        this.#error = message ?? 'error'
        // An error during start-up is not followed by ReadyForQuery.
        if (!this.#sawReady) this.#settle()
      } else if (type === 'Z') {
        this.#sawReady = true
        this.#settle()
      }
    }
  }

  #settle(): void {
    const waiter = this.#waiter
    const rows = this.#rows
    const error = this.#error
    this.#waiter = undefined
    this.#rows = []
    this.#error = undefined
    if (!waiter) return
    if (error) waiter.reject(new Error(error))
    else waiter.resolve(rows)
  }
}

/** One fresh connection: run `sql`, close, return the first column of the first row. */
export async function pgQuery(port: number, sql: string, host = '127.0.0.1'): Promise<string> {
  const session = await PgSession.connect(port, host)
  try {
    return (await session.query(sql))[0]?.[0] ?? ''
  } finally {
    session.close()
  }
}

/** Options for {@link run}. */
export interface RunOptions {
  /** Then it is killed and `run` rejects. @default 60 s */
  timeoutMs?: number
  /** Aborting it interrupts the program (SIGINT); `run` resolves with what it printed. */
  signal?: AbortSignal
}

/** Run a program to completion; its output, exit code (null when killed) and run time. */
export function run(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const { timeoutMs = 60_000, signal } = options
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${command} ${args.join(' ')} timed out:\n${stdout}\n${stderr}`))
    }, timeoutMs)
    const interrupt = () => child.kill('SIGINT')
    signal?.addEventListener('abort', interrupt, { once: true })
    child.once('error', reject)
    child.once('exit', (code) => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', interrupt)
      resolve({ code, stdout, stderr, ms: Date.now() - started })
    })
  })
}

// ---------------------------------------------------------------------------------------------
// Redis

/** Why the Redis tests cannot run here, or `undefined` when they can. */
export function redisMissing(): string | undefined {
  for (const tool of ['redis-server', 'redis-benchmark']) {
    if (!which(tool)) return `${tool} is not installed (apt-get install redis-server)`
  }
  return undefined
}

/** A Redis server started by {@link startRedis}. */
export interface RedisInstance {
  readonly port: number
  /** `tcp://127.0.0.1:PORT` */
  readonly url: string
  /** SIGKILL (a crash): the port refuses from then on. */
  kill(): Promise<void>
  /** Whether the server runs (not killed, not stopped). */
  running(): boolean
  /** Start it again on the same port, after a kill. */
  restart(): Promise<void>
  stop(): Promise<void>
}

/** Start `redis-server` on 127.0.0.1 and a free port, without persistence. */
export async function startRedis(): Promise<RedisInstance> {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-redis-'))
  const port = await freePort()
  let child: ChildProcess | undefined
  let exited: Promise<unknown> = Promise.resolve()
  let output = ''
  const launch = async () => {
    const started = spawn(
      which('redis-server')!,
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''],
        ...['--appendonly', 'no', '--protected-mode', 'no', '--daemonize', 'no'],
        ...['--maxclients', '1000', '--loglevel', 'warning'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    started.stdout!.setEncoding('utf8').on('data', (c: string) => (output += c))
    started.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c))
    exited = new Promise((resolve) => started.once('exit', resolve))
    child = started
    try {
      await until(async () => (await redisCommand(port, ['PING'])) === 'PONG', `Redis on ${port}`)
    } catch (error) {
      started.kill('SIGKILL')
      throw new Error(`${(error as Error).message}\n${output}`)
    }
  }
  await launch()
  const signal = async (name: NodeJS.Signals) => {
    const running = child
    if (running && running.exitCode === null && running.signalCode === null) {
      running.kill(name)
      await exited
    }
  }
  return {
    port,
    url: `tcp://127.0.0.1:${port}`,
    kill: () => signal('SIGKILL'),
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    restart: launch,
    async stop() {
      await signal('SIGTERM')
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** A RESP reply: a simple string or bulk string as text, an integer, an array, or null. */
export type RedisReply = string | number | null | RedisReply[]

/** Parse one RESP reply at `at`; `undefined` when `text` ends inside it. */
function parseResp(text: string, at: number): { value: RedisReply; end: number } | undefined {
  const eol = text.indexOf('\r\n', at)
  if (eol === -1) return undefined
  const line = text.slice(at + 1, eol)
  switch (text[at]) {
    case '+':
      return { value: line, end: eol + 2 }
    case '-':
      throw new Error(line)
    case ':':
      return { value: Number(line), end: eol + 2 }
    case '$': {
      const size = Number(line)
      if (size < 0) return { value: null, end: eol + 2 }
      if (text.length < eol + 2 + size + 2) return undefined
      return { value: text.slice(eol + 2, eol + 2 + size), end: eol + 2 + size + 2 }
    }
    case '*': {
      const items: RedisReply[] = []
      let next = eol + 2
      for (let i = 0; i < Number(line); i++) {
        const item = parseResp(text, next)
        if (!item) return undefined
        items.push(item.value)
        next = item.end
      }
      return { value: items, end: next }
    }
    default:
      throw new Error(`Not RESP: ${JSON.stringify(text.slice(at, at + 40))}`)
  }
}

/**
 * One fresh connection: send `args` as one command, return its reply, close. Rejects on a
 * refused or reset connection, an error reply, or no reply within 5 s.
 */
export function redisCommand(port: number, args: readonly string[]): Promise<RedisReply> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host: '127.0.0.1', port })
    let text = ''
    const timer = setTimeout(() => fail(new Error('Redis did not answer within 5 s')), 5000)
    const fail = (error: Error) => {
      clearTimeout(timer)
      socket.destroy()
      reject(error)
    }
    socket.setEncoding('latin1')
    socket.on('error', fail)
    socket.on('close', () => fail(new Error('connection closed before the reply')))
    socket.on('data', (chunk: string) => {
      text += chunk
      let reply: ReturnType<typeof parseResp>
      try {
        reply = parseResp(text, 0)
      } catch (error) {
        return fail(error as Error)
      }
      if (!reply) return
      clearTimeout(timer)
      socket.removeAllListeners('close')
      socket.end()
      resolve(reply.value)
    })
    const command = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`
    socket.write(command)
  })
}

// ---------------------------------------------------------------------------------------------
// fulcrum with TCP listeners

/** A fulcrum started by {@link startTcpFulcrum}. */
export interface TcpFulcrum {
  readonly child: ChildProcess
  /** Each TCP listener's port, by name (from the `tcp listening` log lines). */
  readonly ports: ReadonlyMap<string, number>
  readonly adminUrl: string
  /** A call to the admin API with the token; the parsed JSON answer. */
  admin<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }>
  logs(): LogLine[]
  output(): string
  stop(): Promise<number | null>
}

/**
 * Run fulcrum on `runtime` (the real entry point, as test/helpers/fulcrum.ts runs it) with
 * `config` written to a file, and wait until its TCP listeners, admin listener and (when the
 * config has one) HTTP listener are up.
 */
export async function startTcpFulcrum(
  runtime: RuntimeName,
  config: Record<string, unknown>,
  timeoutMs = 30_000,
): Promise<TcpFulcrum> {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-tcp-config-'))
  const path = join(dir, 'fulcrum.json')
  writeFileSync(path, JSON.stringify(config, null, 2))
  const token = randomBytes(24).toString('base64url')
  let started: FulcrumProcess
  try {
    started = await startFulcrum(
      runtime,
      ['--config', path, '--admin-port', '0', '--admin-token', token],
      {
        exactArgs: true,
        timeoutMs,
        ready: (l) => l.msg === 'listening' || l.msg.startsWith('serving tcp only'),
      },
    )
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  const { child, logs } = started
  const lines = logs()
  const ports = new Map<string, number>()
  for (const line of lines) {
    if (line.msg === 'tcp listening') ports.set(line.listener as string, line.port as number)
  }
  const adminPort = lines.find((l) => l.msg === 'admin listening')?.port as number
  const adminUrl = `http://127.0.0.1:${adminPort}`
  return {
    child,
    ports,
    adminUrl,
    async admin<T>(method: string, path: string, body?: unknown) {
      const response = await fetch(`${adminUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      const text = await response.text()
      let parsed: unknown = text
      try {
        parsed = JSON.parse(text)
      } catch {
        // not JSON: the text
      }
      return { status: response.status, body: parsed as T }
    },
    logs,
    output: () => started.stdout() + started.stderr(),
    async stop() {
      const code = await started.stop()
      rmSync(dir, { recursive: true, force: true })
      return code
    },
  }
}
