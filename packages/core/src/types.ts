/** Who a credential belongs to. Stores build it; adapters hang it on the request. */
export interface Identity {
  /** Token kind that resolved it: `pat`, `daemon`, `sigv4`, `jwt`, or a custom kind. */
  readonly kind: string;
  /** Primary key of the token row (never the token itself). */
  readonly tokenId: string;
  /** The principal: user id for a PAT, daemon id for a daemon token, `sub` for a JWT. */
  readonly subject: string;
  /** Granted scopes. A route that requires scopes accepts only identities listing every one. */
  readonly scopes: readonly string[];
  /** When the credential stops being valid, in epoch milliseconds; `null` = never. */
  readonly expiresAt: number | null;
  /** Display name of the token, when the store keeps one. */
  readonly name?: string;
  /** Workspace of a daemon token. */
  readonly workspaceId?: string;
  /** Daemon of a daemon token. */
  readonly daemonId?: string;
  /** Store- or kind-specific extras (e.g. JWT claims). Must never hold a plaintext secret. */
  readonly attributes?: Readonly<Record<string, unknown>>;
}

/** Why a credential was not accepted. */
export type FailureReason =
  | 'missing'
  | 'malformed'
  | 'invalid'
  | 'expired'
  | 'revoked'
  | 'insufficient_scope'
  | 'unavailable';

/** What `resolve()` returns. It never throws for an auth outcome. */
export type ResolveResult =
  | {
      readonly ok: true;
      readonly identity: Identity;
      /** Hash of the credential, the key under which revocations are announced. */
      readonly tokenHash: string;
    }
  | { readonly ok: false; readonly reason: FailureReason };

/**
 * The source of truth for tokens. Implementations: `createPgTokenStore` (Postgres and PGlite).
 * Every method may throw on an outage; the resolver turns that into `unavailable`.
 */
export interface TokenStore {
  /**
   * The hasher the store used when it saved tokens. When present, the auth cache uses it too,
   * so a peppered store and its cache can never disagree.
   */
  readonly hashToken?: (token: string) => string;
  /** The live token with this hash, or `null`. Revoked and expired rows must not be returned. */
  findByHash(kind: string, tokenHash: string): Promise<Identity | null>;
  /**
   * Records use: sets `last_used_at = usedAt` on the given rows, only where it is null or
   * older than `notUsedSince`. One call, one batched conditional UPDATE.
   */
  touch(kind: string, tokenIds: readonly string[], usedAt: Date, notUsedSince: Date): Promise<void>;
  /**
   * Marks the token revoked and returns the hashes that stopped being valid (empty when no
   * such live token exists, or it belongs to another subject when `subject` is given).
   */
  revoke(kind: string, tokenId: string, options?: { subject?: string }): Promise<string[]>;
  /**
   * Split tokens (`<prefix><id>.<secret>`, a kind with `split` in `tokenKinds`): whether
   * `secret` matches the slow hash (scrypt, argon2, bcrypt, sha-crypt) of the live row `tokenId`
   * of `kind` — the store's `secretVerifier` decides. `false` for an unknown, revoked or expired
   * row. Throws on an outage (the resolver answers `unavailable`). Called once per id and secret
   * per cache window; `findByHash(kind, hashTokenId(id))` answers the identity.
   */
  verifySecret?(kind: string, tokenId: string, secret: string): Promise<boolean>;
}

/** A value held in the shared tier. */
export type SharedValue =
  | {
      readonly type: 'identity';
      readonly identity: Identity;
      /**
       * When the load that produced it started, in epoch ms of the filling instance's clock.
       * Tiers store it and return it from `get`: an instance ignores identities filled before
       * it started (see the `tierSkewMs` option). Absent (an older writer) counts as "before".
       */
      readonly filledAt?: number;
    }
  | { readonly type: 'revoked' };

/**
 * An optional shared cache between the in-process LRU and the store (e.g. `createRedisTier`).
 * Implementations bound every call with a timeout; any throw (synchronous or a rejection) is
 * treated as a miss, and a failed `invalidate` is retried by the resolver until it succeeds.
 */
export interface SharedTier {
  /**
   * The cached value and the key's current generation (0 when the key was never invalidated).
   * `ttlMs`, when the tier knows it, is how much longer the value lives there: an L1 entry made
   * from it never outlives it.
   */
  get(key: string): Promise<{ value: SharedValue | undefined; generation: number; ttlMs?: number }>;
  /**
   * Stores `value` for `ttlMs` unless the key already holds a value (tombstones win) or its
   * generation moved past `generation` while the value was being loaded.
   */
  fill(key: string, value: SharedValue, ttlMs: number, generation: number): Promise<void>;
  /** Bumps the generation and drops the value; writes a tombstone for `tombstoneMs` if > 0. */
  invalidate(key: string, tombstoneMs: number): Promise<void>;
  /**
   * Cluster-wide touch throttle: `true` for exactly one caller per key per window.
   * Absent means every instance decides for itself.
   */
  claimTouch?(key: string, windowMs: number): Promise<boolean>;
  /** Health for `auth.stats()` (e.g. the circuit breaker's state). Optional. */
  stats?(): TierHealth;
  /**
   * Records a scoped invalidation (see {@link InvalidationScope}): from now on, identities this
   * tier returns must not have been filled (`filledAt`) before `epoch` when they match `scope`;
   * the record is kept for `keepMs` (longer than any value filled before it can live). Values
   * are keyed by token hash, so a scope cannot be found by key: the tier checks the epochs on
   * every `get` instead. Absent: the auth cache enforces scoped invalidations on tier reads of
   * the instances that heard of them only (see the docs of `invalidateScope`).
   */
  invalidateScope?(scope: InvalidationScope, epoch: number, keepMs: number): Promise<void>;
  close?(): Promise<void>;
}

