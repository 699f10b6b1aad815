/**
 * The state file (`admin.stateFile`): what the admin API changed, written atomically after each
 * change and read back at start, so that a restart loses nothing.
 */
import { ConfigError } from '../config.ts'
import type { Logger } from '../types.ts'
import type { RuntimeFlags } from './pool-members.ts'

/** The state file's shape. */
export interface StateFile {
  fulcrum: 'state'
  version: 1
  savedAt: string
  /** The live sections of the config (secrets left out; they come from the config at start). */
  config: Record<string, unknown>
  /**
   * Per backend: what the admin API set beyond the config file's fields. Keyed by id for the
   * pool `default`, and by `pool/id` for the others.
   */
  runtime: Record<string, RuntimeFlags>
}

/**
 * Read a state file's text.
 *
 * @throws {ConfigError} naming the file when it is not a fulcrum state file
 */
export function parseStateFile(text: string, path: string): StateFile {
  let state: StateFile
  try {
    state = JSON.parse(text)
  } catch (error) {
    throw new ConfigError(`${path}: Invalid JSON: ${(error as Error).message}`)
  }
  if (state?.fulcrum !== 'state' || state.version !== 1 || typeof state.config !== 'object') {
    throw new ConfigError(`${path}: Not a fulcrum state file (version 1)`)
  }
  return state
}

/** Writes snapshots one at a time; a change during a write is written right after it. */
export class StateFileWriter {
  readonly #write: ((path: string, text: string) => Promise<void>) | undefined
  readonly #logger: Logger
  #saving: Promise<void> | undefined
  #dirty = false

  constructor(write: ((path: string, text: string) => Promise<void>) | undefined, logger: Logger) {
    this.#write = write
    this.#logger = logger
  }

  /** Write `snapshot()` to `path` soon (the latest one, when several changes come at once). */
  schedule(path: string | undefined, snapshot: () => StateFile): void {
    const write = this.#write
    if (!path || !write) return
    this.#dirty = true
    if (this.#saving) return
    this.#saving = (async () => {
      while (this.#dirty) {
        this.#dirty = false
        try {
          await write(path, JSON.stringify(snapshot(), null, 2) + '\n')
        } catch (error) {
          this.#logger.error('cannot write the state file', {
            path,
            error: String((error as Error)?.message ?? error),
          })
        }
      }
      this.#saving = undefined
    })()
  }

  /** Resolves once every change so far is written. */
  async saved(): Promise<void> {
    while (this.#saving) await this.#saving
  }
}
