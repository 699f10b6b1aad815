/**
 * The HA pair (issue 14, point 6): two fulcrums behind one virtual IP that keepalived (VRRP) moves,
 * with deploy/keepalived/'s configs and fulcrum's own `/healthz` as the track script.
 *
 * The test builds its own network and takes it down again: three network namespaces (`lb1`, the
 * primary; `lb2`, the backup; `client`), a bridge in the client's namespace with a veth to each
 * load balancer, and the subnet 10.203.0.0/24, which exists only inside them. Each load balancer's
 * namespace runs a backend that answers its name, fulcrum (`node dist/node.js`) in front of it on
 * :8080 with its admin listener on 127.0.0.1:9090, and keepalived with deploy/keepalived/'s config
 * (only the virtual IP filled in). The client calls http://10.203.0.100:8080/ in a loop.
 *
 * - The primary holds the address; the client is served by lb1.
 * - lb1's backend stops: its /healthz says 503, its priority drops below the backup's, and lb2
 *   takes the address; lb1 takes it back once its backend returns.
 * - fulcrum on lb1 is killed: keepalived's track script fails, lb1 goes to FAULT, and the client is
 *   served by lb2 again within 3 s. Failures count only inside that switchover window.
 *
 * It needs Linux, root, `ip` (iproute2), keepalived and curl (`apt-get install -y keepalived
 * iproute2 curl`; CI installs them); where namespaces cannot be created, it says so and skips.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fulcrumCommand, ROOT, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'

const SUBNET = '10.203.0'
const VIP = `${SUBNET}.100`
const SERVICE = `http://${VIP}:8080/`
const HEALTHZ = 'http://127.0.0.1:9090/healthz'
const TOKEN = 'ha-test-token-0123456789abcdef'
/** Namespaces are named after this process, so that a later run can tell a leftover from a peer. */
const PREFIX = 'fulcrum-ha-'
const NS = {
  lb1: `${PREFIX}${process.pid}-lb1`,
  lb2: `${PREFIX}${process.pid}-lb2`,
  client: `${PREFIX}${process.pid}-client`,
}
type Lb = 'lb1' | 'lb2'
const TEMPLATES = join(ROOT, 'deploy', 'keepalived')

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The path of a system tool (sbin included, where root's tools live), or undefined. */
function tool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin']
  return dirs
    .filter((dir) => dir.startsWith('/'))
    .map((dir) => join(dir, name))
    .find((path) => existsSync(path))
}

const IP = tool('ip')
const KEEPALIVED = tool('keepalived')
const CURL = tool('curl')

/** Run a command to completion: its standard output (and error, with `both`). */
function run(
  command: string,
  args: readonly string[],
  { allowFail = false, both = false } = {},
): string {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 })
  if (!allowFail && result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ?? ''}`
    throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${output.trim()}`)
  }
  return both ? `${result.stdout ?? ''}${result.stderr ?? ''}` : (result.stdout ?? '')
}
const ip = (...args: string[]) => run(IP!, args)

/** Why this machine cannot run the test, or undefined when it can. */
function cannotRun(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (!IP) return 'ip is absent (apt-get install -y iproute2)'
  if (!KEEPALIVED) return 'keepalived is absent (apt-get install -y keepalived)'
  if (!CURL) return 'curl is absent (apt-get install -y curl)'
  if (!existsSync(join(ROOT, 'dist', 'node.js'))) return 'dist/node.js is absent (npm run build)'
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root'
  // What the test does, on a namespace of its own: one that is deleted with what it holds.
  const probe = `${PREFIX}${process.pid}-probe`
  const steps = [
    ['netns', 'add', probe],
    ['-n', probe, 'link', 'add', 'br0', 'type', 'bridge'],
    ['-n', probe, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1'],
  ]
  try {
    for (const step of steps) {
      const result = spawnSync(IP, step, { encoding: 'utf8' })
      if (result.status !== 0) {
        const why = `${result.stderr ?? ''}${result.error ?? ''}`.trim()
        return `this machine cannot create network namespaces (ip ${step.join(' ')}: ${why})`
      }
    }
  } finally {
    spawnSync(IP, ['netns', 'del', probe])
  }
  return undefined
}
const SKIP = cannotRun()

// ---- the network: made and unmade by the test ----

/** Kill what still runs in a namespace of ours (by pid: only our processes are in there). */
function killInside(ns: string): void {
  const pids = run(IP!, ['netns', 'pids', ns], { allowFail: true }).split(/\s+/).filter(Boolean)
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL')
    } catch {
      // gone already
    }
  }
}

