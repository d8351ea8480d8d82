import { describe, expect, it } from 'vitest';
import {
  type AuthCache,
  AuthRejection,
  authPathOf,
  createAuthCache,
  createAuthenticator,
  createTokenFormat,
  extractBearer,
  fetchAuthorization,
  generateToken,
  isCorsPreflight,
  MAX_BEARER_TOKEN_LENGTH,
  nodeAuthorization,
  rawAuthorization,
  selectCredential,
  toHttpError,
} from '../src/index.js';
import { createMemoryStore } from './support/memory-store.js';

const token = 'mul_0123456789ABCDEFGHIJabcdefghijXXXXXX';

describe('extractBearer', () => {
  it.each([
    ['absent', undefined],
    ['null', null],
    ['empty', ''],
    ['only spaces', '   '],
    ['no header in the array', []],
    ['another scheme', 'Basic dXNlcjpwYXNz'],
    ['a scheme that merely starts with bearer', `Bearerx ${token}`],
    ['another scheme with auth-params', 'Digest username="bearer", realm="api"'],
    ['another scheme, then a comma and a non-bearer word', 'Basic abc, Bearerish x'],
  ])('%s → missing', (_name, header) => {
    expect(extractBearer(header)).toEqual({ ok: false, reason: 'missing' });
  });

  it.each([
    ['canonical', `Bearer ${token}`],
    ['lower-case scheme', `bearer ${token}`],
    ['upper-case scheme', `BEARER ${token}`],
    ['several spaces (RFC 6750: 1*SP)', `Bearer   ${token}`],
    ['surrounding whitespace', `  Bearer ${token}  `],
    ['one header in an array', [`Bearer ${token}`]],
  ])('%s → the token', (_name, header) => {
    expect(extractBearer(header)).toEqual({ ok: true, token });
  });

  it('accepts the whole b64token alphabet, with trailing =', () => {
    const jwtish = 'aZ09-._~+/abc==';
    expect(extractBearer(`Bearer ${jwtish}`)).toEqual({ ok: true, token: jwtish });
  });

  it.each([
    ['scheme alone', 'Bearer'],
    ['scheme and spaces', 'Bearer    '],
    ['tab separator', `Bearer\t${token}`],
    ['two tokens', `Bearer ${token} ${token}`],
    ['comma list', `Bearer ${token}, Basic abc`],
    ['= inside', 'Bearer ab=c'],
    ['quote', 'Bearer "abc"'],
    ['non-ASCII', 'Bearer mul_é'],
    ['control char', 'Bearer abc\u0000def'],
    ['two headers', [`Bearer ${token}`, `Bearer ${token}`]],
    ['over-long', `Bearer ${'a'.repeat(MAX_BEARER_TOKEN_LENGTH + 1)}`],
    ['trailing no-break space', `Bearer ${token}\u00a0`],
    ['two headers joined by Fetch Headers', `Bearer ${token}, Bearer ${token}`],
    ['another scheme, then a bearer credential (joined headers)', `Basic abc, Bearer ${token}`],
    ['an empty header, then a bearer one (joined headers)', `, bearer ${token}`],
    ['two headers, one empty', ['', `Bearer ${token}`]],
  ])('%s → malformed', (_name, header) => {
    const result = extractBearer(header);
    expect(result.ok).toBe(false);
    expect(result.ok === false && result.reason).toBe('malformed');
  });

  it('accepts a token exactly at the length limit', () => {
    const long = 'a'.repeat(MAX_BEARER_TOKEN_LENGTH);
    expect(extractBearer(`Bearer ${long}`)).toEqual({ ok: true, token: long });
  });
});

describe('nodeAuthorization', () => {
  const req = (authorization: string | undefined, rawHeaders?: string[]) => ({
    headers: { authorization },
    rawHeaders,
  });

  it('returns the parsed header itself when it is sent once or not at all', () => {
    const header = `Bearer ${token}`;
    const rawHeaders = ['Host', 'x', 'AUTHORIZATION', header, 'Accept', '*/*'];
    expect(nodeAuthorization(req(header, rawHeaders))).toBe(header);
    expect(nodeAuthorization(req(undefined, ['Host', 'x']))).toBeUndefined();
    expect(nodeAuthorization(req(header))).toBe(header);
  });

  it('returns every value when Authorization is repeated, in any case, even with equal values', () => {
    const a = `Bearer ${token}`;
    const rawHeaders = ['authorization', a, 'Host', 'x', 'AuThOrIzAtIoN', a];
    // node:http keeps only the first in req.headers.
    expect(nodeAuthorization(req(a, rawHeaders))).toEqual([a, a]);
    const result = extractBearer(nodeAuthorization(req(a, rawHeaders)));
    expect(result).toMatchObject({ ok: false, reason: 'malformed' });
    expect(result.ok === false && result.description).toBe('More than one Authorization header');
  });

  it('does not count names that only look alike', () => {
    const rawHeaders = ['authorization', 'Bearer a', 'x-authorizatio', 'b', 'authorizatioN2', 'c'];
    expect(nodeAuthorization(req('Bearer a', rawHeaders))).toBe('Bearer a');
    expect(nodeAuthorization(req('Bearer a', [...rawHeaders, 'Proxy-Authorization', 'd']))).toBe(
      'Bearer a',
    );
  });
});

