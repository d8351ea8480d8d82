// SigV4 access keys of the examples: the keyring that seals their secrets and the seeded key.
// Every error here names the variable, never its value: the values are secrets.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { PgAccessKeyStore } from '@authcache/pg';
import { createSealedKeyring, createSealer, legacyKeyring, localKey } from '@authcache/seal';
import { ACCESS_KEY_ID_PATTERN, type AccessKeys, type SecretSealer } from '@authcache/sigv4';

/** Id of the only key: new secrets are `$acse$…` envelopes wrapped by it, old ones `v1.env.…`. */
export const ENCRYPTION_KEY_ID = 'env';

/**
 * Secrets sealed in @authcache/seal's envelope format with the local key (AAD: access_key /
 * secret_ciphertext / the access key id); rows sealed by the former keyring (`v1.env.…`) still
 * open with the same key, and `authcache keys rotate` moves them over.
 */
function sealedKeyring(key: Uint8Array | string): SecretSealer {
  const keys = { [ENCRYPTION_KEY_ID]: key };
  return createSealedKeyring({
    sealer: createSealer({ backend: localKey({ keys }) }),
    legacy: legacyKeyring(keys),
  });
}

const BASE64_32_BYTES = /^(?:[A-Za-z0-9+/]{43}=?|[A-Za-z0-9_-]{43})$/;

/**
 * The keyring from `ACCESS_KEY_ENCRYPTION_KEY` (32 bytes, base64). Unset: required with
 * `DATABASE_URL` (sealed secrets outlive the process there); in the embedded mode a random key is
 * generated, which is fine only because the in-memory database dies with it.
 */
export function accessKeyKeyring(env: {
  ACCESS_KEY_ENCRYPTION_KEY?: string;
  DATABASE_URL?: string;
}): { keyring: SecretSealer; source: 'env' | 'generated' } {
  const value = env.ACCESS_KEY_ENCRYPTION_KEY;
  if (!value) {
    if (env.DATABASE_URL) {
      throw new Error(
        'ACCESS_KEY_ENCRYPTION_KEY is required with DATABASE_URL (32 random bytes, base64: `openssl rand -base64 32`)',
      );
    }
    return {
      keyring: sealedKeyring(randomBytes(32)),
      source: 'generated',
    };
  }
  if (!BASE64_32_BYTES.test(value)) {
    throw new Error('ACCESS_KEY_ENCRYPTION_KEY must be 32 bytes in base64 (44 characters)');
  }
  return {
    keyring: sealedKeyring(value),
    source: 'env',
  };
}

/** A parsed `SEED_ACCESS_KEY`. */
export interface SeedAccessKey {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** Parses `SEED_ACCESS_KEY=<AKIA…>:<secret>`; `null` when unset. */
export function parseSeedAccessKey(value: string | undefined): SeedAccessKey | null {
  if (!value) return null;
  const colon = value.indexOf(':');
  const accessKeyId = colon === -1 ? '' : value.slice(0, colon);
  const secretAccessKey = colon === -1 ? '' : value.slice(colon + 1);
  if (
    !ACCESS_KEY_ID_PATTERN.test(accessKeyId) ||
    !accessKeyId.startsWith('AKIA') ||
    !/^[\x21-\x7e]{16,128}$/.test(secretAccessKey)
  ) {
    throw new Error(
      'SEED_ACCESS_KEY must be <access key id>:<secret>, the id AKIA + 16 characters A-Z2-7, the secret 16 to 128 printable characters',
    );
  }
  return { accessKeyId, secretAccessKey };
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Creates the seeded key for `principalId` unless it exists: idempotent across restarts of a
 * persistent database, and between instances starting together. An existing key must hold the
 * same secret (opened with the current keyring), else startup fails.
 */
export async function seedAccessKey(
  deps: { accessKeys: AccessKeys; accessKeyStore: PgAccessKeyStore; keyring: SecretSealer },
  seed: SeedAccessKey,
  principalId: string,
): Promise<void> {
  const fail = (reason: string, cause?: unknown): never => {
    throw new Error(`SEED_ACCESS_KEY could not be seeded: ${reason}`, { cause });
  };
  const existing = async () => {
    const identity = await deps.accessKeyStore.findByHash('sigv4', seed.accessKeyId);
    if (!identity) return false;
    let secret: string;
    try {
      secret = await deps.keyring.open(
        String(identity.attributes?.secretCiphertext ?? ''),
        seed.accessKeyId,
      );
    } catch {
      return fail('the stored key does not open with ACCESS_KEY_ENCRYPTION_KEY');
    }
    if (!sameSecret(secret, seed.secretAccessKey)) {
      return fail('that access key id already exists with another secret');
    }
    if (identity.subject !== principalId) {
      return fail(`that access key id belongs to another principal than "${principalId}"`);
    }
    return true;
  };
  if (await existing()) return;
  try {
    await deps.accessKeys.createAccessKey({ principalId, ...seed });
  } catch (error) {
    // Another instance may have inserted it meanwhile; otherwise it was revoked or has expired.
    if (!(await existing())) fail('that access key id was revoked or has expired', error);
  }
}
