/** runtimes/start/control-deps.ts: the files the balancer writes (the state file). */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { writeFileAtomic } from '../../../../runtimes/start/control-deps.ts'

describe('writeFileAtomic', () => {
  it('replaces the file through a temporary file and leaves nothing else behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fulcrum-state-'))
    try {
      const path = join(dir, 'state.json')
      await writeFileAtomic(path, 'one')
      await writeFileAtomic(path, 'two')
      expect(await readFile(path, 'utf8')).toBe('two')
      expect(await readdir(dir)).toEqual(['state.json'])
      await expect(writeFileAtomic(join(dir, 'missing', 'x.json'), 'x')).rejects.toThrow()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
