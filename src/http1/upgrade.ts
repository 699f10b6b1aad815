/**
 * `Upgrade` (RFC 9110 §7.8) as a byte tunnel, on every runtime: the client's WebSocket handshake
 * goes to the backend with fulcrum's header edits, the backend's `101` comes back as it is (plus
 * a sticky cookie), and from then on every frame passes unchanged both ways, so subprotocols and
 * extensions such as permessage-deflate are negotiated end to end (RFC 6455 §9). The frame
 * boundaries are followed only to close a tunnel cleanly: drain, shutdown, a side gone.
 */
import { closeFrame, FrameTracker } from './ws-frames.ts'
import { concatAll, concatBytes, decodeLatin1, encodeLatin1, indexOfHeadEnd } from './bytes.ts'
import { ResponseParser } from './parser.ts'
import type { Http1Env } from './request.ts'
import { writeResponse } from './response.ts'
import type { Tunnel, UpgradeHandler } from './server-state.ts'
import type { Connect, Socket, SocketEvents } from '../socket.ts'

/** How long a tunnel being closed waits for a frame in progress, or for the peers' FIN. */
const CLOSE_WAIT_MS = 2000
/** The longest backend handshake answer head. */
const MAX_HEAD_BYTES = 64 * 1024

/** The backend and the fields of a handshake (the shape of the WebSocket router's route). */
export interface TunnelRoute {
  /** `ws://host:port/path?query` */
  readonly url: string
  /** Fields for the backend: end-to-end ones and fulcrum's forwarding fields. */
  readonly headers: Headers
  readonly setCookie: string | undefined
  readonly requestId: string
  opened(close: (code: number, reason: string) => void): void
  end(outcome?: 'success' | 'connect' | 'reset'): void
}

/** Options for {@link createUpgradeHandler}. */
export interface UpgradeOptions {
  /** The edge and the router: the route, or the answer that refuses the handshake. */
  route(request: Request, env: Http1Env): Promise<TunnelRoute | Response>
  connect: Connect
  /** Upstream connect and handshake deadline, ms. */
  connectTimeout: number
}

const refuse = (status: number, error: string, requestId: string) =>
  Response.json({ error, requestId }, { status })

