import {
  hashTokenId,
  type Identity,
  type SecretVerifier,
  scryptVerifier,
  type TokenStore,
} from '../../src/index.js';

interface Row {
  identity: Identity;
  secretHash: string;
  revoked: boolean;
}

/**
 * An in-memory store of split tokens (id → identity + slow hash) for resolver tests. It runs a
 * real verifier (scrypt, small N by default) and counts the slow verifications; `hold` parks
 * every verification behind a gate so a test can see how many run at once.
 */
export function createSplitStore(
  verifier: SecretVerifier = scryptVerifier({ N: 1024, r: 8, p: 1 }),
  clock: () => number = Date.now,
) {
  const rows = new Map<string, Row>(); // key: kind:id
  const calls = { find: 0, verify: 0, running: 0, maxRunning: 0, touched: [] as string[] };
  let gate: Promise<void> | undefined;
  let failWith: Error | undefined;

  const live = (row: Row | undefined) =>
    row !== undefined &&
    !row.revoked &&
    (row.identity.expiresAt === null || row.identity.expiresAt > clock());

  const store: TokenStore = {
    async findByHash(kind, tokenHash) {
      calls.find++;
      if (failWith) throw failWith;
      for (const row of rows.values()) {
        if (row.identity.kind === kind && hashTokenId(row.identity.tokenId) === tokenHash) {
          return live(row) ? row.identity : null;
        }
      }
      return null;
    },
    async verifySecret(kind, id, secret) {
      calls.verify++;
      calls.running++;
      calls.maxRunning = Math.max(calls.maxRunning, calls.running);
      try {
        if (gate) await gate;
        if (failWith) throw failWith;
        const row = rows.get(`${kind}:${id}`);
        if (!live(row)) return false;
        return await verifier.verify(secret, row!.secretHash);
      } finally {
        calls.running--;
      }
    },
    async touch(_kind, ids) {
      calls.touched.push(...ids);
    },
    async revoke(kind, id) {
      const row = rows.get(`${kind}:${id}`);
      if (!live(row)) return [];
      row!.revoked = true;
      return [hashTokenId(id)];
    },
  };

  return {
    store,
    calls,
    async add(kind: string, id: string, secret: string, extra: Partial<Identity> = {}) {
      const identity: Identity = {
        kind,
        tokenId: id,
        subject: 'user-1',
        scopes: ['read'],
        expiresAt: null,
        ...extra,
      };
      rows.set(`${kind}:${id}`, {
        identity,
        secretHash: await verifier.hash!(secret),
        revoked: false,
      });
    },
    async setSecret(kind: string, id: string, secret: string) {
      rows.get(`${kind}:${id}`)!.secretHash = await verifier.hash!(secret);
    },
    hold() {
      let open!: () => void;
      gate = new Promise((resolve) => {
        open = resolve;
      });
      return () => {
        gate = undefined;
        open();
      };
    },
    fail(error: Error | undefined) {
      failWith = error;
    },
  };
}