/**
 * Which cached state a scoped invalidation drops (`auth.invalidateScope`). None of them revokes
 * anything: the next resolve of a matching token asks the store, which still has the last word.
 *
 * - `token`: the token with this primary key (`id`) of this `kind`;
 * - `subject`: every token of this subject (a user id for PATs, a daemon id for daemon tokens,
 *   the principal of an access key), of any kind;
 * - `kind`: every token of this kind;
 * - `access_key`: the SigV4 access key with this id (the `sigv4` kind);
 * - `all`: everything (revoke tombstones stay).
 */
export type InvalidationScope =
  | { readonly scope: 'token'; readonly kind: string; readonly id: string }
  | { readonly scope: 'subject'; readonly subject: string }
  | { readonly scope: 'kind'; readonly kind: string }
  | { readonly scope: 'access_key'; readonly id: string }
  | { readonly scope: 'all' };

/** The name of a scope: `token`, `subject`, `kind`, `access_key` or `all`. */
export type InvalidationScopeName = InvalidationScope['scope'];

/** One scoped invalidation, as carried by a bus. */
export interface ScopeInvalidationMessage {
  readonly scope: InvalidationScope;
  /**
   * Epoch ms (the publisher's clock plus its `tierSkewMs`): shared-tier identities matching the
   * scope and filled before it are stale.
   */
  readonly epoch: number;
  /** `false` when the publisher could not record it in the shared tier: receivers try too. */
  readonly tierCleared?: boolean;
}

/** One invalidation, as carried by a bus. */
export interface InvalidationMessage {
  readonly kind: string;
  readonly tokenHash: string;
  /** `revoked` writes a tombstone; `invalidated` only drops cached state. */
  readonly reason: 'revoked' | 'invalidated';
  /**
   * `true` when the change was made in the store itself (e.g. a direct SQL `UPDATE` seen by
   * `createPgBus`), so no instance has invalidated the shared tier for it: every receiving instance
   * then invalidates the shared tier too (idempotent). Absent for messages published by an
   * instance, which invalidated the shared tier before publishing.
   */
  readonly fromStore?: boolean;
  /**
   * `false` when the publishing instance could not invalidate the shared tier (it keeps
   * retrying): every receiving instance then invalidates the shared tier too (idempotent).
   * Absent means the publisher cleared it.
   */
  readonly tierCleared?: boolean;
}

/** Handlers a bus calls for messages from other instances (or the database). */
export interface InvalidationHandlers {
  onInvalidate(message: InvalidationMessage): void;
  /** The bus may have missed messages (e.g. the stream was trimmed): drop every cached entry. */
  onFlush(): void;
  /** A scoped invalidation published by another instance (absent on older auth caches). */
  onScopeInvalidate?(message: ScopeInvalidationMessage): void;
}

/** Carries invalidations between instances (e.g. `createRedisBus`, `createPgBus`). */
export interface InvalidationBus {
  /** Announces an invalidation made by this instance. Must not deliver it back to itself. */
  publish(message: InvalidationMessage): Promise<void>;
  /**
   * Announces a scoped invalidation made by this instance. Optional: a bus without it does not
   * carry scoped invalidations (the auth cache logs a warning and reports it as not published).
   */
  publishScope?(message: ScopeInvalidationMessage): Promise<void>;
  /** Starts delivering remote invalidations. Resolves once the subscription is live. */
  start(handlers: InvalidationHandlers): Promise<void>;
  /** Connection state and lag for `auth.stats()`. Optional. */
  stats?(): BusHealth;
  close(): Promise<void>;
}

/** What listeners of `auth.onInvalidate` receive: local and remote invalidations, and flushes. */
export type InvalidationEvent =
  | ({ readonly type: 'invalidate' } & InvalidationMessage)
  | { readonly type: 'flush' }
  | ({ readonly type: 'scope' } & ScopeInvalidationMessage);

/** Minimal logger. Messages never contain a token or a secret. */
export interface Logger {
  warn(message: string, details?: Record<string, unknown>): void;
}

/** What the auth cache reads from a shared tier's optional `stats()`. */
export interface TierHealth {
  /** The tier's circuit breaker, if it has one. */
  readonly state?: 'closed' | 'open' | 'half-open';
}

/** What the auth cache reads from a bus's optional `stats()`. */
export interface BusHealth {
  /** Whether the bus's subscription (listening connection, stream reader) is up. */
  readonly connected: boolean;
  /** Epoch ms (`Date.now`) of the last message or catch-up row received; `null`: none yet. */
  readonly lastMessageAt: number | null;
  /** Messages delivered by catch-up reads rather than live. */
  readonly caughtUp: number;
}
