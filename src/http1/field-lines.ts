import { encodeOwn } from './bytes.ts'

/**
 * Field lines for the heads the engine writes (RFC 9112 §5: `name: value` CRLF), as bytes, from
 * one head to the next. A load balancer's heads mostly repeat: an upstream connection's
 * responses have the same fields in the same order (as the same strings: HeadMemo), and the
 * fields fulcrum adds to a request are the same for every request of a client but its id (the
 * last line). The lines a head shares from its first with the head before are kept encoded, in
 * an array of their own, and copied as they are; only the lines after them are written, a byte
 * a code unit (latin1, as values are byte strings: RFC 9110 §5.5). No string is joined, and
 * nothing is encoded twice while the heads repeat.
 *
 * In two steps, as a head's size is known before its memory is taken: {@link measure}, then
 * {@link write}.
 */
export class FieldLines {
  /** The last head's names and values (the one being written, after {@link measure}). */
  readonly #names: string[] = []
  readonly #values: string[] = []
  #count = 0
  /** How many lines from the first are kept encoded in {@link #bytes}. */
  #kept = 0
  #bytes: Uint8Array = new Uint8Array(0)

  /**
   * Take the head of `names[0, count)` and `values[0, count)` (lower-case names), and give the
   * size of its lines in bytes. The lines it shares from its first with the head before become
   * the ones kept encoded (encoded once, when that number changes).
   */
  measure(names: readonly string[], values: readonly string[], count: number): number {
    const keptNames = this.#names
    const keptValues = this.#values
    const same = Math.min(count, this.#count)
    let first = 0
    while (first < same && names[first] === keptNames[first] && values[first] === keptValues[first])
      first++
    for (let i = first; i < count; i++) {
      keptNames[i] = names[i]!
      keptValues[i] = values[i]!
    }
    // Lines past this head's end are let go.
    if (this.#count > count) {
      keptNames.length = count
      keptValues.length = count
    }
    this.#count = count
    if (first !== this.#kept) {
      this.#kept = first
      this.#bytes = new Uint8Array(linesSize(keptNames, keptValues, 0, first))
      writeLines(this.#bytes, 0, keptNames, keptValues, 0, first)
    }
    return this.#bytes.length + linesSize(keptNames, keptValues, first, count)
  }

  /** Write the lines of the head just measured into `out` at `at`; where they end. */
  write(out: Uint8Array, at: number): number {
    out.set(this.#bytes, at)
    at += this.#bytes.length
    return writeLines(out, at, this.#names, this.#values, this.#kept, this.#count)
  }
}

/** The size of lines `[from, to)` in bytes: `name: value` and CRLF each. */
function linesSize(
  names: readonly string[],
  values: readonly string[],
  from: number,
  to: number,
): number {
  let size = 0
  for (let i = from; i < to; i++) size += names[i]!.length + values[i]!.length + 4
  return size
}

/** Write lines `[from, to)` into `out` at `at`, a byte a code unit; where they end. */
function writeLines(
  out: Uint8Array,
  at: number,
  names: readonly string[],
  values: readonly string[],
  from: number,
  to: number,
): number {
  for (let i = from; i < to; i++) {
    at = writeText(out, at, names[i]!)
    out[at++] = 0x3a // ':'
    out[at++] = 0x20
    at = writeText(out, at, values[i]!)
    out[at++] = 0x0d
    out[at++] = 0x0a
  }
  return at
}

/**
 * `text` into `out` at `at` as latin1 (each code unit's low byte, as `encodeLatin1` writes it);
 * where it ends. For the short pieces of a head: a loop costs less than a view to encode into.
 */
export function writeText(out: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) out[at++] = text.charCodeAt(i)
  return at
}

/**
 * A line made of a value that mostly repeats from one head to the next (a Host, a length, the
 * date): `prefix + value + suffix`, kept while the value stays the same.
 */
export class RepeatedLine {
  #value: string | undefined
  #line = ''
  #bytes: Uint8Array | undefined

  constructor(
    readonly prefix: string,
    readonly suffix: string,
  ) {}

  /** The line for `value`. */
  of(value: string): string {
    if (value !== this.#value) {
      this.#value = value
      this.#line = this.prefix + value + this.suffix
      this.#bytes = undefined
    }
    return this.#line
  }

  /** The line for `value` as latin1 bytes (an array of its own, kept with the line). */
  bytesOf(value: string): Uint8Array {
    const line = this.of(value)
    return (this.#bytes ??= encodeOwn(line))
  }
}
