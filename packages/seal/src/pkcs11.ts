import { randomBytes } from 'node:crypto';
import type * as Pkcs11Js from 'pkcs11js';
import { type KeyBackend, KeyBackendUnavailableError, SealOpenError } from './backend.js';
import { checkKeyId } from './format.js';
import {
  acquireModule,
  describeSlot,
  findSlot,
  loadPkcs11,
  login,
  type Pkcs11Pin,
  type Pkcs11Slot,
  readPin,
  releaseModule,
} from './pkcs11-module.js';

export type { Pkcs11Pin, Pkcs11Slot } from './pkcs11-module.js';
export { type GeneratePkcs11KeyOptions, generatePkcs11WrappingKey } from './pkcs11-setup.js';

/** Options of {@link pkcs11Key}. */
export interface Pkcs11KeyOptions {
  /** Path of the PKCS#11 module, e.g. `/usr/lib/softhsm/libsofthsm2.so`. Required. */
  module: string;
  /**
   * The token: a slot id as the module numbers them, or `{ tokenLabel }` (robust when slots are
   * renumbered, as SoftHSM does). Required.
   */
  slot: Pkcs11Slot;
  /** The user PIN's source. Required. */
  pin: Pkcs11Pin;
  /**
   * `CKA_LABEL` of the wrapping key that wraps new records: an AES secret key (AES-GCM) or an RSA
   * key pair (RSA-OAEP with SHA-256). It is also the key id in envelope headers. Required.
   */
  label: string;
  /** Labels of retired wrapping keys still needed to open older records. Default: `[]`. */
  retiredLabels?: readonly string[];
  /**
   * Hash of RSA-OAEP (RSA keys only; OAEP's security does not rest on collision resistance, so
   * SHA-1 is sound here). SoftHSM 2.6 implements only `'sha-1'`. Default: `'sha-256'`.
   */
  oaepHash?: 'sha-256' | 'sha-1';
}

const UNAVAILABLE = new Set([
  'CKR_DEVICE_ERROR',
  'CKR_DEVICE_MEMORY',
  'CKR_DEVICE_REMOVED',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_TOKEN_NOT_RECOGNIZED',
  'CKR_SESSION_CLOSED',
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_CRYPTOKI_NOT_INITIALIZED',
  'CKR_GENERAL_ERROR',
  'CKR_FUNCTION_FAILED',
  'CKR_PIN_INCORRECT',
  'CKR_PIN_LOCKED',
  'CKR_SLOT_ID_INVALID',
]);

/**
 * A wrapping key inside a PKCS#11 token (HSM, smart card, SoftHSM), over `pkcs11js`: data keys
 * are encrypted by the token (AES-GCM: `iv(12) ‖ ciphertext+tag(48)`; RSA-OAEP: the RSA
 * ciphertext) and the wrapping key never leaves it. One session, operations serialised; a lost
 * session is reopened on the next call. Sealing new records needs the token; records whose data
 * key is cached by the sealer keep opening while it is away.
 */
