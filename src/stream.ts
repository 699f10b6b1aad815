/**
 * Wrap a body so that `onDone` runs exactly once, with the bytes that passed, when it has been read
 * to the end, has failed, or was cancelled (for instance because the client went away). Reads are pulled one chunk at a
 * time (high-water mark 0), so nothing is buffered beyond what the consumer asked for.
 */
export function watchBody(
  body: ReadableStream<Uint8Array>,
  onDone: (bytes: number) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  let finished = false
  let bytes = 0
  const finish = () => {
    if (finished) return
    finished = true
    onDone(bytes)
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
            bytes += value.byteLength
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
