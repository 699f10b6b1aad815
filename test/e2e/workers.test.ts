/**
 * `--workers 2` on Node (node:cluster) and Bun (SO_REUSEPORT processes): requests spread over
 * both workers, admin changes made in worker 1 reach worker 2, and SIGTERM stops every process
 * with exit code 0. Deno refuses the flag with exit code 2 (it would need --allow-run).
 */
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackend, type TestBackend } from '../helpers/backends.ts'
import { runFulcrum, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'

const TOKEN = 'workers-test-token-0123456789'

/** One request on a fresh connection, so that the kernel or the primary picks a worker anew. */
function getFresh(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/`, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** Worker 1's admin listener (its line may come after worker 2's `listening`). */
function adminUrl(fulcrum: FulcrumProcess): string {
  const line = fulcrum.logs().find((l) => l.msg === 'admin listening')
  return `http://127.0.0.1:${line!.port as number}`
}

async function servedByWorker1(fulcrum: FulcrumProcess): Promise<number> {
  const response = await fetch(`${adminUrl(fulcrum)}/metrics`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  })
  const text = await response.text()
  let total = 0
  for (const line of text.split('\n')) {
    if (line.startsWith('fulcrum_requests_total')) total += Number(line.split(' ').pop())
  }
  return total
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe.each(['node', 'bun'] as const)('--workers 2 on %s', (runtime) => {
  let backends: TestBackend[]
  let fulcrum: FulcrumProcess

  beforeAll(async () => {
    backends = await Promise.all(['a', 'b', 'c'].map((name) => startBackend(name)))
    fulcrum = await startFulcrum(runtime, [
      '--workers',
      '2',
      '--admin-token',
      TOKEN,
      '--backend',
      backends[0]!.url,
      '--backend',
      backends[1]!.url,
    ])
    // Both workers listen before the test starts.
    await fulcrum.waitForLog(() => fulcrum.logs().filter((l) => l.msg === 'listening').length >= 2)
    await fulcrum.waitForLog((l) => l.msg === 'admin listening')
  })
  afterAll(async () => {
    if (fulcrum?.child.exitCode === null) await fulcrum.stop()
    await Promise.all(backends.map((b) => b.close()))
  })

  it('spreads requests over both workers', async () => {
    const before = await servedByWorker1(fulcrum)
    const n = 60
    for (let i = 0; i < n; i++) expect((await getFresh(fulcrum.url)).status).toBe(200)
    const byWorker1 = (await servedByWorker1(fulcrum)) - before
    // Band: each worker takes at least one of 60 fresh connections (the kernel's SO_REUSEPORT
    // hash, or the cluster primary's round robin); worker 1 alone would count all 60.
    expect(byWorker1).toBeGreaterThan(0)
    expect(byWorker1).toBeLessThan(n)
  })

  it('applies an admin change made in worker 1 in every worker', async () => {
    const admin = (method: string, path: string, body?: unknown) =>
      fetch(`${adminUrl(fulcrum)}${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    expect((await admin('POST', '/backends', { url: backends[2]!.url })).status).toBe(201)
    const listed = (await (await admin('GET', '/backends')).json()) as {
      backends: { id: string; url: string }[]
    }
    for (const backend of listed.backends.filter((b) => b.url !== backends[2]!.url)) {
      const removed = await admin(
        'DELETE',
        `/backends/${encodeURIComponent(backend.id)}?force=true`,
      )
      expect(removed.status).toBe(200)
    }
    // The replay reaches worker 2 through the primary: give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const seen = new Set<string>()
    for (let i = 0; i < 30; i++) seen.add((await getFresh(fulcrum.url)).body)
    expect([...seen]).toEqual(['c'])
  })

  it('stops every worker on SIGTERM and exits 0', async () => {
    const pids = fulcrum
      .logs()
      .filter((l) => l.msg === 'listening')
      .map((l) => l.pid as number)
    expect(pids).toHaveLength(2)
    expect(await fulcrum.stop('SIGTERM')).toBe(0)
    for (const pid of pids) expect(alive(pid)).toBe(false)
  })
})

describe('--workers on deno', () => {
  it('is refused with exit code 2', async () => {
    const result = await runFulcrum('deno', ['--workers', '2', '--port', '0', '--admin-port', '0'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/--workers: Not supported on deno/)
  })
})
