import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { freezeIdentity } from '../src/cache/freeze.js';
import { MAX_SHAPES, toRequestAuth } from '../src/request-auth.js';
import type { Identity } from '../src/types.js';

/** What the copy must equal, property for property and in order: the spread, `path` first. */
function reference(identity: object, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = { path };
  for (const key of Object.keys(identity)) {
    if (key === 'path') continue;
    Object.defineProperty(out, key, {
      value: (identity as Record<string, unknown>)[key],
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function expectSameCopy(identity: Identity, path = 'pat') {
  const auth = toRequestAuth(identity, path);
  const expected = reference(identity, path);
  expect(Reflect.ownKeys(auth)).toEqual(Reflect.ownKeys(expected));
  for (const key of Reflect.ownKeys(expected)) {
    expect(Object.getOwnPropertyDescriptor(auth, key)).toEqual(
      Object.getOwnPropertyDescriptor(expected, key),
    );
  }
  expect(Object.getPrototypeOf(auth)).toBe(Object.prototype);
  return auth;
}

const base = {
  kind: 'pat',
  tokenId: '7',
  subject: 'user-7',
  scopes: ['read', 'write'],
  expiresAt: null,
} satisfies Identity;

describe('toRequestAuth', () => {
  it('copies every field of a frozen identity, in order, with `path` first', () => {
    const identity = freezeIdentity({ ...base, name: 'laptop', attributes: { team: 'a' } });
    const auth = expectSameCopy(identity);
    expect(auth).toEqual({ path: 'pat', ...identity });
    expect(JSON.stringify(auth)).toBe(JSON.stringify({ path: 'pat', ...identity }));
  });

  it('gives a fresh, writable object each time and never changes the identity', () => {
    const identity = freezeIdentity(base);
    const a = toRequestAuth(identity, 'pat');
    const b = toRequestAuth(identity, 'pat');
    expect(a).not.toBe(b);
    expect(Object.isFrozen(a)).toBe(false);
    (a as { subject: string }).subject = 'changed';
    expect(b.subject).toBe('user-7');
    expect(identity.subject).toBe('user-7');
    // Nested values are the cached (frozen) ones, shared.
    expect(a.scopes).toBe(identity.scopes);
    expect(() => (a.scopes as string[]).push('admin')).toThrow(TypeError);
  });

  it('takes the path of this call, not of an earlier one with the same identity', () => {
    const identity = freezeIdentity(base);
    expect(toRequestAuth(identity, 'pat').path).toBe('pat');
    expect(toRequestAuth(identity, 'daemon_token').path).toBe('daemon_token');
  });

  it('keys that are hard to write in source are copied as they are', () => {
    const odd = {
      ...base,
      'with "quotes"': 1,
      'back\\slash': 2,
      '</script>': 3,
      'line\u2028separator': 4,
      '${template}': 5,
      "'); process.exit(1); ('": 6,
      '': 7,
      '0': 'index zero',
      '12': 'index twelve',
      ünïcødé: 8,
      constructor: 9,
      toString: 10,
    };
    expectSameCopy(freezeIdentity(odd as unknown as Identity));
  });

  it("an identity's own `path` field never replaces the request's path", () => {
    const identity = freezeIdentity({ ...base, path: 'from the store' } as unknown as Identity);
    const auth = expectSameCopy(identity, 'pat');
    expect(auth.path).toBe('pat');
    expect(Object.keys(auth)[0]).toBe('path');
  });

  it('a `__proto__` own key stays an own property and the prototype is untouched', () => {
    const identity = freezeIdentity(
      JSON.parse(
        '{"kind":"pat","tokenId":"1","subject":"s","scopes":[],"expiresAt":null,"__proto__":{"admin":true}}',
      ),
    );
    const auth = expectSameCopy(identity);
    expect(Object.hasOwn(auth, '__proto__')).toBe(true);
    expect((auth as unknown as { admin?: boolean }).admin).toBeUndefined();
  });

  it('symbol keys are copied too (by the spread)', () => {
    const tag = Symbol('tag');
    const identity = Object.freeze({ ...base, [tag]: 'x' }) as Identity;
    const auth = toRequestAuth(identity, 'pat');
    expect((auth as unknown as Record<symbol, string>)[tag]).toBe('x');
    expect(auth).toMatchObject({ path: 'pat', ...base });
  });

  it('an identity that is not frozen is copied as it is at each call', () => {
    const identity: Record<string, unknown> = { ...base };
    expect(toRequestAuth(identity as unknown as Identity, 'pat')).not.toHaveProperty('late');
    identity.late = true;
    expect(toRequestAuth(identity as unknown as Identity, 'pat')).toHaveProperty('late', true);
  });

  it('stays exact past the number of generated shapes', () => {
    for (let i = 0; i < MAX_SHAPES + 20; i++) {
      const identity = freezeIdentity({ ...base, [`extra${i}`]: i } as unknown as Identity);
      expectSameCopy(identity);
    }
  });

  it('works where code generation from strings is disabled', () => {
    const module = fileURLToPath(new URL('../src/request-auth.ts', import.meta.url));
    const script = `
      const { toRequestAuth } = await import(${JSON.stringify(module)});
      const identity = Object.freeze({ kind: 'pat', tokenId: '1', subject: 's', scopes: [], expiresAt: null, path: 'x' });
      let blocked = false;
      try { new Function('return 1'); } catch { blocked = true; }
      console.log(JSON.stringify({ blocked, auth: toRequestAuth(identity, 'pat') }));`;
    const out = execFileSync(
      process.execPath,
      [
        '--disallow-code-generation-from-strings',
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        script,
      ],
      { encoding: 'utf8' },
    );
    expect(JSON.parse(out)).toEqual({
      blocked: true,
      auth: { path: 'pat', kind: 'pat', tokenId: '1', subject: 's', scopes: [], expiresAt: null },
    });
  });
});
