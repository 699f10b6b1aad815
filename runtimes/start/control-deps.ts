/**
 * The control plane's runtime dependencies, with `node:` modules that Node, Deno and Bun all
 * provide: the access-log sink (an append stream), the atomic state-file writer, DNS and memory.
 */
import { lookup, resolveSrv } from 'node:dns/promises'
import { createWriteStream, type WriteStream } from 'node:fs'
import { open, rename, unlink } from 'node:fs/promises'
import process from 'node:process'
import type { DnsResolver, Logger } from '../../src/types.ts'

/** An access-log sink: `-` is standard output, anything else a file opened for appending. */
export interface AccessLogSink {
  write(lines: string): void
  /** Flush and close (the file; standard output stays open). */
  close(): Promise<void>
}

/**
 * Open the access log. Writes are queued by the stream, never awaited: a slow disk never slows a
 * request. An error is logged once and the lines are dropped from then on.
 */
export function openAccessLog(path: string, logger: Logger): AccessLogSink {
  if (path === '-') {
    // A failed write is dropped, never thrown (issue 11; its 'error' event: guardStdio).
    const write = (lines: string) => {
      try {
        process.stdout.write(lines)
      } catch {
        // Dropped.
      }
    }
    return { write, close: async () => {} }
  }
  let failed = false
  const stream: WriteStream = createWriteStream(path, { flags: 'a' })
  stream.on('error', (error) => {
    if (!failed) logger.error('cannot write the access log', { path, error: error.message })
    failed = true
  })
  return {
    write(lines) {
      if (!failed) stream.write(lines)
    },
    close: () => new Promise<void>((resolve) => (failed ? resolve() : stream.end(resolve))),
  }
}

/**
 * Replace a file atomically: write a temporary file next to it, flush it to disk, and rename it
 * over the old one (rename is atomic within a file system, POSIX `rename(2)`).
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`
  const file = await open(temporary, 'w', 0o600)
  try {
    await file.writeFile(text, 'utf8')
    await file.sync()
  } finally {
    await file.close()
  }
  try {
    await rename(temporary, path)
  } catch (error) {
    await unlink(temporary).catch(() => {})
    throw error
  }
}

/** The system resolver (getaddrinfo, so /etc/hosts counts) for addresses; DNS for SRV. */
export const dnsResolver: DnsResolver = {
  async addresses(name, family) {
    try {
      const found = await lookup(name, { all: true, family })
      return found.map((entry) => entry.address)
    } catch (error) {
      if (noRecords(error)) return []
      throw error
    }
  },
  async srv(name) {
    try {
      return await resolveSrv(name)
    } catch (error) {
      if (noRecords(error)) return []
      throw error
    }
  },
}

/** NXDOMAIN or no records of the type asked for: an answer, not a failure. */
function noRecords(error: unknown): boolean {
  const code = (error as { code?: string })?.code
  return code === 'ENOTFOUND' || code === 'ENODATA'
}

/** Process memory, on every runtime that has `process.memoryUsage`. */
export function memoryUsage(): { rss: number; heapUsed: number; heapTotal: number } {
  const { rss, heapUsed, heapTotal } = process.memoryUsage()
  return { rss, heapUsed, heapTotal }
}
