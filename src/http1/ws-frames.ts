/**
 * Just enough of the WebSocket framing (RFC 6455 §5.2) for a byte tunnel: where one frame ends
 * and the next begins, so that the proxy can stop relaying at a frame boundary and send a Close
 * frame of its own without cutting a frame in two. Payloads are never decoded.
 */

/** Follows one direction of a WebSocket stream, frame by frame. */
export class FrameTracker {
  /** Header bytes seen of the current frame. */
  #header = new Uint8Array(14)
  #headerLength = 0
  /** Header bytes the current frame has, once known (2 until the second byte is in). */
  #headerNeeded = 2
  /** Payload bytes of the current frame still to come; -1 while the header is incomplete. */
  #payloadLeft = -1
  #closeSeen = false

  /** Whether a Close frame (opcode 0x8) has begun: the closing handshake is under way. */
  get closeSeen(): boolean {
    return this.#closeSeen
  }

  /** Whether the stream is between two frames. */
  get atBoundary(): boolean {
    return this.#headerLength === 0 && this.#payloadLeft <= 0
  }

  /**
   * Follow `chunk`. With `stopAtBoundary`, stop at the first frame boundary reached (which may
   * be at once). Returns how many bytes were taken.
   */
  advance(chunk: Uint8Array, stopAtBoundary = false): number {
    let at = 0
    while (at < chunk.length) {
      if (stopAtBoundary && this.atBoundary) return at
      if (this.#payloadLeft > 0) {
        const take = Math.min(this.#payloadLeft, chunk.length - at)
        this.#payloadLeft -= take
        at += take
        continue
      }
      // Header bytes.
      this.#header[this.#headerLength++] = chunk[at++]!
      if (this.#headerLength === 2) this.#headerNeeded = headerSize(this.#header)
      if (this.#headerLength < this.#headerNeeded) continue
      this.#payloadLeft = payloadLength(this.#header)
      if ((this.#header[0]! & 0x0f) === 0x8) this.#closeSeen = true
      this.#headerLength = 0
      this.#headerNeeded = 2
    }
    return at
  }
}

function headerSize(header: Uint8Array): number {
  const length = header[1]! & 0x7f
  const masked = (header[1]! & 0x80) !== 0
  return 2 + (length === 126 ? 2 : length === 127 ? 8 : 0) + (masked ? 4 : 0)
}

function payloadLength(header: Uint8Array): number {
  const length = header[1]! & 0x7f
  if (length < 126) return length
  if (length === 126) return (header[2]! << 8) | header[3]!
  let value = 0
  for (let i = 2; i < 10; i++) value = value * 256 + header[i]!
  return value
}

/**
 * A Close frame (RFC 6455 §5.5.1) with a status code and a reason (cut to fit the 125-byte
 * control-frame payload). Frames from a client are masked (§5.3); frames from a server are not.
 */
export function closeFrame(code: number, reason: string, masked: boolean): Uint8Array {
  let text = new TextEncoder().encode(reason)
  if (text.length > 123) text = text.subarray(0, 123)
  const payload = new Uint8Array(2 + text.length)
  payload[0] = code >> 8
  payload[1] = code & 0xff
  payload.set(text, 2)
  const frame = new Uint8Array(2 + (masked ? 4 : 0) + payload.length)
  frame[0] = 0x88
  frame[1] = (masked ? 0x80 : 0) | payload.length
  if (!masked) {
    frame.set(payload, 2)
    return frame
  }
  const mask = crypto.getRandomValues(new Uint8Array(4))
  frame.set(mask, 2)
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ mask[i % 4]!
  return frame
}
