/**
 * A small etcd v3 client over its JSON gateway (grpc-gateway: `POST /v3/kv/range`, `/v3/kv/txn`,
 * `/v3/watch`, `/v3/lease/*`) with `fetch`, so that it runs unchanged on every runtime. Keys and
 * values are base64 on the wire and int64s are strings; this client speaks plain strings and
 * numbers. Several endpoints are tried in turn, so that losing one member changes nothing.
 */

/** One key as etcd holds it. */
export interface EtcdKv {
  key: string
  value: string
  /** The revision of the last change to this key: what compare-and-swap compares. */
  modRevision: number
  createRevision: number
  /**
   * The lease the key is attached to, `''` for none. Lease ids are int64s, beyond what a
   * JavaScript number holds exactly: they stay strings.
   */
  lease: string
}

/** One change seen by a watch. */
export interface EtcdEvent {
  type: 'put' | 'delete'
  kv: EtcdKv
}

/** A transaction's condition on one key (etcd `Compare`). */
export type EtcdCompare =
  | { key: string; modRevision: number }
  /** The key must not exist. */
  | { key: string; absent: true }

/** A transaction's operation. */
export type EtcdOp =
  | { put: string; value: string; lease?: string }
  | { delete: string }
  /** Delete every key under a prefix. */
  | { deletePrefix: string }

/** etcd could not be reached (every endpoint failed), or answered with an error. */
export class EtcdError extends Error {
  override name = 'EtcdError'
}

/** A watch was told its start revision is compacted: resync with a range, then watch again. */
export class EtcdCompactedError extends EtcdError {
  override name = 'EtcdCompactedError'
  constructor(readonly compactRevision: number) {
    super(`etcd compacted past the watched revision (now ${compactRevision})`)
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Text as base64 (UTF-8 first). */
function b64(text: string): string {
  let binary = ''
  for (const byte of encoder.encode(text)) binary += String.fromCharCode(byte)
  return btoa(binary)
}

/** Base64 as text. */
function unb64(value: string | undefined): string {
  if (!value) return ''
  const binary = atob(value)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return decoder.decode(bytes)
}

/** The first key after every key that starts with `prefix` (etcd's `range_end` for a prefix). */
function prefixEnd(prefix: string): string {
  const bytes = encoder.encode(prefix)
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      const end = bytes.slice(0, i + 1)
      end[i]!++
      let binary = ''
      for (const byte of end) binary += String.fromCharCode(byte)
      return btoa(binary)
    }
  }
  return btoa('\0')
}

interface RawKv {
  key?: string
  value?: string
  mod_revision?: string
  create_revision?: string
  lease?: string
}

function kvOf(raw: RawKv): EtcdKv {
  return {
    key: unb64(raw.key),
    value: unb64(raw.value),
    modRevision: Number(raw.mod_revision ?? 0),
    createRevision: Number(raw.create_revision ?? 0),
    lease: raw.lease && raw.lease !== '0' ? raw.lease : '',
  }
}

/** Options for {@link EtcdClient}. */
export interface EtcdClientOptions {
  /** Client URLs of the members, e.g. `http://127.0.0.1:2379`. */
  endpoints: readonly string[]
  /** Each request's timeout, in ms (not the watch stream's). @default 2000 */
  timeout?: number
  /**
   * While a watch is open, its member's `/health` is asked this often (ms). A member that hangs
   * (or is cut off from the others) keeps the stream open but sends nothing: when it stops
   * answering, or answers that it is not healthy, the watch is dropped for another member.
   * @default 1000
   */
  watchProbe?: number
  /** @default globalThis.fetch */
  fetch?: EtcdFetch
}

/** The `fetch` the client calls: the global one, or a test's. */
export type EtcdFetch = (url: string, init: RequestInit) => Promise<Response>

/**
 * The client.
 *
 * @example
 * ```ts
 * const etcd = new EtcdClient({ endpoints: ['http://127.0.0.1:2379'] })
 * const { kvs, revision } = await etcd.range('/fulcrum/prod/', { prefix: true })
 * ```
 */
export class EtcdClient {
  readonly #endpoints: string[]
  readonly #timeout: number
  readonly #fetch: EtcdFetch
  readonly #watchProbe: number
  /** The endpoint that answered last: tried first next time. */
  #preferred = 0

