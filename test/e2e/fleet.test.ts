/**
 * Fleet mode over etcd (issue 14, "Done when"): a real three-member etcd cluster
 * (test/helpers/etcd.ts), and three fulcrum instances sharing it, one per runtime (Node's
 * dist/node.js, Deno with deno.json's task flags, Bun), each with its own admin port and token,
 * in front of real HTTP backends on loopback. A (Node) gets its fleet from the config file's
 * `cluster` section, B (Deno) and C (Bun) from `--etcd`, `--cluster-name` and `--cluster-prefix`.
 * The config has `sticky: {}`: no secret, so the fleet keeps the signing key in etcd.
 *
 * The cases run in order and share the fleet:
 * - GET /cluster on each lists the three members, with their runtimes;
 * - a cookie issued by any instance pins on the two others;
 * - a backend registered through A answers on B and C within 1 s;
 * - a hung etcd member (SIGSTOP, each in turn) changes nothing: writes work, and every instance
 *   converges;
 * - a TTL registration (2 s) with no heartbeat goes from all three, while one registered on A
 *   and renewed only through C stays for several TTLs;
 * - A, killed and started again with the same config, still has both registrations;
 * - 60 concurrent read-modify-write changes over the three (If-Match, retry on 412) lose none;
 * - killing the etcd leader changes nothing: writes work, and converge;
 * - with all of etcd stopped, all three serve and answer admin writes 503 naming etcd, then
 *   converge once etcd is back.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackend, type TestBackend } from '../helpers/backends.ts'
import { ETCD_BIN, startEtcdCluster, type EtcdCluster } from '../helpers/etcd.ts'
import { RUNTIMES, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const PREFIX = '/fulcrum/e2e'
const NAMES = ['lb-node', 'lb-deno', 'lb-bun']
const LABELS = ['A (node)', 'B (deno)', 'C (bun)']
/** Each instance's own admin token. */
const TOKENS = NAMES.map((name) => `token-of-${name}-0123456789`)

/** Poll `check` every `every` ms until it holds; the ms it took, or a throw after `timeoutMs`. */
async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  every = 20,
): Promise<number> {
  const started = performance.now()
  for (;;) {
    if (await check()) return performance.now() - started
    if (performance.now() - started > timeoutMs)
      throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(every)
  }
}

