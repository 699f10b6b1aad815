/**
 * The small socket interface the HTTP/1.1 engine (src/http1/) and the layer-4 listeners (src/tcp/)
 * run on. Each runtime implements it over its own TCP and TLS sockets
 * (runtimes/<runtime>/sockets.ts); the engine (server connections, the upstream client, the
 * Upgrade tunnel) and the relays see nothing else of the runtime.
 */

/** A connected byte stream, as the engine drives it. */
export interface Socket {
  /**
   * Send bytes. The socket keeps what the kernel did not take yet. `false` when that queue is
   * above the high-water mark: write more after {@link SocketEvents.drain}.
   */
  write(bytes: Uint8Array): boolean
  /** Send what is queued, then a FIN (half-close, RFC 9293 §3.6). Reading goes on. */
  end(): void
  /**
   * Send what is queued, then close: the FIN follows the last byte (RFC 9293 §3.6), and nothing
   * more is read or waited for. For a peer that will send nothing more, so that closing leaves
   * no unread bytes to turn the FIN into a reset. Over TLS, the same as {@link end}: its close
   * waits for the peer's `close_notify`. `close` is still reported.
   */
  endAndClose(): void
  /** Close now, dropping anything queued; nothing is reported after this. */
  destroy(): void
  /** Stop reading (backpressure); {@link resume} starts again. */
  pause(): void
  resume(): void
  /** The peer's address, without brackets for IPv6 (`::1`). */
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined
  /**
   * This end's address and port: for an accepted connection, where the client reached fulcrum
   * (the interface's own address under a listener on `0.0.0.0` or `::`). Without brackets.
   */
  readonly localAddress?: string
  readonly localPort?: number
  /** Whether the connection is TLS. */
  readonly encrypted: boolean
}

/** What a socket reports, in order: data and drains, then at most one `end`, then `close`. */
export interface SocketEvents {
  /** Bytes arrived. The engine may keep `chunk`: the socket must not reuse its memory. */
  data(chunk: Uint8Array): void
  /** The write queue went below the high-water mark. */
  drain(): void
  /** The peer sent a FIN: no more data will arrive. Writing is still possible. */
  end(): void
  /** The connection is gone: closed, reset, or `error`. Reported once, last. */
  close(error?: unknown): void
  /**
   * Set by a handler whose `data` keeps no chunk once it returns, but for what it hands to
   * another socket's `write` (a relay). A socket may then read its next bytes into a chunk's
   * memory when that write took the chunk whole (nothing of it left queued), instead of new
   * memory per read. Without it, the handler may keep any chunk.
   */
  readonly borrowsChunks?: true
}

/** Open a TCP connection to `host:port`; rejects when the connection cannot be made. */
export type Connect = (host: string, port: number, events: SocketEvents) => Promise<Socket>

/** Take a new connection from a listener: the engine answers with the events it wants. */
export type Accept = (socket: Socket) => SocketEvents
