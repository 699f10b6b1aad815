/**
 * One client connection of the HTTP/1.1 server: requests parsed by the one strict parser, handed
 * to the app one at a time, and answered in order (pipelined requests wait in the parser,
 * RFC 9112 §9.3.2); keep-alive and its idle timeout, the header deadline (408), `Expect:
 * 100-continue` (RFC 9110 §10.1.1), bodies with backpressure both ways, refusals of malformed
 * input before anything reaches the app, and the switch to a byte tunnel after an `Upgrade`.
 */
import type { Linked } from '../linked-set.ts'
import { enterEvent, leaveEvent } from '../clock.ts'
import { encodeLatin1 } from './bytes.ts'
import { bodySource, Http1Env, toRequest, type BodySource } from './request.ts'
import { HttpParseError, RequestParser, type RequestHead } from './parser.ts'
import { plainAnswer, writeResponse, type Written } from './response.ts'
import type { Socket, SocketEvents } from '../socket.ts'
import type { ServerState, Tunnel } from './server-state.ts'

/** Pipelined bytes kept while a request is answered; beyond, the socket stops reading. */
const PIPELINE_HIGH_WATER = 64 * 1024

/** RFC 9110 §15.2.1: the interim answer to `Expect: 100-continue`. */
const CONTINUE = encodeLatin1('HTTP/1.1 100 Continue\r\n\r\n')

/** Methods whose body fulcrum never forwards (RFC 9110 §9.3.1, §9.3.2): it is read and dropped. */
const BODYLESS = new Set(['GET', 'HEAD'])

/** One request and its response. */
interface Exchange {
  readonly head: RequestHead
  readonly env: Http1Env
  readonly body: BodySource | undefined
  requestEnded: boolean
  responseDone: boolean
  /** The connection closes after this response. */
  close: boolean
  /** The client asked for the close (`Connection: close`, or HTTP/1.0 without keep-alive). */
  readonly clientClose: boolean
  /** A parse error in the body: the answer, unless the response has begun. */
  refusal: number | undefined
  responseStarted: boolean
  /** Whether the app asked for the body (a 100 Continue goes out once). */
  pulled: boolean
}

/** What a connection's deadline is for. */
const enum Deadline {
  None,
  /** Between requests: the keep-alive idle timeout, closed silently. */
  Idle,
  /** A head has begun: the header deadline, answered 408 (RFC 9110 §15.5.9). */
  Head,
  /** The connection is closing (FIN sent): a peer that does not close in time is cut off. */
  Linger,
}

/** How long a closing connection waits for the peer's FIN, reading and dropping. */
const LINGER_MS = 5000

