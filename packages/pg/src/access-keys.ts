import type { Identity, TokenStore } from '@authcache/core';
import { type Queryable, quoteSchema } from './queryable.js';

/** Options of {@link createPgAccessKeyStore}. */
export interface PgAccessKeyStoreOptions {
  /** A `pg.Pool`, `pg.Client` or PGlite instance. Required. */
  db: Queryable;
  /** Schema of the table (run `migrate(db, { schema })` first). Default: `'public'`. */
  schema?: string;
}

/** A row to insert. The caller generates the id and encrypts the secret. */
export interface AccessKeyRow {
  readonly accessKeyId: string;
  /** Encrypted secret envelope; never the plaintext. */
  readonly secretCiphertext: string;
  readonly principalId: string;
  /** SHA-256 hex of the session token, for temporary credentials. Default: `null`. */
  readonly sessionTokenHash?: string | null;
  /** Default: `null` (never expires). */
  readonly expiresAt?: Date | null;
}

/** An access key as listed to its owner: no secret, no ciphertext. */
export interface AccessKeySummary {
  readonly accessKeyId: string;
  readonly principalId: string;
  readonly session: boolean;
  readonly expiresAt: Date | null;
  readonly lastUsedAt: Date | null;
  readonly revoked: boolean;
  readonly createdAt: Date;
}

/**
 * The access-key store: core's `TokenStore` for the kind `sigv4`, whose "token hash" is the access
 * key id itself (an id is not a secret; the secret never leaves its envelope here), plus the few
 * writes key management needs.
 */
export interface PgAccessKeyStore extends TokenStore {
  readonly schema: string;
  /** `['sigv4']`: `findByHash` returns `null` for any other kind. */
  readonly kinds: readonly string[];
  insertAccessKey(row: AccessKeyRow): Promise<void>;
  /** The principal's keys, newest first. */
  listAccessKeys(
    principalId: string,
    options?: { includeRevoked?: boolean },
  ): Promise<AccessKeySummary[]>;
  /** Every live key's id and envelope, for re-encryption under a new key (rotation). */
  listSecretEnvelopes(): Promise<Array<{ accessKeyId: string; secretCiphertext: string }>>;
  /**
   * Replaces an envelope only if it still is `previous` (compare-and-swap), so two rotations
   * running at once cannot lose a secret. Returns whether the row changed.
   */
  replaceSecretEnvelope(accessKeyId: string, previous: string, next: string): Promise<boolean>;
}

const KIND = 'sigv4';

function toDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  return value instanceof Date ? value : new Date(String(value));
}

interface AccessKeyDbRow {
  access_key_id: string;
  secret_ciphertext: string;
  principal_id: string;
  session_token_hash: string | null;
  expires_at: Date | string | null;
}

