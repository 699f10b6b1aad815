import type { FieldLines } from './field-lines.ts'

/**
 * A header field list for the forwarding path: what `Headers` offers for reading and editing
 * (names case-insensitive, `get` joining duplicates with `, `, RFC 9110 §5.3), kept as two plain
 * arrays in arrival order. The engine's parser has already refused every malformed name and
 * value, so nothing is validated again, nothing is sorted, and a request or response crosses
 * fulcrum without a `Headers` built for it: a head comes in, the same list is edited, a head
 * goes out.
 */
export class FieldList {
  /** Lower-cased names. */
  readonly #names: string[]
  readonly #values: string[]

  /**
   * Where the engine writing this list may find its lines already encoded: an upstream
   * connection's own (the parser's; see FieldLines). A cache only: the lines are compared.
   */
  readonly encoded: FieldLines | undefined

  private constructor(names: string[], values: string[], encoded?: FieldLines) {
    this.#names = names
    this.#values = values
    this.encoded = encoded
  }

  /** From raw field lines `[name, value, name, value, …]` (a parsed head's `fields`). */
  static ofFields(fields: readonly string[]): FieldList {
    const names: string[] = []
    const values: string[] = []
    for (let i = 0; i < fields.length; i += 2) {
      names.push(fields[i]!.toLowerCase())
      values.push(fields[i + 1]!)
    }
    return new FieldList(names, values)
  }

  /**
   * From names already lower-cased and their values (the lists are taken, not copied), with
   * the cache of {@link encoded} if there is one.
   */
  static ofLowerCase(names: string[], values: string[], encoded?: FieldLines): FieldList {
    return new FieldList(names, values, encoded)
  }

  /** From anything `Headers` iterates like (a `Headers`, a list of pairs). */
  static from(init: Iterable<readonly [string, string]>): FieldList {
    const names: string[] = []
    const values: string[] = []
    for (const [name, value] of init) {
      names.push(name.toLowerCase())
      values.push(value)
    }
    return new FieldList(names, values)
  }

  get(name: string): string | null {
    const key = name.toLowerCase()
    const names = this.#names
    let value: string | null = null
    for (let i = 0; i < names.length; i++) {
      if (names[i] === key)
        value = value === null ? this.#values[i]! : `${value}, ${this.#values[i]}`
    }
    return value
  }

  has(name: string): boolean {
    return this.#names.includes(name.toLowerCase())
  }

  getSetCookie(): string[] {
    const out: string[] = []
    for (let i = 0; i < this.#names.length; i++) {
      if (this.#names[i] === 'set-cookie') out.push(this.#values[i]!)
    }
    return out
  }

  /** Replace every field of that name by one, where the first one was. */
  set(name: string, value: string): void {
    const key = name.toLowerCase()
    const at = this.#names.indexOf(key)
    if (at === -1) {
      this.#names.push(key)
      this.#values.push(value)
      return
    }
    this.#values[at] = value
    this.#remove(key, at + 1)
  }

  append(name: string, value: string): void {
    this.#names.push(name.toLowerCase())
    this.#values.push(value)
  }

  delete(name: string): void {
    this.#remove(name.toLowerCase(), 0)
  }

  #remove(key: string, from: number): void {
    const names = this.#names
    for (let i = names.length - 1; i >= from; i--) {
      if (names[i] === key) {
        names.splice(i, 1)
        this.#values.splice(i, 1)
      }
    }
  }

  /** The number of field lines (duplicates counted one by one). */
  get size(): number {
    return this.#names.length
  }

  /**
   * Put the fields into `outNames` and `outValues` from index 0 as {@link entries} yields them,
   * in one pass: a later line of a name already put is joined to it (`Set-Cookie` aside).
   * Returns how many were put.
   */
  collectInto(outNames: string[], outValues: string[]): number {
    const names = this.#names
    const values = this.#values
    let count = 0
    next: for (let i = 0; i < names.length; i++) {
      const name = names[i]!
      if (name !== 'set-cookie') {
        for (let j = 0; j < count; j++) {
          if (outNames[j] !== name) continue
          outValues[j] += ', ' + values[i]!
          continue next
        }
      }
      outNames[count] = name
      outValues[count++] = values[i]!
    }
    return count
  }

