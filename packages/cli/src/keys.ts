/** What the `keys` commands share: the configured key backend and the sealed column they walk. */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { quoteSchema } from '@authcache/pg';
import {
  type KeyBackend,
  type LegacyKeyring,
  legacyKeyring,
  localKeyFromEnv,
  type SealedRecordSource,
} from '@authcache/seal';
import type pg from 'pg';
import { type Context, OperationalError, type OptionSpec, str, UsageError } from './command.js';

export const KEY_BACKEND_OPTIONS = `Key backend (never pass keys or PINs as arguments):
  --backend B          local, pkcs11 or module (default: $AUTHCACHE_SEAL_BACKEND, else local)
  --backend-module P   with --backend module: a module whose default export returns a
                       KeyBackend, e.g. your KMS (default: $AUTHCACHE_SEAL_BACKEND_MODULE)
  local:  $AUTHCACHE_SEAL_KEYS (id=base64,…) with $AUTHCACHE_SEAL_CURRENT, or
          $AUTHCACHE_SEAL_KEY_FILE (under $CREDENTIALS_DIRECTORY when set), or
          $ACCESS_KEY_ENCRYPTION_KEY (key id env)
  pkcs11: $AUTHCACHE_PKCS11_MODULE, $AUTHCACHE_PKCS11_TOKEN (token label), $AUTHCACHE_PKCS11_LABEL,
          $AUTHCACHE_PKCS11_RETIRED (labels, comma-separated), $AUTHCACHE_PKCS11_OAEP_HASH,
          the PIN from $AUTHCACHE_PKCS11_PIN_FILE or the credential authcache-pkcs11-pin
  Old keyring rows (v1.<id>.…) are read with $AUTHCACHE_SEAL_LEGACY_KEYS (id=base64,…) or
  $ACCESS_KEY_ENCRYPTION_KEY (key id env).`;

export const keyBackendOptions: Readonly<Record<string, OptionSpec>> = {
  backend: { type: 'string' },
  'backend-module': { type: 'string' },
};

/** The configured backend, without opening it; `undefined` when nothing is configured. */
export async function configuredBackend(ctx: Context): Promise<KeyBackend | undefined> {
  const env = ctx.io.env;
  const kind = str(ctx, 'backend') ?? (env.AUTHCACHE_SEAL_BACKEND || undefined);
  for (const name of [
    'AUTHCACHE_SEAL_KEYS',
    'ACCESS_KEY_ENCRYPTION_KEY',
    'AUTHCACHE_SEAL_LEGACY_KEYS',
  ]) {
    const value = env[name];
    if (value) ctx.secrets.push(...value.split(/[,=]/).filter((part) => part.length >= 16));
  }
  if (kind === undefined || kind === 'local') {
    try {
      const backend = localKeyFromEnv(env);
      if (!backend && kind === 'local') {
        throw new OperationalError(
          'the local key backend has no key: set AUTHCACHE_SEAL_KEYS, AUTHCACHE_SEAL_KEY_FILE or ACCESS_KEY_ENCRYPTION_KEY',
        );
      }
      return backend;
    } catch (error) {
      if (error instanceof OperationalError) throw error;
      throw new OperationalError((error as Error).message);
    }
  }
  if (kind === 'pkcs11') {
    const { pkcs11Key } = await import('@authcache/seal/pkcs11');
    const need = (name: string) => {
      const value = env[name];
      if (!value) throw new OperationalError(`the pkcs11 key backend needs ${name}`);
      return value;
    };
    const pinFile = env.AUTHCACHE_PKCS11_PIN_FILE;
    return pkcs11Key({
      module: need('AUTHCACHE_PKCS11_MODULE'),
      slot: { tokenLabel: need('AUTHCACHE_PKCS11_TOKEN') },
      pin: pinFile ? { file: pinFile } : { credential: 'authcache-pkcs11-pin' },
      label: need('AUTHCACHE_PKCS11_LABEL'),
      retiredLabels: (env.AUTHCACHE_PKCS11_RETIRED ?? '').split(',').filter(Boolean),
      ...(env.AUTHCACHE_PKCS11_OAEP_HASH === 'sha-1' ? { oaepHash: 'sha-1' as const } : {}),
    });
  }
  if (kind === 'module') {
    const path = str(ctx, 'backend-module') ?? env.AUTHCACHE_SEAL_BACKEND_MODULE;
    if (!path) throw new UsageError('--backend module needs --backend-module P');
    const url = pathToFileURL(isAbsolute(path) ? path : resolve(path)).href;
    let factory: unknown;
    try {
      factory = ((await import(url)) as { default?: unknown }).default;
    } catch (error) {
      throw new OperationalError(
        `cannot load the backend module ${path}: ${(error as Error).message}`,
      );
    }
    if (typeof factory !== 'function') {
      throw new OperationalError(
        `the backend module ${path} must export a default function returning a KeyBackend`,
      );
    }
    return (await factory(env)) as KeyBackend;
  }
  throw new UsageError(`--backend must be local, pkcs11 or module, not "${kind}"`);
}

/** Reads old keyring rows: `AUTHCACHE_SEAL_LEGACY_KEYS`, else `ACCESS_KEY_ENCRYPTION_KEY` as `env`. */
export function configuredLegacy(ctx: Context): LegacyKeyring | undefined {
  const env = ctx.io.env;
  const keys: Record<string, string> = {};
  if (env.AUTHCACHE_SEAL_LEGACY_KEYS) {
    for (const part of env.AUTHCACHE_SEAL_LEGACY_KEYS.split(',')) {
      const eq = part.indexOf('=');
      if (eq > 0) keys[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
  } else if (env.ACCESS_KEY_ENCRYPTION_KEY) keys.env = env.ACCESS_KEY_ENCRYPTION_KEY;
  if (Object.keys(keys).length === 0) return undefined;
  try {
    return legacyKeyring(keys);
  } catch (error) {
    throw new OperationalError((error as Error).message);
  }
}

/** `access_key.secret_ciphertext`, every row (live, expired or revoked), by access key id. */
export function accessKeySecrets(pool: pg.Pool, schema: string): SealedRecordSource {
  const table = `${quoteSchema(schema)}.access_key`;
  return {
    table: 'access_key',
    column: 'secret_ciphertext',
    async page(afterId, limit) {
      const { rows } = await pool.query<{ id: string; value: string }>(
        `SELECT access_key_id AS id, secret_ciphertext AS value FROM ${table}
          WHERE $1::text IS NULL OR access_key_id > $1 ORDER BY access_key_id LIMIT $2`,
        [afterId, limit],
      );
      return rows;
    },
    async replace(changes) {
      if (changes.length === 0) return [];
      const { rows } = await pool.query<{ id: string }>(
        `UPDATE ${table} AS a SET secret_ciphertext = c.next
          FROM unnest($1::text[], $2::text[], $3::text[]) AS c(id, previous, next)
          WHERE a.access_key_id = c.id AND a.secret_ciphertext = c.previous
          RETURNING a.access_key_id AS id`,
        [changes.map((c) => c.id), changes.map((c) => c.previous), changes.map((c) => c.next)],
      );
      return rows.map((row) => row.id);
    },
  };
}

/** A one-line progress bar on a terminal's stderr; nothing elsewhere. */
export function progressBar(ctx: Context, total: number, label: string): (done: number) => void {
  // Only the real CLI on a terminal: not when run in-process with other io, nor piped.
  if (!process.stderr.isTTY || ctx.io.env !== process.env) return () => {};
  return (done) => {
    const width = 30;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    ctx.io.stderr(
      `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`,
    );
    if (done >= total) ctx.io.stderr('\n');
  };
}
