/**
 * Field lines for the heads the engine writes (RFC 9112 §5: `name: value` CRLF), joined into one
 * string, from one head to the next. A load balancer's heads mostly repeat: the same backend
 * answers with the same fields in the same order, and the fields fulcrum adds to a request are
 * the same for every request of a client but its id. Each line and each run of lines from the
 * first is kept from the head before, so that a head which repeats the previous one for its
 * first lines reuses their string as it is, and only the lines after the first difference are
 * concatenated: a handful of strings a head instead of four a field.
 */
export class FieldLines {
  /** The previous head's names and values, and `joined[i]`: its lines 0 to `i`, joined. */
  readonly #names: string[] = []
  readonly #values: string[] = []
  readonly #joined: string[] = []
  #count = 0

  /**
   * The lines of `names[0, count)` and `values[0, count)`, in order, each `name: value` and CRLF.
   * What it keeps (the last head's strings) it keeps until the next head.
   */
  join(names: readonly string[], values: readonly string[], count: number): string {
    const keptNames = this.#names
    const keptValues = this.#values
    const joined = this.#joined
    const same = Math.min(count, this.#count)
    let i = 0
    while (i < same && names[i] === keptNames[i] && values[i] === keptValues[i]) i++
    let text = i === 0 ? '' : joined[i - 1]!
    for (; i < count; i++) {
      const name = names[i]!
      const value = values[i]!
      text += name + ': ' + value + '\r\n'
      keptNames[i] = name
      keptValues[i] = value
      joined[i] = text
    }
    // Lines past this head's end are let go.
    if (this.#count > count) {
      keptNames.length = count
      keptValues.length = count
      joined.length = count
    }
    this.#count = count
    return text
  }
}

/**
 * A line made of a value that mostly repeats from one head to the next (a Host, a length, the
 * date): `prefix + value + suffix`, kept while the value stays the same.
 */
export class RepeatedLine {
  #value: string | undefined
  #line = ''

  constructor(
    readonly prefix: string,
    readonly suffix: string,
  ) {}

  /** The line for `value`. */
  of(value: string): string {
    if (value !== this.#value) {
      this.#value = value
      this.#line = this.prefix + value + this.suffix
    }
    return this.#line
  }
}
