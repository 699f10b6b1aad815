import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackend, type TestBackend } from '../helpers/backends.ts'
import { RUNTIMES, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'

describe.each(RUNTIMES)('round robin on %s', (runtime) => {
  let backends: TestBackend[]
  let fulcrum: FulcrumProcess

  beforeAll(async () => {
    backends = await Promise.all(['a', 'b', 'c'].map((name) => startBackend(name)))
    fulcrum = await startFulcrum(
      runtime,
      backends.flatMap((b) => ['--backend', b.url]),
    )
  })
  afterAll(async () => {
    await fulcrum?.stop()
    await Promise.all(backends.map((b) => b.close()))
  })

  it('sends each backend exactly a third of 30 sequential requests, in turn', async () => {
    const seen: string[] = []
    for (let i = 0; i < 30; i++) {
      const response = await fetch(`${fulcrum.url}/`)
      expect(response.status).toBe(200)
      seen.push(await response.text())
    }
    for (const name of ['a', 'b', 'c']) expect(seen.filter((s) => s === name)).toHaveLength(10)
    // In turn: no backend twice in a row.
    for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toBe(seen[i - 1])
  })

  it('answers a request that asks to close with Connection: close, then closes (RFC 9112 §9.6)', async () => {
    const socket = connect(fulcrum.port, '127.0.0.1')
    socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
    let raw = ''
    socket.setEncoding('utf8').on('data', (chunk: string) => (raw += chunk))
    const hadError = await new Promise<boolean>((resolve) => socket.once('close', resolve))
    expect(hadError).toBe(false)
    const head = raw.slice(0, raw.indexOf('\r\n\r\n'))
    expect(head).toMatch(/^HTTP\/1\.1 200 /)
    expect(head).toMatch(/\r\nconnection: close(\r\n|$)/i)
  })
})
