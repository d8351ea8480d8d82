import { randomUUID } from 'node:crypto';
import {
  createBackoff,
  decodeScopeMessage,
  encodeScopeMessage,
  type InvalidationBus,
  type InvalidationHandlers,
  type InvalidationMessage,
  type Logger,
  type ScopeInvalidationMessage,
  sleep,
} from '@authcache/core';
import type { Cluster, Redis } from 'ioredis';
import { withTimeout } from './breaker.js';

/** Options of {@link createRedisBus}. Every time is in milliseconds. */
export interface RedisBusOptions {
  /**
   * An ioredis `Redis` or `Cluster` client, used to publish. The bus reads on its own
   * connection made with `redis.duplicate()` (a blocking `XREAD` would stall every other
   * command) and closes only that one.
   */
  redis: Redis | Cluster;
  /** The stream key. All instances of one application must use the same. Default: `'authcache:invalidations'`. */
  stream?: string;
  /**
   * Approximate length the stream is trimmed to on every `XADD` (`MAXLEN ~`). An instance
   * disconnected for longer than it takes to publish this many invalidations flushes its
   * cache when it reconnects. Must be a positive integer. Default: `10_000`.
   */
  maxLen?: number;
  /**
   * How long one `XREAD BLOCK` waits before it is sent again. Only bounds how long an idle
   * reader holds a request open; delivery is immediate either way. Default: `5_000`.
   */
  blockMs?: number;
  /** Upper bound of one `XADD`; a slower publish is reported as failed. Default: `1_000`. */
  publishTimeoutMs?: number;
  /** Identifies this instance's messages, so it ignores its own. Default: a random UUID. */
  origin?: string;
  /** `CLIENT SETNAME` of the reading connection (visible in `CLIENT LIST`). Default: `'authcache-bus'`. */
  connectionName?: string;
  /**
   * First delay before reading again after the reader failed, and before retrying failed
   * publishes; it doubles on each further failure up to 1 s, with 20 % jitter. Default: `50`.
   */
  retryDelayMs?: number;
  /**
   * Failed publishes kept and retried in the background (every `retryDelayMs`, doubling up to
   * 1 s) until Redis takes them, so peers still hear of a revoke made during a Redis outage.
   * Past this many the oldest are dropped. `0` disables retrying. Default: `1_000`.
   */
  maxPending?: number;
  /** Where warnings go (reader errors, flushes). Default: `console`. */
  logger?: Logger;
}

/** Counters returned by `bus.stats()`. */
export interface RedisBusStats {
  /** Entries added to the stream (including retried ones). */
  published: number;
  /** Publishes that failed at first (each is then retried, see `maxPending`). */
  publishErrors: number;
  /** Failed publishes that went through on a retry. */
  republished: number;
  /** Failed publishes dropped because more than `maxPending` were waiting. */
  publishDropped: number;
  /** Failed publishes still waiting for a retry. */
  pending: number;
  /** Messages from other instances handed to the auth cache. */
  received: number;
  /** Own messages read back and skipped. */
  ignoredOwn: number;
  /** Times the reader failed (e.g. its connection was killed) and resumed from its last id. */
  reconnects: number;
  /** Times the stream had lost entries this instance had not read, so its cache was flushed. */
  flushes: number;
  /** The id of the last entry read. */
  lastId: string;
  /** Whether the reader is started and its last read succeeded. */
  connected: boolean;
  /** `Date.now()` when the last stream entry was read (own ones included); `null`: none yet. */
  lastMessageAt: number | null;
  /** Entries read by the first read after a reader failure (catching up from the last id). */
  caughtUp: number;
}

export interface RedisBus extends InvalidationBus {
  stats(): RedisBusStats;
}

