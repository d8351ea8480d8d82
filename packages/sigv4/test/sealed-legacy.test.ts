import { randomBytes } from 'node:crypto';
import { createSealedKeyring, createSealer, legacyKeyring, localKey } from '@authcache/seal';
import { expect, it } from 'vitest';
import { createSecretKeyring } from '../src/index.js';

it("@authcache/seal's legacyKeyring opens this package's keyring envelopes, bound to their access key", async () => {
  const key = randomBytes(32);
  const old = createSecretKeyring({ keys: { env: key } });
  const envelope = old.seal('the-secret', 'AKIAIOSFODNN7EXAMPLE');
  const legacy = legacyKeyring({ env: key.toString('base64') });
  expect(legacy.keyIdOf(envelope)).toBe('env');
  expect(legacy.open(envelope, 'AKIAIOSFODNN7EXAMPLE')).toBe('the-secret');
  expect(() => legacy.open(envelope, 'AKIAI44QH8DHBEXAMPLE')).toThrow(/failed authentication/);
  expect(() => legacyKeyring({ other: key }).open(envelope, 'AKIAIOSFODNN7EXAMPLE')).toThrow(
    'legacy keyring: no key "env"',
  );
  // Through a sealed keyring: old rows open, their key id reads legacy:<id>, new rows are sealed.
  const keyring = createSealedKeyring({
    sealer: createSealer({ backend: localKey({ keys: { k1: randomBytes(32) } }) }),
    legacy,
  });
  expect(await keyring.open(envelope, 'AKIAIOSFODNN7EXAMPLE')).toBe('the-secret');
  expect(keyring.keyIdOf(envelope)).toBe('legacy:env');
  const sealed = await keyring.seal('the-secret', 'AKIAIOSFODNN7EXAMPLE');
  expect(sealed.startsWith('$acse$')).toBe(true);
  expect(keyring.keyIdOf(sealed)).toBe('k1');
  await expect(keyring.open(sealed, 'AKIAI44QH8DHBEXAMPLE')).rejects.toThrow(/moved to another/);
});
