/**
 * A real etcd cluster (Debian's `etcd-server`, v3.4) for end-to-end tests: three members on
 * loopback with free ports and their data in a temporary directory (on tmpfs when there is one,
 * so that fsync costs nothing), started and stopped by the test. One member can be killed and
 * started again with its data, and so can the whole cluster.
 *
 * @example
 * ```ts
 * const etcd = await startEtcdCluster()
 * await etcd.kill(etcd.leader())      // the two others elect a new leader
 * await etcd.restart(0)
 * await etcd.close()
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The `etcd` binary on PATH, or `undefined` when it is not installed. */
export const ETCD_BIN = (process.env.PATH ?? '')
  .split(':')
  .map((dir) => join(dir, 'etcd'))
  .find((path) => existsSync(path))

/** Ports free on 127.0.0.1 now, all held at once so that none is given twice. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer()
          server.once('error', reject)
          server.listen(0, '127.0.0.1', () => resolve(server))
        }),
    ),
  )
  const ports = servers.map((server) => (server.address() as AddressInfo).port)
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
  return ports
}

/** One member of the cluster. */
export interface EtcdMember {
  readonly name: string
  /** `http://127.0.0.1:PORT`: the client URL, which serves the v3 JSON gateway. */
  readonly clientUrl: string
  readonly peerUrl: string
  readonly dataDir: string
  /** Whether its process runs. */
  readonly running: boolean
  /** Its last lines of output (for a failure's message). */
  output(): string
}

class Member implements EtcdMember {
  #child: ChildProcess | undefined
  #exited: Promise<unknown> = Promise.resolve()
  #output = ''

  constructor(
    readonly name: string,
    readonly clientUrl: string,
    readonly peerUrl: string,
    readonly dataDir: string,
    readonly initialCluster: string,
  ) {}

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && !this.#child.signalCode
  }

  output(): string {
    return this.#output.slice(-4000)
  }

  /** Start the process (with its data dir, if it has one already). */
  spawn(): void {
    if (this.running) return
    const child = spawn(
      ETCD_BIN!,
      [
        ...['--name', this.name, '--data-dir', this.dataDir],
        ...['--listen-client-urls', this.clientUrl, '--advertise-client-urls', this.clientUrl],
        ...['--listen-peer-urls', this.peerUrl, '--initial-advertise-peer-urls', this.peerUrl],
        ...['--initial-cluster', this.initialCluster, '--initial-cluster-state', 'new'],
        ...['--initial-cluster-token', `fulcrum-test-${process.pid}`],
        // A leader lost is replaced within about half a second (defaults: 100 ms, 1 s).
        ...['--heartbeat-interval', '50', '--election-timeout', '500'],
        ...['--logger', 'zap', '--log-outputs', 'stderr', '--log-level', 'warn'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-16_000)
    }
    child.stdout!.on('data', keep)
    child.stderr!.on('data', keep)
    this.#child = child
    this.#exited = new Promise((resolve) => child.once('exit', resolve))
  }

  /** Whether it answers `/health` with a leader known. */
  async healthy(): Promise<boolean> {
    try {
      const response = await fetch(`${this.clientUrl}/health`, {
        signal: AbortSignal.timeout(1000),
      })
      const body = (await response.json()) as { health?: string }
      return body.health === 'true'
    } catch {
      return false
    }
  }

  /** Wait until it is healthy. */
  async ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!(await this.healthy())) {
      if (!this.running) {
        throw new Error(`etcd member ${this.name} exited:\n${this.output()}`)
      }
      if (Date.now() > deadline) {
        throw new Error(
          `etcd member ${this.name} not healthy in ${timeoutMs} ms:\n${this.output()}`,
        )
      }
      await sleep(50)
    }
  }

  /** Kill the process (SIGKILL: a crash) and wait for it to exit. */
  async kill(): Promise<void> {
    // A frozen one would never exit on SIGTERM; SIGKILL works on a stopped process too.
    if (this.running) this.#child!.kill('SIGKILL')
    await this.#exited
  }

  /** Send a signal without waiting (SIGSTOP: a hung member, whose sockets stay open). */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.#child!.kill(signal)
  }

  /** Its member id and the leader's, from `/v3/maintenance/status`. */
  async status(): Promise<{ id: string; leader: string }> {
    const response = await fetch(`${this.clientUrl}/v3/maintenance/status`, {
      method: 'POST',
      body: '{}',
      signal: AbortSignal.timeout(1000),
    })
    const body = (await response.json()) as { header: { member_id: string }; leader: string }
    return { id: body.header.member_id, leader: body.leader }
  }
}

