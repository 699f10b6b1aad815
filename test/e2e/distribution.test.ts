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
})