/** Build the engine's {@link UpgradeHandler} for WebSocket handshakes. */
export function createUpgradeHandler(options: UpgradeOptions): UpgradeHandler {
  return async (request, env, client, rest) => {
    const answer = async (response: Response) => {
      await writeResponse(
        client,
        response,
        { method: 'GET', http10: false, keepAlive: false },
        () => Promise.resolve(false),
      )
      return undefined
    }
    let route: TunnelRoute | Response
    try {
      route = await options.route(request, env)
    } catch {
      return answer(refuse(500, 'Internal error', crypto.randomUUID()))
    }
    if (route instanceof Response) return answer(route)
    const url = new URL(route.url)
    if (url.protocol !== 'ws:') {
      route.end('connect')
      return answer(refuse(502, 'Upstream failed', route.requestId))
    }
    const handshake = new Handshake()
    let backend: Socket
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      backend = await Promise.race([
        options.connect(url.hostname.replace(/^\[|\]$/g, ''), Number(url.port || 80), handshake),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('Connect timed out')), options.connectTimeout)
        }),
      ])
    } catch {
      route.end('connect')
      return answer(refuse(502, 'Upstream failed', route.requestId))
    } finally {
      clearTimeout(timer)
    }
    let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${route.headers.get('host') ?? url.host}\r\n`
    route.headers.forEach((value, name) => {
      if (name !== 'host') head += `${name}: ${value}\r\n`
    })
    head +=
      `connection: Upgrade\r\nupgrade: websocket\r\n` +
      `sec-websocket-key: ${request.headers.get('sec-websocket-key')}\r\n` +
      `sec-websocket-version: 13\r\n\r\n`
    backend.write(encodeLatin1(head))
    const deadline = setTimeout(
      () => handshake.fail(new Error('Handshake timed out')),
      options.connectTimeout,
    )
    let reply: HandshakeReply
    try {
      reply = await handshake.reply
    } catch {
      backend.destroy()
      route.end('connect')
      return answer(refuse(502, 'Upstream failed', route.requestId))
    } finally {
      clearTimeout(deadline)
    }
    if (reply.status !== 101) {
      // The backend refused the upgrade: its answer goes to the client as it is.
      backend.destroy()
      route.end('success')
      return answer(reply.response!)
    }
    let text = reply.head
    if (route.setCookie) text += `set-cookie: ${route.setCookie}\r\n`
    client.write(encodeLatin1(`${text}\r\n`))
    return openTunnel(route, client, rest, backend, handshake, reply.rest)
  }
}

interface HandshakeReply {
  status: number
  /** The status line and fields of a 101, each line with its CRLF, without the final CRLF. */
  head: string
  /** Bytes after the head (the backend's first frames). */
  rest: Uint8Array
  /** A refusal, whole. */
  response?: Response
}

/** The backend connection's events until its handshake answer is in; then the tunnel's. */
class Handshake implements SocketEvents {
  readonly reply: Promise<HandshakeReply>
  #resolve!: (reply: HandshakeReply) => void
  #reject!: (error: unknown) => void
  #bytes = new Uint8Array(0)
  #settled = false
  #refusal:
    { parser: ResponseParser; status: number; statusText: string; headers: Headers } | undefined
  #body: Uint8Array[] = []
  /** The tunnel, once open: events go there. */
  next: SocketEvents | undefined

  constructor() {
    this.reply = new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
  }

  fail(error: unknown): void {
    if (this.#settled) return
    this.#settled = true
    this.#reject(error)
  }

  data(chunk: Uint8Array): void {
    if (this.next) return this.next.data(chunk)
    if (this.#settled) return
    if (this.#refusal) return this.#feedRefusal(chunk)
    const bytes = (this.#bytes = concatBytes(this.#bytes, chunk))
    const end = indexOfHeadEnd(bytes)
    if (end === -1) {
      if (bytes.byteLength > MAX_HEAD_BYTES) this.fail(new Error('Handshake answer too large'))
      return
    }
    const text = decodeLatin1(bytes, 0, end)
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)
    if (!status) return this.fail(new Error('Invalid handshake answer'))
    if (status[1] === '101') {
      this.#settled = true
      this.#resolve({ status: 101, head: `${text}\r\n`, rest: bytes.subarray(end + 4) })
      return
    }
    // Any other answer is an ordinary response: read it whole, then pass it on.
    const parser = new ResponseParser('GET', {
      head: (head) => {
        this.#refusal = {
          parser,
          status: head.status,
          statusText: head.statusText,
          headers: head.headers,
        }
      },
      data: (data) => void this.#body.push(data.slice()),
      end: () => this.#refused(),
    })
    this.#refusal = { parser, status: 0, statusText: '', headers: new Headers() }
    this.#feedRefusal(bytes)
  }

  #feedRefusal(chunk: Uint8Array): void {
    try {
      this.#refusal!.parser.feed(chunk)
    } catch (error) {
      this.fail(error)
    }
  }

  #refused(): void {
    if (this.#settled) return
    this.#settled = true
    // The engine's writer frames it anew: its own Content-Length and `Connection: close`.
    const { status, statusText, headers } = this.#refusal!
    const body = concatAll(this.#body)
    const size = body.byteLength
    this.#resolve({
      status,
      head: '',
      rest: new Uint8Array(0),
      response: new Response(size > 0 ? body : null, { status, statusText, headers }),
    })
  }

  drain(): void {
    this.next?.drain()
  }

  end(): void {
    if (this.next) return this.next.end()
    if (this.#refusal) {
      try {
        this.#refusal.parser.close()
      } catch (error) {
        return this.fail(error)
      }
    }
    this.fail(new Error('Backend closed during the handshake'))
  }

  close(error?: unknown): void {
    if (this.next) return this.next.close(error)
    this.fail(error ?? new Error('Backend closed during the handshake'))
  }
}

/** Relay both ways until either side goes; close cleanly, at frame boundaries, when asked. */
function openTunnel(
  route: TunnelRoute,
  client: Socket,
  clientRest: Uint8Array,
  backend: Socket,
  handshake: Handshake,
  backendRest: Uint8Array,
): Tunnel {
  const upward = new FrameTracker()
  const downward = new FrameTracker()
  /** Set once fulcrum closes: each direction stops at its next frame boundary. */
  let closing: { code: number; reason: string } | undefined
  let upDone = false
  let downDone = false
  let outcome: 'success' | 'reset' = 'success'
  let clientGone = false
  let backendGone = false
  let clientClosed = false
  let backendClosed = false
  let finish!: () => void
  const closed = new Promise<void>((resolve) => (finish = resolve))
  let cutOff: ReturnType<typeof setTimeout> | undefined
  const settle = () => {
    if (!clientClosed || !backendClosed) return
    clearTimeout(cutOff)
    route.end(outcome)
    finish()
  }

  const stopUp = () => {
    if (upDone || !closing) return
    upDone = true
    backend.write(closeFrame(closing.code, closing.reason, true))
    backend.end()
  }
  const stopDown = () => {
    if (downDone || !closing) return
    downDone = true
    client.write(closeFrame(closing.code, closing.reason, false))
    client.end()
  }
  const relay = (
    chunk: Uint8Array,
    from: Socket,
    to: Socket,
    frames: FrameTracker,
    done: boolean,
    stop: () => void,
  ) => {
    if (done) return
    if (closing) {
      const taken = frames.advance(chunk, true)
      if (taken > 0) to.write(chunk.subarray(0, taken))
      if (frames.atBoundary) stop()
      return
    }
    frames.advance(chunk)
    if (!to.write(chunk)) from.pause()
  }

  /** Close both sides with fulcrum's own Close frames, each at its next frame boundary. */
  const close = (code: number, reason: string) => {
    if (closing) return
    closing = { code, reason }
    if (upward.atBoundary) stopUp()
    if (downward.atBoundary) stopDown()
    // A peer that stalls mid-frame, or never closes, is not waited for.
    cutOff = setTimeout(() => {
      client.destroy()
      backend.destroy()
      onClientClosed()
      onBackendClosed()
    }, CLOSE_WAIT_MS)
  }

  // One side gone: the other gets the rest of the closing handshake, or, when the side left
  // without a Close frame, one from fulcrum (1006 itself can't be sent, RFC 6455 §7.4.1).
  const onClientGone = () => {
    if (clientGone) return
    clientGone = true
    if (!backendClosed) {
      if (upward.closeSeen || closing) backend.end()
      else close(1001, 'Client went away')
    }
  }
  const onBackendGone = () => {
    if (backendGone) return
    backendGone = true
    if (!clientClosed) {
      if (downward.closeSeen || closing) client.end()
      else if (!downward.atBoundary) client.destroy()
      else {
        outcome = 'reset'
        close(1014, 'Backend went away')
      }
    }
  }
  const onClientClosed = () => {
    if (clientClosed) return
    onClientGone()
    clientClosed = true
    if (!backendClosed && !closing) backend.end()
    settle()
  }
  const onBackendClosed = () => {
    if (backendClosed) return
    onBackendGone()
    backendClosed = true
    // A backend that is gone leaves nothing to wait for: the client hears it at once.
    if (!clientClosed && (downward.closeSeen || !closing)) client.end()
    settle()
  }

  handshake.next = {
    data: (chunk) => relay(chunk, backend, client, downward, downDone, stopDown),
    drain: () => client.resume(),
    end: onBackendGone,
    close: onBackendClosed,
  }
  route.opened((code, reason) => close(code, reason))
  if (backendRest.byteLength > 0) {
    downward.advance(backendRest)
    client.write(backendRest)
  }
  if (clientRest.byteLength > 0) {
    upward.advance(clientRest)
    backend.write(clientRest)
  }
  return {
    fromClient: (chunk) => relay(chunk, client, backend, upward, upDone, stopUp),
    clientDrained: () => backend.resume(),
    clientEnded: onClientGone,
    clientClosed: onClientClosed,
    destroy: () => {
      client.destroy()
      backend.destroy()
      onClientClosed()
      onBackendClosed()
    },
    closed,
  }
}
