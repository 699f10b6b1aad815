import { FieldLines } from './field-lines.ts'

/**
 * The strings of the last response head an upstream connection carried, for the next head to
 * reuse. A backend answers with the same fields in the same order, mostly with the same values
 * (Server, Content-Type, Connection, its own fields; the Date changes once a second): a line
 * whose bytes are those of the same line in the head before is given the strings it had then,
 * and is neither decoded, sliced nor lower-cased again. Comparing bytes costs less than
 * making a string of them, above all on JavaScriptCore, where the first view into a socket's
 * chunk (the decoder's input) makes the chunk copy its bytes into a buffer of its own.
 *
 * The bytes compared against are a copy, made when a head differs from the one before (the
 * chunks are the socket's, and may be large). Nothing is validated here: the parser has checked
 * the bytes before it asks.
 */
export class HeadMemo {
  /** The lines of the responses written from this connection's heads, kept as bytes. */
  readonly encoded = new FieldLines()
  /** The last head's bytes (a copy) and, four a line, its offsets in them: see `fieldMarks`. */
  #bytes = new Uint8Array(0)
  #marks = new Int32Array(0)
  #count = 0
  #reasonStart = 0
  #reasonEnd = 0
  #reason = ''
  readonly #names: string[] = []
  readonly #values: string[] = []
  /** The lower-cased value of line `i` if it is a Connection field (its options). */
  readonly #lowered: (string | undefined)[] = []
  /** Whether the head being parsed differs from the last one, in any line or in its count. */
  #changed = false

  /** The head being parsed has `count` lines (asked first, for each head). */
  begin(count: number): void {
    this.#changed = count !== this.#count
  }

  /** The last head's reason phrase if `buf[start, end)` holds the same bytes. */
  reason(buf: Uint8Array, start: number, end: number): string | undefined {
    if (sameAs(this.#bytes, this.#reasonStart, this.#reasonEnd, buf, start, end)) {
      return this.#reason
    }
    this.#changed = true
    return undefined
  }

  /** The name of the last head's line `i` if `buf[start, end)` holds the same bytes. */
  name(i: number, buf: Uint8Array, start: number, end: number): string | undefined {
    return this.#same(i, 0, buf, start, end) ? this.#names[i] : undefined
  }

  /** The value of the last head's line `i` if `buf[start, end)` holds the same bytes. */
  value(i: number, buf: Uint8Array, start: number, end: number): string | undefined {
    return this.#same(i, 2, buf, start, end) ? this.#values[i] : undefined
  }

  /** The lower-cased value of line `i` (after {@link value} gave its value), if it is kept. */
  lowered(i: number): string | undefined {
    return this.#lowered[i]
  }

  /**
   * Keep the head just parsed, unless it is the last one again: `buf[start, end)` with its line
   * offsets in `marks` (four a line, in `buf`) and its strings.
   */
  remember(
    buf: Uint8Array,
    start: number,
    end: number,
    marks: Int32Array,
    count: number,
    reason: string,
    reasonStart: number,
    reasonEnd: number,
    names: readonly string[],
    values: readonly string[],
  ): void {
    if (!this.#changed) return
    let bytes = this.#bytes
    if (bytes.length < end - start) bytes = this.#bytes = new Uint8Array(end - start + 256)
    for (let at = start; at < end; at++) bytes[at - start] = buf[at]!
    let own = this.#marks
    if (own.length < count * 4) own = this.#marks = new Int32Array(count * 4 + 16)
    for (let i = 0; i < count * 4; i++) own[i] = marks[i]! - start
    this.#reasonStart = reasonStart - start
    this.#reasonEnd = reasonEnd - start
    this.#reason = reason
    for (let i = 0; i < count; i++) {
      this.#names[i] = names[i]!
      this.#values[i] = values[i]!
      this.#lowered[i] = names[i] === 'connection' ? values[i]!.toLowerCase() : undefined
    }
    // Lines past this head's end are let go.
    this.#names.length = count
    this.#values.length = count
    this.#lowered.length = count
    this.#count = count
  }

  /** Whether line `i`'s name (`part` 0) or value (2) was `buf[start, end)` in the last head. */
  #same(i: number, part: number, buf: Uint8Array, start: number, end: number): boolean {
    if (i < this.#count) {
      const at = i * 4 + part
      if (sameAs(this.#bytes, this.#marks[at]!, this.#marks[at + 1]!, buf, start, end)) return true
    }
    this.#changed = true
    return false
  }
}

/** Whether `a[aStart, aEnd)` and `b[bStart, bEnd)` are the same bytes. */
function sameAs(
  a: Uint8Array,
  aStart: number,
  aEnd: number,
  b: Uint8Array,
  bStart: number,
  bEnd: number,
): boolean {
  const length = aEnd - aStart
  if (length !== bEnd - bStart) return false
  for (let i = 0; i < length; i++) if (a[aStart + i] !== b[bStart + i]) return false
  return true
}
