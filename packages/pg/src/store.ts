import {
  createTokenFormat,
  createTokenHasher,
  defaultTokenKinds,
  type Identity,
  type TokenKinds,
  type TokenStore,
} from '@authcache/core';
import { type Queryable, quoteSchema } from './queryable.js';

/** Options of {@link createPgTokenStore}. */
export interface PgTokenStoreOptions {
  /** Where the tables live: a `pg.Pool`, `pg.Client` or PGlite instance. Required. */
  db: Queryable;
  /** Schema of the tables (run `migrate(db, { schema })` first). Default: `'public'`. */
  schema?: string;
  /**
   * Server-side secret for HMAC-SHA256 token hashes. Default: none, i.e. plain SHA-256 hex, as
   * existing `token_hash` columns hold. Changing it makes every stored token unresolvable.
   */
  pepper?: string | Buffer;
  /**
   * Token formats used to generate and validate tokens in `createPat`/`createDaemonToken`. Must
   * define the kinds `pat` and `daemon`. Default: core's `defaultTokenKinds` (`mul_`, `mdt_`).
   */
  tokenKinds?: TokenKinds;
}

/** Input of {@link PgTokenStore.createPat}. */
export interface CreatePatInput {
  userId: string;
  /** Display name chosen by the user. */
  name: string;
  /** Granted scopes. Default: `[]`. */
  scopes?: readonly string[];
  /** When the token stops working. Default: `null` (never). */
  expiresAt?: Date | null;
  /**
   * Store this token instead of generating one (seeding fixtures, importing an existing token).
   * It must pass the `pat` format check. Default: a fresh random token.
   */
  token?: string;
}

/** Input of {@link PgTokenStore.createDaemonToken}. */
export interface CreateDaemonTokenInput {
  workspaceId: string;
  daemonId: string;
  /** When the token stops working. Default: `null` (never). */
  expiresAt?: Date | null;
  /** Store this token instead of generating one; it must pass the `daemon` format check. */
  token?: string;
}

/** A freshly created token. `token` is the only time the plaintext is ever available. */
export interface CreatedToken {
  readonly id: string;
  readonly token: string;
  /**
   * The first characters of the token (kind prefix + 4), safe to display. Stored in
   * `personal_access_token.token_prefix`; the daemon table has no such column.
   */
  readonly tokenPrefix: string;
  readonly expiresAt: Date | null;
}

/** A PAT as listed to its owner: no hash, no secret. */
export interface PatSummary {
  readonly id: string;
  readonly userId: string;
  readonly name: string;
  readonly tokenPrefix: string;
  readonly scopes: readonly string[];
  readonly expiresAt: Date | null;
  readonly lastUsedAt: Date | null;
  readonly revoked: boolean;
  readonly createdAt: Date;
}

/** A daemon token as listed for its workspace: no hash, no secret. */
export interface DaemonTokenSummary {
  readonly id: string;
  readonly workspaceId: string;
  readonly daemonId: string;
  readonly expiresAt: Date | null;
  readonly lastUsedAt: Date | null;
  readonly revoked: boolean;
  readonly createdAt: Date;
}

/** Options of {@link PgTokenStore.listPats} and {@link PgTokenStore.listDaemonTokens}. */
export interface ListPatsOptions {
  /** Also list revoked tokens. Default: `false`. */
  includeRevoked?: boolean;
}

/** The Postgres/PGlite token store: core's `TokenStore` plus token management. */
export interface PgTokenStore extends TokenStore {
  readonly hashToken: (token: string) => string;
  /** The (unquoted) schema the store reads. */
  readonly schema: string;
  /** Kinds this store holds: `pat` and `daemon`. `findByHash` returns `null` for any other. */
  readonly kinds: readonly string[];
  createPat(input: CreatePatInput): Promise<CreatedToken>;
  createDaemonToken(input: CreateDaemonTokenInput): Promise<CreatedToken>;
  /** The user's tokens, newest first. */
  listPats(userId: string, options?: ListPatsOptions): Promise<PatSummary[]>;
  /** The workspace's daemon tokens, newest first. */
  listDaemonTokens(workspaceId: string, options?: ListPatsOptions): Promise<DaemonTokenSummary[]>;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** How many characters of the token body are kept for display, after the kind prefix. */
const DISPLAY_BODY_CHARS = 4;

/** `true` for a string Postgres accepts as a uuid; other input never reaches SQL (no 22P02). */
function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}

function toDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  return value instanceof Date ? value : new Date(String(value));
}

function toMs(value: unknown): number | null {
  const date = toDate(value);
  return date === null ? null : date.getTime();
}

