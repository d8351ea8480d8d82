import { randomBytes } from 'node:crypto';
import type { AuthCache, Identity, TokenStore } from '@authcache/core';
import { sha256Hex } from './canonical.js';
import { SigV4Error } from './errors.js';
import type { SecretSealer } from './keyring.js';
import type { SigningKeyCache } from './signing-key.js';
import { createSigningKeyCache } from './signing-key.js';
import { createSigV4Verifier } from './verify.js';
import type { SigV4Key, SigV4Verifier, SigV4VerifierOptions } from './verify-types.js';

/** The auth-cache kind of SigV4 access keys. */
export const SIGV4_KIND = 'sigv4';

/** Access key ids this package issues: `AKIA`/`ASIA` + 16 base32 characters, as AWS's. */
export const ACCESS_KEY_ID_PATTERN = /^A[KS]IA[A-Z2-7]{16}$/;

/**
 * Where access keys live (e.g. `createPgAccessKeyStore` from `@authcache/pg`): core's `TokenStore` for
 * the kind `sigv4`, keyed by access key id, plus an insert. `findByHash` must return an identity
 * whose `attributes` carry `secretCiphertext` (the sealed secret) and `sessionTokenHash`.
 */
export interface AccessKeyRepository extends TokenStore {
  insertAccessKey(row: {
    accessKeyId: string;
    secretCiphertext: string;
    principalId: string;
    sessionTokenHash?: string | null;
    expiresAt?: Date | null;
  }): Promise<void>;
  /** Needed by `rewrap` only. */
  listSecretEnvelopes?(): Promise<Array<{ accessKeyId: string; secretCiphertext: string }>>;
  /** Needed by `rewrap` only: compare-and-swap of one envelope. */
  replaceSecretEnvelope?(accessKeyId: string, previous: string, next: string): Promise<boolean>;
}

/** Options of {@link createCachedAccessKeyLookup}. */
export interface CachedAccessKeyLookupOptions {
  /** The auth cache whose store resolves the kind `sigv4` (see {@link withAccessKeys}). Required. */
  auth: AuthCache;
  /**
   * Opens the sealed secrets: `createSecretKeyring`, or `createSealedKeyring` of `@authcache/seal`
   * (HSM / KMS backends; a backend outage answers 503 for keys whose secret is not warm). Required.
   */
  keyring: SecretSealer;
  /**
   * Ids that may reach the cache and the store; anything else is refused as unknown without a
   * lookup. Default: {@link ACCESS_KEY_ID_PATTERN}.
   */
  accessKeyIdPattern?: RegExp;
  /** Auth-cache kind of access keys. Default: `'sigv4'`. */
  kind?: string;
  /**
   * A signing-key cache to purge when a key is revoked or invalidated (on any instance, through
   * the auth cache's bus). Default: none.
   */
  signingKeyCache?: SigningKeyCache;
}

/**
 * A `lookupKey` for {@link createSigV4Verifier} that resolves access keys through the auth cache:
 * the expiry clamp and re-check, negative entries for unknown ids, single-flight and revocation
 * all apply as for other tokens. The cache holds only the sealed secret; it is opened only when the
 * verifier must derive a signing key (a new key, day, region or sealing) and never kept in the
 * clear (only derived signing keys are cached, by the verifier).
 *
 * Outcomes: unknown or revoked → `null` (`InvalidAccessKeyId`); expired → `ExpiredToken`;
 * store unreachable → `ServiceUnavailable` (503); a secret the keyring cannot open → `InternalError`.
 */
