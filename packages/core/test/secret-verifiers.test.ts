// Known-answer tests of the secret verifiers against hashes made by other tools (mkpasswd,
// openssl) and published vectors (RFC 7914 for scrypt, the argon2 reference implementation's
// test.c, the SHA-crypt specification). Provenance of each hash: fixtures/secret-hashes.json.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  argon2Verifier,
  bcryptVerifier,
  createSecretVerifier,
  scryptVerifier,
  shaCryptVerifier,
} from '../src/index.js';

const fixtures = JSON.parse(
  readFileSync(new URL('./fixtures/secret-hashes.json', import.meta.url), 'utf8'),
) as { hashes: { format: string; secret: string; hash: string; madeWith: string }[] };

const unpadded = (hex: string) =>
  Buffer.from(hex.replace(/\s+/g, ''), 'hex').toString('base64').replace(/=+$/, '');

/** RFC 7914 §12, vectors 2 and 3, as PHC strings (the RFC gives raw 64-byte keys). */
const rfc7914 = [
  {
    secret: 'password',
    hash: `$scrypt$ln=10,r=8,p=16$${unpadded(Buffer.from('NaCl').toString('hex'))}$${unpadded(
      `fd ba be 1c 9d 34 72 00 78 56 e7 19 0d 01 e9 fe 7c 6a d7 cb c8 23 78 30 e7 73 76 63 4b 37 31 62
       2e af 30 d9 2e 22 a3 88 6f f1 09 27 9d 98 30 da c7 27 af b9 4a 83 ee 6d 83 60 cb df a2 cc 06 40`,
    )}`,
  },
  {
    secret: 'pleaseletmein',
    hash: `$scrypt$ln=14,r=8,p=1$${unpadded(Buffer.from('SodiumChloride').toString('hex'))}$${unpadded(
      `70 23 bd cb 3a fd 73 48 46 1c 06 cd 81 fd 38 eb fd a8 fb ba 90 4f 8e 3e a9 b5 43 f6 54 5d a1 f2
       d5 43 29 55 61 3f 0f cf 62 d4 97 05 24 2a 9a f9 e6 1e 85 dc 0d 65 1e 40 df cf 01 7b 45 57 58 87`,
    )}`,
  },
];

describe('scryptVerifier', () => {
  const scrypt = scryptVerifier();
  it.each(rfc7914)('verifies the RFC 7914 vector for $secret', async ({ secret, hash }) => {
    expect(await scrypt.verify(secret, hash)).toBe(true);
    expect(await scrypt.verify(`${secret}x`, hash)).toBe(false);
  });

  it('makes PHC strings that verify, with a fresh salt each time', async () => {
    const fast = scryptVerifier({ N: 1024, r: 8, p: 1 });
    const a = await fast.hash!('s3cret');
    const b = await fast.hash!('s3cret');
    expect(a).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(a).not.toBe(b);
    expect(await fast.verify('s3cret', a)).toBe(true);
    expect(await fast.verify('s3creT', a)).toBe(false);
  });

  it('refuses malformed strings and parameters past maxMemory, never echoing the hash', async () => {
    const small = scryptVerifier({ N: 1024, maxMemory: 4 * 1024 * 1024 });
    const hash = rfc7914[1]!.hash; // N = 16384, r = 8: 16 MiB
    await expect(small.verify('x', hash)).rejects.toThrow(/maxMemory/);
    for (const bad of ['$scrypt$QQQQ', '$scrypt$ln=10,r=8$abcXYZ$def', `${rfc7914[0]!.hash}$`]) {
      const error = await small.verify('x', bad).catch((e: Error) => e);
      expect(error).toBeInstanceOf(TypeError);
      expect(String(error)).not.toContain(bad);
    }
    expect(() => scryptVerifier({ N: 1000 })).toThrow(/power of two/);
  });
});

describe('sha-crypt, bcrypt, argon2 against hashes made elsewhere', () => {
  const any = createSecretVerifier();
  it.each(fixtures.hashes.map((f) => [f.format, f.madeWith, f] as const))(
    '%s — %s',
    async (_format, _madeWith, { secret, hash }) => {
      expect(any.accepts(hash)).toBe(true);
      expect(await any.verify(secret, hash)).toBe(true);
      expect(await any.verify(`${secret} `, hash)).toBe(false);
      expect(await any.verify(secret.slice(1), hash)).toBe(false);
    },
  );

  it('each verifier makes hashes the others refuse and it accepts', async () => {
    for (const verifier of [
      argon2Verifier({ memoryCost: 1024, timeCost: 1 }),
      bcryptVerifier({ rounds: 4 }),
      shaCryptVerifier(),
    ]) {
      const hash = await verifier.hash!('n3w secret');
      expect(verifier.accepts(hash), verifier.name).toBe(true);
      expect(await verifier.verify('n3w secret', hash)).toBe(true);
      expect(await verifier.verify('n3w secreT', hash)).toBe(false);
    }
  });

  it('refuses a sha-crypt hash asking for more rounds than maxRounds', async () => {
    const hash = fixtures.hashes.find((f) => f.hash.startsWith('$5$rounds=10000$'))!.hash;
    await expect(shaCryptVerifier({ maxRounds: 5000 }).verify('x', hash)).rejects.toThrow(
      /maxRounds/,
    );
  });

  it('an unknown format is an error naming the formats, not the hash', async () => {
    const error = await any.verify('x', '$1$abc$def').catch((e: Error) => e);
    expect(String(error)).toMatch(/no known format \(scrypt, argon2, bcrypt, sha-crypt\)/);
    expect(String(error)).not.toContain('$1$abc');
  });
});

describe('optional peers', () => {
  it('a missing peer is a clear error naming the package to install, and is retried later', async () => {
    const { lazy } = await import('../src/secrets/verifiers.js');
    const load = lazy('@authcache/not-installed-argon2', 'argon2Verifier', 'argon2');
    await expect(load()).rejects.toThrow(
      'argon2Verifier: argon2 hashes need the optional peer "@authcache/not-installed-argon2": npm install @authcache/not-installed-argon2',
    );
    await expect(load()).rejects.toThrow(/optional peer/);
  });
});
