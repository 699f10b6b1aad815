/**
 * What `src/` knows of a Redis connection: one command at a time, and close. The runtime supplies
 * the client behind it (runtimes/start/redis.ts, over ioredis) through `RuntimeDeps.redis`.
 */

/** A Redis connection, as the runtime provides it (runtimes/start/redis.ts: ioredis). */
export interface RedisLike {
  /**
   * Send one command. Resolves with its reply (integers as numbers, arrays as arrays); rejects
   * with an Error whose message is Redis's error reply (`NOSCRIPT …`), or when the connection is
   * down: at once, without queueing the command for a later reconnect.
   */
  call(command: string, args: readonly (string | number)[]): Promise<unknown>
  /** Close the connection for good. */
  close(): void
}

/** Options of `RuntimeDeps.redis`. */
export interface RedisOptions {
  /** A command's answer is given up after this many ms. */
  timeout: number
}

/** Open a connection to `url` (`redis://[user:password@]host[:port][/db]`), reconnecting by itself. */
export type RedisFactory = (url: string, options: RedisOptions) => RedisLike