export function createCachedAccessKeyLookup(
  options: CachedAccessKeyLookupOptions,
): (accessKeyId: string) => Promise<SigV4Key<Identity> | null> {
  const { auth, keyring } = options;
  const kind = options.kind ?? SIGV4_KIND;
  const pattern = options.accessKeyIdPattern ?? ACCESS_KEY_ID_PATTERN;
  const { signingKeyCache } = options;
  if (signingKeyCache) {
    auth.onInvalidate((event) => {
      if (event.type === 'flush') signingKeyCache.clear();
      else if (event.type === 'scope') {
        // An access key's cache key is its id: a key or token scope names it, the rest may cover it.
        const { scope } = event;
        if (scope.scope === 'access_key') signingKeyCache.deleteAccessKey(scope.id);
        else if (scope.scope === 'token') {
          if (scope.kind === kind) signingKeyCache.deleteAccessKey(scope.id);
        } else if (scope.scope !== 'kind' || scope.kind === kind) signingKeyCache.clear();
      } else if (event.kind === kind) signingKeyCache.deleteAccessKey(event.tokenHash);
    });
  }

  return async (accessKeyId) => {
    if (!pattern.test(accessKeyId)) return null;
    const result = await auth.resolveHash(kind, accessKeyId);
    if (!result.ok) {
      switch (result.reason) {
        case 'expired':
          throw new SigV4Error('ExpiredToken');
        case 'unavailable':
          throw new SigV4Error('ServiceUnavailable');
        case 'insufficient_scope':
          throw new SigV4Error('AccessDenied');
        default:
          return null;
      }
    }
    const { identity } = result;
    const envelope = identity.attributes?.secretCiphertext;
    const sessionTokenHash = identity.attributes?.sessionTokenHash;
    if (typeof envelope !== 'string') {
      throw new SigV4Error('InternalError', 'The access key has no sealed secret.');
    }
    // Opened only when no signing key derived from this very envelope is cached: the plaintext
    // exists for the derivation and is never kept. A key backend that cannot be reached (HSM,
    // KMS) is an outage (503), anything else a secret that does not open (500).
    const failed = (error: unknown): never => {
      if ((error as { unavailable?: unknown } | null)?.unavailable === true) {
        throw new SigV4Error('ServiceUnavailable');
      }
      throw new SigV4Error('InternalError', 'The access key secret could not be opened.');
    };
    const secret = () => {
      let opened: string | Promise<string>;
      try {
        opened = keyring.open(envelope, accessKeyId);
      } catch (error) {
        return failed(error);
      }
      return typeof opened === 'string' ? opened : opened.catch(failed);
    };
    return {
      secret,
      // Unique per sealing (key id + random IV): re-sealing derives afresh, nothing else does.
      secretVersion: envelopeVersion(envelope),
      ...(typeof sessionTokenHash === 'string' ? { sessionTokenHash } : {}),
      expiresAt: identity.expiresAt,
      principal: publicPrincipal(identity),
    };
  };
}

/** Identities as the app sees them (`req.auth`), keyed by the cached identity object. */
const publicPrincipals = new WeakMap<Identity, Identity>();

/**
 * The identity without the sealed secret and the session-token hash, which the verifier needs
 * but which must not reach `req.auth`, logs or "who am I" routes. Built once per cached identity.
 */
function publicPrincipal(identity: Identity): Identity {
  let principal = publicPrincipals.get(identity);
  if (!principal) {
    const {
      secretCiphertext: _sealed,
      sessionTokenHash: _hash,
      ...rest
    } = identity.attributes ?? {};
    principal = { ...identity, attributes: rest };
    publicPrincipals.set(identity, principal);
  }
  return principal;
}

/**
 * Changes with every sealing: `<keyId>.<iv>` of a keyring envelope
 * (`v1.<keyId>.<iv>.<ciphertext>.<tag>`), the GCM tag (the last 16 bytes) of any other envelope
 * (`$acse$…` of `@authcache/seal`).
 */
function envelopeVersion(envelope: string): string {
  if (!envelope.startsWith('v1.')) return envelope.slice(-22);
  const parts = envelope.split('.', 3);
  return `${parts[1] ?? ''}.${parts[2] ?? ''}`;
}

/** Options of {@link createCachedSigV4Verifier}. */
export type CachedSigV4VerifierOptions = Omit<SigV4VerifierOptions<Identity>, 'lookupKey'> &
  Omit<CachedAccessKeyLookupOptions, 'signingKeyCache'>;

/**
 * A verifier whose keys come from the auth cache ({@link createCachedAccessKeyLookup}); its signing-key
 * cache is purged of a key as soon as the key is revoked anywhere.
 */
