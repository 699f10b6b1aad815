/**
 * WebSockets on Node: the upgraded client socket is tunnelled to the backend byte for byte. The
 * client's own handshake goes upstream (its key, subprotocols and extensions), the backend's 101
 * comes back as it is, and every frame (text, binary, ping, pong, close) passes unchanged, so
 * subprotocols and extensions such as permessage-deflate are negotiated end to end. fulcrum
 * follows the frame boundaries only to close a tunnel cleanly (drain, shutdown, a peer gone).
 */
import type { IncomingMessage, Server } from 'node:http'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Duplex } from 'node:stream'
import { closeFrame, FrameTracker } from '../../src/edge/ws-frames.ts'
import type { WebSocketRoute } from '../../src/edge/websocket.ts'
import type { Logger } from '../../src/types.ts'
import type { WebSocketOpener } from './ws-bridge.ts'

/** How long a tunnel being closed waits for a frame in progress to end. */
const CLOSE_WAIT_MS = 2000

/** Write a whole HTTP/1.1 answer to a socket that has not been upgraded, then close it. */
async function answer(socket: Duplex, response: Response): Promise<void> {
  const body = Buffer.from(await response.arrayBuffer())
  let head = `HTTP/1.1 ${response.status} ${response.statusText || 'Error'}\r\n`
  response.headers.forEach((value, name) => {
    if (name !== 'connection' && name !== 'content-length') head += `${name}: ${value}\r\n`
  })
  head += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]))
}

/** The upgrade request as a `Request`, for the edge and the router. */
function toRequest(incoming: IncomingMessage, scheme: string): Request {
  const target = incoming.url ?? '/'
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(target)
    ? target
    : `${scheme}://${incoming.headers.host ?? 'localhost'}${target}`
  const headers = new Headers()
  const raw = incoming.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!)
  return new Request(url, { method: incoming.method, headers })
}

/**
 * Handle `upgrade` on an HTTP(S) server: WebSocket handshakes go through the edge and the
 * router, then through a tunnel; anything else is refused.
 */
