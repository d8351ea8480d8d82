import { isSealedText, readHeader } from './format.js';
import type { Sealer } from './sealer.js';

/** A keyring of the old format (`createSecretKeyring` of `@authcache/sigv4`), for reading only. */
export interface LegacyKeyring {
  open(envelope: string, context: string): string;
  keyIdOf(envelope: string): string | undefined;
}

/** Options of {@link createSealedKeyring}. */
export interface SealedKeyringOptions {
  /** Seals new secrets and opens sealed ones. Required. */
  sealer: Sealer;
  /**
   * Opens secrets stored before this package (`v1.<keyId>.…` envelopes of `createSecretKeyring`),
   * until `authcache keys rotate` re-sealed them. Default: none (such a row fails to open).
   */
  legacy?: LegacyKeyring;
  /** The table bound into each record's AAD. Default: `'access_key'`. */
  table?: string;
  /** The column bound into each record's AAD. Default: `'secret_ciphertext'`. */
  column?: string;
}

/** What `createCachedSigV4Verifier` / `createAccessKeys` take as `keyring` (`SecretSealer`). */
export interface SealedKeyring {
  readonly currentKeyId: string;
  seal(plaintext: string, context: string): Promise<string>;
  open(envelope: string, context: string): Promise<string>;
  keyIdOf(envelope: string): string | undefined;
}

/**
 * A keyring for `@authcache/sigv4` access keys over a {@link Sealer}: new secrets are sealed in
 * the envelope format (AAD: table, column and the access key id as row id); old keyring
 * envelopes open through `legacy` transparently. Key ids of legacy envelopes read
 * `legacy:<id>`, so `accessKeys.rewrap()` and `keys rotate` move them to the sealer.
 */
export function createSealedKeyring(options: SealedKeyringOptions): SealedKeyring {
  const { sealer, legacy } = options ?? {};
  if (!sealer || typeof sealer.openText !== 'function') {
    throw new TypeError('createSealedKeyring: options.sealer must be a sealer (createSealer)');
  }
  const table = options.table ?? 'access_key';
  const column = options.column ?? 'secret_ciphertext';
  return {
    get currentKeyId() {
      return sealer.backend.currentKeyId;
    },
    seal: (plaintext, rowId) => sealer.sealText(plaintext, { table, column, rowId }),
    async open(envelope, rowId) {
      if (isSealedText(envelope)) return sealer.openText(envelope, { table, column, rowId });
      if (!legacy) {
        throw new Error(
          'seal: this secret is in the old keyring format and no legacy keyring is configured',
        );
      }
      return legacy.open(envelope, rowId);
    },
    keyIdOf(envelope) {
      if (isSealedText(envelope)) {
        try {
          return readHeader(envelope).keyId;
        } catch {
          return undefined;
        }
      }
      const id = legacy?.keyIdOf(envelope);
      return id === undefined ? undefined : `legacy:${id}`;
    },
  };
}
