import { createDecipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createSealer,
  fromText,
  localKey,
  parseEnvelope,
  readHeader,
  SealFormatError,
  SealOpenError,
  toText,
} from '../src/index.js';

/** Deterministic "random" bytes: seed, seed+1, … (mod 256). */
const counter = (seed: number) => {
  let n = seed;
  return (size: number) => Buffer.from(Array.from({ length: size }, () => n++ & 0xff));
};

const KEK = Buffer.alloc(32, 0x11);
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const CONTEXT = { table: 'access_key', column: 'secret_ciphertext', rowId: 'AKIAIOSFODNN7EXAMPLE' };

// Computed once by this implementation and checked below, field by field, against the layout of
// docs/sealed-secrets.md with plain node:crypto: a change of the format breaks this test.
const EXPECTED =
  '41435345' + // magic "ACSE"
  '01' + // version 1
  '05' +
  '6c6f63616c' + // backend tag "local"
  '02' +
  '6b31' + // key id "k1"
  '003c' + // wrapped data key: 60 bytes = local wrap nonce(12) ‖ ct(32) ‖ tag(16)
  'a0a1a2a3a4a5a6a7a8a9aaab' +
  '63b5724e441185943016b950734833e3b2e6d4211d9897bc0ccdf4f544cb2875' +
  '3266aeebcb56c397a6f750f8cd45ed25' +
  '202122232425262728292a2b' + // nonce
  'a570c71c1ec04f7a743a07838837bfce9d0da9d2c0af01be14a40a7b0ad31b5134c3b548cb6e7083' + // ciphertext (40)
  'ce0a0617245f4e0d373339c5b00de58a'; // GCM tag

function katSealer() {
  const backend = localKey({ keys: { k1: KEK }, randomBytes: counter(0xa0) });
  return createSealer({ backend, randomBytes: counter(0x00) });
}

describe('envelope format', () => {
  it('known answer: fixed key, data key and nonces give the committed bytes', async () => {
    const envelope = await katSealer().seal(SECRET, CONTEXT);
    expect(envelope.toString('hex')).toBe(EXPECTED);
  });

  it('the committed bytes open by the documented layout with nothing but node:crypto', () => {
    const bytes = Buffer.from(EXPECTED, 'hex');
    expect(bytes.subarray(0, 4).toString('ascii')).toBe('ACSE');
    // 4 magic + 1 version + 1+5 backend + 1+2 key id + 2 length = 16
    const wrapped = bytes.subarray(16, 16 + 60);
    const headerEnd = 16 + 60 + 12;
    const nonce = bytes.subarray(16 + 60, headerEnd);
    // the local backend's wrap: AES-256-GCM, AAD "authcache-seal-local\0<keyId>"
    const unwrap = createDecipheriv('aes-256-gcm', KEK, wrapped.subarray(0, 12));
    unwrap.setAAD(Buffer.from('authcache-seal-local\0k1'));
    unwrap.setAuthTag(wrapped.subarray(44));
    const dataKey = Buffer.concat([unwrap.update(wrapped.subarray(12, 44)), unwrap.final()]);
    expect(dataKey.toString('hex')).toBe(Buffer.from(counter(0)(32)).toString('hex'));
    const lp = (s: string) => {
      const b = Buffer.from(s);
      return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
    };
    const aad = Buffer.concat([
      bytes.subarray(0, headerEnd),
      lp(CONTEXT.table),
      lp(CONTEXT.column),
      lp(CONTEXT.rowId),
    ]);
    const open = createDecipheriv('aes-256-gcm', dataKey, nonce);
    open.setAAD(aad);
    open.setAuthTag(bytes.subarray(bytes.length - 16));
    const plain = Buffer.concat([
      open.update(bytes.subarray(headerEnd, bytes.length - 16)),
      open.final(),
    ]);
    expect(plain.toString()).toBe(SECRET);
  });

  it('reads the header without any key', () => {
    const header = readHeader(toText(Buffer.from(EXPECTED, 'hex')));
    expect(header).toMatchObject({ version: 1, backend: 'local', keyId: 'k1' });
    expect(header.wrappedKey.length).toBe(60);
  });

  it('opens its own output and refuses another row, column or table (AAD)', async () => {
    const sealer = katSealer();
    const text = toText(Buffer.from(EXPECTED, 'hex'));
    await expect(sealer.openText(text, CONTEXT)).resolves.toBe(SECRET);
    for (const moved of [
      { ...CONTEXT, rowId: 'AKIAI44QH8DHBEXAMPLE' },
      { ...CONTEXT, column: 'other' },
      { ...CONTEXT, table: 'other' },
    ]) {
      await expect(sealer.openText(text, moved)).rejects.toThrow(
        /moved to another table, column or row/,
      );
    }
  });

  it('refuses a wrong magic and an unknown version with clear errors', () => {
    const bytes = Buffer.from(EXPECTED, 'hex');
    const magic = Buffer.from(bytes);
    magic[0] = 0x42;
    expect(() => parseEnvelope(magic)).toThrow(SealFormatError);
    expect(() => parseEnvelope(magic)).toThrow(
      'not a sealed envelope (wrong magic; expected "ACSE")',
    );
    const future = Buffer.from(bytes);
    future[4] = 2;
    expect(() => parseEnvelope(future)).toThrow(
      'unknown envelope format version 2 (this build reads version 1; upgrade @authcache/seal)',
    );
    expect(() => readHeader('v1.env.abc.def.ghi')).toThrow(/not a sealed value/);
    expect(() => parseEnvelope(bytes.subarray(0, 40))).toThrow(/truncated envelope/);
  });

  it('a flipped bit anywhere fails: header, wrapped key, nonce, ciphertext or tag', async () => {
    const sealer = katSealer();
    const bytes = Buffer.from(EXPECTED, 'hex');
    for (const at of [7, 20, 80, 100, bytes.length - 1]) {
      const bad = Buffer.from(bytes);
      bad[at]! ^= 0x01;
      await expect(sealer.open(bad, CONTEXT), `byte ${at}`).rejects.toThrow();
    }
  });

  it('names the backend when a record was sealed by another one', async () => {
    const other = createSealer({
      backend: { ...localKey({ keys: { k1: KEK } }), tag: 'pkcs11' },
    });
    await expect(other.open(Buffer.from(EXPECTED, 'hex'), CONTEXT)).rejects.toThrow(
      'this record was sealed by the "local" backend, but the configured backend is "pkcs11"',
    );
    await expect(
      createSealer({ backend: localKey({ keys: { k2: KEK } }) }).open(
        Buffer.from(EXPECTED, 'hex'),
        CONTEXT,
      ),
    ).rejects.toThrow(SealOpenError);
  });

  it('the text form round-trips', () => {
    const bytes = Buffer.from(EXPECTED, 'hex');
    expect(toText(bytes).startsWith('$acse$')).toBe(true);
    expect(fromText(toText(bytes)).equals(bytes)).toBe(true);
  });
});
