import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  AccessLog,
  formatCombined,
  formatConnectionJson,
  formatJson,
} from '../../src/access-log.ts'
import type { ConnectionRecord, RequestRecord } from '../../src/request-record.ts'
import { adminBalancer } from './admin-helpers.ts'

const record: RequestRecord = {
  time: Date.UTC(2026, 2, 5, 7, 8, 9, 123),
  requestId: 'req-1',
  client: '192.0.2.7',
  method: 'GET',
  target: '/a b?q="x"',
  host: 'shop.example',
  status: 200,
  bytes: 512,
  backend: 'b1',
  route: 'shop',
  pool: 'web',
  upstreamMs: 1.23456,
  totalMs: 2.5,
  retries: 1,
  sticky: 'hit',
  userAgent: 'curl/8.5.0',
  referer: undefined,
}

afterEach(() => {
  vi.useRealTimers()
})

describe('formats', () => {
  it('writes one JSON object per line with every field', () => {
    const line = formatJson(record)
    expect(line.endsWith('\n')).toBe(true)
    expect(JSON.parse(line)).toEqual({
      time: '2026-03-05T07:08:09.123Z',
      requestId: 'req-1',
      client: '192.0.2.7',
      method: 'GET',
      target: '/a b?q="x"',
      host: 'shop.example',
      status: 200,
      bytes: 512,
      route: 'shop',
      pool: 'web',
      backend: 'b1',
      upstreamMs: 1.235,
      totalMs: 2.5,
      retries: 1,
      sticky: 'hit',
      userAgent: 'curl/8.5.0',
      referer: null,
    })
  })

  it('writes the same text as JSON.stringify, escapes and all', () => {
    // The text JSON.stringify gives the record's fields, in the log's order.
    const stringified = (r: RequestRecord) =>
      JSON.stringify({
        time: new Date(Math.trunc(r.time)).toISOString(),
        requestId: r.requestId,
        client: r.client ?? null,
        method: r.method,
        target: r.target,
        host: r.host ?? null,
        status: r.status,
        bytes: r.bytes,
        route: r.route ?? null,
        pool: r.pool ?? null,
        backend: r.backend ?? null,
        upstreamMs: r.upstreamMs === undefined ? null : Math.round(r.upstreamMs * 1000) / 1000,
        totalMs: Math.round(r.totalMs * 1000) / 1000,
        retries: r.retries,
        sticky: r.sticky,
        userAgent: r.userAgent ?? null,
        referer: r.referer ?? null,
      }) + '\n'
    const awkward = [
      '',
      'plain',
      'quote " and backslash \\',
      'tab\tnewline\ncr\r nul\u0000 unit\u001f del\u007f',
      'caf\u00e9 \u2028 \u2029',
      'pair \ud83d\ude00 lone \ud800 and \udfff',
      '</script>',
    ]
    for (const text of awkward) {
      const r: RequestRecord = {
        ...record,
        requestId: text,
        target: text,
        host: text,
        userAgent: text,
        referer: text,
        route: undefined,
        upstreamMs: undefined,
        totalMs: 0.0004,
      }
      expect(formatJson(r)).toBe(stringified(r))
      expect(formatJson({ ...r, upstreamMs: 12.3456789, totalMs: NaN })).toBe(
        stringified({ ...r, upstreamMs: 12.3456789, totalMs: NaN }),
      )
    }
    expect(formatJson(record)).toBe(stringified(record))
  })

  it('writes a TCP connection as JSON.stringify would, awkward strings and missing values too', () => {
    const connection: ConnectionRecord = {
      time: Date.UTC(2026, 2, 5, 7, 8, 9, 123),
      listener: 'pg',
      client: '203.0.113.7',
      pool: 'db',
      backend: 'b1',
      bytesIn: 40,
      bytesOut: 200,
      connectMs: 0.4567891,
      durationMs: 12.3456789,
      reason: 'done',
    }
    const stringified = (r: ConnectionRecord) =>
      JSON.stringify({
        time: new Date(r.time).toISOString(),
        type: 'tcp',
        listener: r.listener,
        client: r.client ?? null,
        pool: r.pool,
        backend: r.backend ?? null,
        bytesIn: r.bytesIn,
        bytesOut: r.bytesOut,
        connectMs: r.connectMs === undefined ? null : Math.round(r.connectMs * 1000) / 1000,
        durationMs: Math.round(r.durationMs * 1000) / 1000,
        reason: r.reason,
      }) + '\n'
    expect(formatConnectionJson(connection)).toBe(stringified(connection))
    for (const text of ['a"b', 'back\\slash', 'line\nbreak', '\u0001', 'lone \ud800', 'é ✓']) {
      const r: ConnectionRecord = {
        ...connection,
        listener: text,
        pool: text,
        backend: text,
        client: undefined,
        connectMs: undefined,
        durationMs: NaN,
        reason: text,
      }
      expect(formatConnectionJson(r)).toBe(stringified(r))
      expect(formatConnectionJson({ ...r, client: text, backend: undefined })).toBe(
        stringified({ ...r, client: text, backend: undefined }),
      )
    }
  })

  it('writes each record its own time, fractional ms truncated as Date does', () => {
    const time = (at: number) => JSON.parse(formatJson({ ...record, time: at })).time as string
    const ms = Date.UTC(2026, 2, 5, 7, 8, 9, 123)
    expect(time(ms + 0.9)).toBe('2026-03-05T07:08:09.123Z')
    expect(time(ms + 0.1)).toBe('2026-03-05T07:08:09.123Z')
    expect(time(ms + 1)).toBe('2026-03-05T07:08:09.124Z')
    expect(time(ms)).toBe('2026-03-05T07:08:09.123Z')
    expect(time(ms - 86_400_000)).toBe('2026-03-04T07:08:09.123Z')
  })

  it('writes the combined format, escaping quotes and control characters, then the extra fields', () => {
    expect(formatCombined({ ...record, userAgent: 'evil"\n' })).toBe(
      '192.0.2.7 - - [05/Mar/2026:07:08:09 +0000] "GET /a b?q=\\x22x\\x22 HTTP/1.1" 200 512 ' +
        '"-" "evil\\x22\\x0a" rid=req-1 route=shop pool=web backend=b1 upstream_ms=1.235 total_ms=2.5 retries=1 sticky=hit\n',
    )
  })
})

