/**
 * A set kept as a doubly linked list through its items themselves: a listener's open connections
 * (src/http1/server.ts, src/tcp/service.ts) and the deadlines of one duration (src/deadlines.ts).
 *
 * A listener adds one item per accepted connection and deletes it when the connection closes.
 * On Bun, a `Set` with an add and a delete per connection made JavaScriptCore's collections
 * visit about 3.5 MB each and nearly half of them full ones: fulcrum's TCP listener under
 * `wrk -c64` with `Connection: close` for 7 s (`BUN_JSC_logGC=1`) had 14 full collections of 32
 * and 227 ms of pauses with a `Set`, 2 of 39 and 57 ms with this list. Adding and deleting here
 * allocates nothing: the links are fields of the item.
 */

/** What an item of a {@link LinkedSet} carries: its neighbours, and whether it is in one. */
export interface Linked<T> {
  prevLinked: T | undefined
  nextLinked: T | undefined
  linked: boolean
}

/** Items in the order they were added, oldest first; each item in at most one set. */
export class LinkedSet<T extends Linked<T>> {
  #head: T | undefined
  #tail: T | undefined
  #size = 0

  /** How many items are in the set. */
  get size(): number {
    return this.#size
  }

  /** The oldest item, or `undefined` when empty; follow `nextLinked` for the rest. */
  get first(): T | undefined {
    return this.#head
  }

  /** Add `item` at the tail; an item already in the set stays where it is. */
  add(item: T): void {
    if (item.linked) return
    const tail = this.#tail
    item.prevLinked = tail
    item.nextLinked = undefined
    if (tail) tail.nextLinked = item
    else this.#head = item
    this.#tail = item
    item.linked = true
    this.#size++
  }

  /** Remove `item`; `false` when it was not in the set. */
  delete(item: T): boolean {
    if (!item.linked) return false
    item.linked = false
    const { prevLinked, nextLinked } = item
    if (prevLinked) prevLinked.nextLinked = nextLinked
    else this.#head = nextLinked
    if (nextLinked) nextLinked.prevLinked = prevLinked
    else this.#tail = prevLinked
    item.prevLinked = item.nextLinked = undefined
    this.#size--
    return true
  }

  /** The items now, oldest first: a copy, so that the caller may close (delete) them as it goes. */
  toArray(): T[] {
    const all: T[] = []
    for (let item = this.#head; item; item = item.nextLinked) all.push(item)
    return all
  }
}
