/** Client-side load for e2e tests. */

/** A steady load handle: successes so far, failures as text, and `stop()`. */
export interface SteadyLoad {
  /** Requests answered with 200 so far. */
  readonly ok: number
  /** `HTTP <status>` for any other answer, the error's text for a request that failed. */
  readonly failures: string[]
  /** Stop the loops and wait for their requests in flight. */
  stop(): Promise<void>
}

/**
 * A steady load: `concurrency` loops of sequential GETs to `url`, until stopped. Nothing is
 * retried client-side.
 *
 * @param concurrency loops at once. @default 4
 */
export function steadyLoad(url: string, concurrency = 4): SteadyLoad {
  let running = true
  let ok = 0
  const failures: string[] = []
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      try {
        const response = await fetch(url)
        await response.text()
        if (response.status === 200) ok++
        else failures.push(`HTTP ${response.status}`)
      } catch (error) {
        failures.push(String(error))
      }
    }
  })
  return {
    get ok() {
      return ok
    },
    failures,
    async stop() {
      running = false
      await Promise.all(loops)
    },
  }
}
