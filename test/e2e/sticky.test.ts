/**
 * Sticky sessions end to end: the real entry points of Node, Deno and Bun, real backends, and
 * curl keeping the lb_sid cookie in a cookie jar (`curl -c jar -b jar`), over HTTP and HTTPS.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackend, type TestBackend } from '../helpers/backends.ts'
import { RUNTIMES, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'

const SECRET = 'e2e sticky secret, shared by both instances'

interface CurlResult {
  status: number
  /** Header lines of the final response, lower-cased names. */
  headers: [string, string][]
  body: string
}

/** GET `url` with curl, reading and writing the cookie jar `jar`. */
function curl(url: string, jar: string): Promise<CurlResult> {
  const args = ['-sS', '-k', '-b', jar, '-c', jar, '-D', '-', '--max-time', '10', url]
  return new Promise((resolve, reject) => {
    execFile('curl', args, { encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`curl ${url}: ${stderr || error.message}`))
      const split = stdout.indexOf('\r\n\r\n')
      const [statusLine, ...lines] = stdout.slice(0, split).split('\r\n')
      resolve({
        status: Number(statusLine!.split(' ')[1]),
        headers: lines.map((line) => {
          const colon = line.indexOf(':')
          return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]
        }),
        body: stdout.slice(split + 4),
      })
    })
  })
}

const lbSid = (r: CurlResult) =>
  r.headers.find(([name, value]) => name === 'set-cookie' && value.startsWith('lb_sid='))?.[1]

describe.each(RUNTIMES)('sticky sessions through curl on %s', (runtime) => {
  let backends: TestBackend[]
  let plain: FulcrumProcess
  let tls: FulcrumProcess
  let dir: string

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-sticky-'))
    backends = await Promise.all(['a', 'b', 'c'].map((name) => startBackend(name)))
    const backendArgs = backends.flatMap((b) => ['--backend', b.url])
    ;[plain, tls] = await Promise.all([
      startFulcrum(runtime, [...backendArgs, '--sticky-secret', SECRET]),
      // The second instance takes the same secret from the environment, and terminates TLS.
      startFulcrum(runtime, [...backendArgs, '--sticky', '--tls'], {
        env: { FULCRUM_STICKY_SECRET: SECRET },
      }),
    ])
  })
  afterAll(async () => {
    await Promise.all([plain?.stop(), tls?.stop()])
    await Promise.all(backends.map((b) => b.close()))
    rmSync(dir, { recursive: true, force: true })
  })

  it('keeps a client on one backend, re-pins it when that backend dies', async () => {
    const jar = join(dir, `${runtime}-plain.txt`)
    const first = await curl(`${plain.url}/`, jar)
    expect(first.status).toBe(200)
    const cookie = lbSid(first)
    expect(cookie).toMatch(
      /^lb_sid=[\w-]+\.[\w-]{43}; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/,
    )
    // The default max age is an hour, counted from the issue minute.
    const maxAge = Number(/Max-Age=(\d+)/.exec(cookie!)![1])
    expect(maxAge).toBeGreaterThan(3600 - 60)
    expect(maxAge).toBeLessThanOrEqual(3600)
    // curl stored it as an HttpOnly cookie for 127.0.0.1.
    expect(readFileSync(jar, 'utf8')).toMatch(/^#HttpOnly_127\.0\.0\.1\t.*\tlb_sid\t/m)

    for (let i = 0; i < 20; i++) {
      const next = await curl(`${plain.url}/`, jar)
      expect(next.body).toBe(first.body)
      expect(lbSid(next)).toBeUndefined()
    }
    // Another client without the jar is balanced as usual (round robin moves on).
    const other = await curl(`${plain.url}/`, join(dir, `${runtime}-other.txt`))
    expect(other.body).not.toBe(first.body)

    // The pinned backend dies: the next request lands elsewhere and is re-pinned there.
    const pinned = backends.find((b) => b.name === first.body)!
    await pinned.kill()
    try {
      const moved = await curl(`${plain.url}/`, jar)
      expect(moved.status).toBe(200)
      expect(moved.body).not.toBe(first.body)
      expect(lbSid(moved)).toBeDefined()
      for (let i = 0; i < 10; i++) expect((await curl(`${plain.url}/`, jar)).body).toBe(moved.body)
    } finally {
      await pinned.revive()
    }
  })

  it('honours the cookie on a second instance with the same secret, and sets Secure on TLS', async () => {
    const jar = join(dir, `${runtime}-shared.txt`)
    const pinned = await curl(`${plain.url}/`, jar)
    expect(lbSid(pinned)).toBeDefined()
    for (let i = 0; i < 10; i++) {
      const onTls = await curl(`${tls.url}/`, jar)
      expect(onTls.status).toBe(200)
      expect(onTls.body).toBe(pinned.body)
      expect(lbSid(onTls)).toBeUndefined()
    }

    const fresh = await curl(`${tls.url}/`, join(dir, `${runtime}-tls.txt`))
    expect(lbSid(fresh)).toMatch(/; HttpOnly; SameSite=Lax; Secure$/)
  })
})
