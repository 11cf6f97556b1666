import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import type { FastifyBaseLogger } from 'fastify'
import { Redis } from 'ioredis'
// @fastify/rate-limit's own stores (CommonJS, no types of their own): the Redis one keeps a
// counter per key in Redis with one Lua call, the local one in a per-process LRU.
// eslint-disable-next-line @typescript-eslint/ban-ts-comment
// @ts-ignore -- no declaration file for the store modules
import LocalStoreModule from '@fastify/rate-limit/store/LocalStore.js'
// eslint-disable-next-line @typescript-eslint/ban-ts-comment
// @ts-ignore -- no declaration file for the store modules
import RedisStoreModule from '@fastify/rate-limit/store/RedisStore.js'

type Counted = Parameters<FastifyRateLimitStore['incr']>[1]
type RouteOptions = Parameters<FastifyRateLimitStore['child']>[0]

/** The store interface @fastify/rate-limit calls (its README, "Custom store"; `read` serves `{ increment: false }`). */
interface RateLimitStore extends FastifyRateLimitStore {
  read: (key: string, callback: Counted, timeWindow: number, max: number) => void
  child: (routeOptions: RouteOptions) => RateLimitStore
}

type StoreConstructor<Args extends unknown[]> = new (...args: Args) => RateLimitStore
const LocalStore = LocalStoreModule as StoreConstructor<[boolean, boolean, number?]>
const RedisStore = RedisStoreModule as StoreConstructor<[boolean, boolean, Redis, string?]>

/** A Redis command that takes longer than this counts as Redis being away (the request goes on). */
const REDIS_COMMAND_TIMEOUT_MS = 250

/** A Redis client for the rate limits: it fails fast, never queues commands while away, and reconnects by itself. */
export function createRateLimitRedis (url: string): Redis {
  const redis = new Redis(url, {
    connectTimeout: 1_000,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    // Back within a second of Redis's return, however long it was away.
    retryStrategy: (times) => Math.min(50 * times, 1_000)
  })
  // Errors are handled where commands fail (the store falls back); the client's own events would
  // otherwise print for every reconnection attempt.
  redis.on('error', () => {})
  return redis
}

/**
 * The rate-limit store for several processes: counters in Redis, so the processes enforce one
 * limit together. While Redis cannot answer (down, refusing, too slow), the API stays up: each
 * process counts in its own memory instead (fail open, but still limited per process), says so in
 * the log once, and goes back to Redis as soon as a command succeeds again (which it says once too).
 */
export function sharedRateLimitStore (redis: Redis, logger: FastifyBaseLogger): FastifyRateLimitStoreCtor {
  let degraded = false

  function redisFailed (error: Error | undefined): void {
    if (degraded) return
    degraded = true
    logger.warn({ reason: error?.message ?? `redis connection ${redis.status}` }, 'Redis is unreachable: rate limits are counted by each process alone until it is back')
  }

  function redisAnswered (): void {
    if (!degraded) return
    degraded = false
    logger.info('Redis is back: rate limits are shared between processes again')
  }

  class SharedOrLocalStore implements RateLimitStore {
    private readonly shared: RateLimitStore
    private readonly local: RateLimitStore

    constructor (options: { continueExceeding?: boolean, exponentialBackoff?: boolean }, shared?: RateLimitStore) {
      this.shared = shared ?? new RedisStore(options.continueExceeding === true, options.exponentialBackoff === true, redis)
      this.local = new LocalStore(options.continueExceeding === true, options.exponentialBackoff === true)
    }

    private count (method: 'incr' | 'read', key: string, callback: Counted, timeWindow: number, max: number): void {
      if (redis.status !== 'ready') {
        redisFailed(undefined)
        this.local[method](key, callback, timeWindow, max)
        return
      }
      this.shared[method](key, (error, result) => {
        if (error !== null) {
          redisFailed(error)
          this.local[method](key, callback, timeWindow, max)
          return
        }
        redisAnswered()
        callback(null, result)
      }, timeWindow, max)
    }

    incr (key: string, callback: Counted, timeWindow: number, max: number): void {
      this.count('incr', key, callback, timeWindow, max)
    }

    read (key: string, callback: Counted, timeWindow: number, max: number): void {
      this.count('read', key, callback, timeWindow, max)
    }

    child (routeOptions: RouteOptions): RateLimitStore {
      // The plugin hands a child the route's rate-limit settings (its types call them route options).
      return new SharedOrLocalStore(routeOptions as { continueExceeding?: boolean, exponentialBackoff?: boolean }, this.shared.child(routeOptions))
    }
  }

  return SharedOrLocalStore
}
