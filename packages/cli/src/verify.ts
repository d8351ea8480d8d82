/**
 * `authcache status --verify`: reads every value of the Redis tier, decodes it, and checks each
 * identity against its row in the store. A value is *bad* when the store says its token is
 * revoked or gone, or when the value outlives the token's `expires_at` (its TTL in Redis ends
 * later than the token does). Slow by design (a SCAN of the prefix and one query per kind per
 * batch), which is why plain `status` never does it.
 */
import { quoteSchema } from '@authcache/pg';
import { inspectTierValue } from '@authcache/redis';
import type { Redis } from 'ioredis';
import type pg from 'pg';

/** One bad entry. Names the kind and the token id (a primary key), never a token or a hash. */
export interface BadEntry {
  readonly kind: string;
  readonly tokenId: string;
  readonly problem: 'revoked' | 'missing' | 'outlives_expiry';
  /** For `outlives_expiry`: when the token expires and when the Redis value would. */
  readonly expiresAt?: string;
  readonly valueExpiresAt?: string;
}

export interface VerifyReport {
  /** Values read (identities and tombstones). */
  readonly scanned: number;
  readonly identities: number;
  readonly tombstones: number;
  /** Values that could not be decoded (another version's format, or not ours). */
  readonly unreadable: number;
  readonly bad: readonly BadEntry[];
}

/** Clock difference tolerated between the instance that filled a value and this command. */
const SKEW_MS = 1_000;

/** Where each kind's rows live: table, id column. */
const TABLES: Readonly<Record<string, { table: string; id: string }>> = {
  pat: { table: 'personal_access_token', id: 'id' },
  daemon: { table: 'daemon_token', id: 'id' },
  sigv4: { table: 'access_key', id: 'access_key_id' },
};

/** A prefix as a SCAN pattern: glob characters escaped. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

interface Found {
  kind: string;
  tokenId: string;
  /** Epoch ms at which the Redis value expires (`null`: no TTL). */
  valueExpiresAt: number | null;
}

export async function verifyTier(
  redis: Redis,
  prefix: string,
  pool: pg.Pool,
  schema: string,
): Promise<VerifyReport> {
  const s = quoteSchema(schema);
  let scanned = 0;
  let tombstones = 0;
  let unreadable = 0;
  const found: Found[] = [];
  let cursor = '0';
  do {
    // Value keys are `<prefix>{<kind>:<hash>}`; generation keys end in `}:g`.
    const [next, keys] = await redis.scan(
      cursor,
      'MATCH',
      `${globEscape(prefix)}{*}`,
      'COUNT',
      500,
    );
    cursor = next;
    const valueKeys = keys.filter((key) => key.slice(prefix.length + 1, -1).includes(':'));
    if (valueKeys.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const key of valueKeys) pipeline.get(key).pttl(key);
    const answers = (await pipeline.exec()) ?? [];
    const now = Date.now();
    valueKeys.forEach((key, i) => {
      const raw = answers[2 * i]?.[1] as string | null;
      const pttl = Number(answers[2 * i + 1]?.[1]);
      if (raw === null || raw === undefined) return;
      scanned++;
      const { value } = inspectTierValue(raw);
      if (!value) {
        unreadable++;
        return;
      }
      if (value.type === 'revoked') {
        tombstones++;
        return;
      }
      const inner = key.slice(prefix.length + 1, -1);
      found.push({
        kind: inner.slice(0, inner.indexOf(':')),
        tokenId: value.identity.tokenId,
        valueExpiresAt: pttl > 0 ? now + pttl : null,
      });
    });
  } while (cursor !== '0');

  const bad: BadEntry[] = [];
  const byKind = new Map<string, Found[]>();
  for (const entry of found) byKind.set(entry.kind, [...(byKind.get(entry.kind) ?? []), entry]);
  for (const [kind, entries] of byKind) {
    const where = Object.hasOwn(TABLES, kind) ? TABLES[kind] : undefined;
    // A kind this CLI does not know the table of cannot be checked: not reported as bad.
    if (!where) continue;
    const { rows } = await pool.query<{ id: string; revoked: boolean; expires_at: Date | null }>(
      `SELECT ${where.id}::text AS id, revoked, expires_at FROM ${s}.${where.table}
        WHERE ${where.id}::text = ANY($1::text[])`,
      [[...new Set(entries.map((entry) => entry.tokenId))]],
    );
    const rowsById = new Map(rows.map((row) => [row.id, row]));
    for (const entry of entries) {
      const row = rowsById.get(entry.tokenId);
      const base = { kind, tokenId: entry.tokenId };
      if (!row) bad.push({ ...base, problem: 'missing' });
      else if (row.revoked) bad.push({ ...base, problem: 'revoked' });
      else if (
        row.expires_at !== null &&
        (entry.valueExpiresAt === null || entry.valueExpiresAt > row.expires_at.getTime() + SKEW_MS)
      ) {
        bad.push({
          ...base,
          problem: 'outlives_expiry',
          expiresAt: row.expires_at.toISOString(),
          valueExpiresAt:
            entry.valueExpiresAt === null ? 'never' : new Date(entry.valueExpiresAt).toISOString(),
        });
      }
    }
  }
  return { scanned, identities: found.length, tombstones, unreadable, bad };
}