describe('rawAuthorization', () => {
  it('reads the value from rawHeaders alone, in any case, and every value when repeated', () => {
    const a = `Bearer ${token}`;
    expect(rawAuthorization(['Host', 'x', 'AUTHORIZATION', a, 'Accept', '*/*'])).toBe(a);
    expect(rawAuthorization(['Host', 'x'])).toBeUndefined();
    expect(rawAuthorization([])).toBeUndefined();
    expect(rawAuthorization(['authorization', ''])).toBe('');
    expect(rawAuthorization(['authorization', a, 'Host', 'x', 'AuThOrIzAtIoN', 'Basic b'])).toEqual(
      [a, 'Basic b'],
    );
    expect(
      rawAuthorization(['x-authorizatio', 'b', 'Proxy-Authorization', 'c', 'authorization', a]),
    ).toBe(a);
  });
});

describe('fetchAuthorization', () => {
  const incoming = (rawHeaders: string[]) => ({
    headers: { authorization: rawHeaders[1] },
    rawHeaders,
  });

  it('splits a joined value back into the headers node received', () => {
    const node = incoming(['authorization', 'Basic a', 'Authorization', 'Basic b']);
    expect(fetchAuthorization('Basic a, Basic b', node)).toEqual(['Basic a', 'Basic b']);
    // The upgrade path of @hono/node-server keeps only the first, as node's req.headers does.
    expect(fetchAuthorization('Basic a', node)).toEqual(['Basic a', 'Basic b']);
    const empty = incoming(['authorization', '', 'Authorization', `Bearer ${token}`]);
    expect(fetchAuthorization('', empty)).toEqual(['', `Bearer ${token}`]);
    expect(extractBearer(fetchAuthorization('Basic a, Basic b', node))).toMatchObject({
      reason: 'malformed',
    });
  });

  it('reads only rawHeaders, never the lazily built headers of the node request', () => {
    const lazy = {
      rawHeaders: ['Host', 'x', 'Authorization', `Bearer ${token}`],
      get headers(): never {
        throw new Error('incoming.headers was read');
      },
    };
    expect(fetchAuthorization(`Bearer ${token}`, lazy)).toBe(`Bearer ${token}`);
  });

  it('keeps the Fetch value when it is not the join of the node headers (a rewritten request)', () => {
    const node = incoming(['authorization', 'Basic a', 'Authorization', 'Basic b']);
    expect(fetchAuthorization('Basic c, Basic d', node)).toBe('Basic c, Basic d');
    expect(fetchAuthorization(undefined, node)).toBeUndefined();
    expect(fetchAuthorization(`Bearer ${token}`, node)).toBe(`Bearer ${token}`);
    const single = incoming(['authorization', `Bearer ${token}`]);
    expect(fetchAuthorization(`Bearer ${token}`, single)).toBe(`Bearer ${token}`);
    expect(fetchAuthorization('Basic a, Basic b')).toBe('Basic a, Basic b');
  });
});

describe('selectCredential', () => {
  it('uses the other source when the header is absent or another scheme', () => {
    expect(selectCredential(undefined, token)).toEqual({ ok: true, token });
    expect(selectCredential('Basic abc', token)).toEqual({ ok: true, token });
  });
  it('treats empty and null other tokens as absent', () => {
    expect(selectCredential(`Bearer ${token}`, '')).toEqual({ ok: true, token });
    expect(selectCredential(undefined, null)).toEqual({ ok: false, reason: 'missing' });
  });
  it('rejects a credential sent two ways, even the same one twice', () => {
    for (const header of [`Bearer ${token}`, 'Bearer', `Bearer ${token} x`]) {
      const result = selectCredential(header, token);
      expect(result).toMatchObject({ ok: false, reason: 'malformed' });
      expect(result.ok === false && result.description).toMatch(/more than one way/);
    }
  });
  it('checks the other token like a header token', () => {
    expect(selectCredential(undefined, 'a b')).toMatchObject({ ok: false, reason: 'malformed' });
    expect(selectCredential(undefined, 'x'.repeat(MAX_BEARER_TOKEN_LENGTH + 1))).toMatchObject({
      ok: false,
      reason: 'malformed',
    });
  });
});

