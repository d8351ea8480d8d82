/** Set-up: a wrapping key created inside the token. */
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

/** Options of {@link generatePkcs11WrappingKey}. */
export interface GeneratePkcs11KeyOptions {
  /** Path of the PKCS#11 module. Required. */
  module: string;
  /** The token. Required. */
  slot: Pkcs11Slot;
  /** The user PIN's source. Required. */
  pin: Pkcs11Pin;
  /** `CKA_LABEL` of the new key (the key id in envelopes). Required. */
  label: string;
  /** `aes-256` (AES-GCM wrapping) or `rsa-3072` (RSA-OAEP). Default: `'aes-256'`. */
  type?: 'aes-256' | 'rsa-3072';
}

/**
 * Creates a wrapping key inside the token (`CKA_TOKEN`, sensitive, not extractable): an AES-256
 * key (AES-GCM) or an RSA-3072 key pair (RSA-OAEP). For set-up scripts; the equivalent of
 * `pkcs11-tool --keygen --key-type AES:32 --label <label>`. Fails if the label exists.
 */
export async function generatePkcs11WrappingKey(options: GeneratePkcs11KeyOptions): Promise<void> {
  const label = checkKeyId(options.label);
  const js = await loadPkcs11();
  const pin = await readPin(options.pin);
  const lib = acquireModule(js, options.module);
  try {
    const slot = findSlot(lib, options.slot);
    if (!slot)
      throw new Error(`generatePkcs11WrappingKey: no token in ${describeSlot(options.slot)}`);
    const session = lib.C_OpenSession(slot, js.CKF_SERIAL_SESSION | js.CKF_RW_SESSION);
    try {
      login(lib, js, session, pin);
      lib.C_FindObjectsInit(session, [{ type: js.CKA_LABEL, value: label }]);
      const existing = lib.C_FindObjects(session, 1);
      lib.C_FindObjectsFinal(session);
      if (existing.length > 0) {
        throw new Error(
          `generatePkcs11WrappingKey: the token already has a key labelled "${label}"`,
        );
      }
      const common = [
        { type: js.CKA_TOKEN, value: true },
        { type: js.CKA_LABEL, value: label },
      ];
      if ((options.type ?? 'aes-256') === 'aes-256') {
        lib.C_GenerateKey(session, { mechanism: js.CKM_AES_KEY_GEN }, [
          ...common,
          { type: js.CKA_CLASS, value: js.CKO_SECRET_KEY },
          { type: js.CKA_KEY_TYPE, value: js.CKK_AES },
          { type: js.CKA_VALUE_LEN, value: 32 },
          { type: js.CKA_SENSITIVE, value: true },
          { type: js.CKA_EXTRACTABLE, value: false },
          { type: js.CKA_ENCRYPT, value: true },
          { type: js.CKA_DECRYPT, value: true },
          { type: js.CKA_PRIVATE, value: true },
        ]);
      } else {
        lib.C_GenerateKeyPair(
          session,
          { mechanism: js.CKM_RSA_PKCS_KEY_PAIR_GEN },
          [
            ...common,
            { type: js.CKA_CLASS, value: js.CKO_PUBLIC_KEY },
            { type: js.CKA_MODULUS_BITS, value: 3072 },
            { type: js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
            { type: js.CKA_ENCRYPT, value: true },
          ],
          [
            ...common,
            { type: js.CKA_CLASS, value: js.CKO_PRIVATE_KEY },
            { type: js.CKA_SENSITIVE, value: true },
            { type: js.CKA_EXTRACTABLE, value: false },
            { type: js.CKA_DECRYPT, value: true },
            { type: js.CKA_PRIVATE, value: true },
          ],
        );
      }
    } finally {
      lib.C_CloseSession(session);
    }
  } finally {
    releaseModule(options.module);
  }
}
