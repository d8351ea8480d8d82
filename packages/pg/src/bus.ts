import { randomUUID } from 'node:crypto';
import type {
  InvalidationBus,
  InvalidationHandlers,
  InvalidationMessage,
  Logger,
} from '@authcache/core';
import pg from 'pg';
import { quoteSchema } from './queryable.js';

/** The channel the `0003_authcache_invalidation` triggers notify on. */
export const INVALIDATION_CHANNEL = 'authcache_invalidation';

/** Options of {@link pgBus}. Every time is in milliseconds. */
export interface PgBusOptions {
  /**
   * The application's `pg.Pool` (the one `pgTokenStore` uses). The bus opens one more,
   * dedicated connection with the pool's settings for `LISTEN`, and uses the pool for
   * catch-up, pruning and publishing.
   */
  pool: pg.Pool;
  /** Schema of the tables, migrated with `migrate()` (migration `0003`). Default: `'public'`. */
  schema?: string;
  /**
   * Log rows older than this are deleted (each instance prunes every `pruneIntervalMs`). An
   * instance disconnected for longer than this flushes its whole cache when it reconnects,
   * because it may have missed pruned rows. Default: `86_400_000` (one day).
   */
  retentionMs?: number;
  /** How often this instance prunes the log. `0` or negative: never. Default: `60_000`. */
  pruneIntervalMs?: number;
  /**
   * Catch-up re-reads rows created up to this long before the connection was lost, besides every
   * id after it: ids are taken at insert time, so a transaction may commit a lower id after a
   * higher one was read. Re-reading is harmless (invalidations are idempotent). Default: `10_000`.
   */
  catchUpOverlapMs?: number;
  /** `application_name` of the listening connection (visible in `pg_stat_activity`). Default: `'authcache-bus'`. */
  applicationName?: string;
  /**
   * How often the listening connection is checked with a `SELECT 1`. A check not answered
   * within this long, or failing, counts as a lost connection: the bus reconnects and catches
   * up. Without it, a connection dropped silently (a NAT or firewall timeout, a failover
   * without a reset) would lose every notification until restart, since `LISTEN` never sends
   * anything. `0` or negative: never. Default: `30_000`.
   */
  healthCheckIntervalMs?: number;
  /** Delay before reconnecting a lost listener (doubles after each failure, up to 2 s). Default: `100`. */
  retryDelayMs?: number;
  /** Identifies this instance's own published rows, so it ignores them. Default: a random UUID. */
  origin?: string;
  /** Where warnings go (lost listener, prune failures). Default: `console`. */
  logger?: Logger;
}

/** Counters returned by `bus.stats()`. */
export interface PgBusStats {
  /** Messages handed to the auth cache (from notifications and catch-up). */
  received: number;
  /** Rows found by catch-up queries after a (re)connect. */
  caughtUp: number;
  /** Times the listener connection was lost and re-established. */
  reconnects: number;
  /** Times the cache was flushed because the bus was away longer than the retention. */
  flushes: number;
  /** Rows deleted by pruning. */
  pruned: number;
  /** Highest log id seen. */
  lastId: string;
  /** Whether the listening connection is up. */
  connected: boolean;
}

export interface PgBus extends InvalidationBus {
  stats(): PgBusStats;
  /** Deletes log rows older than `retentionMs` now; returns how many. */
  prune(): Promise<number>;
}

interface LogRow {
  id: string;
  kind: string;
  token_hash: string;
  reason: string;
  origin: string | null;
}

