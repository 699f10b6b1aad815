/**
 * Deadlines for the request path without a runtime timer each: every attempt upstream has one
 * (the response-headers timeout), and nearly all of them are cancelled within milliseconds. A
 * runtime's `setTimeout` and `clearTimeout` cost 0.4–3.4 µs a pair (Bun, Node, Deno), a few per
 * cent of a proxied request; an entry in a list costs an object.
 *
 * The deadlines of one duration are due in the order they were set, so each duration keeps a
 * doubly linked list, oldest first, and one runtime timer for the oldest entry: adding is a push
 * at the tail, cancelling an unlink. The timer is left armed when its entry goes; when it fires
 * early it is armed again for the entry now first, so that a busy list costs one timer per
 * duration, not one per deadline. An empty list clears its timer, so that nothing is left behind
 * for the process (or a test's fake clock) to wait for.
 */
import { wallClock } from './clock.ts'
import { LinkedSet, type Linked } from './linked-set.ts'

/** A pending deadline. */
export interface Deadline {
  /** Forget the deadline: its callback will not run. Safe to call more than once. */
  cancel(): void
}

/**
 * What a deadline calls when it passes: a function, or an object's `expired` method (an object
 * that is its own listener costs no closure per deadline).
 */
export type DeadlineListener = (() => void) | { expired(): void }

class Entry implements Deadline, Linked<Entry> {
  prevLinked: Entry | undefined = undefined
  nextLinked: Entry | undefined = undefined
  linked = false
  constructor(
    readonly list: DeadlineList,
    readonly at: number,
    readonly onExpire: DeadlineListener,
    /** The order in which its list got it. */
    readonly seq: number,
  ) {}

  cancel(): void {
    if (this.linked) this.list.unlink(this)
  }
}

/** The deadlines of one duration (see the module's comment). */
class DeadlineList {
  /** Oldest first: the order they are due in. */
  readonly #entries = new LinkedSet<Entry>()
  #timer: ReturnType<typeof setTimeout> | undefined
  /** When the armed timer fires. */
  #timerAt = 0
  /** Entries added so far (the last one's `seq`). */
  #added = 0

  constructor(readonly ms: number) {}

  add(onExpire: DeadlineListener): Entry {
    const entry = new Entry(this, wallClock() + this.ms, onExpire, ++this.#added)
    this.#entries.add(entry)
    if (this.#timer === undefined) this.#arm(entry.at)
    return entry
  }

  unlink(entry: Entry): void {
    this.#entries.delete(entry)
    if (this.#entries.size === 0 && this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
  }

  #arm(at: number): void {
    this.#timerAt = at
    this.#timer = setTimeout(this.#fire, Math.max(0, at - wallClock()))
    // Never what keeps a process alive.
    ;(this.#timer as { unref?: () => void }).unref?.()
  }

  readonly #fire = (): void => {
    this.#timer = undefined
    const now = Math.max(wallClock(), this.#timerAt)
    // Each callback runs after its entry is gone: it may add or cancel others. What a callback
    // adds is due `ms` from now, never in this firing, even when the clock has not moved since
    // the entry that fired was added (a timer faked apart from `Date`, or one millisecond).
    const added = this.#added
    for (
      let entry = this.#entries.first;
      entry !== undefined && entry.at <= now && entry.seq <= added;
      entry = this.#entries.first
    ) {
      this.unlink(entry)
      const onExpire = entry.onExpire
      if (typeof onExpire === 'function') onExpire()
      else onExpire.expired()
    }
    const first = this.#entries.first
    if (first !== undefined && this.#timer === undefined) this.#arm(first.at)
  }
}

const lists = new Map<number, DeadlineList>()

/**
 * Run `onExpire` in `ms` milliseconds unless cancelled first, as `setTimeout` would (never early),
 * on a timer shared with the other deadlines of the same duration. `onExpire` is a function, or
 * an object whose `expired` method is called.
 *
 * @example
 * ```ts
 * const deadline = deadlineAfter(30_000, () => fail(new UpstreamTimeoutError('…')))
 * // … the answer came in time:
 * deadline.cancel()
 * ```
 */
export function deadlineAfter(ms: number, onExpire: DeadlineListener): Deadline {
  let list = lists.get(ms)
  if (list === undefined) lists.set(ms, (list = new DeadlineList(ms)))
  return list.add(onExpire)
}
