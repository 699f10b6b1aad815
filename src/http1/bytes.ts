/**
 * Byte helpers shared by the HTTP/1.1 engine, on `Uint8Array` only (src/ is runtime-neutral: no
 * `Buffer`). HTTP/1.1 heads are byte strings (RFC 9110 §5.5: field values may hold obs-text,
 * 0x80–0xFF), so they are read and written as latin1: one byte, one UTF-16 code unit.
 *
 * `TextDecoder('latin1')` is not used: the Encoding Standard maps that label to windows-1252,
 * which turns 0x80–0x9F into other code points.
 */

/** UTF-8, which decodes pure ASCII exactly as latin1 does, natively. */
const ASCII_DECODER = new TextDecoder()
const ENCODER = new TextEncoder()
/** Bytes per `String.fromCharCode` call, well under engines' argument limits. */
const SLICE = 4096

/** CR and LF, the line end of HTTP/1.1 (RFC 9112 §2.1). */
export const CR = 13
export const LF = 10
export const SP = 32
export const HTAB = 9

/** Whether `bytes[start, end)` is all ASCII (every byte below 0x80). */
export function isAscii(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
  for (let i = start; i < end; i++) if (bytes[i]! > 0x7f) return false
  return true
}

/**
 * `bytes[start, end)` as a latin1 string: byte `i` becomes code unit `i`, so byte offsets are
 * string offsets. `ascii` skips the scan when the caller already knows the range is ASCII.
 */
export function decodeLatin1(
  bytes: Uint8Array,
  start = 0,
  end = bytes.length,
  ascii = isAscii(bytes, start, end),
): string {
  if (start >= end) return ''
  if (ascii) return ASCII_DECODER.decode(bytes.subarray(start, end))
  let text = ''
  for (let at = start; at < end; at += SLICE) {
    text += String.fromCharCode.apply(
      null,
      bytes.subarray(at, Math.min(end, at + SLICE)) as unknown as number[],
    )
  }
  return text
}

/**
 * `text` as latin1 bytes: each code unit's low byte (as `Buffer.from(text, 'latin1')` does).
 * ASCII, the common case, goes through the native encoder (see {@link encodeHead}).
 */
export function encodeLatin1(text: string): Uint8Array {
  return encodeHead(text)
}

/** Allocations up to this size come from a shared slab (see {@link allocate}). */
const SLAB_MAX = 4 * 1024
/** The slab's size: a few dozen heads. */
const SLAB_SIZE = 64 * 1024
let slab = new ArrayBuffer(0)
let slabUsed = 0

/**
 * `size` zeroed bytes of fresh memory, never handed out again. Small ones are views into a shared
 * slab (as Node's `Buffer.allocUnsafe` pools them, but zeroed): a new `ArrayBuffer` for each
 * head costs more than writing the head, and a slab is freed once every view into it is gone.
 * The memory is never reused, so a socket may keep the bytes queued as long as it likes.
 */
export function allocate(size: number): Uint8Array<ArrayBuffer> {
  if (size > SLAB_MAX) return new Uint8Array(size)
  if (slabUsed + size > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_SIZE)
    slabUsed = 0
  }
  const out = new Uint8Array(slab, slabUsed, size)
  // The next view starts 8-byte aligned.
  slabUsed = (slabUsed + size + 7) & ~7
  return out
}

/** `bytes[start, end)` copied into memory of its own (see {@link allocate}). */
export function copyBytes(bytes: Uint8Array, start = 0, end = bytes.length): Uint8Array {
  const out = allocate(end - start)
  out.set(bytes.subarray(start, end))
  return out
}

/**
 * `bytes[start, end)` in memory of its own (see {@link allocate}), copied byte by byte: for a
 * small range, where no view into `bytes` is to be made. On JavaScriptCore the first view into
 * an array a socket handed over makes the array copy its bytes into a buffer of its own (it had
 * none), which costs more than copying a few hundred bytes here.
 */
export function copySmall(bytes: Uint8Array, start: number, end: number): Uint8Array {
  const out = allocate(end - start)
  for (let at = start; at < end; at++) out[at - start] = bytes[at]!
  return out
}

/**
 * `text` as latin1 bytes (see {@link encodeLatin1}) followed by `body`, in one array: a head
 * and the body that leaves with it in one write.
 */
export function encodeHead(text: string, body?: Uint8Array): Uint8Array {
  const length = text.length
  const out = allocate(body ? length + body.byteLength : length)
  writeLatin1(text, out)
  if (body) out.set(body, length)
  return out
}

/**
 * `text` as latin1 bytes in an array of its own (not a view into the shared slab): for bytes
 * kept long, which would otherwise keep a whole slab alive.
 */
export function encodeOwn(text: string): Uint8Array {
  const out = new Uint8Array(text.length)
  writeLatin1(text, out)
  return out
}

/** `text` as latin1 bytes at the start of `out`, which has room for them. */
function writeLatin1(text: string, out: Uint8Array): void {
  const length = text.length
  // All ASCII when UTF-8 wrote one byte per code unit; otherwise the loop writes it again (and
  // whatever is set after the text replaces what UTF-8 wrote past it).
  const { read, written } = ENCODER.encodeInto(text, out)
  if (read !== length || written !== length) {
    for (let i = 0; i < length; i++) out[i] = text.charCodeAt(i)
  }
}

/** The index of the first CRLF in `bytes[from, to)`, or -1. */
export function indexOfCrlf(bytes: Uint8Array, from = 0, to = bytes.length): number {
  let at = from
  while (at < to) {
    const lf = bytes.indexOf(LF, at)
    if (lf === -1 || lf >= to) return -1
    if (lf > from && bytes[lf - 1] === CR) return lf - 1
    at = lf + 1
  }
  return -1
}

/** The index of the first CRLFCRLF (the end of a head, RFC 9112 §2.1) in `bytes[from, to)`. */
export function indexOfHeadEnd(bytes: Uint8Array, from = 0, to = bytes.length): number {
  let at = from
  while (at < to) {
    const lf = bytes.indexOf(LF, at)
    if (lf === -1 || lf + 2 >= to) return -1
    if (lf >= from + 1 && bytes[lf - 1] === CR && bytes[lf + 1] === CR && bytes[lf + 2] === LF) {
      return lf - 1
    }
    at = lf + 1
  }
  return -1
}

/** `a` then `b`, in one new array. */
export function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

/** `chunks` in one new array; `length` is their total size when the caller knows it. */
export function concatAll(
  chunks: readonly Uint8Array[],
  length = chunks.reduce((n, chunk) => n + chunk.byteLength, 0),
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length)
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.byteLength
  }
  return out
}

/** `data` as one chunk (RFC 9112 §7.1): its size in hex, CRLF, the data, CRLF; in one array. */
export function frameChunk(data: Uint8Array): Uint8Array {
  const size = `${data.byteLength.toString(16)}\r\n`
  const out = new Uint8Array(size.length + data.byteLength + 2)
  for (let i = 0; i < size.length; i++) out[i] = size.charCodeAt(i)
  out.set(data, size.length)
  out[out.length - 2] = CR
  out[out.length - 1] = LF
  return out
}

/** RFC 9112 §7.1: the last chunk, and no trailers. */
export const LAST_CHUNK = encodeLatin1('0\r\n\r\n')