describe('AccessLog', () => {
  it('buffers lines and writes them in one batch after the flush interval (fake time)', () => {
    vi.useFakeTimers()
    const writes: string[] = []
    const log = new AccessLog({ write: (lines) => writes.push(lines), flushInterval: 1000 })
    log.log(record)
    log.log({ ...record, requestId: 'req-2' })
    expect(writes).toEqual([])
    vi.advanceTimersByTime(999)
    expect(writes).toEqual([])
    vi.advanceTimersByTime(1)
    expect(writes).toHaveLength(1)
    expect(
      writes[0]!
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).requestId),
    ).toEqual(['req-1', 'req-2'])
    // No timer is left behind while the buffer is empty.
    expect(vi.getTimerCount()).toBe(0)
  })

  it('writes at once when the buffer is full, and survives a failing sink', () => {
    vi.useFakeTimers()
    let calls = 0
    const log = new AccessLog({
      write: () => {
        calls++
        throw new Error('disk full')
      },
      bufferSize: 100,
    })
    log.log(record)
    expect(calls).toBe(1)
    log.log(record)
    expect(calls).toBe(2)
    log.flush()
    expect(calls).toBe(2)
  })
})

describe('the access log in the balancer', () => {
  it('logs each finished request with its backend, status, bytes, retries and times', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const lines: string[] = []
    const { get, balancer } = adminBalancer(
      {
        backends: [
          { url: 'http://127.0.0.1:9001', id: 'a' },
          { url: 'http://127.0.0.1:9002', id: 'b' },
        ],
        accessLog: { enabled: true, format: 'json' },
        sticky: { secret: 'a-sticky-secret-of-32-characters' },
      },
      (url) =>
        url.startsWith('http://127.0.0.1:9002')
          ? new Response('busy', { status: 503 })
          : new Response('hello'),
      { accessLog: (chunk) => lines.push(chunk) },
    )
    await get(
      '/first',
      { headers: { 'user-agent': 'test/1', 'x-request-id': 'rid-1' } },
      '198.51.100.4',
    )
    await get('/second')
    vi.advanceTimersByTime(1000)
    const records = lines
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(records).toHaveLength(2)
    expect(records[0]).toMatchObject({
      requestId: 'rid-1',
      client: '198.51.100.4',
      method: 'GET',
      target: '/first',
      host: 'shop.example',
      status: 200,
      bytes: 5,
      backend: 'a',
      retries: 0,
      sticky: 'new',
      userAgent: 'test/1',
    })
    expect(records[0].totalMs).toBeGreaterThanOrEqual(records[0].upstreamMs)
    // The second went to b first (round robin), got 503, and was retried on a.
    expect(records[1]).toMatchObject({ status: 200, backend: 'a', retries: 1 })
    await balancer.stop()
  })

  it('flushes what is buffered on stop', async () => {
    const lines: string[] = []
    const { get, balancer } = adminBalancer(
      { backends: ['http://127.0.0.1:9001'], accessLog: { enabled: true, format: 'combined' } },
      undefined,
      { accessLog: (chunk) => lines.push(chunk) },
    )
    await get('/x')
    expect(lines).toEqual([])
    await balancer.stop()
    expect(lines.join('')).toMatch(/^192\.0\.2\.1 - - \[.+\] "GET \/x HTTP\/1\.1" 200 /)
  })
})