if (!ETCD_BIN) {
  it.skip('fleet over etcd: skipped, etcd is not installed (apt-get install etcd-server)', () => {})
} else {
  describe('a fleet of three fulcrums, one per runtime, on a three-member etcd', () => {
    let dir: string
    let etcd: EtcdCluster
    let backends: TestBackend[] = []
    let extra: Record<string, TestBackend> = {}
    const fleet: FulcrumProcess[] = []
    const report: string[] = []
    let argsOf: (i: number) => string[]

    /** An admin request to instance `i`. */
    const admin = (i: number, path: string, init: RequestInit = {}) =>
      fetch(`${fleet[i]!.adminUrl}${path}`, {
        ...init,
        headers: {
          authorization: `Bearer ${TOKENS[i]}`,
          ...(init.body ? { 'content-type': 'application/json' } : {}),
          ...init.headers,
        },
      })
    const adminJson = async (i: number, path: string, init: RequestInit = {}) => {
      const response = await admin(i, path, init)
      return {
        status: response.status,
        etag: response.headers.get('etag'),
        body: await response.json(),
      }
    }
    /** Which backend answered a public request to instance `i`, or its status when not 200. */
    const pick = async (i: number, headers: Record<string, string> = {}) => {
      const response = await fetch(`${fleet[i]!.url}/`, { headers })
      const body = await response.text()
      return { status: response.status, body, setCookie: response.headers.get('set-cookie') }
    }
    /** Whether instance `i` knows backend `id` (its admin API). */
    const knows = async (i: number, id: string) => {
      const response = await admin(i, `/backends/${id}`)
      await response.arrayBuffer()
      return response.status === 200
    }
    /** Whether a few public requests to instance `i` reach backend `name`. */
    const answersFrom = async (i: number, name: string, tries: number) => {
      for (let n = 0; n < tries; n++) if ((await pick(i)).body === name) return true
      return false
    }

    const start = async (i: number) => {
      const f = (fleet[i] = await startFulcrum(RUNTIMES[i]!, argsOf(i)))
      // The listener opens before the fleet's state is read: wait for the mirror.
      await f.waitForLog((l) => l.msg === 'joined the fleet', 20_000)
    }

    beforeAll(async () => {
      const started = performance.now()
      dir = mkdtempSync(join(tmpdir(), 'fulcrum-fleet-'))
      ;[etcd, backends] = await Promise.all([
        startEtcdCluster(),
        Promise.all(['b1', 'b2'].map((name) => startBackend(name))),
      ])
      const etcdReady = performance.now() - started
      extra = Object.fromEntries(
        await Promise.all(
          ['b3', 'b4', 'b5', 'b6'].map(async (name) => [name, await startBackend(name)] as const),
        ),
      )
      const shared = {
        backends: backends.map((b) => ({ id: b.name, url: b.url })),
        sticky: {},
      }
      const common = join(dir, 'common.json')
      writeFileSync(common, JSON.stringify(shared))
      const withCluster = join(dir, 'node.json')
      writeFileSync(
        withCluster,
        JSON.stringify({
          ...shared,
          cluster: { etcd: etcd.endpoints, prefix: PREFIX, name: NAMES[0], memberTtl: '3s' },
        }),
      )
      argsOf = (i) =>
        i === 0
          ? ['--config', withCluster, '--admin-token', TOKENS[0]!]
          : [
              ...['--config', common, '--admin-token', TOKENS[i]!],
              ...['--etcd', etcd.endpoints.join(','), '--cluster-name', NAMES[i]!],
              ...['--cluster-prefix', PREFIX],
            ]
      await Promise.all(RUNTIMES.map((_, i) => start(i)))
      report.push(
        `etcd healthy in ${Math.round(etcdReady)} ms; fleet joined in ` +
          `${Math.round(performance.now() - started)} ms`,
      )
    })

    afterAll(async () => {
      await Promise.all(fleet.map((f) => f?.stop()))
      await etcd?.close()
      await Promise.all([...backends, ...Object.values(extra)].map((b) => b.close()))
      if (dir) rmSync(dir, { recursive: true, force: true })
      console.log(`fleet figures:\n${report.join('\n')}`)
    })

    it('GET /cluster on any instance lists the three members with their runtimes', async () => {
      const expected = NAMES.map((name, i) => ({ name, runtime: RUNTIMES[i] })).sort((a, b) =>
        a.name < b.name ? -1 : 1,
      )
      for (const i of [0, 1, 2]) {
        let last: unknown
        await until(
          `${LABELS[i]} lists three members`,
          async () => {
            const { status, body } = await adminJson(i, '/cluster')
            last = body
            return status === 200 && body.members.length === 3
          },
          5000,
          50,
        ).catch((error: Error) => {
          throw new Error(`${error.message}: ${JSON.stringify(last)}`)
        })
        const { body } = await adminJson(i, '/cluster')
        expect(body).toMatchObject({ name: NAMES[i], connected: true })
        expect(body.revision).toBeGreaterThan(0)
        expect(
          body.members.map((m: { name: string; runtime: string }) => ({
            name: m.name,
            runtime: m.runtime,
          })),
        ).toEqual(expected)
        for (const member of body.members) {
          expect(member.version).toMatch(/^\d+\.\d+\.\d+/)
          expect(Number.isNaN(Date.parse(member.startedAt))).toBe(false)
          expect(typeof member.revision).toBe('number')
        }
      }
    })

    it('sticky across the fleet: a cookie issued by one instance pins on the two others', async () => {
      for (const issuer of [0, 1, 2]) {
        const first = await pick(issuer)
        expect(first.status).toBe(200)
        expect(first.setCookie).toMatch(/^lb_sid=/)
        const cookie = first.setCookie!.split(';')[0]!
        for (const other of [0, 1, 2].filter((i) => i !== issuer)) {
          const answers = await Promise.all(
            Array.from({ length: 6 }, () => pick(other, { cookie })),
          )
          expect(
            answers.map((a) => a.body),
            `cookie of ${LABELS[issuer]} on ${LABELS[other]}`,
          ).toEqual(Array(6).fill(first.body))
        }
      }
      // Without the cookie, the picks vary: the pinning above is the cookie's doing.
      const free = await Promise.all(Array.from({ length: 6 }, () => pick(1)))
      expect(new Set(free.map((a) => a.body))).toEqual(new Set(['b1', 'b2']))
    })

    it('a backend registered through A takes traffic on B and C within 1 s', async () => {
      const b3 = extra.b3!
      const started = performance.now()
      const response = await adminJson(0, '/backends', {
        method: 'POST',
        body: JSON.stringify({ id: 'b3', url: b3.url }),
      })
      const registered = performance.now() - started
      expect(response.status).toBe(201)
      expect(response.etag).toMatch(/^"r\d+"$/)
      const seen = await Promise.all(
        [1, 2].map(async (i) => {
          await until(`${LABELS[i]} sends to b3`, () => answersFrom(i, 'b3', 3), 3000, 5)
          return performance.now() - started
        }),
      )
      report.push(
        `register on A: answered in ${Math.round(registered)} ms; b3 answered on B after ` +
          `${Math.round(seen[0]!)} ms, on C after ${Math.round(seen[1]!)} ms (from the POST)`,
      )
      for (const ms of seen) expect(ms).toBeLessThan(1000)
      expect(b3.requests.length).toBeGreaterThan(0)
    })

    /**
     * Set backend `id`'s weight through instance `i`; all three must have it within
     * `convergeMs` of the answer.
     */
    const writeThrough = async (i: number, id: string, weight: number, convergeMs: number) => {
      const started = performance.now()
      const write = await adminJson(i, `/backends/${id}`, {
        method: 'PATCH',
        body: JSON.stringify({ weight }),
      })
      expect(write.status, JSON.stringify(write.body)).toBe(200)
      const wrote = performance.now() - started
      const seen = await until(
        `${id} weight ${weight} on all three`,
        async () =>
          (await Promise.all([0, 1, 2].map((j) => adminJson(j, `/backends/${id}`)))).every(
            (r) => r.body.weight === weight,
          ),
        convergeMs,
        10,
      )
      return { wrote, seen }
    }
    /** A write through each instance at once, each to its own backend (b1, b2, b3). */
    const writeThroughEach = (base: number, convergeMs: number) =>
      Promise.all(['b1', 'b2', 'b3'].map((id, i) => writeThrough(i, id, base + i, convergeMs)))
    const describeWrites = (timings: { wrote: number; seen: number }[], first = 0) =>
      timings
        .map(
          (t, i) =>
            `${LABELS[first + i]} wrote in ${Math.round(t.wrote)} ms, all three saw it ` +
            `${Math.round(t.seen)} ms later`,
        )
        .join('; ')

    it('a hung etcd member (SIGSTOP) changes nothing: writes work, every instance converges', async () => {
      // Each instance watches through one member: freeze each in turn, so that every watch meets
      // a hung member once. One instance writes each time: the two others only learn of it
      // through their watch. A hung member holds a request until the client's 2 s timeout; a
      // watch through it is dropped once its /health stops answering (probed every 1 s).
      for (const member of [0, 1, 2]) {
        etcd.freeze(member)
        try {
          const timing = await writeThrough(member, 'b2', 20 + member, 3500)
          expect(timing.wrote).toBeLessThan(5000)
          report.push(`etcd member m${member} frozen: ${describeWrites([timing], member)}`)
        } finally {
          await etcd.thaw(member)
        }
      }
    })

    /** Register `id` (one of `extra`) through A with a TTL of 2 s. */
    const registerWithTtl = async (id: string) => {
      const response = await adminJson(0, '/backends', {
        method: 'POST',
        body: JSON.stringify({ id, url: extra[id]!.url, ttl: '2s' }),
      })
      expect(response.status, JSON.stringify(response.body)).toBe(201)
      await until(
        `${id} on all three`,
        async () => (await Promise.all([0, 1, 2].map((i) => knows(i, id)))).every(Boolean),
        1000,
      )
    }
    /** Wait until no instance knows backend `id`; the ms it took. */
    const goneFromAll = (id: string) =>
      until(
        `${id} gone from all three`,
        async () => (await Promise.all([0, 1, 2].map((i) => knows(i, id)))).every((k) => !k),
        6000,
        50,
      )

    it('a TTL registration (2 s) with no heartbeat disappears from all three', async () => {
      const started = performance.now()
      await registerWithTtl('b4')
      expect(await answersFrom(1, 'b4', 8)).toBe(true)
      await goneFromAll('b4')
      const gone = performance.now() - started
      report.push(`TTL 2 s, no heartbeat: gone from all three ${Math.round(gone)} ms after`)
      expect(gone).toBeGreaterThanOrEqual(1500)
      // And it takes no traffic anywhere.
      for (const i of [0, 1, 2]) expect(await answersFrom(i, 'b4', 8)).toBe(false)
    })

    /** Heartbeats for b5, every 600 ms, sent only to C; running from the test below on. */
    const heartbeats = { on: false, statuses: [] as number[], done: Promise.resolve() }

    it('heartbeats sent only to C keep alive a registration made on A', async () => {
      await registerWithTtl('b5')
      const registeredAt = performance.now()
      heartbeats.on = true
      heartbeats.done = (async () => {
        while (heartbeats.on) {
          const response = await admin(2, '/backends/b5/heartbeat', { method: 'POST' })
          heartbeats.statuses.push(response.status)
          await response.arrayBuffer()
          await sleep(600)
        }
      })()
      // Three TTLs and more.
      while (performance.now() - registeredAt < 6500) {
        for (const i of [0, 1, 2]) expect(await knows(i, 'b5'), `${LABELS[i]} knows b5`).toBe(true)
        await sleep(500)
      }
      for (const i of [0, 1, 2]) expect(await answersFrom(i, 'b5', 8)).toBe(true)
      expect(heartbeats.statuses.length).toBeGreaterThanOrEqual(9)
      expect(new Set(heartbeats.statuses)).toEqual(new Set([200]))
    })

    it('A keeps the registrations after a restart (SIGKILL, then the same command line)', async () => {
      try {
        const killedAt = performance.now()
        await fleet[0]!.stop('SIGKILL')
        await start(0)
        const back = performance.now() - killedAt
        for (const id of ['b3', 'b5']) {
          const { status, body } = await adminJson(0, `/backends/${id}`)
          expect(status, `A knows ${id} after its restart`).toBe(200)
          expect(body.url).toBe(extra[id]!.url)
        }
        expect(await answersFrom(0, 'b3', 8)).toBe(true)
        expect(await answersFrom(0, 'b5', 8)).toBe(true)
        report.push(`A killed and back, with b3 and b5, in ${Math.round(back)} ms`)
      } finally {
        heartbeats.on = false
        await heartbeats.done
      }
      expect(new Set(heartbeats.statuses)).toEqual(new Set([200]))
      // Heartbeats stopped: b5 goes from all three, the restarted A included.
      const gone = await goneFromAll('b5')
      report.push(`b5 gone from all three ${Math.round(gone)} ms after its last heartbeat`)
    })

    it('60 concurrent read-modify-write changes over the three lose no update', async () => {
      const initial = (await adminJson(0, '/backends/b1')).body.weight as number
      const started = performance.now()
      let conflicts = 0
      const written = await Promise.all(
        Array.from({ length: 60 }, async (_, n) => {
          const i = n % 3
          for (let attempt = 0; attempt < 500; attempt++) {
            const read = await adminJson(i, '/backends/b1')
            expect(read.status).toBe(200)
            const weight = (read.body.weight as number) + 1
            const write = await adminJson(i, '/backends/b1', {
              method: 'PATCH',
              headers: { 'if-match': read.etag! },
              body: JSON.stringify({ weight }),
            })
            if (write.status === 200) return weight
            expect(write.status, JSON.stringify(write.body)).toBe(412)
            conflicts++
            await sleep(Math.random() * 20)
          }
          throw new Error('no write in 500 attempts')
        }),
      )
      const took = performance.now() - started
      // Each change wrote a different weight: initial + 1 … initial + 60.
      expect(written.sort((a, b) => a - b)).toEqual(
        Array.from({ length: 60 }, (_, n) => initial + n + 1),
      )
      await until(
        `weight ${initial + 60} on all three`,
        async () =>
          (await Promise.all([0, 1, 2].map((i) => adminJson(i, '/backends/b1')))).every(
            (r) => r.body.weight === initial + 60,
          ),
        1000,
      )
      report.push(
        `60 read-modify-writes: ${Math.round(took)} ms, ${conflicts} answered 412 and retried`,
      )
    })

    it('killing the etcd leader changes nothing: writes work and converge', async () => {
      const leader = await etcd.leader()
      await etcd.kill(leader)
      try {
        // The watches through the dead member reconnect (100 ms backoff) and read everything.
        const timings = await writeThroughEach(10, 2000)
        // A follower that still forwards to the dead leader holds a write until the client's
        // 2 s timeout; the next member then takes it.
        for (const { wrote } of timings) expect(wrote).toBeLessThan(4000)
        // A registration and a removal, too.
        const b6 = extra.b6!
        const registered = await adminJson(1, '/backends', {
          method: 'POST',
          body: JSON.stringify({ id: 'b6', url: b6.url }),
        })
        expect(registered.status).toBe(201)
        await until(
          'b6 on A and C',
          async () => (await knows(0, 'b6')) && (await knows(2, 'b6')),
          1000,
        )
        const removed = await admin(2, '/backends/b6?force=true', { method: 'DELETE' })
        await removed.arrayBuffer()
        expect([200, 202]).toContain(removed.status)
        await until(
          'b6 gone from A and B',
          async () => !(await knows(0, 'b6')) && !(await knows(1, 'b6')),
          1000,
        )
        report.push(`etcd leader m${leader} killed: ${describeWrites(timings)}`)
      } finally {
        await etcd.restart(leader)
      }
    })

    it('with all of etcd stopped, all three serve and refuse admin writes; then converge', async () => {
      await etcd.stopAll()
      const stoppedAt = performance.now()
      for (const i of [0, 1, 2]) {
        const answers = await Promise.all(Array.from({ length: 6 }, () => pick(i)))
        expect(answers.map((a) => a.status)).toEqual(Array(6).fill(200))
        const patch = await adminJson(i, '/backends/b1', {
          method: 'PATCH',
          body: JSON.stringify({ weight: 5 }),
        })
        expect(patch.status).toBe(503)
        expect(patch.body.error).toMatch(/etcd/)
        const register = await adminJson(i, '/backends', {
          method: 'POST',
          body: JSON.stringify({ id: 'b6', url: extra.b6!.url }),
        })
        expect(register.status).toBe(503)
        expect(register.body.error).toMatch(/etcd/)
      }
      const refused = performance.now() - stoppedAt
      // Each notices the watch is gone.
      await until(
        'all three disconnected',
        async () =>
          (await Promise.all([0, 1, 2].map((i) => adminJson(i, '/cluster')))).every(
            (r) => r.body.connected === false,
          ),
        3000,
        50,
      )
      const disconnected = performance.now() - stoppedAt
      // Still serving, a while later.
      await sleep(Math.max(0, 2000 - (performance.now() - stoppedAt)))
      for (const i of [0, 1, 2]) expect((await pick(i)).status).toBe(200)

      await etcd.startAll()
      const restarted = performance.now()
      const write = await adminJson(1, '/backends/b2', {
        method: 'PATCH',
        body: JSON.stringify({ weight: 42 }),
      })
      expect(write.status, JSON.stringify(write.body)).toBe(200)
      const wrote = performance.now() - restarted
      await until(
        'weight 42 on all three',
        async () =>
          (await Promise.all([0, 1, 2].map((i) => adminJson(i, '/backends/b2')))).every(
            (r) => r.body.weight === 42,
          ),
        5000,
        50,
      )
      const converged = performance.now() - restarted
      await until(
        'all three connected, with three members',
        async () =>
          (await Promise.all([0, 1, 2].map((i) => adminJson(i, '/cluster')))).every(
            (r) => r.body.connected === true && r.body.members.length === 3,
          ),
        5000,
        50,
      )
      report.push(
        `etcd stopped: writes refused 503 within ${Math.round(refused)} ms, all three ` +
          `disconnected at ${Math.round(disconnected)} ms; stopped for ` +
          `${Math.round(restarted - stoppedAt)} ms; after its restart a write on B ` +
          `took ${Math.round(wrote)} ms, all three had it at ${Math.round(converged)} ms, ` +
          `members back at ${Math.round(performance.now() - restarted)} ms`,
      )
    })
  })
}