export function createCachedSigV4Verifier(
  options: CachedSigV4VerifierOptions,
): SigV4Verifier<Identity> {
  const { auth, keyring, accessKeyIdPattern, kind, ...verifierOptions } = options;
  const signingKeyCache =
    options.signingKeyCache === false
      ? undefined
      : (options.signingKeyCache ?? createSigningKeyCache());
  return createSigV4Verifier<Identity>({
    ...verifierOptions,
    signingKeyCache: signingKeyCache ?? false,
    lookupKey: createCachedAccessKeyLookup({
      auth,
      keyring,
      ...(accessKeyIdPattern ? { accessKeyIdPattern } : {}),
      ...(kind ? { kind } : {}),
      ...(signingKeyCache ? { signingKeyCache } : {}),
    }),
  });
}

/**
 * One `TokenStore` for the auth cache: the kind `sigv4` goes to `accessKeys`, every other kind to
 * `tokens` (whose `hashToken` the cache keeps using for prefixed tokens).
 */
export function withAccessKeys(
  tokens: TokenStore,
  accessKeys: TokenStore,
  kind = SIGV4_KIND,
): TokenStore {
  const pick = (k: string) => (k === kind ? accessKeys : tokens);
  return {
    ...(tokens.hashToken ? { hashToken: tokens.hashToken } : {}),
    findByHash: (k, hash) => pick(k).findByHash(k, hash),
    touch: (k, ids, usedAt, notUsedSince) => pick(k).touch(k, ids, usedAt, notUsedSince),
    revoke: (k, id, opts) => pick(k).revoke(k, id, opts),
  };
}

/** Long-lived credentials, shown once. */
export interface CreatedAccessKey {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly expiresAt: Date | null;
}

/** Temporary credentials, shown once. */
export interface CreatedSessionCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiresAt: Date;
}

/** Options of {@link createAccessKeys}. */
export interface AccessKeysOptions {
  /** Where keys are stored (e.g. `createPgAccessKeyStore`). Required. */
  store: AccessKeyRepository;
  /** Seals new secrets (with its current key). Required. */
  keyring: SecretSealer;
  /**
   * The auth cache: when given, `revoke` goes through it (tombstones, bus, every instance) and
   * `rewrap` invalidates re-sealed keys. Without it, revocation only reaches the store and
   * cached copies live until their TTL. Default: none.
   */
  auth?: AuthCache;
  /** Current time in epoch ms. Default: `Date.now`. */
  clock?: () => number;
  /** Auth-cache kind of access keys. Default: `'sigv4'`. */
  kind?: string;
}