/** A running cluster. */
export interface EtcdCluster {
  readonly members: readonly EtcdMember[]
  /** Every member's client URL: what fulcrum's `cluster.etcd` lists. */
  readonly endpoints: string[]
  /** The index of the current leader (asked of a running member). */
  leader(): Promise<number>
  /** Kill member `index` (SIGKILL). */
  kill(index: number): Promise<void>
  /** Start member `index` again, with its data, and wait until it is healthy. */
  restart(index: number): Promise<void>
  /** Freeze member `index` (SIGSTOP): it neither answers nor closes its connections. */
  freeze(index: number): void
  /** Let a frozen member `index` run again (SIGCONT), and wait until it is healthy. */
  thaw(index: number): Promise<void>
  /** Kill every member. */
  stopAll(): Promise<void>
  /** Start every member that is not running, with its data, and wait until all are healthy. */
  startAll(): Promise<void>
  /** Kill every member and remove the data. */
  close(): Promise<void>
}

/** Options for {@link startEtcdCluster}. */
export interface EtcdClusterOptions {
  /** @default 3 */
  size?: number
  /** How long to wait for a healthy cluster. @default 20 s */
  timeoutMs?: number
}

/** Start a cluster of `size` members on 127.0.0.1 and wait until every member is healthy. */
export async function startEtcdCluster(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  if (!ETCD_BIN) throw new Error('etcd is not installed (apt-get install etcd-server)')
  const size = options.size ?? 3
  const timeoutMs = options.timeoutMs ?? 20_000
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir()
  const dir = mkdtempSync(join(base, 'fulcrum-etcd-'))
  const ports = await freePorts(size * 2)
  const names = Array.from({ length: size }, (_, i) => `m${i}`)
  const peerUrls = names.map((_, i) => `http://127.0.0.1:${ports[size + i]}`)
  const initialCluster = names.map((name, i) => `${name}=${peerUrls[i]}`).join(',')
  const members = names.map(
    (name, i) =>
      new Member(
        name,
        `http://127.0.0.1:${ports[i]}`,
        peerUrls[i]!,
        join(dir, name),
        initialCluster,
      ),
  )
  const startAll = async () => {
    for (const member of members) member.spawn()
    await Promise.all(members.map((member) => member.ready(timeoutMs)))
  }
  try {
    await startAll()
  } catch (error) {
    await Promise.all(members.map((member) => member.kill()))
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  return {
    members,
    endpoints: members.map((member) => member.clientUrl),
    async leader() {
      for (const member of members) {
        if (!member.running) continue
        const status = await member.status().catch(() => undefined)
        if (!status || status.leader === '0') continue
        for (const [i, other] of members.entries()) {
          if (!other.running) continue
          const id = await other
            .status()
            .then((s) => s.id)
            .catch(() => undefined)
          if (id === status.leader) return i
        }
      }
      throw new Error('etcd: no leader')
    },
    kill: (index) => members[index]!.kill(),
    async restart(index) {
      members[index]!.spawn()
      await members[index]!.ready(timeoutMs)
    },
    freeze: (index) => members[index]!.signal('SIGSTOP'),
    async thaw(index) {
      members[index]!.signal('SIGCONT')
      await members[index]!.ready(timeoutMs)
    },
    stopAll: async () => {
      await Promise.all(members.map((member) => member.kill()))
    },
    startAll,
    async close() {
      await Promise.all(members.map((member) => member.kill()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
