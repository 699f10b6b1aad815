/**
 * A request body with a size limit and a deadline: the stream errors as soon as the body crosses
 * `maxBytes` or is not complete by `deadline`, so that whatever reads it (the upstream request)
 * stops there.
 */

/** Why a guarded body was cut off. */
export type BodyTrip = 'size' | 'time'

/** Thrown into the body stream when it is cut off. */
export class BodyLimitError extends Error {
  override name = 'BodyLimitError'
  constructor(readonly trip: BodyTrip) {
    super(trip === 'size' ? 'Request body too large' : 'Request body timed out')
  }
}

/** Options for {@link guardBody}. */
export interface BodyGuardOptions {
  /** Bytes at most; 0 for no limit. */
  maxBytes: number
  /** Milliseconds until the whole body must be in; 0 for none. */
  deadline: number
  /** Called once, when the body is cut off. */
  onTrip?: (trip: BodyTrip) => void
  /** Called when reading the body fails (the client went away, the runtime gave up on it). */
  onError?: (error: unknown) => void
}

/** A guarded body. */
export interface GuardedBody {
  readonly stream: ReadableStream<Uint8Array>
  /** Why it was cut off, if it was. */
  readonly tripped: BodyTrip | undefined
  /** Whether anything read from it yet. */
  readonly started: boolean
  /** Stop the deadline (the request is over). */
  dispose(): void
}

/**
 * Wrap `body`. The source is read only when the wrapper is read (one chunk per pull), so nothing
 * is buffered here; the deadline runs from this call.
 *
 * @example
 * ```ts
 * const guarded = guardBody(request.body, { maxBytes: 1 << 20, deadline: 60_000 })
 * ```
 */
export function guardBody(
  body: ReadableStream<Uint8Array>,
  options: BodyGuardOptions,
): GuardedBody {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined
  let received = 0
  let tripped: BodyTrip | undefined
  let done = false
  let timer: ReturnType<typeof setTimeout> | undefined

  const finish = () => {
    done = true
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
  }
  const trip = (why: BodyTrip) => {
    if (done) return
    finish()
    tripped = why
    const error = new BodyLimitError(why)
    try {
      controller?.error(error)
    } catch {
      // Already closed or errored.
    }
    ;(reader ?? body).cancel(error).catch(() => {})
    options.onTrip?.(why)
  }
  if (options.deadline > 0) timer = setTimeout(() => trip('time'), options.deadline)

  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c
      },
      async pull(c) {
        if (done) return
        reader ??= body.getReader()
        let result: Awaited<ReturnType<typeof reader.read>>
        try {
          result = await reader.read()
        } catch (error) {
          if (done) return
          finish()
          c.error(error)
          options.onError?.(error)
          return
        }
        if (done) return
        if (result.done) {
          finish()
          c.close()
          return
        }
        received += result.value.byteLength
        if (options.maxBytes > 0 && received > options.maxBytes) {
          trip('size')
          return
        }
        c.enqueue(result.value)
      },
      cancel(reason) {
        finish()
        return (reader ?? body).cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
  return {
    stream,
    get tripped() {
      return tripped
    },
    get started() {
      return reader !== undefined
    },
    dispose: finish,
  }
}
