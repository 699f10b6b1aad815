import { FieldLines } from './field-lines.ts'
import { FieldList } from './fields.ts'

/** What the response parser made of a head: all that the same bytes would make again. */
export interface RememberedHead {
  /** The parser's method was HEAD (the same bytes frame another way then). */
  noBody: boolean
  status: number
  statusText: string
  keepAlive: boolean
  hasBody: boolean
  /** The parser's state after the head, and the body bytes then due. */
  state: number
  remaining: number
}

/**
 * The last response head an upstream connection carried, for the next head to reuse. A backend
 * answers with the same fields in the same order, mostly with the same values (Server,
 * Content-Type, Connection, its own fields; the Date changes once a second):
 *
 * - a head that is the last one again, byte for byte, is answered as it was ({@link repeated}):
 *   those bytes passed every check of the parser when they came;
 * - otherwise a line whose name or value repeats the bytes of the same line in the last head is
 *   given the string it had then ({@link name}, {@link value}), and is neither decoded, sliced
 *   nor lower-cased again.
 *
 * Comparing bytes costs less than making a string of them, above all on JavaScriptCore, where
 * the first view into a socket's chunk (the decoder's input) makes the chunk copy its bytes into
 * a buffer of its own. The bytes compared against are a copy (the chunks are the socket's, and
 * may be large), made for each head that is not a repeat.
 */
export class HeadMemo {
  /** The lines of the responses written from this connection's heads, kept as bytes. */
  readonly encoded = new FieldLines()
  /** The last head's bytes (a copy, `#size` of them) and, four a line, its offsets in them. */
  #bytes = new Uint8Array(0)
  #size = -1
  #marks = new Int32Array(0)
  #count = 0
  #reasonStart = 0
  #reasonEnd = 0
  readonly #names: string[] = []
  readonly #values: string[] = []
  /** The lower-cased value of line `i` if it is a Connection field (its options). */
  readonly #lowered: (string | undefined)[] = []
  #head: RememberedHead | undefined

  /** What the parser made of the last head, if `buf[start, end)` is that head again. */
  repeated(
    buf: Uint8Array,
    start: number,
    end: number,
    noBody: boolean,
  ): RememberedHead | undefined {
    const head = this.#head
    if (head === undefined || head.noBody !== noBody) return undefined
    return sameAs(this.#bytes, 0, this.#size, buf, start, end) ? head : undefined
  }

  /** The last head's fields, as a list of their own (to edit) with {@link encoded}. */
  fields(): FieldList {
    return FieldList.ofLowerCase(this.#names.slice(), this.#values.slice(), this.encoded)
  }

  /** The last head's reason phrase if `buf[start, end)` holds the same bytes. */
  reason(buf: Uint8Array, start: number, end: number): string | undefined {
    return sameAs(this.#bytes, this.#reasonStart, this.#reasonEnd, buf, start, end)
      ? this.#head?.statusText
      : undefined
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
   * Keep the head just parsed: `buf[start, end)` with its line offsets in `marks` (four a line,
   * in `buf`), its lower-case names and values, its reason phrase's offsets, and what the
   * parser made of it.
   */
  remember(
    buf: Uint8Array,
    start: number,
    end: number,
    marks: Int32Array,
    count: number,
    names: readonly string[],
    values: readonly string[],
    reasonStart: number,
    reasonEnd: number,
    head: RememberedHead,
  ): void {
    let bytes = this.#bytes
    if (bytes.length < end - start) bytes = this.#bytes = new Uint8Array(end - start + 256)
    for (let at = start; at < end; at++) bytes[at - start] = buf[at]!
    this.#size = end - start
    let own = this.#marks
    if (own.length < count * 4) own = this.#marks = new Int32Array(count * 4 + 16)
    for (let i = 0; i < count * 4; i++) own[i] = marks[i]! - start
    this.#reasonStart = reasonStart - start
    this.#reasonEnd = reasonEnd - start
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
    this.#head = head
  }

  /** Whether line `i`'s name (`part` 0) or value (2) was `buf[start, end)` in the last head. */
  #same(i: number, part: number, buf: Uint8Array, start: number, end: number): boolean {
    if (i >= this.#count) return false
    const at = i * 4 + part
    return sameAs(this.#bytes, this.#marks[at]!, this.#marks[at + 1]!, buf, start, end)
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