  constructor(options: EtcdClientOptions) {
    if (options.endpoints.length === 0) throw new TypeError('etcd: no endpoint')
    this.#endpoints = options.endpoints.map((url) => url.replace(/\/+$/, ''))
    this.#timeout = options.timeout ?? 2000
    this.#watchProbe = options.watchProbe ?? 1000
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init))
  }

  /** Keys `key`, or every key under it with `prefix`, and the store's revision. */
  async range(
    key: string,
    options: { prefix?: boolean; revision?: number } = {},
  ): Promise<{ kvs: EtcdKv[]; revision: number }> {
    const body: Record<string, unknown> = { key: b64(key) }
    if (options.prefix) body.range_end = prefixEnd(key)
    if (options.revision) body.revision = String(options.revision)
    const answer = (await this.#call('/v3/kv/range', body)) as {
      header?: { revision?: string }
      kvs?: RawKv[]
    }
    return {
      kvs: (answer.kvs ?? []).map(kvOf),
      revision: Number(answer.header?.revision ?? 0),
    }
  }

  /**
   * A transaction: when every comparison holds, the operations run, atomically.
   *
   * @returns whether it succeeded, and the store's revision after it
   */
  async txn(
    compare: readonly EtcdCompare[],
    ops: readonly EtcdOp[],
  ): Promise<{ succeeded: boolean; revision: number }> {
    const answer = (await this.#call('/v3/kv/txn', {
      compare: compare.map((c) =>
        'absent' in c
          ? { key: b64(c.key), target: 'CREATE', result: 'EQUAL', create_revision: '0' }
          : {
              key: b64(c.key),
              target: 'MOD',
              result: 'EQUAL',
              mod_revision: String(c.modRevision),
            },
      ),
      success: ops.map((op) =>
        'put' in op
          ? {
              request_put: {
                key: b64(op.put),
                value: b64(op.value),
                ...(op.lease ? { lease: op.lease } : {}),
              },
            }
          : 'delete' in op
            ? { request_delete_range: { key: b64(op.delete) } }
            : {
                request_delete_range: {
                  key: b64(op.deletePrefix),
                  range_end: prefixEnd(op.deletePrefix),
                },
              },
      ),
    })) as { succeeded?: boolean; header?: { revision?: string } }
    return { succeeded: answer.succeeded === true, revision: Number(answer.header?.revision ?? 0) }
  }

  /** Grant a lease of `ttl` seconds; its id. */
  async grant(ttl: number): Promise<string> {
    const answer = (await this.#call('/v3/lease/grant', { TTL: String(ttl) })) as { ID?: string }
    if (!answer.ID) throw new EtcdError('etcd /v3/lease/grant: no lease id')
    return answer.ID
  }

  /** Renew a lease once; its remaining TTL in seconds (0 or less: it is gone). */
  async keepAlive(lease: string): Promise<number> {
    const answer = (await this.#call('/v3/lease/keepalive', { ID: lease })) as {
      result?: { TTL?: string }
    }
    return Number(answer.result?.TTL ?? 0)
  }

  /** End a lease: its keys are deleted. */
  async revoke(lease: string): Promise<void> {
    await this.#call('/v3/lease/revoke', { ID: lease })
  }

  /**
   * Watch every key under `prefix` from `startRevision`, calling `onEvents` for each batch, until
   * `signal` aborts or the stream breaks.
   *
   * @throws {EtcdCompactedError} when `startRevision` was compacted away
   * @throws {EtcdError} when the stream cannot be opened or breaks
   */
  async watch(
    prefix: string,
    startRevision: number,
    onEvents: (events: EtcdEvent[], revision: number) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const body = JSON.stringify({
      create_request: {
        key: b64(prefix),
        range_end: prefixEnd(prefix),
        start_revision: String(startRevision),
        progress_notify: true,
      },
    })
    // Each attempt has its own abort: the caller's, a member that never answers, and the probe.
    let stream: AbortController | undefined
    let dropped: EtcdError | undefined
    let probe: ReturnType<typeof setInterval> | undefined
    const onAbort = () => stream?.abort()
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      let response: Response | undefined
      let lastError: unknown
      for (const endpoint of this.#order()) {
        if (signal.aborted) return
        const attempt = (stream = new AbortController())
        // A member that takes the connection but never answers (it hangs) is given up on.
        const timer = setTimeout(() => attempt.abort(), this.#timeout)
        try {
          response = await this.#fetch(`${endpoint}/v3/watch`, {
            method: 'POST',
            body,
            headers: { 'content-type': 'application/json' },
            signal: attempt.signal,
          })
          if (response.ok && response.body) {
            probe = this.#probe(endpoint, (reason) => {
              dropped ??= reason
              attempt.abort()
            })
            break
          }
          lastError = new EtcdError(`etcd watch: status ${response.status}`)
          void response.body?.cancel().catch(() => {})
          response = undefined
        } catch (error) {
          lastError = attempt.signal.aborted ? new Error(`${endpoint} did not answer`) : error
          response = undefined
        } finally {
          clearTimeout(timer)
        }
      }
      if (signal.aborted) return
      if (!response?.body) {
        throw new EtcdError(`etcd watch: ${String((lastError as Error)?.message ?? lastError)}`)
      }
      const reader = response.body.getReader()
      let buffered = ''
      for (;;) {
        const { done, value } = await reader.read().catch((error: unknown) => {
          if (signal.aborted) return { done: true, value: undefined }
          throw dropped ?? new EtcdError(`etcd watch broke: ${String((error as Error)?.message)}`)
        })
        if (done) {
          if (signal.aborted) return
          throw dropped ?? new EtcdError('etcd watch ended')
        }
        buffered += decoder.decode(value, { stream: true })
        // The gateway sends one JSON object per message, separated by newlines.
        let newline: number
        while ((newline = buffered.indexOf('\n')) !== -1) {
          const line = buffered.slice(0, newline).trim()
          buffered = buffered.slice(newline + 1)
          if (line) this.#watchMessage(line, onEvents)
        }
      }
    } finally {
      clearInterval(probe)
      signal.removeEventListener('abort', onAbort)
      stream?.abort()
    }
  }

  /**
   * Ask `endpoint`'s `/health` every {@link EtcdClientOptions.watchProbe} ms, and `drop` the
   * watch when it does not answer in time or says it is not healthy (etcd's `/health` needs a
   * leader and a quorum read); the other members are tried first from then on.
   */
  #probe(endpoint: string, drop: (reason: EtcdError) => void): ReturnType<typeof setInterval> {
    let busy = false
    const timer = setInterval(() => {
      if (busy) return
      busy = true
      this.#fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(this.#timeout) })
        .then(async (response) => {
          const { health } = (await response.json()) as { health?: unknown }
          if (health !== 'true') throw new Error(`answers health ${JSON.stringify(health)}`)
        })
        .catch((error: unknown) => {
          const index = this.#endpoints.indexOf(endpoint)
          if (this.#preferred === index) this.#preferred = (index + 1) % this.#endpoints.length
          const why = String((error as Error)?.message ?? error)
          drop(new EtcdError(`etcd watch: ${endpoint} ${why}: watching through another member`))
        })
        .finally(() => {
          busy = false
        })
    }, this.#watchProbe)
    ;(timer as { unref?: () => void }).unref?.()
    return timer
  }

  #watchMessage(line: string, onEvents: (events: EtcdEvent[], revision: number) => void): void {
    const message = JSON.parse(line) as {
      result?: {
        header?: { revision?: string }
        events?: { type?: string; kv?: RawKv }[]
        compact_revision?: string
        canceled?: boolean
        cancel_reason?: string
      }
      error?: { message?: string }
    }
    if (message.error) throw new EtcdError(`etcd watch: ${message.error.message}`)
    const result = message.result
    if (!result) return
    if (result.compact_revision && Number(result.compact_revision) > 0) {
      throw new EtcdCompactedError(Number(result.compact_revision))
    }
    if (result.canceled) throw new EtcdError(`etcd watch canceled: ${result.cancel_reason ?? ''}`)
    const revision = Number(result.header?.revision ?? 0)
    const events = (result.events ?? []).map((event): EtcdEvent => ({
      type: event.type === 'DELETE' ? 'delete' : 'put',
      kv: kvOf(event.kv ?? {}),
    }))
    onEvents(events, revision)
  }

  /** The endpoints, the one that answered last first. */
  #order(): string[] {
    const n = this.#endpoints.length
    return Array.from({ length: n }, (_, i) => this.#endpoints[(this.#preferred + i) % n]!)
  }

  async #call(path: string, body: unknown): Promise<unknown> {
    let lastError: unknown
    const order = this.#order()
    for (const endpoint of order) {
      try {
        const response = await this.#fetch(`${endpoint}${path}`, {
          method: 'POST',
          body: JSON.stringify(body),
          headers: { 'content-type': 'application/json' },
          signal: AbortSignal.timeout(this.#timeout),
        })
        const answer = (await response.json()) as { error?: string; message?: string }
        if (!response.ok) {
          // An answer from etcd itself (a bad request, a lease not found) is not a member down.
          throw new EtcdError(`etcd ${path}: ${answer.message ?? answer.error ?? response.status}`)
        }
        this.#preferred = this.#endpoints.indexOf(endpoint)
        return answer
      } catch (error) {
        if (error instanceof EtcdError) throw error
        lastError = error
      }
    }
    throw new EtcdError(
      `etcd unreachable (${order.join(', ')}): ${String((lastError as Error)?.message ?? lastError)}`,
    )
  }
}