/** Compares two stream ids (`ms-seq`). */
export function compareStreamIds(a: string, b: string): number {
  const [aMs = '0', aSeq = '0'] = a.split('-');
  const [bMs = '0', bSeq = '0'] = b.split('-');
  const ms = BigInt(aMs) - BigInt(bMs);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(aSeq) - BigInt(bSeq);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

function fieldsToRecord(fields: unknown): Record<string, string> {
  const record: Record<string, string> = {};
  if (!Array.isArray(fields)) return record;
  for (let i = 0; i + 1 < fields.length; i += 2) record[String(fields[i])] = String(fields[i + 1]);
  return record;
}

/**
 * An invalidation bus on a Redis Stream.
 *
 * `publish` appends `{ o: origin, k: kind, h: tokenHash, r: reason }` with `XADD … MAXLEN ~`;
 * `publishScope` appends `{ o: origin, s: <scope JSON> }` (readers of older versions skip it).
 * Each instance reads with `XREAD BLOCK` from the id of the last entry it read, on a dedicated
 * connection. When that connection drops, the reader resumes from that id once reconnected, so
 * nothing published meanwhile is lost; if the stream was trimmed (or recreated) past that id, it
 * calls `onFlush` and the cache drops everything. Messages carry token hashes only.
 */
export function createRedisBus(options: RedisBusOptions): RedisBus {
  const { redis } = options;
  if (!redis) throw new TypeError('createRedisBus: options.redis is required');
  const stream = options.stream ?? 'authcache:invalidations';
  const maxLen = options.maxLen ?? 10_000;
  if (!Number.isInteger(maxLen) || maxLen < 1)
    throw new TypeError('createRedisBus: maxLen must be a positive integer');
  const blockMs = options.blockMs ?? 5_000;
  const publishTimeoutMs = options.publishTimeoutMs ?? 1_000;
  const origin = options.origin ?? randomUUID();
  const connectionName = options.connectionName ?? 'authcache-bus';
  const retryDelayMs = options.retryDelayMs ?? 50;
  const logger: Logger = options.logger ?? console;
  const maxPending = options.maxPending ?? 1_000;
  const batch = 500;
  /** Every retry loop of this bus waits the same way: doubling from retryDelayMs, at most 1 s. */
  const backoff = () =>
    createBackoff({ initialMs: retryDelayMs, maxMs: Math.max(1_000, retryDelayMs) });

  const counters = {
    published: 0,
    publishErrors: 0,
    republished: 0,
    publishDropped: 0,
    received: 0,
    ignoredOwn: 0,
    reconnects: 0,
    flushes: 0,
    caughtUp: 0,
  };
  let lastId = '0-0';
  let lastMessageAt: number | null = null;
  /** The reader is up: started, and its last read did not fail. */
  let healthy = false;
  /** The next successful read resumes after a failure: what it brings is a catch-up. */
  let resuming = false;
  /**
   * How many entries the stream had ever received up to and including `lastId` (its
   * `entries-added` when we synced, plus every entry read since). When the stream has removed
   * more entries than that, some of what it removed was never read: a gap. `undefined` on
   * Redis < 7, which does not report `entries-added`.
   */
  let addedThroughLastId: number | undefined = 0;
  let reader: Redis | Cluster | undefined;
  let loop: Promise<void> | undefined;
  let closed = false;
  /** Failed publishes waiting to be retried (their stream fields), oldest first. */
  const pending: string[][] = [];
  let retryTimer: NodeJS.Timeout | undefined;

  function duplicateReader(): Redis | Cluster {
    // The reader must survive reconnects on its own schedule and report a dropped XREAD
    // instead of silently re-sending it, so that the gap check runs before reading again.
    if ('isCluster' in redis && redis.isCluster) {
      const cluster = redis as Cluster;
      return cluster.duplicate([], {
        enableOfflineQueue: true,
        redisOptions: {
          ...cluster.options.redisOptions,
          connectionName,
          autoResendUnfulfilledCommands: false,
          maxRetriesPerRequest: null,
        },
      });
    }
    return (redis as Redis).duplicate({
      connectionName,
      enableOfflineQueue: true,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: null,
    });
  }

  async function streamInfo(client: Redis | Cluster): Promise<Record<string, unknown> | undefined> {
    try {
      const raw = (await client.call('XINFO', 'STREAM', stream)) as unknown[];
      const info: Record<string, unknown> = {};
      for (let i = 0; i + 1 < raw.length; i += 2) info[String(raw[i])] = raw[i + 1];
      return info;
    } catch (error) {
      if (/no such key/i.test(String((error as Error)?.message))) return undefined;
      throw error;
    }
  }

  /** Continues after the newest entry the stream ever had (used at start and after a flush). */
  function syncTo(info: Record<string, unknown> | undefined): void {
    lastId = info ? String(info['last-generated-id'] ?? '0-0') : '0-0';
    const added = info?.['entries-added'];
    addedThroughLastId = info === undefined ? 0 : typeof added === 'number' ? added : undefined;
  }

  /**
   * Did the stream lose entries after `lastId` that we never read (trimmed by `MAXLEN` while we
   * were away, or the whole stream was lost)? Then our cache may hold something revoked
   * meanwhile: flush it, and continue after the newest entry.
   */
  async function checkGap(client: Redis | Cluster, handlers: InvalidationHandlers): Promise<void> {
    const info = await streamInfo(client);
    if (info === undefined) {
      // The stream is gone (Redis restarted without persistence, or it was deleted): whatever
      // was published since our last read is lost.
      if (lastId !== '0-0') flush(handlers, 'the invalidation stream disappeared');
      syncTo(undefined);
      return;
    }
    const lastGenerated = String(info['last-generated-id'] ?? '0-0');
    const added = info['entries-added'];
    const length = Number(info.length ?? 0);
    let gap: string | undefined;
    if (compareStreamIds(lastGenerated, lastId) < 0) gap = 'the invalidation stream was recreated';
    else if (typeof added === 'number' && addedThroughLastId !== undefined) {
      if (added < addedThroughLastId) gap = 'the invalidation stream was recreated';
      else if (added - length > addedThroughLastId) {
        gap = 'the invalidation stream was trimmed past the last entry read';
      }
    } else {
      // Redis < 7: an oldest entry newer than ours means a gap may exist (conservative).
      const first = info['first-entry'];
      const firstId = Array.isArray(first) ? String(first[0]) : undefined;
      if (firstId && lastId !== '0-0' && compareStreamIds(firstId, lastId) > 0) {
        gap = 'the invalidation stream was trimmed past the last entry read';
      }
    }
    if (gap === undefined) return;
    flush(handlers, gap);
    syncTo(info);
  }

  function flush(handlers: InvalidationHandlers, why: string): void {
    counters.flushes++;
    logger.warn(`authcache: ${why}; flushing the local cache`, { stream });
    handlers.onFlush();
  }

  function deliver(handlers: InvalidationHandlers, entries: [string, unknown][]): void {
    if (entries.length > 0) lastMessageAt = Date.now();
    if (resuming) counters.caughtUp += entries.length;
    for (const [id, fields] of entries) {
      lastId = id;
      if (addedThroughLastId !== undefined) addedThroughLastId++;
      const record = fieldsToRecord(fields);
      if (record.o === origin) {
        counters.ignoredOwn++;
        continue;
      }
      if (record.s !== undefined) {
        // A scoped invalidation (`s`: its JSON). Older readers skip it (no `k`/`h`).
        const message = decodeScopeMessage(record.s);
        if (!message || !handlers.onScopeInvalidate) continue;
        counters.received++;
        try {
          handlers.onScopeInvalidate(message);
        } catch (error) {
          logger.warn('authcache: an invalidation handler threw', { error: String(error) });
        }
        continue;
      }
      if (!record.k || !record.h) continue;
      counters.received++;
      try {
        handlers.onInvalidate({
          kind: record.k,
          tokenHash: record.h,
          reason: record.r === 'revoked' ? 'revoked' : 'invalidated',
        });
      } catch (error) {
        logger.warn('authcache: an invalidation handler threw', { error: String(error) });
      }
    }
  }

  /**
   * One `XREAD BLOCK` from `lastId`. ioredis drops (never settles) a command whose connection
   * closed when `autoResendUnfulfilledCommands` is off, so the read also fails when the
   * connection closes, and, as a backstop (e.g. a Cluster node's connection), when it takes well
   * past its block time.
   */
  function readOnce(client: Redis | Cluster): Promise<[string, [string, unknown][]][] | null> {
    return new Promise((resolve, reject) => {
      const onClose = () => settle(() => reject(new Error('the reading connection closed')));
      const watchdog = setTimeout(
        () => settle(() => reject(new Error('XREAD did not return in time'))),
        blockMs + 2_000,
      );
      let settled = false;
      const settle = (finish: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        client.off('close', onClose);
        finish();
      };
      client.once('close', onClose);
      (
        client.call(
          'XREAD',
          'COUNT',
          String(batch),
          'BLOCK',
          String(blockMs),
          'STREAMS',
          stream,
          lastId,
        ) as Promise<[string, [string, unknown][]][] | null>
      ).then(
        (value) => settle(() => resolve(value)),
        (error) => settle(() => reject(error)),
      );
    });
  }

  async function run(client: Redis | Cluster, handlers: InvalidationHandlers): Promise<void> {
    let needsGapCheck = false;
    const delays = backoff();
    while (!closed) {
      try {
        if (needsGapCheck) {
          await checkGap(client, handlers);
          needsGapCheck = false;
        }
        const result = await readOnce(client);
        delays.reset();
        healthy = true;
        if (result) {
          for (const [, entries] of result) {
            deliver(handlers, entries);
            // A full batch means we are behind: make sure nothing was trimmed under us.
            if (entries.length >= batch) needsGapCheck = true;
          }
        }
        // A full batch keeps us catching up; anything less means we are live again.
        if (!needsGapCheck) resuming = false;
      } catch (error) {
        if (closed) return;
        healthy = false;
        resuming = true;
        counters.reconnects++;
        needsGapCheck = true;
        logger.warn(
          'authcache: reading the invalidation stream failed; resuming from the last id',
          {
            error: (error as Error)?.message ?? String(error),
          },
        );
        await sleep(delays.next());
      }
    }
  }

  function xadd(fields: readonly string[]): Promise<unknown> {
    return withTimeout(
      redis.call('XADD', stream, 'MAXLEN', '~', String(maxLen), '*', 'o', origin, ...fields),
      publishTimeoutMs,
    );
  }

  async function publishFields(fields: string[]): Promise<void> {
    try {
      await xadd(fields);
      counters.published++;
    } catch (error) {
      counters.publishErrors++;
      keepForRetry(fields);
      throw error;
    }
  }

  /**
   * A publish that failed (Redis unreachable) is retried in the background until it goes
   * through, so peers still hear of the revoke once Redis is back instead of after their TTL.
   * Bounded: past `maxPending` the oldest are dropped (and logged).
   */
  function keepForRetry(fields: string[]): void {
    if (closed || maxPending <= 0) return;
    pending.push(fields);
    if (pending.length > maxPending) {
      pending.shift();
      counters.publishDropped++;
      logger.warn('authcache: too many unpublished invalidations; dropping the oldest', { stream });
    }
    if (!retryTimer) scheduleRetry();
  }

  const publishDelays = backoff();
  function scheduleRetry(): void {
    retryTimer = setTimeout(async () => {
      retryTimer = undefined;
      while (pending.length > 0 && !closed) {
        try {
          await xadd(pending[0]!);
        } catch {
          scheduleRetry();
          return;
        }
        publishDelays.reset();
        pending.shift();
        counters.published++;
        counters.republished++;
      }
    }, publishDelays.next());
    retryTimer.unref();
  }

  return {
    publish(message: InvalidationMessage) {
      return publishFields(['k', message.kind, 'h', message.tokenHash, 'r', message.reason]);
    },

    publishScope(message: ScopeInvalidationMessage) {
      return publishFields(['s', encodeScopeMessage(message)]);
    },

    async start(handlers) {
      if (reader) throw new Error('createRedisBus: already started');
      closed = false;
      const client = duplicateReader();
      reader = client;
      // Silence the client's own error events: the loop reports failures.
      client.on('error', () => {});
      // Where to start reading: everything after the newest entry now. Retried until it works,
      // because a bus must not die just because Redis was down when the app booted.
      const delays = backoff();
      for (;;) {
        if (closed) return;
        try {
          syncTo(await streamInfo(client));
          break;
        } catch (error) {
          logger.warn('authcache: the invalidation stream is not reachable yet; retrying', {
            error: (error as Error)?.message ?? String(error),
          });
          await sleep(delays.next());
        }
      }
      healthy = true;
      loop = run(client, handlers);
    },

    async close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = undefined;
      reader?.disconnect();
      await loop;
      reader = undefined;
      healthy = false;
      loop = undefined;
    },

    stats() {
      return {
        ...counters,
        pending: pending.length,
        lastId,
        connected: reader !== undefined && healthy,
        lastMessageAt,
      };
    },
  };
}
