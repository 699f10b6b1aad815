/**
 * A request body that can be offered to more than one upstream attempt. The bytes read from the
 * client are kept while they fit in a small replay buffer, so that an attempt that failed can be
 * followed by another that sends the same bytes, then the rest. Once the body outgrows the
 * buffer, it is streamed through and can no longer be sent twice. A client that goes silent for
 * longer than the idle timeout fails the body.
 */

/** The client stopped sending its request body for too long. */
export class ClientBodyTimeoutError extends Error {
  override name = 'ClientBodyTimeoutError'
}

/** One attempt's stream was replaced by a newer attempt's. */
class SupersededError extends Error {
  override name = 'SupersededError'
}

/** Options for {@link ReplayableBody}. */
export interface ReplayableBodyOptions {
  /** Bytes kept for a replay at most. @default 65536 */
  limit: number
  /** Longest silence between two chunks from the client, in ms. */
  idleTimeout: number
}

/** The client's request body, replayable while it is small. */
export class ReplayableBody {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>
  readonly #limit: number
  readonly #idleTimeout: number
  #chunks: Uint8Array[] = []
  #bytes = 0
  #overflow = false
  #done = false
  #failed: unknown
  #handedOut = false
  #generation = 0
  #pending: Promise<Uint8Array | undefined> | undefined

  constructor(source: ReadableStream<Uint8Array>, options: ReplayableBodyOptions) {
    this.#reader = source.getReader()
    this.#limit = options.limit
    this.#idleTimeout = options.idleTimeout
  }

  /** Every byte read so far is still kept: a new attempt can send the body from its start. */
  get replayable(): boolean {
    return !this.#overflow && this.#failed === undefined
  }

  /** The whole body has been received and kept. */
  get complete(): boolean {
    return this.#done && this.replayable
  }

  /** No byte of the body has been handed to an attempt yet. */
  get unsent(): boolean {
    return !this.#handedOut
  }

  /** The client went silent for longer than the idle timeout. */
  get timedOut(): boolean {
    return this.#failed instanceof ClientBodyTimeoutError
  }

  /**
   * A stream for a new attempt: the bytes kept so far, then the rest as the client sends it. Any
   * earlier attempt's stream stops at once.
   */
  stream(): ReadableStream<Uint8Array> {
    const generation = ++this.#generation
    let index = 0
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          if (generation !== this.#generation)
            throw new SupersededError('A newer attempt took over')
          if (index < this.#chunks.length) {
            this.#handedOut = true
            controller.enqueue(this.#chunks[index++]!)
            return
          }
          if (this.#done) return controller.close()
          const chunk = await this.#read()
          if (generation !== this.#generation)
            throw new SupersededError('A newer attempt took over')
          if (chunk === undefined) return controller.close()
          if (!this.#overflow) index++
          this.#handedOut = true
          controller.enqueue(chunk)
        },
        // An attempt that gives up must not cancel the client's body: another may need it.
      },
      { highWaterMark: 0 },
    )
  }

  /**
   * Read the rest of the body into the buffer, as long as it fits.
   *
   * @returns whether the whole body is now kept
   */
  async fill(): Promise<boolean> {
    while (!this.#done && this.replayable) {
      try {
        await this.#read()
      } catch {
        return false
      }
    }
    return this.complete
  }

  /** Give up the client's body (the request is over). */
  cancel(reason?: unknown): void {
    this.#generation++
    this.#chunks = []
    if (!this.#done) this.#reader.cancel(reason).catch(() => {})
  }

  /** One chunk from the client, kept when it fits; `undefined` at the end. */
  #read(): Promise<Uint8Array | undefined> {
    this.#pending ??= this.#readOnce().finally(() => (this.#pending = undefined))
    return this.#pending
  }

  async #readOnce(): Promise<Uint8Array | undefined> {
    if (this.#failed !== undefined) throw this.#failed
    let timer: ReturnType<typeof setTimeout> | undefined
    const idle = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new ClientBodyTimeoutError(`No request body data within ${this.#idleTimeout} ms`)),
        this.#idleTimeout,
      )
    })
    try {
      const { done, value } = await Promise.race([this.#reader.read(), idle])
      if (done) {
        this.#done = true
        return undefined
      }
      if (!this.#overflow) {
        this.#bytes += value.byteLength
        if (this.#bytes > this.#limit) {
          this.#overflow = true
          this.#chunks = []
        } else {
          this.#chunks.push(value)
        }
      }
      return value
    } catch (error) {
      this.#failed = error
      if (error instanceof ClientBodyTimeoutError) this.#reader.cancel(error).catch(() => {})
      throw error
    } finally {
      clearTimeout(timer)
    }
  }
}
