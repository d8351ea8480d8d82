/**
 * The per-request `RequestAuth` object: a shallow copy of a cached identity plus `path`. It is
 * the one allocation of a request answered from the cache, so it is built the fast way.
 *
 * Cached identities are deeply frozen, and V8 clones a frozen object through a spread (`{ path,
 * ...identity }`) on its slow path: ≈ 150–250 ns for a six-field identity on Node 20, against
 * ≈ 25 ns for an object literal that names the same fields. So each identity *shape* (its own
 * enumerable keys, in order) gets one generated copier whose body is exactly such a literal, and
 * each (frozen) identity object remembers its copier in a `WeakMap` (≈ 20 ns to find). The result is the
 * same object a spread gives: the same own properties in the same order, read through `[[Get]]`.
 *
 * Where code generation is not allowed (`--disallow-code-generation-from-strings`), for shapes a
 * literal can't copy faithfully (a `__proto__` key, symbol keys) and past {@link MAX_SHAPES}
 * distinct shapes, the copy is the plain spread.
 */
import type { Identity } from './types.js';

/** `RequestAuth` (http.ts) without importing it: an identity plus how the request proved it. */
type WithPath = Identity & { readonly path: string };
type Copier = (identity: Identity, path: string) => WithPath;

/** Distinct identity shapes given a generated copier; later shapes are spread. */
export const MAX_SHAPES = 256;
/** Identities with more own keys than this are spread (a literal that long gains nothing). */
const MAX_KEYS = 64;

/**
 * The spread, for what a literal can't copy. `path` first, as every copy has it, and
 * authoritative: it says how this request was authenticated, so an identity's own `path` field
 * (a store's extra column) never replaces it.
 */
const spread: Copier = (identity, path) => {
  const auth = { path, ...identity } as { path: string };
  if (auth.path !== path) auth.path = path;
  return auth as WithPath;
};

const byIdentity = new WeakMap<object, Copier>();
const byShape = new Map<string, Copier>();
let codegen = true;

/**
 * `{ path, ...identity }`, fast: `path` first, then the identity's own enumerable fields in their
 * order. An identity's own `path` field, if it has one, does not replace `path`. Never mutates
 * `identity`.
 */
export function toRequestAuth<P extends string>(
  identity: Identity,
  path: P,
): Identity & { readonly path: P } {
  const copy = byIdentity.get(identity);
  if (copy !== undefined) return copy(identity, path) as Identity & { readonly path: P };
  return copierOf(identity)(identity, path) as Identity & { readonly path: P };
}

function copierOf(identity: Identity): Copier {
  // Only a frozen object keeps its shape: anything else is copied as it is now.
  if (!Object.isFrozen(identity)) return spread;
  const copier = shapeCopier(identity);
  byIdentity.set(identity, copier);
  return copier;
}

function shapeCopier(identity: Identity): Copier {
  if (!codegen) return spread;
  const keys = Object.keys(identity);
  if (
    keys.length > MAX_KEYS ||
    keys.includes('__proto__') ||
    Object.getOwnPropertySymbols(identity).length > 0
  ) {
    return spread;
  }
  const shape = JSON.stringify(keys);
  const known = byShape.get(shape);
  if (known !== undefined) return known;
  if (byShape.size >= MAX_SHAPES) return spread;
  // JSON string literals are JavaScript string literals: a key can't break out of its quotes.
  const fields = keys
    .filter((key) => key !== 'path')
    .map((key) => `${JSON.stringify(key)}: i[${JSON.stringify(key)}], `)
    .join('');
  let copier: Copier;
  try {
    copier = new Function('i', 'p', `"use strict"; return { path: p, ${fields}};`) as Copier;
  } catch {
    // Code generation from strings is disabled in this process: spread from now on.
    codegen = false;
    return spread;
  }
  byShape.set(shape, copier);
  return copier;
}
