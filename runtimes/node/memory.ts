/**
 * V8 heap limits for `node dist/node.js`, set from inside the process: that command line has no
 * room for `--max-semi-space-size`, and V8 reads that flag only when the heap is set up.
 *
 * Under load most of a proxy's garbage is per-request and short-lived, but enough of it lives
 * through two scavenges to be promoted, and V8 lets the old generation grow to about four times
 * the live set before it marks (wrk, 64 connections: heapTotal ~105 MB over a live set of
 * ~19 MB, peak RSS 150-180 MB). Two flags that V8 reads at every GC bound that:
 * - `--heap-growing-percent`: the old generation may grow by this much over the live set before
 *   the next mark-compact (each takes ~6 ms on a ~20 MB live set);
 * - `--semi-space-growth-factor`: how much the young generation grows after a scavenge with many
 *   survivors. It starts at 1 MB per semi-space; it may grow to `semiSpaceMb`, then no more: the
 *   factor is re-set at each check (an unreferenced timer) to the largest that stays within it.
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8'

/** Options for {@link limitNodeHeap}. */
export interface NodeHeapOptions {
  /**
   * Largest young-generation semi-space, MiB (a 1 MB semi-space costs ~45% of keep-alive
   * throughput; 2 to 4 MB cost nothing measurable).
   * @default 2
   */
  semiSpaceMb?: number
  /** The old generation's growth over the live set before the next mark-compact, %. @default 20 */
  heapGrowingPercent?: number
  /** How often the young generation's size is checked, ms. @default 200 */
  checkInterval?: number
}

/** Bound V8's heap as {@link NodeHeapOptions} describe; the timer never keeps Node alive. */
export function limitNodeHeap(options: NodeHeapOptions = {}): void {
  const { semiSpaceMb = 2, heapGrowingPercent = 20, checkInterval = 200 } = options
  setFlagsFromString(`--heap-growing-percent=${heapGrowingPercent}`)
  // The young generation is two semi-spaces: new_space's size is twice a semi-space's.
  const ceiling = 2 * semiSpaceMb * 1024 * 1024
  let factor = 0
  const check = () => {
    const young = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')
    // The largest whole factor that stays within the ceiling; 1 (no growth) once there.
    const wanted = young ? Math.max(1, Math.floor(ceiling / young.space_size)) : 1
    if (wanted === factor) return
    factor = wanted
    setFlagsFromString(`--semi-space-growth-factor=${wanted}`)
  }
  check()
  setInterval(check, checkInterval).unref()
}
