import { UpstreamTimeoutError } from './errors.ts'

/** How a watched body ended: read to the end, failed, timed out while idle, or cancelled. */
export type BodyEnd = 'end' | 'error' | 'timeout' | 'cancel'

/** Options for {@link watchBody}. */
export interface WatchBodyOptions {
  /**
   * Longest wait for the next chunk, in ms; then the body fails with an `UpstreamTimeoutError`
   * and its source is cancelled. @default no limit
   */
  idleTimeout?: number
}

/**
 * Wrap a body so that `onDone` runs exactly once, with the bytes that passed and how it ended,
 * when it has been read to the end, has failed, has been idle too long, or was cancelled (for
 * instance because the client went away). Reads are pulled one chunk at a time (high-water mark
 * 0), so nothing is buffered beyond what the consumer asked for.
 *
 * A body that fails errors the stream rather than closing it, so that the server aborts the
 * client's response (no terminating chunk, or fewer bytes than its Content-Length) instead of
 * ending it as if it were complete.
 */
export function watchBody(
  body: ReadableStream<Uint8Array>,
  onDone: (bytes: number, end: BodyEnd) => void,
  options: WatchBodyOptions = {},
): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  const { idleTimeout } = options
  let finished = false
  let bytes = 0
  const finish = (end: BodyEnd) => {
    if (finished) return
    finished = true
    onDone(bytes, end)
  }
  const read =
    idleTimeout === undefined
      ? () => reader.read()
      : () => {
          let timer: ReturnType<typeof setTimeout> | undefined
          const idle = new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new UpstreamTimeoutError(`No body data within ${idleTimeout} ms`)),
              idleTimeout,
            )
          })
          return Promise.race([reader.read(), idle]).finally(() => clearTimeout(timer))
        }
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await read()
          if (done) {
            finish('end')
            controller.close()
          } else {
            bytes += value.byteLength
            controller.enqueue(value)
          }
        } catch (error) {
          const timedOut = error instanceof UpstreamTimeoutError
          if (timedOut) reader.cancel(error).catch(() => {})
          finish(timedOut ? 'timeout' : 'error')
          controller.error(error)
        }
      },
      cancel(reason) {
        finish('cancel')
        return reader.cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
}
