/** What every key backend implements: wrap and unwrap a record's data key, and say what it is. */
export interface KeyBackend {
  /** The tag written into every envelope's header (`local`, `pkcs11`, `aws-kms`, …). */
  readonly tag: string;
  /** The key id new envelopes are wrapped with. */
  readonly currentKeyId: string;
  /**
   * Wraps (encrypts) a 32-byte data key with the key `keyId`; the result goes into the header as
   * is. The key-encryption key must never leave the backend.
   */
  wrapKey(dataKey: Buffer, keyId: string): Promise<Buffer>;
  /**
   * Unwraps a data key. Throw {@link KeyBackendUnavailableError} when the backend cannot be
   * reached (the record is then "unavailable", a 503, not "damaged").
   */
  unwrapKey(wrappedKey: Buffer, keyId: string): Promise<Buffer>;
  /** What the backend is, for status output and errors: never a key, PIN or secret. */
  describe(): BackendDescription;
  /**
   * Checks that the backend answers (opens its session), for start-up: rejects with
   * {@link KeyBackendUnavailableError} naming the backend. Optional.
   */
  open?(): Promise<void>;
  /** Releases sessions and handles. Optional. */
  close?(): Promise<void>;
}

/** A backend as status output shows it. */
export interface BackendDescription {
  readonly tag: string;
  readonly currentKeyId: string;
  /** Every key id this backend can unwrap with (current and retired). */
  readonly keyIds: readonly string[];
  /** One human line: module, slot, label, … Never a secret. */
  readonly detail: string;
}

/**
 * The key backend cannot be reached (HSM unplugged, session lost, KMS down): requests needing a
 * cold secret answer 503. `unavailable` is `true` so packages that do not import this one (e.g.
 * `@authcache/sigv4`) can tell it from a damaged record.
 */
export class KeyBackendUnavailableError extends Error {
  override readonly name = 'KeyBackendUnavailableError';
  readonly unavailable = true;
  constructor(
    readonly backend: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`seal: key backend "${backend}" is unavailable: ${message}`, options);
  }
}

/** A record that does not open: wrong key, altered bytes, moved to another row. */
export class SealOpenError extends Error {
  override readonly name = 'SealOpenError';
}
