import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSealer,
  KeyBackendUnavailableError,
  readHeader,
  SealOpenError,
} from '../src/index.js';
import { pkcs11Key } from '../src/pkcs11.js';
import { createSoftHsm, SOFTHSM_MODULE, type SoftHsm } from './softhsm.js';

const CONTEXT = { table: 'outbound_token', column: 'token', rowId: 'svc-a' };
let hsm: SoftHsm;

beforeAll(() => {
  hsm = createSoftHsm();
  hsm.generate('wrap-aes');
  hsm.generate('wrap-rsa', 'rsa-3072');
  hsm.generate('wrap-aes-2');
}, 60_000);
afterAll(() => hsm?.cleanup());

const backendFor = (label: string, extra: Partial<Parameters<typeof pkcs11Key>[0]> = {}) =>
  pkcs11Key({
    module: SOFTHSM_MODULE,
    slot: { tokenLabel: hsm.tokenLabel },
    pin: { file: hsm.pinFile },
    label,
    ...extra,
  });

describe('pkcs11Key on SoftHSM2', () => {
  it('start-up failures name the backend and never the PIN (first: PKCS#11 logins are per process, so a wrong PIN is only noticed before any login)', async () => {
    const wrongPin = join(hsm.dir, 'wrong-pin');
    await import('node:fs/promises').then((fs) => fs.writeFile(wrongPin, '999999'));
    const cases = [
      [
        backendFor('wrap-aes', { module: '/nonexistent/libnothing.so' }),
        /key backend "pkcs11" is unavailable/,
      ],
      [
        backendFor('wrap-aes', { slot: { tokenLabel: 'no-such-token' } }),
        /no token in token "no-such-token"/,
      ],
      [
        backendFor('wrap-aes', { pin: { file: join(hsm.dir, 'missing') } }),
        /cannot read the PIN file/,
      ],
      [backendFor('wrap-aes', { pin: { file: wrongPin } }), /CKR_PIN_INCORRECT/],
    ] as const;
    for (const [backend, message] of cases) {
      const error = await backend.open!().then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(KeyBackendUnavailableError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('1234');
      expect((error as Error).message).not.toContain('999999');
      await backend.close!();
    }
    const missing = backendFor('no-such-label');
    await expect(missing.open!()).rejects.toThrow(
      'the token has no single wrapping key labelled "no-such-label"',
    );
    await missing.close!();
  });

  it.each(['wrap-aes', 'wrap-rsa'])(
    'seals and opens with %s, the key staying in the token',
    async (label) => {
      // SoftHSM 2.6 implements RSA-OAEP with SHA-1 only
      const backend = backendFor(label, label === 'wrap-rsa' ? { oaepHash: 'sha-1' } : {});
      await backend.open!();
      const sealer = createSealer({ backend });
      const text = await sealer.sealText('s3cr3t-value', CONTEXT);
      expect(readHeader(text)).toMatchObject({ backend: 'pkcs11', keyId: label, version: 1 });
      // a fresh sealer (no cached data key) goes to the token
      const fresh = createSealer({ backend });
      await expect(fresh.openText(text, CONTEXT)).resolves.toBe('s3cr3t-value');
      expect(fresh.stats().unwraps).toBe(1);
      // a busy server: one token operation per record per window, not per request
      await Promise.all(Array.from({ length: 20 }, () => fresh.openText(text, CONTEXT)));
      expect(fresh.stats().unwraps).toBe(1);
      await expect(fresh.openText(text, { ...CONTEXT, rowId: 'svc-b' })).rejects.toThrow(
        SealOpenError,
      );
      await backend.close!();
    },
  );

  it('wraps with a retired label still opening old records (rotation)', async () => {
    const old = backendFor('wrap-aes');
    const sealed = await createSealer({ backend: old }).seal('rotate-me', CONTEXT);
    await old.close!();
    const backend = backendFor('wrap-aes-2', { retiredLabels: ['wrap-aes'] });
    const sealer = createSealer({ backend });
    const next = await sealer.rewrap(sealed, CONTEXT, 'wrap-aes-2');
    expect(readHeader(next).keyId).toBe('wrap-aes-2');
    await expect(createSealer({ backend }).open(next, CONTEXT)).resolves.toEqual(
      Buffer.from('rotate-me'),
    );
    await backend.close!();
  });

  it('the token never hands out the wrapping key', async () => {
    const backend = backendFor('wrap-aes');
    await backend.open!();
    // The token files hold the key encrypted under the token's PIN-derived key: no 32-byte AES
    // key appears in any of them in the clear; the check here is that no value attribute can be
    // read through the module (CKA_SENSITIVE, not extractable).
    const js = (await import('pkcs11js')).default;
    const lib = new js.PKCS11();
    lib.load(SOFTHSM_MODULE);
    try {
      lib.C_Initialize();
    } catch {
      // shared with the backend
    }
    const slot = lib
      .C_GetSlotList(true)
      .find((s) => lib.C_GetTokenInfo(s).label.trim() === hsm.tokenLabel)!;
    const session = lib.C_OpenSession(slot, js.CKF_SERIAL_SESSION);
    lib.C_FindObjectsInit(session, [{ type: js.CKA_LABEL, value: 'wrap-aes' }]);
    const [handle] = lib.C_FindObjects(session, 1);
    lib.C_FindObjectsFinal(session);
    expect(() => lib.C_GetAttributeValue(session, handle!, [{ type: js.CKA_VALUE }])).toThrow(
      /CKR_ATTRIBUTE_SENSITIVE|CKR_USER_NOT_LOGGED_IN|CKR_ATTRIBUTE/,
    );
    lib.C_CloseSession(session);
    await backend.close!();
  });

  it('generatePkcs11WrappingKey refuses a label the token already has', async () => {
    const { generatePkcs11WrappingKey } = await import('../src/pkcs11.js');
    await expect(
      generatePkcs11WrappingKey({
        module: SOFTHSM_MODULE,
        slot: { tokenLabel: hsm.tokenLabel },
        pin: { file: hsm.pinFile },
        label: 'wrap-aes',
      }),
    ).rejects.toThrow('the token already has a key labelled "wrap-aes"');
  });

  it('PIN from $CREDENTIALS_DIRECTORY (systemd LoadCredentialEncrypted)', async () => {
    const before = process.env.CREDENTIALS_DIRECTORY;
    process.env.CREDENTIALS_DIRECTORY = hsm.dir;
    try {
      const backend = backendFor('wrap-aes', { pin: { credential: 'pin' } });
      await backend.open!();
      await backend.close!();
    } finally {
      if (before === undefined) delete process.env.CREDENTIALS_DIRECTORY;
      else process.env.CREDENTIALS_DIRECTORY = before;
    }
  });

  it('the token directory holds no plaintext of what was sealed', async () => {
    const backend = backendFor('wrap-aes');
    const sealer = createSealer({ backend });
    await sealer.seal('needle-plaintext-0123456789', CONTEXT);
    await backend.close!();
    const files = readdirSync(join(hsm.dir, 'tokens'), { recursive: true, withFileTypes: true });
    for (const file of files.filter((f) => f.isFile())) {
      const bytes = readFileSync(join(file.parentPath, file.name));
      expect(bytes.includes(Buffer.from('needle-plaintext'))).toBe(false);
    }
  });
});