describe('toHttpError', () => {
  it('missing → 401 with a bare challenge', () => {
    const error = toHttpError('missing', { realm: 'acme' });
    expect(error.status).toBe(401);
    expect(error.headers).toEqual({ 'WWW-Authenticate': 'Bearer realm="acme"' });
    expect(error.error).toBeUndefined();
  });
  it('malformed → 400 invalid_request', () => {
    const error = toHttpError({ reason: 'malformed' });
    expect(error.status).toBe(400);
    expect(error.headers['WWW-Authenticate']).toBe(
      'Bearer realm="api", error="invalid_request", error_description="Malformed Authorization header"',
    );
  });
  it.each(['invalid', 'expired', 'revoked'] as const)('%s → 401 invalid_token', (reason) => {
    const error = toHttpError(reason);
    expect(error.status).toBe(401);
    expect(error.error).toBe('invalid_token');
    expect(error.headers['WWW-Authenticate']).toMatch(
      /^Bearer realm="api", error="invalid_token", error_description="[^"\\]+"$/,
    );
  });
  it('insufficient_scope → 403 with the required scopes', () => {
    const error = toHttpError('insufficient_scope', { scopes: ['read', 'write'] });
    expect(error.status).toBe(403);
    expect(error.headers['WWW-Authenticate']).toBe(
      'Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="read write"',
    );
  });
  it('unavailable → 503 with Retry-After and no challenge', () => {
    const error = toHttpError('unavailable', { retryAfter: 30 });
    expect(error.status).toBe(503);
    expect(error.headers).toEqual({ 'Retry-After': '30' });
    expect(() => toHttpError('unavailable', { retryAfter: -1 })).toThrow(TypeError);
  });
  it('keeps quotes, backslashes and control characters out of quoted strings', () => {
    const error = toHttpError('invalid', {
      realm: 'a"b\\c',
      description: 'bad "token" \\ here\r\nInjected: yes',
      scopes: ['x"y'],
    });
    const header = error.headers['WWW-Authenticate']!;
    expect(header).toBe(
      'Bearer realm="abc", error="invalid_token", error_description="bad token  hereInjected: yes"',
    );
    const scoped = toHttpError('insufficient_scope', { scopes: ['x"y', 'a\\b', ' '] });
    expect(scoped.headers['WWW-Authenticate']).toMatch(/, scope="xy ab"$/);
  });
});

describe('createAuthenticator options', () => {
  // Only option validation here: the pipeline itself runs in the conformance suite on real stores.
  const auth = { resolve: async () => ({ ok: false, reason: 'invalid' }) } as unknown as AuthCache;
  it('fails at creation, not at the first request', () => {
    expect(() => createAuthenticator({ kinds: ['pat'] } as never)).toThrow(/auth/);
    expect(() => createAuthenticator({ auth, kinds: 'pat' } as never)).toThrow(/kinds/);
    expect(() => createAuthenticator({ auth, kinds: [], retryAfter: 1.5 })).toThrow(/retryAfter/);
    expect(() => createAuthenticator({ auth, kinds: [], jwt: { secret: '' } })).toThrow(/secret/);
  });
});

describe('helpers', () => {
  it('names the path of each kind', () => {
    expect(authPathOf('daemon')).toBe('daemon_token');
    expect(authPathOf('pat')).toBe('pat');
    expect(authPathOf('jwt')).toBe('jwt');
  });
  it('recognises a CORS preflight only with Access-Control-Request-Method', () => {
    expect(isCorsPreflight('OPTIONS', 'GET')).toBe(true);
    expect(isCorsPreflight('OPTIONS', undefined)).toBe(false);
    expect(isCorsPreflight('GET', 'GET')).toBe(false);
  });
});

