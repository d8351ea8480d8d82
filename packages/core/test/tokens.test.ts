import { describe, expect, it } from 'vitest';
import {
  checksum,
  crc32Ascii,
  createTokenFormat,
  createTokenHasher,
  generateToken,
  hashToken,
  parseToken,
} from '../src/index.js';

describe('token format', () => {
  it('generates prefix + 30 base62 + 6-char checksum that parses back', () => {
    const token = generateToken('pat');
    expect(token).toMatch(/^mul_[0-9A-Za-z]{36}$/);
    expect(token.slice(-6)).toBe(checksum(token.slice(4, 34)));
    expect(parseToken(token)).toEqual({ ok: true, kind: 'pat', legacy: false });
    expect(parseToken(generateToken('daemon'))).toEqual({
      ok: true,
      kind: 'daemon',
      legacy: false,
    });
  });

  it('generates distinct tokens with a roughly uniform alphabet', () => {
    const seen = new Set<string>();
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const token = generateToken('pat');
      seen.add(token);
      for (const ch of token.slice(4, 34)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
    expect(seen.size).toBe(2000);
    expect(counts.size).toBe(62);
    // 60 000 characters over 62 symbols ≈ 968 each; a biased generator skews the first symbols.
    for (const n of counts.values()) expect(n).toBeGreaterThan(700);
  });

  it('rejects garbage offline', () => {
    const good = generateToken('pat');
    const flipped = good.slice(0, -1) + (good.endsWith('A') ? 'B' : 'A');
    const bad = [
      '',
      'mul_',
      good.slice(0, -1),
      `${good}x`,
      flipped,
      `xyz_${good.slice(4)}`,
      `mul_${'é'.repeat(36)}`,
      `mul_${'\u0000'.repeat(36)}`,
      `mul_${good.slice(4, 20)}\n${good.slice(21)}`,
      'x'.repeat(10_240),
      `mul_${'a'.repeat(40)}`, // legacy hex not enabled by default
    ];
    for (const token of bad)
      expect(parseToken(token), JSON.stringify(token.slice(0, 50))).toEqual({ ok: false });
    expect(parseToken(undefined as unknown as string)).toEqual({ ok: false });
  });

  it('accepts legacy 40-hex tokens only where enabled', () => {
    const format = createTokenFormat({
      pat: { prefix: 'mul_', acceptLegacyHex: true },
      daemon: { prefix: 'mdt_' },
    });
    const legacy = `mul_${'0123456789abcdef0123456789abcdef01234567'}`;
    expect(format.parse(legacy)).toEqual({ ok: true, kind: 'pat', legacy: true });
    expect(format.parse(legacy.toUpperCase().replace('MUL_', 'mul_'))).toEqual({ ok: false });
    expect(format.parse(`mdt_${'a'.repeat(40)}`)).toEqual({ ok: false });
  });

  it('supports configured prefixes and refuses ambiguous ones', () => {
    const format = createTokenFormat({ api: { prefix: 'acme_' } });
    const token = format.generate('api');
    expect(token.startsWith('acme_')).toBe(true);
    expect(format.parse(token)).toEqual({ ok: true, kind: 'api', legacy: false });
    expect(format.parse(generateToken('pat'))).toEqual({ ok: false });
    expect(() => format.generate('pat')).toThrow(/unknown token kind/);
    expect(() => createTokenFormat({ a: { prefix: 'ab_' }, b: { prefix: 'ab_' } })).toThrow(
      TypeError,
    );
    expect(() => createTokenFormat({ a: { prefix: 'a-b' } })).toThrow(TypeError);
  });

  it('hashes with SHA-256 hex, or HMAC with a pepper', () => {
    expect(hashToken('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    const peppered = createTokenHasher({ pepper: 'pepper' })('abc');
    expect(peppered).toMatch(/^[0-9a-f]{64}$/);
    expect(peppered).not.toBe(hashToken('abc'));
    expect(() => createTokenHasher({ pepper: '' })).toThrow(TypeError);
  });
});

describe('crc32Ascii', () => {
  it('matches zlib.crc32 on ASCII input', async () => {
    const { crc32 } = await import('node:zlib');
    for (const text of ['', 'a', 'hello world', 'A'.repeat(30), generateToken('pat')]) {
      expect(crc32Ascii(text)).toBe(crc32(text));
    }
    const token = generateToken('daemon');
    expect(crc32Ascii(token, 4, 34)).toBe(crc32(token.slice(4, 34)));
  });
});
