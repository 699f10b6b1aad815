/**
 * fulcrum's own answers when forwarding fails, end to end (issue 2: "Errors are JSON: 502 when the
 * upstream failed, 503 when no backend is up, 504 on upstream timeout"), on the real entry points
 * of Node, Deno and Bun over HTTP and HTTPS. Each is `{ "error", "requestId" }`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackend, type TestBackend } from '../helpers/backends.ts'
import { send as sendRaw, type RawRequest, type RawResponse } from '../helpers/client.ts'
import { BROWSER_HEADERS, clientModes } from '../helpers/clients.ts'
import { startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'
import { scenarioHandler } from '../helpers/scenarios.ts'

/** Working directory (generated certs/) and the config file with a short header deadline. */
let dir: string
let configFile: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-errors-'))
  configFile = join(dir, 'fulcrum.json')
  writeFileSync(configFile, JSON.stringify({ timeouts: { responseHeaders: '1s' } }))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** The JSON error body; its requestId is also the response's X-Request-Id. */
function errorBody(response: RawResponse): { error: string; requestId: string } {
  expect(response.headers['content-type']).toMatch(/^application\/json/)
  const body = JSON.parse(response.body.toString())
  expect(Object.keys(body).sort()).toEqual(['error', 'requestId'])
  expect(typeof body.error).toBe('string')
  expect(body.error.length).toBeGreaterThan(0)
  expect(response.headers['x-request-id']).toBe(body.requestId)
  return body
}

/** Bun also runs with a `browser` client, over HTTP: see test/helpers/clients.ts. */
const MODES = clientModes(['http'])

describe.each(MODES)('upstream errors on %s over %s (%s client)', (runtime, scheme, client) => {
  let backend: TestBackend
  let failing: FulcrumProcess
  let refused: FulcrumProcess
  let empty: FulcrumProcess

  const send = (base: string, req: RawRequest = {}) =>
    sendRaw(base, {
      ...req,
      headers: {
        ...(client === 'browser' ? BROWSER_HEADERS : {}),
        ...req.headers,
      },
    })

  beforeAll(async () => {
    backend = await startBackend('scenario', scenarioHandler)
    const tls = scheme === 'https' ? ['--tls'] : []
    const options = { cwd: dir }
    // The first start generates the certificate; start the others once it is there.
    failing = await startFulcrum(
      runtime,
      ['--config', configFile, '--backend', backend.url, ...tls],
      options,
    )
    ;[refused, empty] = await Promise.all([
      startFulcrum(
        runtime,
        ['--backend', `http://127.0.0.1:${await closedPort()}`, '--health-interval', '1m', ...tls],
        options,
      ),
      startFulcrum(runtime, [...tls], options),
    ])
  })
  afterAll(async () => {
    await Promise.all([failing?.stop(), refused?.stop(), empty?.stop()])
    await backend?.close()
  })

  it('answers 504 when the upstream sends no headers within timeouts.responseHeaders', async () => {
    const started = performance.now()
    const response = await send(failing.url, { headers: { 'x-scenario': 'hang' } })
    const seconds = (performance.now() - started) / 1000
    expect(response.status).toBe(504)
    expect(errorBody(response).requestId).toMatch(/^[0-9a-f-]{36}$/)
    // The deadline is 1 s; allow for a busy machine, but far less than the 30 s default.
    expect(seconds).toBeGreaterThan(0.9)
    expect(seconds).toBeLessThan(10)
  })

  it.each(['GET', 'POST'])(
    'answers 502 when the upstream resets the connection (%s)',
    async (method) => {
      const response = await send(failing.url, {
        method,
        headers: { 'x-scenario': 'reset', 'x-request-id': `reset-${method}` },
        ...(method === 'POST' ? { body: 'payload' } : {}),
      })
      expect(response.status).toBe(502)
      expect(errorBody(response).requestId).toBe(`reset-${method}`)
    },
  )

  it('answers 502 when the upstream refuses the connection', async () => {
    const response = await send(refused.url, { path: '/anything' })
    expect(response.status).toBe(502)
    errorBody(response)
  })

  it('answers 503 with Retry-After when no backend is configured', async () => {
    const response = await send(empty.url, { headers: { 'x-request-id': 'no-backend-1' } })
    expect(response.status).toBe(503)
    expect(Number(response.headers['retry-after'])).toBeGreaterThan(0)
    expect(errorBody(response).requestId).toBe('no-backend-1')
  })

  it('still forwards normally after the errors', async () => {
    const response = await send(failing.url, { method: 'POST', body: 'after' })
    expect(response.status).toBe(200)
    expect(response.body.toString()).toBe('after')
  })
})
