/**
 * Wrap a body so that `onDone` runs exactly once, when it has been read to the end, has failed,
 * or was cancelled (for instance because the client went away). Reads are pulled one chunk at a
 * time (high-water mark 0), so nothing is buffered beyond what the consumer asked for.
 */
export function watchBody(
  body: ReadableStream<Uint8Array>,
  onDone: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  let finished = false
  const finish = () => {
    if (finished) return
    finished = true
    onDone()
  }
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await reader.read()
          if (done) {
            finish()
            controller.close()
          } else {
            controller.enqueue(value)
          }
        } catch (error) {
          finish()
          controller.error(error)
        }
      },
      cancel(reason) {
        finish()
        return reader.cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
}
