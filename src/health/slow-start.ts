/**
 * Slow start, as Envoy's `slow_start_config` computes it: a backend that came back (or was added
 * at run time) gets weight × max(minWeightPercent / 100, (elapsed / window)^(1 / aggression)).
 * The factor moves in {@link RAMP_STEPS} steps, so that selectors are rebuilt a few times per ramp
 * rather than per request, and weighted strategies pay nothing per pick.
 */

/** Options, as the config's `slowStart` section has them. */
export interface SlowStartOptions {
  /** The ramp's length in ms; 0 turns slow start off. @default 0 */
  readonly window: number
  /** @default 1 (linear) */
  readonly aggression: number
  /** @default 10 */
  readonly minWeightPercent: number
}

/** The defaults of {@link SlowStartOptions}: off. */
export const DEFAULT_SLOW_START_OPTIONS: SlowStartOptions = {
  window: 0,
  aggression: 1,
  minWeightPercent: 10,
}

/** The ramp's factor takes the values 1/RAMP_STEPS, 2/RAMP_STEPS, … 1. */
export const RAMP_STEPS = 10

/**
 * The weight factor `elapsed` ms into a ramp: a multiple of 1 / {@link RAMP_STEPS}, at least the
 * minimum, and 1 once the window has passed.
 */
export function rampFactor(elapsed: number, options: SlowStartOptions): number {
  const { window, aggression, minWeightPercent } = options
  if (window <= 0 || elapsed >= window) return 1
  const raw = Math.max(Math.max(elapsed, 0) / window, 0) ** (1 / aggression)
  const floor = Math.ceil((minWeightPercent / 100) * RAMP_STEPS - 1e-9)
  const steps = Math.max(1, floor, Math.floor(raw * RAMP_STEPS + 1e-9))
  return Math.min(steps, RAMP_STEPS) / RAMP_STEPS
}

/**
 * When, `elapsed` ms into a ramp, the factor next changes: the elapsed time at which it reaches
 * its next step, or the window's end.
 */
export function nextRampChange(elapsed: number, options: SlowStartOptions): number {
  const { window, aggression } = options
  const current = rampFactor(elapsed, options)
  if (current >= 1) return Infinity
  const next = (Math.round(current * RAMP_STEPS) + 1) / RAMP_STEPS
  // (t / window)^(1 / aggression) = next  ⇔  t = window × next^aggression
  return next >= 1 ? window : Math.min(window, Math.ceil(window * next ** aggression))
}