/** A client connection. */
export class ServerConnection implements SocketEvents, Linked<ServerConnection> {
  readonly #state: ServerState
  readonly #socket: Socket
  readonly #parser: RequestParser
  #exchange: Exchange | undefined
  /** A head parsed and not handed to the app yet (dispatched once the bytes at hand are parsed). */
  #pending: Exchange | undefined
  #tunnel: Tunnel | undefined
  #closed = false
  /** No more requests: the socket is ending. */
  #ending = false
  #peerEnded = false
  #pausedForPipeline = false
  #pausedForBody = false
  #drainWaiters: ((open: boolean) => void)[] = []
  /**
   * The callbacks every exchange hands on, made once for the connection rather than once a
   * request. The app's answers come one at a time: the one that settles is the answer to the
   * exchange in progress (the next is dispatched after it has been written).
   */
  readonly #waitDrainOnce = (): Promise<boolean> => this.#waitDrain()
  readonly #onAnswer = (response: Response): void => this.#answer(response)
  readonly #onHandlerError = (error: unknown): void => {
    this.#state.onError(error)
    this.#answer(new Response(null, { status: 500 }))
  }
  /** When the current deadline passes, ms since the epoch (0: none). */
  deadline = 0
  /** In the server's open connections (src/linked-set.ts), and its neighbours there. */
  linked = false
  prevLinked: ServerConnection | undefined = undefined
  nextLinked: ServerConnection | undefined = undefined
  #deadlineKind = Deadline.Idle

  constructor(state: ServerState, socket: Socket) {
    this.#state = state
    this.#socket = socket
    this.#parser = new RequestParser(
      {
        head: (head) => this.#onHead(head),
        data: (chunk) => this.#onBody(chunk),
        end: () => this.#onEnd(),
      },
      { maxHeadBytes: state.limits.maxHeadBytes },
    )
    // The first request's head is due within the header deadline from the connection's start.
    this.#setDeadline(Deadline.Head, state.limits.headerTimeout)
  }

  /** Whether no request is in progress on it (a drain closes it at once). */
  get idle(): boolean {
    return this.#exchange === undefined && this.#pending === undefined && !this.#parser.inMessage
  }

  // ---- socket events ----

  data(chunk: Uint8Array): void {
    if (this.#closed) return
    if (this.#tunnel) return this.#tunnel.fromClient(chunk)
    if (this.#ending) return
    // One reading of the clocks for everything these bytes set off (../clock.ts).
    enterEvent()
    try {
      this.#received(chunk)
    } finally {
      leaveEvent()
    }
  }

  #received(chunk: Uint8Array): void {
    if (this.#deadlineKind === Deadline.Idle) {
      this.#setDeadline(Deadline.Head, this.#state.limits.headerTimeout)
    }
    try {
      this.#parser.feed(chunk)
    } catch (error) {
      this.#parseError(error)
    }
    this.#dispatch()
    if (!this.#pausedForPipeline && this.#exchange && this.#parser.buffered > PIPELINE_HIGH_WATER) {
      this.#pausedForPipeline = true
      this.#socket.pause()
    }
  }

  drain(): void {
    if (this.#tunnel) return this.#tunnel.clientDrained()
    const waiters = this.#drainWaiters
    this.#drainWaiters = []
    for (const wake of waiters) wake(true)
  }

  end(): void {
    this.#peerEnded = true
    if (this.#tunnel) return this.#tunnel.clientEnded()
    if (this.#ending) return // both sides have ended: the socket closes
    const exchange = this.#exchange ?? this.#pending
    if (!exchange) {
      // Between requests, or in the middle of a head: nothing to answer. What is queued (the
      // last response) still goes out before the FIN.
      return this.#closeSoon()
    }
    // A client that half-closes while its answer is pending has gone away, as Node's server and
    // nginx (`proxy_ignore_client_abort off`) take it: the upstream request is cancelled at once.
    const gone = new Error('Client connection prematurely closed')
    if (!exchange.requestEnded) exchange.body?.fail(gone)
    exchange.env.signal.abort(gone)
    this.#destroy()
  }

  close(error?: unknown): void {
    if (this.#closed) return
    this.#closed = true
    this.deadline = 0
    this.#state.forget(this)
    this.#tunnel?.clientClosed()
    const exchange = this.#exchange ?? this.#pending
    if (exchange && !exchange.responseDone) {
      exchange.env.signal.abort(error ?? new Error('Client connection prematurely closed'))
      if (!exchange.requestEnded) exchange.body?.fail(error ?? new Error('Client went away'))
    }
    const waiters = this.#drainWaiters
    this.#drainWaiters = []
    for (const wake of waiters) wake(false)
  }

  // ---- called by the server ----

  /** The deadline passed: an idle connection closes, a slow head gets 408. */
  expire(): void {
    const kind = this.#deadlineKind
    this.deadline = 0
    this.#deadlineKind = Deadline.None
    if (this.#closed) return
    if (kind === Deadline.Linger) this.#destroy()
    else if (kind === Deadline.Head && this.#parser.inMessage) this.#answerAndClose(408)
    else this.#closeSoon()
  }

  /** A drain has begun: close now if idle, else after the response in progress. */
  drainNow(): void {
    if (this.idle && !this.#tunnel) this.#closeSoon()
  }

  /** Refuse the connection at once (over the connection cap). */
  refuse(status: number, extra = ''): void {
    this.#answerAndClose(status, extra)
  }

  // ---- parser events ----

  #onHead(head: RequestHead): void {
    this.#setDeadline(Deadline.None, 0)
    const env = new Http1Env(head, this.#socket.remoteAddress)
    const hasBody = head.framing !== 'none' && !BODYLESS.has(head.method)
    const exchange: Exchange = {
      head,
      env,
      body: hasBody ? bodySource(() => this.#pull(exchange), head.expectContinue) : undefined,
      requestEnded: false,
      responseDone: false,
      close: !head.keepAlive || this.#state.draining,
      clientClose: !head.keepAlive,
      refusal: undefined,
      responseStarted: false,
      pulled: false,
    }
    this.#pending = exchange
  }

  #onBody(chunk: Uint8Array): void {
    const exchange = this.#pending ?? this.#exchange
    const body = exchange?.body
    if (!body || body.cancelled) return
    if (!body.push(chunk) && !this.#pausedForBody) {
      this.#pausedForBody = true
      this.#socket.pause()
    }
  }

  #onEnd(): void {
    const exchange = this.#pending ?? this.#exchange
    if (!exchange) return
    exchange.requestEnded = true
    exchange.body?.end()
    if (exchange.responseDone) this.#next(exchange)
  }

  // ---- the exchange ----

  /** Hand the parsed head to the app, once the bytes at hand are parsed. */
  #dispatch(): void {
    const exchange = this.#pending
    if (!exchange || this.#closed) return
    this.#pending = undefined
    this.#exchange = exchange
    if (exchange.refusal !== undefined) {
      exchange.responseStarted = true
      return this.#finishWith(exchange, plainAnswer(exchange.refusal))
    }
    const { head, env } = exchange
    const request = toRequest(head, this.#state.scheme, exchange.body?.stream ?? null, env.signal)
    if (
      head.upgrade !== undefined &&
      this.#state.upgrade &&
      exchange.requestEnded &&
      /(^|,)\s*websocket\s*(,|$)/i.test(head.upgrade)
    ) {
      void this.#upgrade(exchange, request)
      return
    }
    let answer: Response | Promise<Response>
    try {
      answer = this.#state.handler(request, env)
    } catch (error) {
      answer = Promise.reject(error)
    }
    // A plain object with a status is an answer too (a bare upstream response).
    if (!(answer instanceof Promise)) this.#respond(exchange, answer)
    else answer.then(this.#onAnswer, this.#onHandlerError)
  }

  /** The app's answer to the exchange in progress, once its promise has settled. */
  #answer(response: Response): void {
    const exchange = this.#exchange
    if (exchange) this.#respond(exchange, response)
    else response.body?.cancel().catch(() => {})
  }

  /** The app wants (more of) the body: read again, and say 100 Continue the first time. */
  #pull(exchange: Exchange): void {
    if (!exchange.pulled) {
      exchange.pulled = true
      if (
        exchange.head.expectContinue &&
        exchange.head.minor === 1 &&
        !exchange.requestEnded &&
        !this.#closed
      ) {
        this.#socket.write(CONTINUE)
      }
    }
    if (this.#pausedForBody) {
      this.#pausedForBody = false
      this.#socket.resume()
    }
  }

  #respond(exchange: Exchange, response: Response): void {
    if (this.#closed) {
      response.body?.cancel().catch(() => {})
      return
    }
    if (exchange.refusal !== undefined) {
      response.body?.cancel().catch(() => {})
      return this.#finishWith(exchange, plainAnswer(exchange.refusal))
    }
    exchange.responseStarted = true
    const keepAlive = !exchange.close && !this.#state.draining
    let written: Written | Promise<Written>
    try {
      written = writeResponse(
        this.#socket,
        response,
        { method: exchange.head.method, http10: exchange.head.minor === 0, keepAlive },
        this.#waitDrainOnce,
      )
    } catch (error) {
      return this.#failedResponse(error)
    }
    // A body at hand is written at once: the exchange ends in this very turn.
    if (!(written instanceof Promise)) return this.#responded(exchange, written)
    written.then(
      (done) => this.#responded(exchange, done),
      (error) => this.#failedResponse(error),
    )
  }

  /** The response could not be written at all: the connection goes. */
  #failedResponse(error: unknown): void {
    this.#state.onError(error)
    this.#destroy()
  }

  /** The response has been written (or has failed, `complete` false). */
  #responded(exchange: Exchange, written: Written): void {
    exchange.responseDone = true
    if (!written.keepAlive || !written.complete) exchange.close = true
    if (!exchange.requestEnded) {
      // The answer went out before the whole request came in (an early refusal): the rest is
      // not read, and the connection closes (nginx's lingering close does the same, later).
      exchange.close = true
      exchange.body?.fail(new Error('Answered before the request body ended'))
    }
    // A pipelined request waits for a microtask, as it did behind an awaited write: answers
    // the app makes at once must not nest one request inside another, thousands deep.
    if (this.#parser.buffered > 0) queueMicrotask(() => this.#next(exchange))
    else this.#next(exchange)
  }

  /** Answer with the engine's own bytes (a refusal), then close. */
  #finishWith(exchange: Exchange, bytes: Uint8Array): void {
    exchange.close = true
    exchange.responseDone = true
    exchange.env.signal.abort(new Error('Refused'))
    exchange.body?.fail(new Error('Refused'))
    this.#socket.write(bytes)
    this.#next(exchange)
  }

  /** The exchange is over: the next pipelined request, the idle wait, or the close. */
  #next(exchange: Exchange): void {
    if (this.#exchange !== exchange || this.#closed) return
    this.#exchange = undefined
    if (exchange.close || this.#state.draining || this.#peerEnded) {
      return this.#closeSoon(this.#closesCleanly(exchange))
    }
    // A pipelined request already begun is due by the header deadline; else the idle wait.
    const { limits } = this.#state
    if (this.#parser.buffered > 0) this.#setDeadline(Deadline.Head, limits.headerTimeout)
    else this.#setDeadline(Deadline.Idle, limits.keepAliveTimeout)
    if (this.#pausedForPipeline) {
      this.#pausedForPipeline = false
      this.#socket.resume()
    }
    try {
      this.#parser.next()
    } catch (error) {
      this.#parseError(error)
    }
    this.#dispatch()
  }

  #parseError(error: unknown): void {
    const status = error instanceof HttpParseError ? error.status : 400
    const exchange = this.#pending ?? this.#exchange
    if (exchange) {
      // Malformed body framing: the request is refused (its body fails, so nothing of it goes
      // upstream that was not sent already), unless its answer is under way.
      exchange.refusal = status
      exchange.requestEnded = true
      exchange.body?.fail(new Error('Malformed request body'))
      exchange.env.signal.abort(new Error('Malformed request body'))
      if (exchange.responseStarted) this.#destroy()
      this.#ending = true
      return
    }
    this.#answerAndClose(status)
  }

  async #upgrade(exchange: Exchange, request: Request): Promise<void> {
    const upgrade = this.#state.upgrade!
    const rest = this.#parser.takeRest()
    exchange.responseStarted = true
    const tunnel = await upgrade(request, exchange.env, this.#socket, rest)
    if (this.#closed) {
      tunnel?.clientClosed()
      return
    }
    if (tunnel) {
      this.#tunnel = tunnel
      this.#state.forget(this)
      this.#state.adopt(tunnel)
      return
    }
    // Refused (an answer was written): the connection closes.
    exchange.responseDone = true
    this.#exchange = undefined
    this.#closeSoon()
  }

  // ---- the socket ----

  #waitDrain(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false)
    return new Promise((resolve) => this.#drainWaiters.push(resolve))
  }

  #setDeadline(kind: Deadline, ms: number): void {
    this.#deadlineKind = kind
    this.deadline = kind === Deadline.None || ms <= 0 ? 0 : this.#state.now() + ms
  }

  #answerAndClose(status: number, extra = ''): void {
    if (this.#closed || this.#ending) return
    this.#socket.write(plainAnswer(status, extra))
    this.#closeSoon()
  }

  /**
   * Whether the connection may close outright after `exchange`, without reading on until the
   * client's FIN (RFC 9112 §9.6). A client that asked for the close must send nothing after its
   * request, so when the whole request was read and nothing followed it, no unread bytes can
   * turn the close into a reset that loses the answer: nginx closes such a connection at once
   * too (its `lingering_close on` lingers only when more data may come).
   */
  #closesCleanly(exchange: Exchange): boolean {
    return (
      (exchange.clientClose || this.#peerEnded) &&
      exchange.requestEnded &&
      this.#parser.buffered === 0
    )
  }

  /**
   * Close after what is queued has been sent: `outright` (see {@link #closesCleanly}), reading
   * nothing more, or else a half-close, then the peer's FIN within {@link LINGER_MS}.
   */
  #closeSoon(outright = false): void {
    if (this.#closed || this.#ending) return
    this.#ending = true
    this.#setDeadline(Deadline.Linger, LINGER_MS)
    if (outright) this.#socket.endAndClose()
    else this.#socket.end()
  }

  #destroy(): void {
    if (this.#closed) return
    this.#socket.destroy()
    this.close()
  }
}