interface Payload {
  schema: string;
  id: number | string;
  kind: string;
  hash: string;
  reason: string;
  origin: string | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An invalidation bus on Postgres: the `0003_authcache_invalidation` triggers log every change
 * that invalidates a token (revoked, deleted, `expires_at` shortened, `token_hash` changed),
 * however it was made, and `pg_notify` it. Each instance `LISTEN`s on a dedicated connection
 * and, on connect and every reconnect, reads the log from the last id it saw, so a dropped
 * connection never loses a revoke.
 *
 * Messages from the triggers are marked `fromStore`: each receiving instance also invalidates
 * its shared tier (idempotent), because the writer of a plain SQL `UPDATE` did not.
 * `publish()` logs only `invalidated` messages (`auth.invalidate()`); revocations reach the log
 * through the triggers when the store's `revoke` updates the row.
 */
export function pgBus(options: PgBusOptions): PgBus {
  const { pool } = options;
  if (!pool) throw new TypeError('pgBus: options.pool is required');
  const schemaName = options.schema ?? 'public';
  const schema = quoteSchema(schemaName);
  const table = `${schema}.authcache_invalidation`;
  const retentionMs = options.retentionMs ?? 86_400_000;
  const pruneIntervalMs = options.pruneIntervalMs ?? 60_000;
  const overlapMs = options.catchUpOverlapMs ?? 10_000;
  const applicationName = options.applicationName ?? 'authcache-bus';
  const retryDelayMs = options.retryDelayMs ?? 100;
  const healthCheckIntervalMs = options.healthCheckIntervalMs ?? 30_000;
  const origin = options.origin ?? randomUUID();
  const logger: Logger = options.logger ?? console;
  if (!(retentionMs > 0)) throw new TypeError('pgBus: retentionMs must be positive');

  const counters = { received: 0, caughtUp: 0, reconnects: 0, flushes: 0, pruned: 0 };
  let lastId = 0n;
  /** Database clock minus ours, measured at each (re)connect; `undefined` before the first. */
  let clockOffset: number | undefined;
  let disconnectedAt: number | undefined;
  let listener: pg.Client | undefined;
  let handlers: InvalidationHandlers | undefined;
  let closed = false;
  let reconnecting: Promise<void> | undefined;
  let pruneTimer: NodeJS.Timeout | undefined;
  let healthTimer: NodeJS.Timeout | undefined;

  function deliver(
    id: bigint,
    kind: string,
    tokenHash: string,
    reason: string,
    from: string | null,
  ) {
    if (id > lastId) lastId = id;
    if (from === origin || !handlers) return;
    counters.received++;
    const message: InvalidationMessage = {
      kind,
      tokenHash,
      reason: reason === 'revoked' ? 'revoked' : 'invalidated',
      // Rows written by the triggers: nobody has invalidated the shared tier for them.
      ...(from === null ? { fromStore: true } : {}),
    };
    try {
      handlers.onInvalidate(message);
    } catch (error) {
      logger.warn('authcache: an invalidation handler threw', { error: String(error) });
    }
  }

  function onNotification(notification: pg.Notification) {
    if (notification.channel !== INVALIDATION_CHANNEL || !notification.payload) return;
    let payload: Payload;
    try {
      payload = JSON.parse(notification.payload) as Payload;
    } catch {
      return;
    }
    // One channel serves every schema of the database.
    if (payload.schema !== schemaName) return;
    deliver(BigInt(payload.id), payload.kind, payload.hash, payload.reason, payload.origin ?? null);
  }

  /** Reads what was logged while we were not listening. */
  async function catchUp(client: pg.Client): Promise<void> {
    const asked = Date.now();
    const { rows: clock } = await client.query<{ now: Date }>('SELECT now() AS now');
    const offset = clock[0]!.now.getTime() - (asked + Date.now()) / 2;
    if (clockOffset === undefined) {
      // First connect: the cache is empty, there is nothing to catch up on.
      const { rows } = await client.query<{ id: string | null }>(
        `SELECT max(id) AS id FROM ${table}`,
      );
      lastId = BigInt(rows[0]?.id ?? 0);
      // Only now: set before max(id) failed, a retry would replay the log from id 0.
      clockOffset = offset;
      return;
    }
    clockOffset = offset;
    if (disconnectedAt !== undefined && Date.now() - disconnectedAt >= retentionMs - overlapMs) {
      // Rows we never read may have been pruned.
      counters.flushes++;
      logger.warn(
        'authcache: the invalidation listener was away longer than the retention; flushing',
      );
      handlers?.onFlush();
    }
    // Rows created shortly before the connection was lost may carry a lower id than the last
    // one seen yet have committed after it: read those again too (idempotent).
    const since = new Date((disconnectedAt ?? asked) + clockOffset - overlapMs);
    const { rows } = await client.query<LogRow>(
      `SELECT id, kind, token_hash, reason, origin FROM ${table}
        WHERE id > $1 OR created_at > $2 ORDER BY id`,
      [lastId.toString(), since],
    );
    counters.caughtUp += rows.length;
    for (const row of rows) {
      deliver(BigInt(row.id), row.kind, row.token_hash, row.reason, row.origin);
    }
  }

  async function connectOnce(): Promise<void> {
    const client = new pg.Client({
      ...pool.options,
      application_name: applicationName,
      // The OS notices a dead peer eventually; the health check below, much sooner.
      keepAlive: true,
    });
    client.on('notification', onNotification);
    /** When the last health check was sent that got its answer (or when we connected). */
    let aliveAt = Date.now();
    const lost = (since = Date.now()) => {
      if (listener !== client) return;
      listener = undefined;
      clearTimeout(healthTimer);
      healthTimer = undefined;
      disconnectedAt ??= since;
      client.removeListener('notification', onNotification);
      client.end().catch(() => {});
      if (!closed) void reconnect();
    };
    client.on('error', (error) => {
      logger.warn('authcache: the invalidation listener lost its connection; reconnecting', {
        error: error.message,
      });
      lost();
    });
    client.on('end', lost);
    try {
      await client.connect();
      // LISTEN before catching up: whatever commits in between arrives either way.
      await client.query(`LISTEN ${INVALIDATION_CHANNEL}`);
      await catchUp(client);
    } catch (error) {
      client.removeAllListeners('notification');
      client.on('error', () => {});
      await client.end().catch(() => {});
      throw error;
    }
    if (closed) {
      await client.end().catch(() => {});
      return;
    }
    listener = client;
    disconnectedAt = undefined;
    aliveAt = Date.now();
    if (healthCheckIntervalMs > 0) scheduleHealthCheck();

    function scheduleHealthCheck() {
      healthTimer = setTimeout(async () => {
        if (listener !== client) return;
        const sent = Date.now();
        let timeout: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            client.query('SELECT 1'),
            new Promise((_, reject) => {
              timeout = setTimeout(
                () => reject(new Error(`no answer within ${healthCheckIntervalMs} ms`)),
                healthCheckIntervalMs,
              );
            }),
          ]);
          // Notifications sent before the answer have arrived: none was missed until `sent`.
          aliveAt = sent;
          if (listener === client) scheduleHealthCheck();
        } catch (error) {
          if (listener !== client) return;
          logger.warn('authcache: the invalidation listener failed a health check; reconnecting', {
            error: (error as Error)?.message ?? String(error),
          });
          // A silently dead socket would never finish end()'s goodbye: drop it outright.
          client.connection.stream.destroy();
          lost(aliveAt);
        } finally {
          clearTimeout(timeout);
        }
      }, healthCheckIntervalMs);
      healthTimer.unref();
    }
  }

  function reconnect(): Promise<void> {
    reconnecting ??= (async () => {
      let delay = retryDelayMs;
      counters.reconnects++;
      while (!closed) {
        await sleep(delay);
        if (closed) return;
        try {
          await connectOnce();
          return;
        } catch (error) {
          logger.warn('authcache: reconnecting the invalidation listener failed; retrying', {
            error: (error as Error)?.message ?? String(error),
          });
          delay = Math.min(delay * 2, 2_000);
        }
      }
    })().finally(() => {
      reconnecting = undefined;
    });
    return reconnecting;
  }

  async function prune(): Promise<number> {
    const result = await pool.query(
      `DELETE FROM ${table} WHERE created_at < now() - ($1::double precision * interval '1 millisecond')`,
      [retentionMs],
    );
    const count = (result as { rowCount?: number | null }).rowCount ?? 0;
    counters.pruned += count;
    return count;
  }

  return {
    async publish(message) {
      // Revocations are logged by the triggers when the store updates the row; logging them
      // here too would only announce them twice.
      if (message.reason === 'revoked') return;
      await pool.query(`SELECT ${schema}.authcache_log_invalidation($1, $2, $3, $4)`, [
        message.kind,
        message.tokenHash,
        message.reason,
        origin,
      ]);
    },

    async start(h) {
      if (handlers) throw new Error('pgBus: already started');
      handlers = h;
      closed = false;
      let delay = retryDelayMs;
      for (;;) {
        if (closed) return;
        try {
          await connectOnce();
          break;
        } catch (error) {
          logger.warn('authcache: the invalidation listener cannot connect yet; retrying', {
            error: (error as Error)?.message ?? String(error),
          });
          await sleep(delay);
          delay = Math.min(delay * 2, 2_000);
        }
      }
      // close() may have run while connecting: it cleared no timer yet, so make none.
      if (closed) return;
      if (pruneIntervalMs > 0) {
        pruneTimer = setInterval(() => {
          prune().catch((error) =>
            logger.warn('authcache: pruning the invalidation log failed', {
              error: (error as Error)?.message ?? String(error),
            }),
          );
        }, pruneIntervalMs);
        pruneTimer.unref();
      }
    },

    async close() {
      closed = true;
      if (pruneTimer) clearInterval(pruneTimer);
      pruneTimer = undefined;
      clearTimeout(healthTimer);
      healthTimer = undefined;
      const client = listener;
      listener = undefined;
      await client?.end().catch(() => {});
      await reconnecting;
      handlers = undefined;
    },

    prune,

    stats() {
      return { ...counters, lastId: lastId.toString(), connected: listener !== undefined };
    },
  };
}
