/**
 * `https://` backends on every runtime: the upstream client for them loads at the first such
 * request (runtimes/upstream/lazy-https-fetch.ts on Deno and Bun), verifies the backend's
 * certificate against the CAs the runtime trusts (`NODE_EXTRA_CA_CERTS` adds one on all three),
 * and refuses a backend whose certificate it cannot verify.
 */
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RUNTIMES, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'
import { makeTlsMaterial, type TlsMaterial } from '../helpers/tls-material.ts'

describe.each(RUNTIMES)('https:// backends on %s', (runtime) => {
  let material: TlsMaterial
  let backend: Server
  let backendUrl: string
  let trusting: FulcrumProcess
  let untrusting: FulcrumProcess
  const seen: string[] = []

  beforeAll(async () => {
    material = await makeTlsMaterial()
    backend = createServer({ cert: material.cert, key: material.key }, (request, response) => {
      seen.push(`${request.method} ${request.url}`)
      response.setHeader('x-backend', 'tls')
      response.end(`over TLS: ${request.url}`)
    })
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve))
    backendUrl = `https://127.0.0.1:${(backend.address() as AddressInfo).port}`
    const args = ['--backend', backendUrl, '--no-admin', '--health-interval', '60s']
    ;[trusting, untrusting] = await Promise.all([
      startFulcrum(runtime, args, { env: { NODE_EXTRA_CA_CERTS: material.certPath } }),
      startFulcrum(runtime, args),
    ])
  }, 60_000)

  afterAll(async () => {
    await Promise.all([trusting?.stop(), untrusting?.stop()])
    backend?.close()
    material?.remove()
  })

  it('forwards to a backend whose certificate it trusts', async () => {
    const response = await fetch(`${trusting.url}/hello?x=1`)
    expect(response.status).toBe(200)
    expect(response.headers.get('x-backend')).toBe('tls')
    expect(await response.text()).toBe('over TLS: /hello?x=1')
    expect(seen).toContain('GET /hello?x=1')
  })

  it('answers 502 for a backend whose certificate it cannot verify, and says why', async () => {
    const before = seen.length
    const response = await fetch(`${untrusting.url}/refused`)
    expect(response.status).toBe(502)
    // The TLS handshake failed: no request reached the backend.
    expect(seen.slice(before)).not.toContain('GET /refused')
    const failure = await untrusting.waitForLog((line) => line.msg === 'upstream failed')
    expect(String(failure.error)).toMatch(/certificate/i)
  })
})
