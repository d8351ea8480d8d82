import { type KeyBackend, KeyBackendUnavailableError, localKey } from '../src/index.js';

/** A local backend that counts its calls and can be switched off (an HSM unplugged). */
export interface CountingBackend extends KeyBackend {
  readonly calls: { wrap: number; unwrap: number; describe: number };
  down: boolean;
}

export function countingBackend(
  keys: Record<string, Buffer> = { k1: Buffer.alloc(32, 7) },
  current?: string,
): CountingBackend {
  const inner = localKey({ keys, ...(current ? { current } : {}) });
  const calls = { wrap: 0, unwrap: 0, describe: 0 };
  const backend: CountingBackend = {
    tag: inner.tag,
    currentKeyId: inner.currentKeyId,
    calls,
    down: false,
    async wrapKey(dataKey, keyId) {
      calls.wrap++;
      if (backend.down) throw new KeyBackendUnavailableError('local', 'switched off by the test');
      return inner.wrapKey(dataKey, keyId);
    },
    async unwrapKey(wrapped, keyId) {
      calls.unwrap++;
      if (backend.down) throw new KeyBackendUnavailableError('local', 'switched off by the test');
      return inner.unwrapKey(wrapped, keyId);
    },
    describe() {
      calls.describe++;
      return inner.describe();
    },
  };
  return backend;
}