/** Issues, revokes and re-seals access keys. */
export interface AccessKeys {
  /** A long-lived `AKIA…` key for `principalId`, optionally expiring. */
  createAccessKey(input: {
    principalId: string;
    expiresAt?: Date | null;
    accessKeyId?: string;
    secretAccessKey?: string;
  }): Promise<CreatedAccessKey>;
  /**
   * Session credentials (`ASIA…` + session token) that stop working at `expiresAt`, or after
   * `durationSeconds` (900–129 600; default 3 600). The token is stored as its SHA-256 only.
   */
  createSessionCredentials(input: {
    principalId: string;
    expiresAt?: Date;
    durationSeconds?: number;
  }): Promise<CreatedSessionCredentials>;
  /** Revokes a key; `principalId` restricts it to that owner's keys. Returns whether one was revoked. */
  revoke(accessKeyId: string, options?: { principalId?: string }): Promise<boolean>;
  /**
   * Re-seals every live secret that is not sealed with the keyring's current key (key rotation).
   * Retire the old key only after this returned and cached entries expired (or were invalidated).
   */
  rewrap(): Promise<{ rewrapped: number; unchanged: number }>;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function randomBase32(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += BASE32[bytes[i]! & 31];
  return out;
}

/** A new access key id: `AKIA…` (long-lived) or `ASIA…` (session), 20 characters. */
export function generateAccessKeyId(session = false): string {
  return (session ? 'ASIA' : 'AKIA') + randomBase32(16);
}

/** A new 40-character secret access key (240 random bits). */
export function generateSecretAccessKey(): string {
  return randomBytes(30).toString('base64');
}

/** Creates the key-management API over `options.store`. */
export function createAccessKeys(options: AccessKeysOptions): AccessKeys {
  const { store, keyring, auth } = options;
  const clock = options.clock ?? Date.now;
  const kind = options.kind ?? SIGV4_KIND;

  const principalOf = (value: unknown): string => {
    if (typeof value !== 'string' || value.length === 0) {
      throw new TypeError('accessKeys: principalId must be a non-empty string');
    }
    return value;
  };

  return {
    async createAccessKey(input) {
      const principalId = principalOf(input?.principalId);
      const expiresAt = input.expiresAt ?? null;
      if (
        expiresAt !== null &&
        (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime()))
      ) {
        throw new TypeError('createAccessKey: expiresAt must be a valid Date or null');
      }
      const accessKeyId = input.accessKeyId ?? generateAccessKeyId(false);
      if (!ACCESS_KEY_ID_PATTERN.test(accessKeyId) || !accessKeyId.startsWith('AKIA')) {
        throw new TypeError('createAccessKey: accessKeyId must be AKIA + 16 base32 characters');
      }
      const secretAccessKey = input.secretAccessKey ?? generateSecretAccessKey();
      if (secretAccessKey.length < 16)
        throw new TypeError('createAccessKey: secretAccessKey is too short');
      await store.insertAccessKey({
        accessKeyId,
        secretCiphertext: await keyring.seal(secretAccessKey, accessKeyId),
        principalId,
        expiresAt,
      });
      return { accessKeyId, secretAccessKey, expiresAt };
    },

    async createSessionCredentials(input) {
      const principalId = principalOf(input?.principalId);
      let expiresAt = input.expiresAt;
      if (expiresAt === undefined) {
        const duration = input.durationSeconds ?? 3_600;
        if (!Number.isInteger(duration) || duration < 900 || duration > 129_600) {
          throw new TypeError(
            'createSessionCredentials: durationSeconds must be an integer in 900..129600',
          );
        }
        expiresAt = new Date(clock() + duration * 1_000);
      } else if (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime())) {
        throw new TypeError('createSessionCredentials: expiresAt must be a valid Date');
      }
      const accessKeyId = generateAccessKeyId(true);
      const secretAccessKey = generateSecretAccessKey();
      const sessionToken = randomBytes(48).toString('base64url');
      await store.insertAccessKey({
        accessKeyId,
        secretCiphertext: await keyring.seal(secretAccessKey, accessKeyId),
        principalId,
        sessionTokenHash: sha256Hex(sessionToken),
        expiresAt,
      });
      return { accessKeyId, secretAccessKey, sessionToken, expiresAt };
    },

    async revoke(accessKeyId, revokeOptions) {
      const subject = revokeOptions?.principalId;
      const opts = subject === undefined ? undefined : { subject };
      if (auth) return auth.revoke(kind, accessKeyId, opts);
      return (await store.revoke(kind, accessKeyId, opts)).length > 0;
    },

    async rewrap() {
      if (!store.listSecretEnvelopes || !store.replaceSecretEnvelope) {
        throw new TypeError('rewrap: the store cannot list and replace secret envelopes');
      }
      let rewrapped = 0;
      let unchanged = 0;
      for (const { accessKeyId, secretCiphertext } of await store.listSecretEnvelopes()) {
        if (keyring.keyIdOf(secretCiphertext) === keyring.currentKeyId) {
          unchanged++;
          continue;
        }
        const next = await keyring.seal(
          await keyring.open(secretCiphertext, accessKeyId),
          accessKeyId,
        );
        if (await store.replaceSecretEnvelope(accessKeyId, secretCiphertext, next)) {
          rewrapped++;
          await auth?.invalidate(kind, accessKeyId);
        } else unchanged++;
      }
      return { rewrapped, unchanged };
    },
  };
}
