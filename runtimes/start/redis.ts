/**
 * The Redis client behind `RuntimeDeps.redis` (fleet-wide rate limits): ioredis, which runs on
 * Node, Deno and Bun alike over their `node:net`. It is loaded only when a config names a
 * `rateLimit.store`: at start when the first config does, else on first use.
 *
 * Set up to fail fast, since a request is waiting on every command:
 * - no offline queue: while the connection is down, a command fails at once (the rate-limit store
 *   then answers by `onStoreDown`); only the first connection attempt is waited for;
 * - a command in flight when the connection drops fails, and is never sent again after the
 *   reconnect (it would take its tokens twice);
 * - the caller gives a command up after its timeout (src/edge/redis-rate.ts, which also lets a
 *   stalled event loop read its sockets first); ioredis's own timeout, ten times longer, only
 *   keeps its queue from growing while Redis hangs; 1 s to connect;
 * - reconnects with a backoff: 100 ms, doubling up to 1 s, for as long as it takes.
 */
import type { Config } from '../../src/config.ts'
import type { RedisFactory, RedisLike } from '../../src/redis-client.ts'

type IORedis = import('ioredis').Redis
type IORedisClass = typeof import('ioredis').Redis

let loading: Promise<IORedisClass> | undefined
const load = () => (loading ??= import('ioredis').then((module) => module.Redis))

/**
 * The factory for `RuntimeDeps.redis`. When `config` names a store, the client starts loading
 * now, so that the first requests do not wait on it.
 */
export function redisFactory(config: Config): RedisFactory {
  if (config.rateLimit?.store) load().catch(() => {})
  return connectRedis
}

/** Open a connection to `url` (`redis://[user:password@]host[:port][/db]`). */
export const connectRedis: RedisFactory = (url, options): RedisLike => {
  let client: IORedis | undefined
  let closed = false
  /** Resolves once the first connection attempt has ended; `undefined` from then on. */
  let firstAttempt: Promise<void> | undefined
  const opened = load().then((Redis) => {
    client = new Redis(url, {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: Math.max(1000, options.timeout * 10),
      connectTimeout: 1000,
      retryStrategy: (times) => Math.min(100 * 2 ** (times - 1), 1000),
      lazyConnect: closed,
    })
    // Each error also shows as a failed command; the store logs when Redis goes down and up.
    client.on('error', () => {})
    firstAttempt = new Promise<void>((resolve) => {
      client!.once('ready', resolve)
      client!.once('close', resolve)
    }).then(() => {
      firstAttempt = undefined
    })
    return client
  })

  return {
    async call(command, args) {
      // The caller gives up after its timeout: these waits are bounded by it.
      const redis = client ?? (await opened)
      if (firstAttempt) await firstAttempt
      if (closed) throw new Error('Redis: closed')
      if (redis.status !== 'ready') throw new Error(`Redis: not connected (${redis.status})`)
      return redis.call(command, ...args)
    },
    close() {
      closed = true
      client?.disconnect()
      opened.then((redis) => redis.disconnect()).catch(() => {})
    },
  }
}
