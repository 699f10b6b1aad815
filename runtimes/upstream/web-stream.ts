import type { Readable } from 'node:stream'

/**
 * A pull-based Web stream over a Node stream: one chunk per read, so backpressure reaches the
 * upstream socket. (Node 20's `Readable.toWeb` can throw on undici bodies after a close.)
 */
export function toWebStream(readable: Readable): ReadableStream<Uint8Array> {
  const chunks = readable[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { done, value } = await chunks.next()
        if (done) controller.close()
        else controller.enqueue(value)
      },
      cancel() {
        // Destroying emits an abort error; nobody is reading any more, so it is expected.
        readable.on('error', () => {})
        readable.destroy()
      },
    },
    { highWaterMark: 0 },
  )
}