/** Remove the namespaces that runs which died left behind (their pid is gone), and ours. */
function removeNamespaces(ours: boolean): void {
  const names = run(IP!, ['netns', 'list'], { allowFail: true })
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter((name) => name.startsWith(PREFIX))
  for (const name of names) {
    const owner = Number(name.slice(PREFIX.length).split('-')[0])
    if (owner === process.pid ? !ours : alive(owner)) continue
    killInside(name)
    run(IP!, ['netns', 'del', name], { allowFail: true })
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** lb1 and lb2 on one bridge in the client's namespace; 10.203.0.1, .2 and .9 (the client). */
function createNetwork(): void {
  for (const ns of Object.values(NS)) {
    ip('netns', 'add', ns)
    ip('-n', ns, 'link', 'set', 'lo', 'up')
  }
  ip('-n', NS.client, 'link', 'add', 'br0', 'type', 'bridge')
  ip('-n', NS.client, 'link', 'set', 'br0', 'up')
  ip('-n', NS.client, 'addr', 'add', `${SUBNET}.9/24`, 'dev', 'br0')
  for (const [lb, host] of [
    ['lb1', 1],
    ['lb2', 2],
  ] as const) {
    ip('-n', NS.client, 'link', 'add', lb, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS[lb])
    ip('-n', NS.client, 'link', 'set', lb, 'master', 'br0')
    ip('-n', NS.client, 'link', 'set', lb, 'up')
    ip('-n', NS[lb], 'addr', 'add', `${SUBNET}.${host}/24`, 'dev', 'eth0')
    ip('-n', NS[lb], 'link', 'set', 'eth0', 'up')
  }
}

/** Whether a load balancer's eth0 holds the virtual IP. */
function holdsVip(lb: Lb): boolean {
  return ip('-n', NS[lb], '-4', '-o', 'addr', 'show', 'dev', 'eth0').includes(` ${VIP}/`)
}

/** What the track scripts' curl gets from fulcrum's /healthz in a namespace: `000` for nothing. */
function healthzStatus(lb: Lb): string {
  const curl = [CURL!, '-s', '--max-time', '1', '-o', '/dev/null', '-w', '%{http_code}', HEALTHZ]
  return run(IP!, ['netns', 'exec', NS[lb], ...curl], { allowFail: true }).trim()
}

// ---- processes inside the namespaces ----

/** A process in a namespace, with its output kept. */
interface Inside {
  readonly child: ChildProcess
  output(): string
  stop(signal?: NodeJS.Signals): Promise<void>
}

function startInside(ns: string, command: string, args: readonly string[]): Inside {
  // `ip netns exec` execs the command: the child's pid is the command's own.
  const child = spawn(IP!, ['netns', 'exec', ns, command, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return {
    child,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill(signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    },
  }
}

async function until(what: string, done: () => boolean, timeoutMs: number, logs = () => '') {
  const deadline = Date.now() + timeoutMs
  while (!done()) {
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms: ${what}\n${logs()}`)
    await sleep(50)
  }
}

/** A backend that answers its name, on 127.0.0.1:8081 in its load balancer's namespace. */
const BACKEND = `
import { createServer } from 'node:http'
const server = createServer((request, response) => response.end(process.argv[1]))
server.listen(8081, '127.0.0.1', () => console.log('backend listening'))
process.on('SIGTERM', () => process.exit(0))
`

/**
 * The client: one request after another on a fresh connection each time (as a new visitor would
 * come), 300 ms to connect (a connection attempt to an address nobody holds hangs) and 2 s to
 * answer, each printed as a JSON line with its start and end (the wall clock, shared with the
 * test).
 */
const CLIENT = `
import { request } from 'node:http'
const url = process.argv[1]
const once = () => new Promise((resolve) => {
  const start = Date.now()
  const done = (result) => resolve({ start, end: Date.now(), ...result })
  const req = request(url, { agent: false }, (res) => {
    let body = ''
    res.setEncoding('utf8')
    res.on('data', (chunk) => (body += chunk))
    res.on('end', () => { clearTimeout(total); done({ status: res.statusCode, body }) })
  })
  const connect = setTimeout(() => req.destroy(new Error('connect timeout')), 300)
  const total = setTimeout(() => req.destroy(new Error('timeout')), 2000)
  req.on('socket', (socket) => socket.once('connect', () => clearTimeout(connect)))
  req.on('error', (error) => {
    clearTimeout(connect)
    clearTimeout(total)
    done({ error: error.message })
  })
  req.end()
})
for (;;) {
  console.log(JSON.stringify(await once()))
  await new Promise((resolve) => setTimeout(resolve, 20))
}
`

/** One request of the client's. */
interface Sample {
  start: number
  end: number
  status?: number
  body?: string
  error?: string
}
const served = (s: Sample, by: Lb) => s.status === 200 && s.body === by

/** The keepalived config from deploy/keepalived/, with the test's virtual IP filled in. */
function keepalivedConfig(role: 'primary' | 'backup'): string {
  const template = readFileSync(join(TEMPLATES, `keepalived-${role}.conf`), 'utf8')
  const filled = template.replace(/^\$VIRTUAL_IP=.*$/m, `$VIRTUAL_IP=${VIP}/24`)
  expect(filled).not.toBe(template)
  return filled
}

if (SKIP) {
  console.warn(`HA pair with keepalived: skipped, ${SKIP}`)
  describe('HA pair with keepalived', () => {
    it.skip(`is skipped: ${SKIP}`, () => {})
  })
}

describe.skipIf(SKIP)('HA pair with keepalived (network namespaces, VRRP)', () => {
  let work: string
  const backends: Partial<Record<Lb, Inside>> = {}
  const fulcrums: Partial<Record<Lb, FulcrumProcess>> = {}
  const keepalived: Partial<Record<Lb, Inside>> = {}
  let client: Inside | undefined
  const samples: Sample[] = []
  let partial = ''

  const logs = () =>
    (['lb1', 'lb2'] as const)
      .map(
        (lb) =>
          `--- keepalived ${lb}:\n${keepalived[lb]?.output().split('\n').slice(-15).join('\n')}`,
      )
      .join('\n') + `\n--- client: ${JSON.stringify(samples.slice(-5))}`

  async function startBackend(lb: Lb): Promise<void> {
    const backend = startInside(NS[lb], process.execPath, [
      '--input-type=module',
      '-e',
      BACKEND,
      lb,
    ])
    backends[lb] = backend
    await until(`${lb}'s backend`, () => backend.output().includes('backend listening'), 10_000)
  }

  async function startLb(lb: Lb): Promise<void> {
    const config = join(work, `fulcrum-${lb}.json`)
    writeFileSync(
      config,
      JSON.stringify({
        backends: [{ url: 'http://127.0.0.1:8081', id: 'app' }],
        // Quick probes, so that a stopped backend shows in /healthz within a second.
        healthCheck: { interval: '500ms', timeout: '500ms', rise: 1, fall: 2 },
        admin: { token: TOKEN },
      }),
    )
    fulcrums[lb] = await startFulcrum(
      'node',
      ['--config', config, '--host', '0.0.0.0', '--port', '8080', '--admin-port', '9090'],
      {
        command: (args) => {
          const [node, nodeArgs] = fulcrumCommand('node', args)
          return [IP!, ['netns', 'exec', NS[lb], node, ...nodeArgs]]
        },
      },
    )
  }

  function startKeepalived(lb: Lb, role: 'primary' | 'backup'): void {
    const config = join(work, `keepalived-${lb}.conf`)
    writeFileSync(config, keepalivedConfig(role))
    const file = (name: string) => join(work, `keepalived-${lb}.${name}`)
    keepalived[lb] = startInside(NS[lb], KEEPALIVED!, [
      '--dont-fork',
      '--log-console',
      '--log-detail',
      '--no-syslog',
      '--vrrp',
      `--use-file=${config}`,
      `--pid=${file('pid')}`,
      `--vrrp_pid=${file('vrrp.pid')}`,
      `--checkers_pid=${file('checkers.pid')}`,
      `--bfd_pid=${file('bfd.pid')}`,
    ])
  }

  beforeAll(async () => {
    removeNamespaces(false)
    work = mkdtempSync(join(tmpdir(), 'fulcrum-ha-'))
    createNetwork()
    await Promise.all([startBackend('lb1'), startBackend('lb2')])
    await Promise.all([startLb('lb1'), startLb('lb2')])
    startKeepalived('lb1', 'primary')
    startKeepalived('lb2', 'backup')
    client = startInside(NS.client, process.execPath, [
      '--input-type=module',
      '-e',
      CLIENT,
      SERVICE,
    ])
    client.child.stdout!.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n')
      partial = lines.pop()!
      for (const line of lines) if (line.startsWith('{')) samples.push(JSON.parse(line))
    })
  })

  afterAll(async () => {
    // Everything goes, whatever failed: the client, keepalived (which drops the address), fulcrum
    // and the backends; then whatever still runs in our namespaces, and the namespaces.
    await Promise.allSettled([
      client?.stop(),
      keepalived.lb1?.stop(),
      keepalived.lb2?.stop(),
      fulcrums.lb1?.stop(),
      fulcrums.lb2?.stop(),
      backends.lb1?.stop(),
      backends.lb2?.stop(),
    ])
    removeNamespaces(true)
    if (work) rmSync(work, { recursive: true, force: true })
    expect(run(IP!, ['netns', 'list'], { allowFail: true })).not.toContain(
      `${PREFIX}${process.pid}-`,
    )
  })

  /** The client's first request served by `lb` that started after `since`. */
  const firstServed = (lb: Lb, since: number) =>
    samples.find((s) => s.start > since && served(s, lb))
  /** Wait for it, and say how long after `since` it was answered. */
  async function servedAgain(lb: Lb, since: number, timeoutMs: number): Promise<number> {
    await until(`${lb} to serve`, () => firstServed(lb, since) !== undefined, timeoutMs, logs)
    return firstServed(lb, since)!.end - since
  }

  /** Wait until the client has been served by `lb` for `ms` without a failure. */
  async function servedSteadily(lb: Lb, ms: number, timeoutMs: number): Promise<void> {
    await until(
      `the client served by ${lb} for ${ms} ms`,
      () => {
        const recent = samples.filter((s) => s.start >= Date.now() - ms)
        const first = samples.find((s) => served(s, lb))
        return (
          first !== undefined &&
          Date.now() - first.start >= ms &&
          recent.length > 0 &&
          recent.every((s) => served(s, lb))
        )
      },
      timeoutMs,
      logs,
    )
  }

  it('ships a primary and a backup config that differ only in state and priority', () => {
    const body = (role: string) =>
      readFileSync(join(TEMPLATES, `keepalived-${role}.conf`), 'utf8')
        .split('\n')
        .filter((line) => !line.startsWith('#') && !/^\$(STATE|PRIORITY)=/.test(line))
    expect(body('backup')).toEqual(body('primary'))
    for (const role of ['primary', 'backup'] as const) {
      const config = join(work, `check-${role}.conf`)
      writeFileSync(config, keepalivedConfig(role))
      // keepalived exits 0 even when it drops a script (an unknown user, say): read what it says.
      const said = run(
        IP!,
        ['netns', 'exec', NS.lb1, KEEPALIVED!, '--config-test', `--use-file=${config}`],
        { allowFail: true, both: true },
      )
      expect(said, role).not.toMatch(/error|unknown|not found|removing|invalid/i)
    }
  })

  it('the primary holds the virtual IP and the client is served through it', async () => {
    expect(healthzStatus('lb1')).toBe('200')
    expect(healthzStatus('lb2')).toBe('200')
    await until('lb1 to hold the virtual IP', () => holdsVip('lb1'), 15_000, logs)
    expect(holdsVip('lb2')).toBe(false)
    await servedSteadily('lb1', 1_000, 10_000)
  })

  it('hands over while the primary cannot serve (/healthz 503), and back once it can', async () => {
    const stoppedAt = Date.now()
    await backends.lb1!.stop()
    await until('lb1 /healthz to say 503', () => healthzStatus('lb1') === '503', 5_000)
    expect(healthzStatus('lb2')).toBe('200')
    // Its priority drops by 60 (150 → 90, below the backup's 100): the backup takes over once the
    // master-down timer runs out (3 × advert_int + skew, about 3.6 s), after 2 failed checks.
    const handedOver = await servedAgain('lb2', stoppedAt, 15_000)
    expect(holdsVip('lb2')).toBe(true)
    expect(holdsVip('lb1')).toBe(false)

    const restartedAt = Date.now()
    await startBackend('lb1')
    await until('lb1 /healthz to say 200', () => healthzStatus('lb1') === '200', 5_000)
    const tookBack = await servedAgain('lb1', restartedAt, 20_000)
    console.log(
      `backend stopped on the primary: lb2 served after ${handedOver} ms; ` +
        `backend back: lb1 served again after ${tookBack} ms`,
    )
    await servedSteadily('lb1', 1_000, 10_000)
    expect(holdsVip('lb2')).toBe(false)
  })

  it('killing fulcrum on the primary moves the virtual IP: served again within 3 s', async () => {
    await servedSteadily('lb1', 1_000, 15_000)
    const killedAt = Date.now()
    fulcrums.lb1!.child.kill('SIGKILL')
    await fulcrums.lb1!.exited

    // The switchover: from the kill to the answer of the first request, started after it, that
    // the backup served. Requests that started inside it may fail (that is the window); every
    // request before it (servedSteadily) and after it must not.
    const switchoverMs = await servedAgain('lb2', killedAt, 10_000)
    const recovered = firstServed('lb2', killedAt)!
    await sleep(2_000)
    const window = samples.filter((s) => s.start > killedAt && s.start < recovered.start)
    const after = samples.filter((s) => s.start >= recovered.start)
    const failed = window.filter((s) => !served(s, 'lb2'))
    const reasons = [...new Set(failed.map((s) => s.error ?? s.status))].join(', ')
    console.log(
      `fulcrum killed on the primary: served by lb2 after ${switchoverMs} ms; in that window ` +
        `${failed.length} of ${window.length} requests failed (${reasons}); after it, ` +
        `${after.filter((s) => !served(s, 'lb2')).length} of ${after.length} failed`,
    )
    expect(switchoverMs).toBeLessThan(3_000)
    expect(after.length).toBeGreaterThan(10)
    expect(after.filter((s) => !served(s, 'lb2'))).toEqual([])
    expect(holdsVip('lb2')).toBe(true)
    expect(holdsVip('lb1')).toBe(false)
    // Why: the track script failed, lb1 went to FAULT, and lb2 became master.
    expect(keepalived.lb1!.output()).toMatch(/VRRP_Script\(fulcrum_alive\) failed/)
    expect(keepalived.lb1!.output()).toMatch(/Entering FAULT STATE/)
    expect(keepalived.lb2!.output()).toContain('received priority 0')
    expect(healthzStatus('lb1')).toBe('000')
  })
})
