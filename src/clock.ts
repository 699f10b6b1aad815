/**
 * The time, read at most once per I/O event. A proxied request reads the clock about ten times
 * (deadlines set and cleared, a connection taken from and given back to the upstream pool, the
 * latency and the access log), and on a small virtual machine each read costs 0.1–0.4 µs: a few
 * per cent of a request. nginx reads the clock once per turn of its event loop
 * (`ngx_time_update`), and every timestamp taken in that turn shares it; so does fulcrum within
 * one socket event.
 *
 * The engine marks where a socket event is handled ({@link enterEvent}, {@link leaveEvent});
 * inside, the first read of each clock is kept and given to every later read. Outside one (a
 * timer, a promise continuation, a test), each read is a fresh one, so a fake clock is seen at
 * once. The time is that of the event's start: work that a socket event does synchronously
 * takes microseconds, within the millisecond that timestamps and deadlines are kept in.
 */

/** Socket events being handled, nested (an in-memory socket may deliver inside another). */
let depth = 0
/** This event's wall-clock time (`Date.now()`), or -1 before the first read. */
let wall = -1
/** This event's monotonic time (`performance.now()`), or -1 before the first read. */
let monotonic = -1

/** A socket event starts: the clocks read from here on share their first reading. */
export function enterEvent(): void {
  depth++
}

/** The socket event has been handled: the next reads are fresh. */
export function leaveEvent(): void {
  if (--depth > 0) return
  depth = 0
  wall = -1
  monotonic = -1
}

/** `Date.now()`, read once per socket event. */
export function wallClock(): number {
  if (depth === 0) return Date.now()
  if (wall === -1) wall = Date.now()
  return wall
}

/** `performance.now()` (monotonic, ms), read once per socket event. */
export function monotonicClock(): number {
  if (depth === 0) return performance.now()
  if (monotonic === -1) monotonic = performance.now()
  return monotonic
}