  /**
   * Remove the hop-by-hop fields: those `fixed` says are (it is given lower-case names) and every
   * field named in `Connection` (RFC 9110 §7.6.1), in one pass.
   */
  stripNamed(fixed: (name: string) => boolean): void {
    const names = this.#names
    const named = this.#connectionOptions(fixed)
    let kept = 0
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!
      if (fixed(name) || named?.includes(name)) continue
      if (kept !== i) {
        names[kept] = name
        this.#values[kept] = this.#values[i]!
      }
      kept++
    }
    if (kept === names.length) return
    names.length = kept
    this.#values.length = kept
  }

  /**
   * A copy without the hop-by-hop fields, as {@link stripNamed} would leave it: {@link clone}
   * and {@link stripNamed} in one pass, the list itself unchanged.
   */
  copyWithout(fixed: (name: string) => boolean): FieldList {
    const names = this.#names
    const named = this.#connectionOptions(fixed)
    const keptNames: string[] = []
    const keptValues: string[] = []
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!
      if (fixed(name) || named?.includes(name)) continue
      keptNames.push(name)
      keptValues.push(this.#values[i]!)
    }
    return new FieldList(keptNames, keptValues)
  }

  /**
   * The lower-cased options of every `Connection` field (RFC 9110 §7.6.1), if there is one;
   * those `fixed` strips anyway (`keep-alive`) are left out, so that the usual field makes no list.
   */
  #connectionOptions(fixed: (name: string) => boolean): string[] | undefined {
    const names = this.#names
    let named: string[] | undefined
    for (let i = 0; i < names.length; i++) {
      if (names[i] !== 'connection') continue
      const value = this.#values[i]!
      // One option, the usual case, without a list of tokens made for it.
      if (!value.includes(',')) named = withOption(named, value, fixed)
      else for (const token of value.split(',')) named = withOption(named, token, fixed)
    }
    return named
  }

  /**
   * Each name once, in the order it first came, with its values joined; `Set-Cookie` lines one
   * by one (RFC 6265 §3), as `Headers` iterates them (though not sorted).
   */
  *entries(): IterableIterator<[string, string]> {
    const names = this.#names
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!
      if (name === 'set-cookie') yield [name, this.#values[i]!]
      else if (names.indexOf(name) === i) {
        yield [name, names.indexOf(name, i + 1) === -1 ? this.#values[i]! : this.get(name)!]
      }
    }
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries()
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value
  }

  forEach(callback: (value: string, name: string, parent: FieldList) => void): void {
    for (const [name, value] of this.entries()) callback(value, name, this)
  }

  /** This list where a `Headers` is expected (it offers every method fulcrum uses). */
  asHeaders(): Headers {
    return this as unknown as Headers
  }
}

/** `named` with the option `token` added (trimmed, lower-cased), unless it is empty or `fixed`. */
function withOption(
  named: string[] | undefined,
  token: string,
  fixed: (name: string) => boolean,
): string[] | undefined {
  const name = token.trim().toLowerCase()
  if (name && !fixed(name)) (named ??= []).push(name)
  return named
}

/**
 * Put the field lines of `headers` into `names` and `values` from index 0, as `Headers` iterates
 * them (each name once with its values joined, `Set-Cookie` line by line), and return how many.
 * The engine's own list is read in place, without an iterator; the arrays are the caller's to
 * reuse from one head to the next.
 */
export function collectFields(headers: Headers, names: string[], values: string[]): number {
  const list = headers as unknown
  if (list instanceof FieldList) return list.collectInto(names, values)
  let count = 0
  for (const [name, value] of headers) {
    names[count] = name
    values[count++] = value
  }
  return count
}
