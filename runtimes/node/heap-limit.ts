/**
 * Bound V8's heap ({@link limitNodeHeap}) as this module is evaluated. runtimes/node.ts imports
 * it first, so that the bound holds before the rest of the bundle is evaluated: V8 grows the
 * young generation while the modules load, and never shrinks it under load (set after start-up,
 * the same bound let new_space reach 8 MB instead of 4, ~4 MB more peak RSS).
 */
import { limitNodeHeap } from './memory.ts'

limitNodeHeap()
