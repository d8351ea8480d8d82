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
import pg from 'pg';
import { quoteSchema } from './queryable.js';

/** The channel the invalidation triggers (migrations `0003`, `0005`) notify on. */
export const INVALIDATION_CHANNEL = 'authcache_invalidation';

/** Options of {@link createPgBus}. Every time is in milliseconds. */
export interface PgBusOptions {
  /**
   * The application's `pg.Pool` (the one `createPgTokenStore` uses). The bus opens one more,
   * dedicated connection with the pool's settings for `LISTEN`, and uses the pool for
   * catch-up, pruning and publishing.
   */
  pool: pg.Pool;
  /**
   * Schema of the tables, migrated with `migrate()` (migrations up to `0005`, whose `xid` column
   * catch-up reads). Default: `'public'`.
   */
  schema?: string;
  /**
   * Log rows that committed longer ago than this are deleted (each instance prunes every
   * `pruneIntervalMs`; the age counts from when a pruner first saw the row committed, not from
   * `created_at`, so a row of a long transaction is kept as long as any other). An instance
   * disconnected for longer than this flushes its whole cache when it reconnects, because it
   * may have missed pruned rows. Default: `86_400_000` (one day).
   */
  retentionMs?: number;
  /** How often this instance prunes the log. `0` or negative: never. Default: `60_000`. */
  pruneIntervalMs?: number;
  /**
   * @deprecated Ignored. Catch-up used to re-read rows created this long before a disconnect;
   * it now reads exactly the rows of transactions that had not committed at its last read
   * (transaction ids and snapshots), which misses none however long a transaction ran.
   */
  catchUpOverlapMs?: number;
  /** `application_name` of the listening connection (visible in `pg_stat_activity`). Default: `'authcache-bus'`. */
  applicationName?: string;
  /**
   * How often the listening connection is checked with a catch-up read of the log (the same
   * query as after a reconnect: it delivers any row a notification did not, and moves the
   * read horizon forward so that the next catch-up reads little). A check not answered within
   * this long, or failing, counts as a lost connection: the bus reconnects and catches up.
   * Without it, a connection dropped silently (a NAT or firewall timeout, a failover without a
   * reset) would lose every notification until restart, since `LISTEN` never sends anything.
   * `0` or negative: never. Default: `30_000`.
   */
  healthCheckIntervalMs?: number;
  /**
   * First delay before reconnecting a lost listener; it doubles after each failure up to 2 s,
   * with 20 % jitter. Default: `100`.
   */
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
  /** Rows delivered by catch-up reads (after a reconnect, or by a health check) rather than by a notification. */
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
  /** `Date.now()` when the last log row was received (live or by catch-up); `null`: none yet. */
  lastMessageAt: number | null;
}

export interface PgBus extends InvalidationBus {
  stats(): PgBusStats;
  /**
   * Deletes log rows seen committed longer than `retentionMs` ago now (stamping `visible_at`
   * on rows committed since the last prune); returns how many it deleted.
   */
  prune(): Promise<number>;
}

/** One row of the catch-up query: the snapshot, and a log row (all `null` when none matched). */
interface CatchUpRow {
  xmax: string;
  xip: string[];
  id: string | null;
  kind: string;
  token_hash: string;
  reason: string;
  origin: string | null;
  xid: string;
}

interface Payload {
  schema: string;
  id: number | string;
  /** The writing transaction (migration `0005`). */
  xid?: string;
  kind: string;
  hash: string;
  reason: string;
  origin: string | null;
}

/**
 * What the last catch-up read could not see yet: the transactions still running at its snapshot
 * (`xip`) and every transaction id from `xmax` on. Any log row not read by then belongs to one.
 */
interface Horizon {
  xmax: bigint;
  xip: Set<bigint>;
}

/**
 * The `reason` of a scoped invalidation's log row (`publishScope`); its `kind` is the scope's
 * name and its `token_hash` the message's JSON.
 */
const SCOPE_REASON = 'scope';