export function handleNodeUpgrades(
  server: Server,
  open: WebSocketOpener,
  options: { scheme: 'http' | 'https'; connectTimeout: number; logger?: Logger },
): void {
  server.on('upgrade', (incoming: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {})
    void upgrade(incoming, socket, head).catch((error) => {
      options.logger?.warn('websocket upgrade failed', { error: String(error) })
      socket.destroy()
    })
  })

  async function upgrade(incoming: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    let request: Request
    try {
      request = toRequest(incoming, options.scheme)
    } catch {
      return answer(socket, Response.json({ error: 'Bad request' }, { status: 400 }))
    }
    const route = await open(request, { incoming })
    if (route instanceof Response) return answer(socket, route)
    if (socket.destroyed) return route.end('success')

    const headers: Record<string, string> = {}
    route.headers.forEach((value, name) => (headers[name] = value))
    headers.connection = 'Upgrade'
    headers.upgrade = 'websocket'
    headers['sec-websocket-key'] = incoming.headers['sec-websocket-key']!
    headers['sec-websocket-version'] = '13'
    const url = new URL(route.url)
    const secure = url.protocol === 'wss:'
    const upstream = (secure ? httpsRequest : httpRequest)({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || (secure ? 443 : 80),
      path: url.pathname + url.search,
      method: 'GET',
      headers,
      agent: false,
      timeout: options.connectTimeout,
    })
    let settled = false
    const fail = (status: number, error: string, outcome: 'connect' | 'reset') => {
      if (settled) return
      settled = true
      route.end(outcome)
      void answer(socket, Response.json({ error, requestId: route.requestId }, { status }))
    }
    upstream.on('timeout', () => upstream.destroy(new Error('Connect timed out')))
    upstream.on('error', () => fail(502, 'Upstream failed', 'connect'))
    // The backend refused the upgrade: its answer goes to the client as it is.
    upstream.on('response', (response: IncomingMessage) => {
      if (settled) return
      settled = true
      route.end('success')
      let text = `HTTP/1.1 ${response.statusCode} ${response.statusMessage}\r\n`
      const raw = response.rawHeaders
      for (let i = 0; i + 1 < raw.length; i += 2) {
        if (!/^(connection|keep-alive|transfer-encoding)$/i.test(raw[i]!)) {
          text += `${raw[i]}: ${raw[i + 1]}\r\n`
        }
      }
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        const body = Buffer.concat(chunks)
        socket.end(
          Buffer.concat([
            Buffer.from(`${text}content-length: ${body.length}\r\nconnection: close\r\n\r\n`),
            body,
          ]),
        )
      })
      response.on('error', () => socket.destroy())
    })
    upstream.on('upgrade', (response: IncomingMessage, backend: Duplex, backendHead: Buffer) => {
      if (settled || socket.destroyed) {
        backend.destroy()
        if (!settled) route.end('success')
        settled = true
        return
      }
      settled = true
      upstream.setTimeout(0)
      let text = 'HTTP/1.1 101 Switching Protocols\r\n'
      const raw = response.rawHeaders
      for (let i = 0; i + 1 < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`
      if (route.setCookie) text += `set-cookie: ${route.setCookie}\r\n`
      socket.write(`${text}\r\n`, 'latin1')
      tunnel(route, socket, head, backend, backendHead)
    })
    upstream.end()
  }
}

/** Relay both ways until either side goes; close cleanly, at frame boundaries, when asked. */
function tunnel(
  route: WebSocketRoute,
  client: Duplex,
  clientHead: Buffer,
  backend: Duplex,
  backendHead: Buffer,
): void {
  backend.on('error', () => {})
  const upward = new FrameTracker()
  const downward = new FrameTracker()
  /** Set once fulcrum closes: each direction stops at its next frame boundary. */
  let closing: { code: number; reason: string } | undefined
  let upDone = false
  let downDone = false
  let finished = false
  const finish = (outcome: 'success' | 'reset') => {
    if (finished) return
    finished = true
    route.end(outcome)
  }

  const stopUp = () => {
    if (upDone || !closing) return
    upDone = true
    backend.end(closeFrame(closing.code, closing.reason, true))
  }
  const stopDown = () => {
    if (downDone || !closing) return
    downDone = true
    client.end(closeFrame(closing.code, closing.reason, false))
  }
  const relay = (
    from: Duplex,
    to: Duplex,
    frames: FrameTracker,
    done: () => boolean,
    stop: () => void,
  ) => {
    from.on('data', (chunk: Buffer) => {
      if (done()) return
      if (closing) {
        const taken = frames.advance(chunk, true)
        if (taken > 0) to.write(chunk.subarray(0, taken))
        if (frames.atBoundary) stop()
        return
      }
      frames.advance(chunk)
      if (!to.write(chunk)) {
        from.pause()
        to.once('drain', () => from.resume())
      }
    })
  }
  relay(client, backend, upward, () => upDone, stopUp)
  relay(backend, client, downward, () => downDone, stopDown)

  /** Close both sides with our own Close frames, each at its next frame boundary. */
  const close = (code: number, reason: string) => {
    if (closing) return
    closing = { code, reason }
    if (upward.atBoundary) stopUp()
    if (downward.atBoundary) stopDown()
    // A peer that stalls mid-frame is not waited for.
    setTimeout(() => {
      client.destroy()
      backend.destroy()
    }, CLOSE_WAIT_MS).unref()
  }

  // One side gone: the other gets the rest of the closing handshake, or, when the side left
  // without a Close frame, one from fulcrum (1006 itself can't be sent, RFC 6455 §7.4.1).
  let clientClosed = false
  let backendClosed = false
  let outcome: 'success' | 'reset' = 'success'
  const settle = () => {
    if (clientClosed && backendClosed) finish(outcome)
  }
  let clientGone = false
  let backendGone = false
  const onClientGone = () => {
    if (clientGone) return
    clientGone = true
    if (!backend.destroyed) {
      if (upward.closeSeen || closing) backend.end()
      else close(1001, 'Client went away')
    }
    client.end()
  }
  const onBackendGone = () => {
    if (backendGone) return
    backendGone = true
    if (!client.destroyed) {
      if (downward.closeSeen || closing) client.end()
      else if (!downward.atBoundary) client.destroy()
      else {
        outcome = 'reset'
        close(1014, 'Backend went away')
      }
    }
    backend.end()
  }
  // Upgraded sockets allow half-open connections: a FIN counts as the side going away.
  client.on('end', onClientGone)
  backend.on('end', onBackendGone)
  client.on('close', () => {
    clientClosed = true
    onClientGone()
    settle()
  })
  backend.on('close', () => {
    backendClosed = true
    onBackendGone()
    settle()
  })
  route.opened((code, reason) => close(code, reason))

  if (backendHead.length > 0) {
    downward.advance(backendHead)
    client.write(backendHead)
  }
  if (clientHead.length > 0) {
    upward.advance(clientHead)
    backend.write(clientHead)
  }
}