describe('createAuthenticator with custom token kinds', () => {
  it('takes the prefixes from the auth cache, so custom tokens never reach the JWT verifier', async () => {
    const kinds = { api: { prefix: 'acme_' } };
    const custom = createTokenFormat(kinds).generate('api');
    const mem = createMemoryStore();
    const found = mem.add('api', custom);
    const auth = createAuthCache({ store: mem.store, tokenKinds: kinds });
    expect(auth.tokenKinds).toBe(kinds);
    const authenticate = createAuthenticator({
      auth,
      kinds: ['api'],
      jwt: { secret: 'a-secret-that-is-long-enough-for-hs256!!' },
    });
    const outcome = await authenticate({ authorization: `Bearer ${custom}` });
    expect(outcome).toEqual({ ok: true, auth: { ...found, path: 'api' } });
    expect(mem.calls.find).toBe(1);
    await auth.close();
  });
});

describe('extractBearer agrees with the RFC 6750 regular expressions it replaced', () => {
  // The former implementation, kept here as the reference: the hand-written scan must answer
  // exactly the same for every input.
  const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
  const BEARER_SCHEME = /^bearer(?=\s|$)/i;
  const LATER_BEARER = /,[ \t]*bearer(?:[ \t]|$)/i;
  const reference = (value: string) => {
    const v = value.replace(/^[ \t]+|[ \t]+$/g, '');
    if (v === '') return { ok: false, reason: 'missing' };
    const scheme = BEARER_SCHEME.exec(v);
    if (!scheme) {
      return v.indexOf(',') !== -1 && LATER_BEARER.test(v)
        ? { ok: false, reason: 'malformed' }
        : { ok: false, reason: 'missing' };
    }
    let start = scheme[0].length;
    while (v.charCodeAt(start) === 32) start++;
    if (start === v.length) return { ok: false, reason: 'malformed' };
    if (v.length - start > MAX_BEARER_TOKEN_LENGTH) return { ok: false, reason: 'malformed' };
    const t = v.slice(start);
    return B64TOKEN.test(t) ? { ok: true, token: t } : { ok: false, reason: 'malformed' };
  };
  const pieces = [
    'Bearer',
    'bearer',
    'BEARER',
    'BeArEr',
    'Bearerx',
    'Basic',
    'Bear',
    'bearer,',
    ' ',
    '  ',
    '\t',
    '\n',
    '\u00a0',
    '\u2003',
    '\ufeff',
    '\u0000',
    ',',
    ', ',
    'abc',
    token,
    'a=b',
    '==',
    '=',
    'a==',
    '"',
    'é',
    '~+/.-_',
    'ı',
    'ſ',
    'K',
  ];
  // A deterministic pseudo-random corpus (no flakiness): 20 000 concatenations of 1-5 pieces.
  let seed = 42;
  const next = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  const corpus = [...pieces];
  for (let i = 0; i < 20_000; i++) {
    let value = '';
    for (let n = 1 + (next() % 5); n > 0; n--) value += pieces[next() % pieces.length];
    corpus.push(value);
  }
  corpus.push(`Bearer ${'a'.repeat(MAX_BEARER_TOKEN_LENGTH)}`, `Bearer ${'a'.repeat(8193)}`);

  it('on a corpus of 20 000 generated headers', () => {
    for (const value of corpus) {
      const actual = extractBearer(value);
      const expected = reference(value);
      const simplified = actual.ok
        ? { ok: true, token: actual.token }
        : { ok: false, reason: actual.reason };
      if (JSON.stringify(simplified) !== JSON.stringify(expected)) {
        expect({ value, result: simplified }).toEqual({ value, result: expected });
      }
    }
  });
});

