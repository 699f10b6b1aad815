/**
 * Raw HTTP/1.1 over `node:net`/`node:tls` sockets, for the edge tests: hand-written bytes in,
 * the answers as they came back out, and whether the server closed the connection.
 */
import { connect as connectTcp, type Socket } from 'node:net'
import { connect as connectTls, TLSSocket, type ConnectionOptions } from 'node:tls'

/** One response as read off the wire. */
export interface WireResponse {
  status: number
  /** Header fields, names lower-cased; repeated fields joined with `, `. */
  headers: Record<string, string>
  body: string
}

/** What came back for one exchange. */
export interface Exchange {
  responses: WireResponse[]
  /** The server closed the connection (FIN or reset) before we gave up waiting. */
  closed: boolean
  /** Everything received, latin1. */
  raw: string
}

/**
 * Parse as many complete responses as `raw` holds (Content-Length or chunked bodies; 1xx
 * interim answers are skipped).
 */
export function parseResponses(raw: string): WireResponse[] {
  const responses: WireResponse[] = []
  let at = 0
  for (;;) {
    const end = raw.indexOf('\r\n\r\n', at)
    if (end === -1) break
    const lines = raw.slice(at, end).split('\r\n')
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)?.[1])
    if (!status) break
    const headers: Record<string, string> = {}
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':')
      const name = line.slice(0, colon).trim().toLowerCase()
      const value = line.slice(colon + 1).trim()
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
    }
    let bodyAt = end + 4
    if (status < 200) {
      at = bodyAt
      continue
    }
    let body = ''
    if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
      for (;;) {
        const sizeEnd = raw.indexOf('\r\n', bodyAt)
        if (sizeEnd === -1) return responses
        const size = parseInt(raw.slice(bodyAt, sizeEnd), 16)
        if (Number.isNaN(size)) return responses
        if (raw.length < sizeEnd + 2 + size + 2) return responses
        body += raw.slice(sizeEnd + 2, sizeEnd + 2 + size)
        bodyAt = sizeEnd + 2 + size + 2
        if (size === 0) break
      }
    } else {
      const length = Number(headers['content-length'] ?? 0)
      if (raw.length < bodyAt + length) break
      body = raw.slice(bodyAt, bodyAt + length)
      bodyAt += length
    }
    responses.push({ status, headers, body })
    at = bodyAt
  }
  return responses
}

/** Options for {@link exchange}. */
export interface ExchangeOptions {
  /** Stop once this many complete responses are in. @default 2 */
  expect?: number
  /** Give up after this long. @default 3000 */
  timeoutMs?: number
  /** Connect with TLS: see {@link RawTls}. */
  tls?: RawTls
}

/**
 * How a raw connection speaks: plain TCP (`false`, `undefined`), or TLS (`true`, or options on
 * top of {@link RAW_TLS_DEFAULTS}).
 */
export type RawTls = ConnectionOptions | boolean | undefined

/**
 * What a raw TLS client sends unless told otherwise: any certificate accepted (the tests' own
 * are self-signed), SNI `localhost`, and only HTTP/1.1 offered by ALPN, as a client that speaks
 * nothing else does.
 */
export const RAW_TLS_DEFAULTS: ConnectionOptions = {
  rejectUnauthorized: false,
  servername: 'localhost',
  ALPNProtocols: ['http/1.1'],
}

/**
 * A connection to `127.0.0.1:port`, plain or TLS. Listen on it at once; {@link whenConnected}
 * tells when it can carry bytes.
 */
export function rawConnect(port: number, tls?: RawTls): Socket {
  if (!tls) return connectTcp(port, '127.0.0.1')
  return connectTls({ port, host: '127.0.0.1', ...RAW_TLS_DEFAULTS, ...(tls === true ? {} : tls) })
}

/** Resolves once `socket` is connected (TCP) or its TLS handshake is done; rejects on error. */
export function whenConnected(socket: Socket): Promise<void> {
  const ready = socket instanceof TLSSocket ? 'secureConnect' : 'connect'
  return new Promise((resolve, reject) => {
    const onReady = () => {
      socket.off('error', onError)
      resolve()
    }
    const onError = (error: Error) => {
      socket.off(ready, onReady)
      reject(error)
    }
    socket.once(ready, onReady)
    socket.once('error', onError)
  })
}

/**
 * Open a connection, write `data` in one go, and collect the answers until the server closes,
 * `expect` responses are complete, or the timeout passes.
 */
export function exchange(
  port: number,
  data: string | Buffer,
  options: ExchangeOptions = {},
): Promise<Exchange> {
  const expect = options.expect ?? 2
  return new Promise((resolve) => {
    const socket = rawConnect(port, options.tls)
    let raw = ''
    let closed = false
    let settled = false
    const done = () => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ responses: parseResponses(raw), closed, raw })
    }
    const timer = setTimeout(done, options.timeoutMs ?? 3000)
    socket.on('data', (chunk: Buffer) => {
      raw += chunk.toString('latin1')
      // A little grace after the last expected answer, to see whether the server closes.
      if (parseResponses(raw).length >= expect) setTimeout(done, 60)
    })
    socket.on('error', () => {
      closed = true
    })
    socket.on('close', () => {
      closed = true
      done()
    })
    whenConnected(socket).then(
      () => socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data),
      () => {},
    )
  })
}