export function pkcs11Key(options: Pkcs11KeyOptions): KeyBackend {
  if (typeof options?.module !== 'string' || options.module === '') {
    throw new TypeError('pkcs11Key: options.module must be the path of a PKCS#11 module');
  }
  const label = checkKeyId(options.label);
  const labels = [label, ...(options.retiredLabels ?? []).map(checkKeyId)];
  const slotName = describeSlot(options.slot);
  const sha1 = options.oaepHash === 'sha-1';
  const detail = `pkcs11 ${options.module}, ${slotName}, key "${label}"`;
  const unavailable = (message: string, cause?: unknown) =>
    new KeyBackendUnavailableError('pkcs11', `${message} (${detail})`, { cause });

  let state: { lib: Pkcs11Js.PKCS11; js: typeof Pkcs11Js; session: Buffer } | undefined;
  let opening: Promise<NonNullable<typeof state>> | undefined;
  const handles = new Map<string, { kind: 'aes' | 'rsa'; encrypt: Buffer; decrypt: Buffer }>();
  let queue: Promise<unknown> = Promise.resolve();
  let acquired = false;

  const connect = async (): Promise<NonNullable<typeof state>> => {
    let js: typeof Pkcs11Js;
    try {
      js = await loadPkcs11();
    } catch (error) {
      throw unavailable((error as Error).message, error);
    }
    const pin = await readPin(options.pin).catch((error: Error) => {
      throw unavailable(error.message);
    });
    try {
      const lib = acquireModule(js, options.module, acquired);
      acquired = true;
      const slot = findSlot(lib, options.slot);
      if (!slot) throw new Error(`no token in ${slotName}`);
      const session = lib.C_OpenSession(slot, js.CKF_SERIAL_SESSION | js.CKF_RW_SESSION);
      try {
        login(lib, js, session, pin);
      } catch (error) {
        lib.C_CloseSession(session);
        throw error;
      }
      handles.clear();
      return { lib, js, session };
    } catch (error) {
      // The message of a PKCS#11 error is its CKR_ name: it never carries the PIN.
      throw unavailable(`cannot open a session: ${(error as Error).message.split('\n')[0]}`, error);
    }
  };

  const ready = async () => {
    if (state) return state;
    opening ??= connect().then(
      (s) => {
        state = s;
        opening = undefined;
        return s;
      },
      (error) => {
        opening = undefined;
        throw error;
      },
    );
    return opening;
  };

  const find = (s: NonNullable<typeof state>, keyId: string) => {
    let found = handles.get(keyId);
    if (found) return found;
    const { lib, js, session } = s;
    const search = (cls: number) => {
      lib.C_FindObjectsInit(session, [
        { type: js.CKA_CLASS, value: cls },
        { type: js.CKA_LABEL, value: keyId },
      ]);
      try {
        return lib.C_FindObjects(session, 2);
      } finally {
        lib.C_FindObjectsFinal(session);
      }
    };
    const secret = search(js.CKO_SECRET_KEY);
    if (secret.length === 1) found = { kind: 'aes', encrypt: secret[0]!, decrypt: secret[0]! };
    else if (secret.length === 0) {
      const priv = search(js.CKO_PRIVATE_KEY);
      const pub = search(js.CKO_PUBLIC_KEY);
      if (priv.length === 1 && pub.length === 1)
        found = { kind: 'rsa', encrypt: pub[0]!, decrypt: priv[0]! };
    }
    if (!found) {
      throw new SealOpenError(
        `seal: the token has no single wrapping key labelled "${keyId}" (${detail})`,
      );
    }
    handles.set(keyId, found);
    return found;
  };

  /** Runs `op` alone on the session (PKCS#11 allows one operation at a time per session). */
  const run = <T>(op: (s: NonNullable<typeof state>) => Promise<T>): Promise<T> => {
    const next = queue.then(async () => {
      const s = await ready();
      try {
        return await op(s);
      } catch (error) {
        if (error instanceof SealOpenError) throw error;
        const name = /CKR_[A-Z_]+/.exec(String((error as Error)?.message))?.[0];
        if (name && UNAVAILABLE.has(name)) {
          state = undefined; // reopen on the next call
          throw unavailable(name, error);
        }
        throw error;
      }
    });
    queue = next.catch(() => undefined);
    return next;
  };

  const mechanismOf = (
    js: typeof Pkcs11Js,
    kind: 'aes' | 'rsa',
    iv?: Buffer,
  ): Pkcs11Js.Mechanism =>
    kind === 'aes'
      ? {
          mechanism: js.CKM_AES_GCM,
          parameter: {
            type: js.CK_PARAMS_AES_GCM,
            iv: iv!,
            ivBits: 96,
            tagBits: 128,
          } as Pkcs11Js.AesGCM,
        }
      : {
          mechanism: js.CKM_RSA_PKCS_OAEP,
          parameter: {
            type: js.CK_PARAMS_RSA_OAEP,
            hashAlg: sha1 ? js.CKM_SHA_1 : js.CKM_SHA256,
            mgf: sha1 ? js.CKG_MGF1_SHA1 : js.CKG_MGF1_SHA256,
            source: 1, // CKZ_DATA_SPECIFIED (with no label)
          } as Pkcs11Js.RsaOAEP,
        };

  return {
    tag: 'pkcs11',
    currentKeyId: label,
    wrapKey: (dataKey, keyId) =>
      run(async (s) => {
        const key = find(s, keyId);
        const iv = key.kind === 'aes' ? randomBytes(12) : undefined;
        s.lib.C_EncryptInit(s.session, mechanismOf(s.js, key.kind, iv), key.encrypt);
        const out = await s.lib.C_EncryptAsync(s.session, dataKey, Buffer.alloc(1024));
        return iv ? Buffer.concat([iv, out]) : Buffer.from(out);
      }),
    unwrapKey: (wrapped, keyId) =>
      run(async (s) => {
        const key = find(s, keyId);
        const iv = key.kind === 'aes' ? wrapped.subarray(0, 12) : undefined;
        const data = iv ? wrapped.subarray(12) : wrapped;
        s.lib.C_DecryptInit(s.session, mechanismOf(s.js, key.kind, iv), key.decrypt);
        try {
          return Buffer.from(await s.lib.C_DecryptAsync(s.session, data, Buffer.alloc(1024)));
        } catch (error) {
          const name = /CKR_[A-Z_]+/.exec(String((error as Error)?.message))?.[0];
          // Tokens report a failed GCM tag or OAEP padding loosely (SoftHSM: CKR_GENERAL_ERROR).
          // If the session still answers, the token is fine and the record is not.
          let alive = true;
          try {
            s.lib.C_GetSessionInfo(s.session);
          } catch {
            alive = false;
          }
          if (!alive) throw error;
          throw new SealOpenError(
            `seal: the token did not unwrap the data key (${name ?? 'error'})`,
          );
        }
      }),
    describe: () => ({ tag: 'pkcs11', currentKeyId: label, keyIds: labels, detail }),
    async open() {
      await run(async (s) => {
        for (const id of labels) find(s, id);
      });
    },
    async close() {
      await queue;
      const s = state;
      state = undefined;
      handles.clear();
      if (!s) return;
      try {
        s.lib.C_CloseSession(s.session);
      } catch {
        // already gone with the token
      }
      if (acquired) {
        acquired = false;
        releaseModule(options.module);
      }
    },
  };
}