describe("Authenticator.request: the adapters' allocation-free form", () => {
  const live = generateToken('pat');
  async function warmCache() {
    const mem = createMemoryStore();
    const identity = mem.add('pat', live);
    const auth = createAuthCache({ store: mem.store });
    expect((await auth.resolve('pat', live)).ok).toBe(true);
    return { mem, identity, auth };
  }

  it('answers synchronously from an auth cache that has peek, without calling resolve', async () => {
    const { identity, auth } = await warmCache();
    const result = await auth.resolve('pat', live);
    let resolves = 0;
    const peeked: string[] = [];
    const peeking = {
      ...auth,
      resolve: (...args: Parameters<AuthCache['resolve']>) => {
        resolves++;
        return auth.resolve(...args);
      },
      peek: (kinds: readonly string[], t: string) => {
        peeked.push(kinds.join());
        return t === live ? result : undefined;
      },
    } as AuthCache;
    const { request } = createAuthenticator({ auth: peeking, kinds: ['pat'] });
    const outcome = request(`Bearer ${live}`);
    expect(outcome).not.toBeInstanceOf(Promise);
    expect(outcome).toEqual({ ...identity, path: 'pat' });
    expect(peeked).toEqual(['pat']);
    expect(resolves).toBe(0);
    // A peek that does not know falls back to resolve.
    const other = request(`Bearer ${generateToken('pat')}`);
    expect(other).toBeInstanceOf(Promise);
    expect(await other).toBeInstanceOf(AuthRejection);
    expect(resolves).toBe(1);
    await auth.close();
  });

  it('maps a peeked failure, and scopes, like resolve', async () => {
    const { auth } = await warmCache();
    const peeking = {
      ...auth,
      peek: () => ({ ok: false, reason: 'revoked' }) as const,
    } as AuthCache;
    const revoked = createAuthenticator({ auth: peeking, kinds: ['pat'] }).request(
      `Bearer ${live}`,
    );
    expect(revoked).toBeInstanceOf(AuthRejection);
    expect((revoked as AuthRejection).error.status).toBe(401);
    const scoped = createAuthenticator({ auth, kinds: ['pat'], scopes: ['admin'] }).request(
      `Bearer ${live}`,
    );
    const settled = await scoped;
    expect(settled).toBeInstanceOf(AuthRejection);
    expect((settled as AuthRejection).error.status).toBe(403);
    await auth.close();
  });

  it('settles a missing or malformed credential synchronously, and optional auth to undefined', async () => {
    const { auth } = await warmCache();
    const required = createAuthenticator({ auth, kinds: ['pat'] });
    expect((required.request(undefined) as AuthRejection).error.status).toBe(401);
    expect((required.request('Bearer a b') as AuthRejection).error.status).toBe(400);
    expect(createAuthenticator({ auth, kinds: ['pat'], required: false }).request(null)).toBe(
      undefined,
    );
    await auth.close();
  });

  it('checks the b64token alphabet past the cache: the same 400, warm or cold, with or without peek', async () => {
    const { mem, auth } = await warmCache();
    const noPeek = { ...auth, peek: undefined } as unknown as AuthCache;
    const withJwt = createAuthenticator({
      auth,
      kinds: ['pat'],
      jwt: { secret: 'x'.repeat(32) },
    });
    const authenticators = [
      createAuthenticator({ auth, kinds: ['pat'] }),
      createAuthenticator({ auth: noPeek, kinds: ['pat'] }),
      withJwt,
    ];
    const findsBefore = mem.calls.find;
    // The live token with one character replaced: right prefix and length, so only the alphabet
    // tells it apart, and a JWT-looking value with a bad character.
    const middle = 20;
    const bad = ['!', '"', ',', ';', '\\', 'é', '\u0000', '\u2028', '=', '@', '%'].map(
      (c) => `${live.slice(0, middle)}${c}${live.slice(middle + 1)}`,
    );
    bad.push('eyJhbGciOiJIUzI1NiJ9.e30!.sig');
    for (const authenticator of authenticators) {
      for (const value of bad) {
        const outcome = await authenticator.request(`Bearer ${value}`);
        expect(outcome, JSON.stringify(value)).toBeInstanceOf(AuthRejection);
        const { error } = outcome as AuthRejection;
        expect(error.status, JSON.stringify(value)).toBe(400);
        expect(error.body).toContain('Malformed bearer token');
      }
      // …and the live token itself is still accepted after all of them.
      expect(await authenticator.request(`Bearer ${live}`)).toMatchObject({ path: 'pat' });
    }
    // No malformed token reached the store.
    expect(mem.calls.find).toBe(findsBefore);
    await auth.close();
  });

  it('turns a throwing auth cache into a rejected promise, never a synchronous throw', async () => {
    const { auth } = await warmCache();
    const broken = {
      ...auth,
      peek: () => {
        throw new Error('boom');
      },
    } as AuthCache;
    const outcome = createAuthenticator({ auth: broken, kinds: ['pat'] }).request(`Bearer ${live}`);
    await expect(outcome).rejects.toThrow('boom');
    await auth.close();
  });

  it('keeps the promise-returning form for other callers', async () => {
    const { identity, auth } = await warmCache();
    const authenticate = createAuthenticator({ auth, kinds: ['pat'] });
    expect(await authenticate({ authorization: `Bearer ${live}` })).toEqual({
      ok: true,
      auth: { ...identity, path: 'pat' },
    });
    const failed = await authenticate({ authorization: undefined });
    expect(failed.ok === false && failed.error.status).toBe(401);
    await auth.close();
  });
});