/** Rows of the current horizon already delivered (by a notification), kept at most this many. */
const MAX_PENDING = 10_000;

/**
 * An invalidation bus on Postgres: the triggers of migration `0005` log every change that makes
 * a cached identity wrong (revoked, deleted, or any column the identity is built from changed —
 * PATs, daemon tokens and access keys), however it was made, and `pg_notify` it. Each instance
 * `LISTEN`s on a dedicated connection and, on every reconnect (and each health check), reads
 * the log rows of every transaction that had not committed at its previous read, so a dropped
 * connection never loses a revoke, even one whose transaction began long before and committed
 * out of id order.
 *
 * Messages from the triggers are marked `fromStore`: each receiving instance also invalidates
 * its shared tier (idempotent), because the writer of a plain SQL `UPDATE` did not.
 * `publishScope()` logs a scoped invalidation as a row with reason `scope`, the scope's name as
 * kind and its JSON as token hash (older readers take it for a key that does not exist).
 * `publish()` logs only `invalidated` messages (`auth.invalidate()`); revocations reach the log
 * through the triggers when the store's `revoke` updates the row.
 */
export function createPgBus(options: PgBusOptions): PgBus {
  const { pool } = options;
  if (!pool) throw new TypeError('createPgBus: options.pool is required');
  const schemaName = options.schema ?? 'public';
  const schema = quoteSchema(schemaName);
  const table = `${schema}.authcache_invalidation`;
  const retentionMs = options.retentionMs ?? 86_400_000;
  const pruneIntervalMs = options.pruneIntervalMs ?? 60_000;
  const applicationName = options.applicationName ?? 'authcache-bus';
  const retryDelayMs = options.retryDelayMs ?? 100;
  /** Both connect loops wait the same way: doubling from retryDelayMs, at most 2 s. */
  const backoff = () =>
    createBackoff({ initialMs: retryDelayMs, maxMs: Math.max(2_000, retryDelayMs) });
  const healthCheckIntervalMs = options.healthCheckIntervalMs ?? 30_000;
  const origin = options.origin ?? randomUUID();
  const logger: Logger = options.logger ?? console;
  if (!(retentionMs > 0)) throw new TypeError('createPgBus: retentionMs must be positive');
  // Rows are pruned `retentionMs` after a pruner saw them committed: an instance away for
  // nearly that long may have lost some. The margin covers the time to ask.
  const flushAfterMs = retentionMs - Math.min(1_000, retentionMs / 10);
  const catchUpSql = `
    SELECT pg_snapshot_xmax(s.snap)::text AS xmax,
        ARRAY(SELECT x::text FROM pg_snapshot_xip(s.snap) AS x) AS xip,
        l.id, l.kind, l.token_hash, l.reason, l.origin, l.xid::text AS xid
      FROM (SELECT pg_current_snapshot() AS snap) AS s
      LEFT JOIN ${table} AS l
        ON $1::boolean AND (l.xid >= $2::xid8 OR l.xid = ANY($3::xid8[]))
      ORDER BY l.id`;

  const counters = { received: 0, caughtUp: 0, reconnects: 0, flushes: 0, pruned: 0 };
  let lastId = 0n;
  let lastMessageAt: number | null = null;
  /**
   * What the last catch-up read could not see; `undefined` before the first. Every log row
   * visible to that read has been delivered (or predates this instance).
   */
  let horizon: Horizon | undefined;
  /** Rows a notification delivered, of transactions beyond `horizon`: id → xid. */
  const pending = new Map<string, bigint>();
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
    lastMessageAt = Date.now();
    if (from === origin || !handlers) return;
    if (reason === SCOPE_REASON) {
      // A scoped invalidation: `token_hash` holds its JSON. Older readers take it for a plain
      // invalidation of a key that does not exist, which is harmless.
      const message = decodeScopeMessage(tokenHash);
      if (!message || !handlers.onScopeInvalidate) return;
      counters.received++;
      try {
        handlers.onScopeInvalidate(message);
      } catch (error) {
        logger.warn('authcache: an invalidation handler threw', { error: String(error) });
      }
      return;
    }
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
    if (payload.xid !== undefined) {
      // So that the next catch-up, which reads this row again, does not deliver it twice.
      pending.set(String(payload.id), BigInt(payload.xid));
      if (pending.size > MAX_PENDING) pending.delete(pending.keys().next().value!);
    }
    deliver(BigInt(payload.id), payload.kind, payload.hash, payload.reason, payload.origin ?? null);
  }

  /**
   * Reads what was logged while we were not listening: the rows of every transaction that had
   * not committed at the previous read (running then, or begun since). Rows carry the id of
   * the transaction that wrote them (`xid`) and the read returns its own snapshot, so no row is
   * missed whatever its id or timestamp: a transaction may take ids in any order and commit at
   * any time. The first read only takes the snapshot: the cache is empty, nothing to catch up.
   */
  async function catchUp(client: pg.Client): Promise<void> {
    const first = horizon === undefined;
    if (!first && disconnectedAt !== undefined && Date.now() - disconnectedAt >= flushAfterMs) {
      // Rows we never read may have been pruned.
      counters.flushes++;
      logger.warn(
        'authcache: the invalidation listener was away longer than the retention; flushing',
      );
      handlers?.onFlush();
    }
    const { rows } = await client.query<CatchUpRow>(catchUpSql, [
      !first,
      (horizon?.xmax ?? 0n).toString(),
      [...(horizon?.xip ?? [])].map(String),
    ]);
    const snapshot = rows[0]!;
    const next: Horizon = { xmax: BigInt(snapshot.xmax), xip: new Set(snapshot.xip.map(BigInt)) };
    for (const row of rows) {
      if (row.id === null || pending.has(row.id)) continue;
      counters.caughtUp++;
      deliver(BigInt(row.id), row.kind, row.token_hash, row.reason, row.origin);
    }
    // Only now: set before a failed first read, a retry would take it for a catch-up.
    horizon = next;
    // Rows this read could see will never be read again.
    for (const [id, xid] of pending) {
      if (xid < next.xmax && !next.xip.has(xid)) pending.delete(id);
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
            catchUp(client),
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
      const delays = backoff();
      counters.reconnects++;
      while (!closed) {
        await sleep(delays.next());
        if (closed) return;
        try {
          await connectOnce();
          return;
        } catch (error) {
          logger.warn('authcache: reconnecting the invalidation listener failed; retrying', {
            error: (error as Error)?.message ?? String(error),
          });
        }
      }
    })().finally(() => {
      reconnecting = undefined;
    });
    return reconnecting;
  }

  async function prune(): Promise<number> {
    // A row first seen committed now is stamped now; rows stamped longer ago than the retention
    // go. created_at cannot serve: a transaction may commit long after it inserted a row.
    const result = await pool.query(
      `WITH seen AS (UPDATE ${table} SET visible_at = now() WHERE visible_at IS NULL)
        DELETE FROM ${table}
          WHERE visible_at < now() - ($1::double precision * interval '1 millisecond')`,
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

    async publishScope(message: ScopeInvalidationMessage) {
      await pool.query(`SELECT ${schema}.authcache_log_invalidation($1, $2, $3, $4)`, [
        message.scope.scope,
        encodeScopeMessage(message),
        SCOPE_REASON,
        origin,
      ]);
    },

    async start(h) {
      if (handlers) throw new Error('createPgBus: already started');
      handlers = h;
      closed = false;
      const delays = backoff();
      for (;;) {
        if (closed) return;
        try {
          await connectOnce();
          break;
        } catch (error) {
          logger.warn('authcache: the invalidation listener cannot connect yet; retrying', {
            error: (error as Error)?.message ?? String(error),
          });
          await sleep(delays.next());
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
      return {
        ...counters,
        lastId: lastId.toString(),
        connected: listener !== undefined,
        lastMessageAt,
      };
    },
  };
}