/** Creates a {@link PgAccessKeyStore}. Database errors propagate (the auth cache answers `unavailable`). */
export function createPgAccessKeyStore(options: PgAccessKeyStoreOptions): PgAccessKeyStore {
  if (!options?.db || typeof options.db.query !== 'function') {
    throw new TypeError(
      'createPgAccessKeyStore: options.db must have a query(text, params) method',
    );
  }
  const { db } = options;
  const schemaName = options.schema ?? 'public';
  const table = `${quoteSchema(schemaName)}.access_key`;

  return {
    schema: schemaName,
    kinds: [KIND],

    async findByHash(kind, accessKeyId) {
      if (kind !== KIND || typeof accessKeyId !== 'string') return null;
      const { rows } = await db.query<AccessKeyDbRow>(
        `SELECT access_key_id, secret_ciphertext, principal_id, session_token_hash, expires_at
          FROM ${table}
          WHERE access_key_id = $1 AND NOT revoked AND (expires_at IS NULL OR expires_at > now())`,
        [accessKeyId],
      );
      const row = rows[0];
      if (!row) return null;
      const expiresAt = toDate(row.expires_at);
      const identity: Identity = {
        kind: KIND,
        tokenId: row.access_key_id,
        subject: row.principal_id,
        scopes: [],
        expiresAt: expiresAt === null ? null : expiresAt.getTime(),
        attributes: {
          secretCiphertext: row.secret_ciphertext,
          sessionTokenHash: row.session_token_hash,
        },
      };
      return identity;
    },

    async touch(kind, ids, usedAt, notUsedSince) {
      if (kind !== KIND) return;
      const unique = [...new Set(ids.filter((id) => typeof id === 'string'))];
      if (unique.length === 0) return;
      await db.query(
        `UPDATE ${table} SET last_used_at = $3
          WHERE access_key_id = ANY($1::text[]) AND (last_used_at IS NULL OR last_used_at < $2)`,
        [unique, notUsedSince, usedAt],
      );
    },

    async revoke(kind, accessKeyId, revokeOptions) {
      if (kind !== KIND || typeof accessKeyId !== 'string') return [];
      const subject = revokeOptions?.subject;
      const { rows } =
        subject === undefined
          ? await db.query<{ access_key_id: string }>(
              `UPDATE ${table} SET revoked = true WHERE access_key_id = $1 AND NOT revoked
                RETURNING access_key_id`,
              [accessKeyId],
            )
          : await db.query<{ access_key_id: string }>(
              `UPDATE ${table} SET revoked = true
                WHERE access_key_id = $1 AND NOT revoked AND principal_id = $2
                RETURNING access_key_id`,
              [accessKeyId, String(subject)],
            );
      return rows.map((row) => row.access_key_id);
    },

    async insertAccessKey(row) {
      await db.query(
        `INSERT INTO ${table}
          (access_key_id, secret_ciphertext, principal_id, session_token_hash, expires_at)
          VALUES ($1, $2, $3, $4, $5)`,
        [
          row.accessKeyId,
          row.secretCiphertext,
          row.principalId,
          row.sessionTokenHash ?? null,
          row.expiresAt ?? null,
        ],
      );
    },

    async listAccessKeys(principalId, listOptions) {
      const { rows } = await db.query<{
        access_key_id: string;
        principal_id: string;
        session_token_hash: string | null;
        expires_at: Date | string | null;
        last_used_at: Date | string | null;
        revoked: boolean;
        created_at: Date | string;
      }>(
        `SELECT access_key_id, principal_id, session_token_hash, expires_at, last_used_at, revoked,
            created_at
          FROM ${table}
          WHERE principal_id = $1 ${listOptions?.includeRevoked ? '' : 'AND NOT revoked'}
          ORDER BY created_at DESC, access_key_id`,
        [principalId],
      );
      return rows.map((row) => ({
        accessKeyId: row.access_key_id,
        principalId: row.principal_id,
        session: row.session_token_hash !== null,
        expiresAt: toDate(row.expires_at),
        lastUsedAt: toDate(row.last_used_at),
        revoked: row.revoked,
        createdAt: toDate(row.created_at)!,
      }));
    },

    async listSecretEnvelopes() {
      const { rows } = await db.query<{ access_key_id: string; secret_ciphertext: string }>(
        `SELECT access_key_id, secret_ciphertext FROM ${table}
          WHERE NOT revoked AND (expires_at IS NULL OR expires_at > now())
          ORDER BY access_key_id`,
      );
      return rows.map((row) => ({
        accessKeyId: row.access_key_id,
        secretCiphertext: row.secret_ciphertext,
      }));
    },

    async replaceSecretEnvelope(accessKeyId, previous, next) {
      const { rows } = await db.query<{ access_key_id: string }>(
        `UPDATE ${table} SET secret_ciphertext = $3
          WHERE access_key_id = $1 AND secret_ciphertext = $2 RETURNING access_key_id`,
        [accessKeyId, previous, next],
      );
      return rows.length > 0;
    },
  };
}
