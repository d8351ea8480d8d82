/**
 * Scoped invalidation, the parts every surface shares (core, tiers, buses, the admin API, the
 * CLI): the scopes and their selectors, validation with a message naming the field, which
 * cached identities a scope matches, and the epoch fields a shared tier records.
 */
import { isValidKindName } from './tokens.js';
import type {
  Identity,
  InvalidationScope,
  InvalidationScopeName,
  ScopeInvalidationMessage,
} from './types.js';

/** Every scope, in the order the docs, the console and the CLI list them. */
export const INVALIDATION_SCOPES: readonly InvalidationScopeName[] = Object.freeze([
  'token',
  'subject',
  'kind',
  'access_key',
  'all',
]);

/** The kind of SigV4 access keys (`SIGV4_KIND` of `@authcache/sigv4`). */
export const ACCESS_KEY_KIND = 'sigv4';

/** The selectors each scope requires (the fields of its JSON body besides `scope`). */
export const SCOPE_SELECTORS: Readonly<Record<InvalidationScopeName, readonly string[]>> =
  Object.freeze({
    token: ['kind', 'id'],
    subject: ['subject'],
    kind: ['kind'],
    access_key: ['id'],
    all: [],
  });

/** Longest `id` or `subject` accepted (a primary key or a user id, not a document). */
const MAX_SELECTOR_LENGTH = 256;

/** The outcome of {@link parseInvalidationScope}. */
export type ScopeParseResult =
  | { readonly ok: true; readonly scope: InvalidationScope }
  | {
      readonly ok: false;
      /** The field at fault (`scope`, `kind`, `id`, `subject`). */
      readonly field: string;
      /** A sentence naming the field; it never echoes the value. */
      readonly message: string;
    };

function selector(value: unknown): value is string {
  // Printable, no control characters: these end up in logs and Redis hash fields.
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= MAX_SELECTOR_LENGTH &&
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
    !/[\u0000-\u001f\u007f]/.test(value)
  );
}

const fail = (field: string, message: string): ScopeParseResult => ({
  ok: false,
  field,
  message,
});

/**
 * Validates an untrusted `{ scope, … }` (a JSON body, CLI flags, a bus message) into an
 * {@link InvalidationScope}; extra fields are ignored. Messages name the field, never its value.
 */
export function parseInvalidationScope(input: unknown): ScopeParseResult {
  if (typeof input !== 'object' || input === null) {
    return fail('scope', 'the body must be a JSON object with a "scope" field');
  }
  const body = input as Record<string, unknown>;
  const scope = body.scope;
  if (typeof scope !== 'string' || !(INVALIDATION_SCOPES as readonly string[]).includes(scope)) {
    return fail('scope', `"scope" must be one of ${INVALIDATION_SCOPES.join(', ')}`);
  }
  const kindOk = () => isValidKindName(body.kind);
  const missing = (field: string, what: string) =>
    fail(field, `"${field}" is required for scope ${scope}: ${what}`);
  switch (scope as InvalidationScopeName) {
    case 'token':
      if (!kindOk()) return missing('kind', 'a token kind (printable ASCII, no ":")');
      if (!selector(body.id)) return missing('id', 'the token id (1–256 printable characters)');
      return { ok: true, scope: { scope: 'token', kind: body.kind as string, id: body.id } };
    case 'subject':
      if (!selector(body.subject)) {
        return missing('subject', 'the subject (1–256 printable characters)');
      }
      return { ok: true, scope: { scope: 'subject', subject: body.subject } };
    case 'kind':
      if (!kindOk()) return missing('kind', 'a token kind (printable ASCII, no ":")');
      return { ok: true, scope: { scope: 'kind', kind: body.kind as string } };
    case 'access_key':
      if (!selector(body.id)) return missing('id', 'the access key id (1–256 characters)');
      return { ok: true, scope: { scope: 'access_key', id: body.id } };
    default:
      return { ok: true, scope: { scope: 'all' } };
  }
}

/** The selectors of a scope, without `scope` (for audit entries and messages). */
export function scopeSelectors(scope: InvalidationScope): Record<string, string> {
  const { scope: _name, ...rest } = scope as InvalidationScope & Record<string, string>;
  return rest;
}

/** Whether a cached identity (under a key of `kind`) falls within `scope`. */
export function scopeMatches(scope: InvalidationScope, kind: string, identity: Identity): boolean {
  switch (scope.scope) {
    case 'token':
      return kind === scope.kind && identity.tokenId === scope.id;
    case 'subject':
      return identity.subject === scope.subject;
    case 'kind':
      return kind === scope.kind;
    case 'access_key':
      return kind === ACCESS_KEY_KIND && identity.tokenId === scope.id;
    case 'all':
      return true;
  }
}

/**
 * The epoch field a scope is recorded under (a shared tier keeps one epoch per field): `all`,
 * `kind:<kind>`, `subject:<subject>`, `token:<kind>:<id>` (an access key is the token
 * `sigv4:<id>`).
 */
export function scopeEpochField(scope: InvalidationScope): string {
  switch (scope.scope) {
    case 'token':
      return `token:${scope.kind}:${scope.id}`;
    case 'subject':
      return `subject:${scope.subject}`;
    case 'kind':
      return `kind:${scope.kind}`;
    case 'access_key':
      return `token:${ACCESS_KEY_KIND}:${scope.id}`;
    case 'all':
      return 'all';
  }
}

/** The epoch fields that can cover an identity cached under `kind` (see {@link scopeEpochField}). */
export function identityEpochFields(kind: string, identity: Identity): string[] {
  return [
    'all',
    `kind:${kind}`,
    `subject:${identity.subject}`,
    `token:${kind}:${identity.tokenId}`,
  ];
}

/** The JSON a bus carries for a scoped invalidation (no token, no hash: selectors and an epoch). */
export function encodeScopeMessage(message: ScopeInvalidationMessage): string {
  return JSON.stringify({
    scope: message.scope,
    epoch: message.epoch,
    ...(message.tierCleared === false ? { tierCleared: false } : {}),
  });
}

/** Reads {@link encodeScopeMessage}'s JSON back, validated; `undefined` when unreadable. */
export function decodeScopeMessage(json: string): ScopeInvalidationMessage | undefined {
  try {
    const body = JSON.parse(json) as { scope?: unknown; epoch?: unknown; tierCleared?: unknown };
    const parsed = parseInvalidationScope(body?.scope);
    if (!parsed.ok || typeof body.epoch !== 'number' || !Number.isFinite(body.epoch)) return;
    return {
      scope: parsed.scope,
      epoch: body.epoch,
      ...(body.tierCleared === false ? { tierCleared: false } : {}),
    };
  } catch {
    return undefined;
  }
}