function checkText(method: string, field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${method}: ${field} must be a non-empty string`);
  }
  return value;
}

function checkExpiry(method: string, value: unknown): Date | null {
  if (value === undefined || value === null) return null;
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new TypeError(`${method}: expiresAt must be a valid Date or null`);
  }
  return value;
}

interface PatRow {
  id: string;
  user_id: string;
  name: string;
  scopes: string[] | null;
  expires_at: Date | string | null;
}

interface DaemonRow {
  id: string;
  workspace_id: string;
  daemon_id: string;
  expires_at: Date | string | null;
}

/**
 * A `TokenStore` over the tables created by `migrate()`. Works unchanged on a `pg.Pool` and on
 * PGlite. Database errors propagate (the auth cache answers `unavailable`); input that cannot
 * name a token (an id that is not a uuid, a kind the store does not hold) is "not found".
 */
export function createPgTokenStore(options: PgTokenStoreOptions): PgTokenStore {
  if (!options?.db || typeof options.db.query !== 'function') {
    throw new TypeError('createPgTokenStore: options.db must have a query(text, params) method');
  }
  const { db } = options;
  const schemaName = options.schema ?? 'public';
  const s = quoteSchema(schemaName);
  const hashToken = createTokenHasher({ pepper: options.pepper });
  const tokenKinds = options.tokenKinds ?? defaultTokenKinds;
  const format = createTokenFormat(tokenKinds);

  const tables: Readonly<Record<string, string>> = {
    pat: `${s}.personal_access_token`,
    daemon: `${s}.daemon_token`,
  };
  /** The column `revoke(…, { subject })` compares with: the identity's `subject`. */
  const subjectColumn: Readonly<Record<string, string>> = { pat: 'user_id', daemon: 'daemon_id' };

  const sql = {
    findPat: `SELECT id, user_id, name, scopes, expires_at FROM ${tables.pat}
      WHERE token_hash = $1 AND NOT revoked AND (expires_at IS NULL OR expires_at > now())`,
    findDaemon: `SELECT id, workspace_id, daemon_id, expires_at FROM ${tables.daemon}
      WHERE token_hash = $1 AND NOT revoked AND (expires_at IS NULL OR expires_at > now())`,
  };

  function tableOf(kind: string): string | undefined {
    return Object.hasOwn(tables, kind) ? tables[kind] : undefined;
  }

  /** The plaintext to store: the caller's (validated) or a fresh one. */
  function tokenFor(method: string, kind: string, given: string | undefined): string {
    if (!tokenKinds[kind]) throw new TypeError(`${method}: tokenKinds has no "${kind}" kind`);
    if (given === undefined) return format.generate(kind);
    const parsed = format.parse(given);
    // The message never echoes the token: it is a secret even when it is malformed.
    if (!parsed.ok || parsed.kind !== kind) {
      throw new TypeError(`${method}: token is not a well-formed ${kind} token`);
    }
    return given;
  }

  function displayPrefix(kind: string, token: string): string {
    return token.slice(0, tokenKinds[kind]!.prefix.length + DISPLAY_BODY_CHARS);
  }

  return {
    hashToken,
    schema: schemaName,
    kinds: Object.keys(tables),

    async findByHash(kind, tokenHash) {
      if (typeof tokenHash !== 'string') return null;
      if (kind === 'pat') {
        const { rows } = await db.query<PatRow>(sql.findPat, [tokenHash]);
        const row = rows[0];
        if (!row) return null;
        const identity: Identity = {
          kind: 'pat',
          tokenId: row.id,
          subject: row.user_id,
          scopes: row.scopes ?? [],
          expiresAt: toMs(row.expires_at),
          name: row.name,
        };
        return identity;
      }
      if (kind === 'daemon') {
        const { rows } = await db.query<DaemonRow>(sql.findDaemon, [tokenHash]);
        const row = rows[0];
        if (!row) return null;
        const identity: Identity = {
          kind: 'daemon',
          tokenId: row.id,
          subject: row.daemon_id,
          scopes: [],
          expiresAt: toMs(row.expires_at),
          workspaceId: row.workspace_id,
          daemonId: row.daemon_id,
        };
        return identity;
      }
      return null;
    },

    async touch(kind, tokenIds, usedAt, notUsedSince) {
      const table = tableOf(kind);
      if (!table) return;
      const ids = [...new Set(tokenIds.filter(isUuid))];
      if (ids.length === 0) return;
      // One statement for the whole batch; rows touched within the window are left alone, so a
      // second instance (or a replayed batch) costs a scan but no write.
      await db.query(
        `UPDATE ${table} SET last_used_at = $3
          WHERE id = ANY($1::uuid[]) AND (last_used_at IS NULL OR last_used_at < $2)`,
        [ids, notUsedSince, usedAt],
      );
    },

    async revoke(kind, tokenId, revokeOptions) {
      const table = tableOf(kind);
      if (!table || !isUuid(tokenId)) return [];
      const subject = revokeOptions?.subject;
      const { rows } =
        subject === undefined
          ? await db.query<{ token_hash: string }>(
              `UPDATE ${table} SET revoked = true WHERE id = $1 AND NOT revoked
                RETURNING token_hash`,
              [tokenId],
            )
          : await db.query<{ token_hash: string }>(
              `UPDATE ${table} SET revoked = true
                WHERE id = $1 AND NOT revoked AND ${subjectColumn[kind]} = $2
                RETURNING token_hash`,
              [tokenId, String(subject)],
            );
      return rows.map((row) => row.token_hash);
    },

    async createPat(input) {
      const method = 'createPat';
      const userId = checkText(method, 'userId', input?.userId);
      const name = checkText(method, 'name', input.name);
      const scopes = input.scopes ?? [];
      if (!Array.isArray(scopes) || scopes.some((scope) => typeof scope !== 'string')) {
        throw new TypeError(`${method}: scopes must be an array of strings`);
      }
      const expiresAt = checkExpiry(method, input.expiresAt);
      const token = tokenFor(method, 'pat', input.token);
      const tokenPrefix = displayPrefix('pat', token);
      const { rows } = await db.query<{ id: string; expires_at: Date | string | null }>(
        `INSERT INTO ${tables.pat} (user_id, name, token_hash, token_prefix, scopes, expires_at)
          VALUES ($1, $2, $3, $4, $5::text[], $6) RETURNING id, expires_at`,
        [userId, name, hashToken(token), tokenPrefix, [...scopes], expiresAt],
      );
      const row = rows[0]!;
      return { id: row.id, token, tokenPrefix, expiresAt: toDate(row.expires_at) };
    },

    async createDaemonToken(input) {
      const method = 'createDaemonToken';
      const workspaceId = checkText(method, 'workspaceId', input?.workspaceId);
      const daemonId = checkText(method, 'daemonId', input.daemonId);
      const expiresAt = checkExpiry(method, input.expiresAt);
      const token = tokenFor(method, 'daemon', input.token);
      const { rows } = await db.query<{ id: string; expires_at: Date | string | null }>(
        `INSERT INTO ${tables.daemon} (token_hash, workspace_id, daemon_id, expires_at)
          VALUES ($1, $2, $3, $4) RETURNING id, expires_at`,
        [hashToken(token), workspaceId, daemonId, expiresAt],
      );
      const row = rows[0]!;
      return {
        id: row.id,
        token,
        tokenPrefix: displayPrefix('daemon', token),
        expiresAt: toDate(row.expires_at),
      };
    },

    async listPats(userId, listOptions) {
      checkText('listPats', 'userId', userId);
      const { rows } = await db.query<{
        id: string;
        user_id: string;
        name: string;
        token_prefix: string;
        scopes: string[] | null;
        expires_at: Date | string | null;
        last_used_at: Date | string | null;
        revoked: boolean;
        created_at: Date | string;
      }>(
        `SELECT id, user_id, name, token_prefix, scopes, expires_at, last_used_at, revoked,
            created_at
          FROM ${tables.pat}
          WHERE user_id = $1 ${listOptions?.includeRevoked ? '' : 'AND NOT revoked'}
          ORDER BY created_at DESC, id`,
        [userId],
      );
      return rows.map((row) => ({
        id: row.id,
        userId: row.user_id,
        name: row.name,
        tokenPrefix: row.token_prefix,
        scopes: row.scopes ?? [],
        expiresAt: toDate(row.expires_at),
        lastUsedAt: toDate(row.last_used_at),
        revoked: row.revoked,
        createdAt: toDate(row.created_at)!,
      }));
    },

    async listDaemonTokens(workspaceId, listOptions) {
      checkText('listDaemonTokens', 'workspaceId', workspaceId);
      const { rows } = await db.query<{
        id: string;
        workspace_id: string;
        daemon_id: string;
        expires_at: Date | string | null;
        last_used_at: Date | string | null;
        revoked: boolean;
        created_at: Date | string;
      }>(
        `SELECT id, workspace_id, daemon_id, expires_at, last_used_at, revoked, created_at
          FROM ${tables.daemon}
          WHERE workspace_id = $1 ${listOptions?.includeRevoked ? '' : 'AND NOT revoked'}
          ORDER BY created_at DESC, id`,
        [workspaceId],
      );
      return rows.map((row) => ({
        id: row.id,
        workspaceId: row.workspace_id,
        daemonId: row.daemon_id,
        expiresAt: toDate(row.expires_at),
        lastUsedAt: toDate(row.last_used_at),
        revoked: row.revoked,
        createdAt: toDate(row.created_at)!,
      }));
    },
  };
}
