/**
 * The framework-neutral admin API's types: what an adapter hands in (method, path, headers,
 * body) and what it writes back (status, headers, body), and the options of `createAdminHandler`.
 */
import type { AuthCache } from '../auth-cache.js';
import type { Identity, InvalidationScope } from '../types.js';

/** One request, as an adapter sees it. */
export interface AdminRequest {
  /** `GET`, `POST`, … (any case). */
  readonly method: string;
  /** The path below the router's mount point: `/`, `/metrics`, `/invalidate`, … */
  readonly path: string;
  /** Where the router is mounted (e.g. `/admin`, `''` at the root): links and the cookie's `Path`. */
  readonly base: string;
  /** Request headers, names in lower case; a repeated header may be joined or an array. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /**
   * The body: a byte stream the handler reads up to its cap (a Node request, a Fetch body), a
   * string or bytes already read, or an object a body parser already made of it.
   */
  readonly body?: AsyncIterable<Uint8Array> | string | Uint8Array | object | null;
  /** Whether the request came over HTTPS (the session cookie is then `Secure`). */
  readonly secure?: boolean;
}

/** What the adapter writes back. */
export interface AdminResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** What `authorize` is asked about: never the credential itself. */
export interface AdminAuthorizeRequest {
  readonly method: string;
  /** The path below the mount point. */
  readonly path: string;
  /** `bearer` (an `Authorization` header) or `session` (the console's cookie). */
  readonly via: 'bearer' | 'session';
}

/** One audited invalidation. Never holds a token or a token hash. */
export interface AdminAuditEntry {
  /** ISO 8601 time of the invalidation. */
  readonly time: string;
  /** The instance that applied it (see `instanceId`). */
  readonly instance: string;
  /** The admin's subject and token kind and id (the id is a primary key, not a secret). */
  readonly admin: { readonly subject: string; readonly kind: string; readonly tokenId: string };
  readonly via: 'bearer' | 'session';
  readonly scope: InvalidationScope['scope'];
  /** The scope's selectors (`kind`, `id`, `subject`), as given. */
  readonly selectors: Readonly<Record<string, string>>;
  /** Identities dropped here, whether the shared tier took it, buses that did not. */
  readonly outcome: {
    readonly dropped: number;
    readonly tierCleared: boolean;
    readonly busesFailed: number;
  };
}

/** Any metrics registry that can render the Prometheus text format (prom-client's `Registry` fits). */
export interface PrometheusSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** Options of {@link createAdminHandler} (and of every adapter's `adminRouter`). */
export interface AdminOptions {
  /** The auth cache to observe and invalidate; it also resolves the admin's own credential. */
  auth: AuthCache;
  /**
   * Who is an admin: called with the resolved identity of the caller's credential on every
   * request (bearer or console session), after the credential was resolved. `true` lets the
   * request through, anything else answers 403. Required: there is no default admin.
   */
  authorize: (identity: Identity, request: AdminAuthorizeRequest) => boolean | Promise<boolean>;
  /**
   * Receives every invalidation made through the router, after it was applied. A throw or
   * rejection is logged and does not undo the invalidation. Default: one `console.info` line
   * (`authcache admin audit {json}`).
   */
  audit?: (entry: AdminAuditEntry) => void | Promise<void>;
  /**
   * Serves `GET …/metrics/prometheus` from this registry (e.g. a prom-client `Registry` with the
   * `@authcache/prometheus` collectors). Default: none (that route answers 404).
   */
  prometheus?: PrometheusSource;
  /** Token kinds accepted as admin credentials. Default: `['pat']`. */
  kinds?: readonly string[];
  /** Names this instance in audit entries and `GET …/metrics`. Default: `<hostname>:<pid>`. */
  instanceId?: string;
  /** How many audit entries the console shows (kept in memory, newest first). Default: `50`. */
  auditHistory?: number;
  /** Largest JSON body accepted, in bytes; larger answers 413. Default: `16_384`. */
  maxBodyBytes?: number;
  /** A console session ends after this long without a request (ms). Default: `1_800_000`. */
  sessionIdleMs?: number;
  /** A console session ends this long after login whatever happens (ms). Default: `43_200_000`. */
  sessionMaxAgeMs?: number;
  /** Console sessions kept at once; the least recently used is dropped past it. Default: `1_000`. */
  maxSessions?: number;
  /** Current time in epoch ms. Default: `Date.now`. */
  clock?: () => number;
}
