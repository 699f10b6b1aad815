/**
 * WebSockets on Deno and Bun: the runtime's server WebSocket is bridged to a client WebSocket to
 * the backend, message for message. The backend is connected first, with every subprotocol the
 * client offered, so that the 101 answer can carry the subprotocol the backend chose. Pings are
 * answered on each hop by the runtimes; extensions are negotiated on each hop.
 */
import { relayableCloseCode, type WebSocketRoute } from '../../src/edge/websocket.ts'

/** Opens a route for a handshake, or answers it. */
export type WebSocketOpener = (request: Request, env: unknown) => Promise<WebSocketRoute | Response>

/** What the bridge needs of the runtime's server-side WebSocket. */
export interface ServerSocket {
  send(data: string | ArrayBuffer | Uint8Array): void
  close(code?: number, reason?: string): void
}

/** Options for {@link connectBackend}. */
export interface BackendOptions {
  /** Give up on the backend's handshake after this long. */
  connectTimeout: number
  /**
   * Close codes the runtime's client WebSocket may send. The WebSocket API allows only 1000 and
   * 3000–4999 (Deno keeps to it); Bun's client sends any valid code.
   */
  clientCodes: 'api' | 'any'
}

/** The fields a client WebSocket sets itself, or can't send. */
const OWN_FIELDS = [
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'sec-websocket-key',
  'sec-websocket-version',
  'host',
]

/**
 * Open the backend's WebSocket for a route. Resolves once it is open; rejects when the backend
 * refuses or can't be reached.
 */
export function connectBackend(route: WebSocketRoute, options: BackendOptions): Promise<WebSocket> {
  const headers = new Headers(route.headers)
  for (const name of OWN_FIELDS) headers.delete(name)
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(route.url, {
      protocols: route.protocols,
      headers,
    } as unknown as string[])
    socket.binaryType = 'arraybuffer'
    const timer = setTimeout(() => {
      socket.close()
      reject(new Error(`No WebSocket handshake within ${options.connectTimeout} ms`))
    }, options.connectTimeout)
    socket.onopen = () => {
      clearTimeout(timer)
      socket.onerror = null
      resolve(socket)
    }
    socket.onerror = () => {
      clearTimeout(timer)
      reject(new Error('The backend refused the WebSocket or could not be reached'))
    }
  })
}

/** The two ends of one bridged WebSocket. */
export interface Bridge {
  /** Pass a message from the client to the backend. */
  fromClient(data: string | ArrayBuffer | Uint8Array): void
  /** The client's server socket is open: messages from the backend may flow. */
  clientOpened(socket: ServerSocket): void
  /** The client closed (or went away). */
  clientClosed(code: number | undefined, reason: string): void
}

/**
 * Relay between the client's server socket and the backend's client socket. Either side closing
 * closes the other with its code and reason; a backend gone without a Close frame (1006) is
 * 1014 Bad Gateway to the client.
 */
export function bridge(route: WebSocketRoute, backend: WebSocket, options: BackendOptions): Bridge {
  let client: ServerSocket | undefined
  const pending: (string | ArrayBuffer)[] = []
  let clientGone = false
  let backendGone = false
  let outcome: 'success' | 'reset' = 'success'
  const settle = () => {
    if (clientGone && backendGone) route.end(outcome)
  }

  let closeWhenOpen: { code: number | undefined; reason: string } | undefined
  const closeClient = (code: number | undefined, reason: string) => {
    if (clientGone) return
    if (!client) {
      closeWhenOpen = { code, reason }
      return
    }
    clientGone = true
    const sendable = relayableCloseCode(code, 1014)
    try {
      if (sendable === undefined) client.close()
      else client.close(sendable, reason)
    } catch {
      client.close()
    }
    settle()
  }
  const closeBackend = (code: number | undefined, reason: string) => {
    if (backendGone) return
    backendGone = true
    let sendable = relayableCloseCode(code, 1001)
    if (
      options.clientCodes === 'api' &&
      sendable !== undefined &&
      sendable !== 1000 &&
      (sendable < 3000 || sendable > 4999)
    ) {
      sendable = 1000
    }
    try {
      if (sendable === undefined) backend.close()
      else backend.close(sendable, reason)
    } catch {
      backend.close()
    }
    settle()
  }

  backend.onmessage = (event: MessageEvent) => {
    const data = event.data as string | ArrayBuffer
    if (client) client.send(data)
    else pending.push(data)
  }
  backend.onclose = (event: CloseEvent) => {
    if (backendGone) return
    backendGone = true
    if (event.code === 1006) outcome = 'reset'
    closeClient(event.code === 1006 ? 1014 : event.code, event.reason)
    settle()
  }
  backend.onerror = () => {}
  route.opened((code, reason) => {
    closeClient(code, reason)
    closeBackend(code, reason)
  })

  return {
    fromClient(data) {
      if (!backendGone) backend.send(data)
    },
    clientOpened(socket) {
      client = socket
      for (const data of pending.splice(0)) socket.send(data)
      if (closeWhenOpen) closeClient(closeWhenOpen.code, closeWhenOpen.reason)
    },
    clientClosed(code, reason) {
      if (clientGone) return
      clientGone = true
      closeBackend(code ?? 1005, reason)
      settle()
    },
  }
}
