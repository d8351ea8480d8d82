import { createHmac, hash } from 'node:crypto';
import { createTokenFormat, generateToken } from '@authcache/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPgTokenStore,
  migrate,
  migrations,
  type PgTokenStore,
  type Queryable,
} from '../src/index.js';

/** A database for one run of the contract suite, with the schema the suite may use. */
export interface ContractTarget {
  db: Queryable;
  schema: string;
  /** Drops the schema (when shared) and closes the connection. */
  close(): Promise<void>;
}

const sha256 = (token: string) => hash('sha256', token, 'hex');
const HOUR = 3_600_000;

/** A Queryable that counts the statements it forwards (to check the store's own batching). */
function counting(db: Queryable): Queryable & { statements: string[] } {
  const statements: string[] = [];
  return {
    statements,
    query(text, params) {
      statements.push(text);
      return db.query(text, params);
    },
  };
}

/**
 * The behaviour every `createPgTokenStore` must show, whatever runs under it. Called once per driver
 * (real Postgres, PGlite) with a factory that opens a fresh database/schema.
 */
export function storeContract(label: string, open: () => Promise<ContractTarget>): void {
  describe(`createPgTokenStore contract on ${label}`, () => {
    let target: ContractTarget;
    let db: Queryable;
    let schema: string;
    let store: PgTokenStore;
    let firstMigration: string[];

    beforeAll(async () => {
      target = await open();
      ({ db, schema } = target);
      firstMigration = (await migrate(db, { schema })).applied;
      store = createPgTokenStore({ db, schema });
    });
    afterAll(async () => {
      await target?.close();
    });

    it('migrates once and is idempotent when run again (twice)', async () => {
      expect(firstMigration).toEqual(migrations.map((m) => m.id));
      expect((await migrate(db, { schema })).applied).toEqual([]);
      expect((await migrate(db, { schema })).applied).toEqual([]);
      const { rows } = await db.query<{ id: string }>(
        `SELECT id FROM "${schema}".authcache_migrations ORDER BY id`,
      );
      expect(rows.map((r) => r.id)).toEqual(migrations.map((m) => m.id).sort());
    });

    it('creates a PAT, stores only its hash and display prefix, and finds it by hash', async () => {
      const expiresAt = new Date(Date.now() + HOUR);
      const created = await store.createPat({
        userId: 'user-1',
        name: 'laptop',
        scopes: ['read', 'write:a,b', 'quote"d', 'spa ce', '{brace}'],
        expiresAt,
      });
      expect(created.token).toMatch(/^mul_[0-9A-Za-z]{36}$/);
      expect(created.tokenPrefix).toBe(created.token.slice(0, 8));
      expect(created.expiresAt?.getTime()).toBe(expiresAt.getTime());

      const { rows } = await db.query(
        `SELECT * FROM "${schema}".personal_access_token WHERE id = $1`,
        [created.id],
      );
      expect(rows).toHaveLength(1);
      const row = rows[0];
      expect(row.token_hash).toBe(sha256(created.token));
      expect(row.token_prefix).toBe(created.token.slice(0, 8));
      expect(row.revoked).toBe(false);
      expect(row.last_used_at).toBeNull();
      expect(row.created_at).toBeInstanceOf(Date);
      // The plaintext is in no column.
      expect(JSON.stringify(row)).not.toContain(created.token);
      expect(JSON.stringify(row)).not.toContain(created.token.slice(8));

      const identity = await store.findByHash('pat', store.hashToken(created.token));
      expect(identity).toEqual({
        kind: 'pat',
        tokenId: created.id,
        subject: 'user-1',
        scopes: ['read', 'write:a,b', 'quote"d', 'spa ce', '{brace}'],
        expiresAt: expiresAt.getTime(),
        name: 'laptop',
      });
    });

    it('maps a daemon token to its daemon and workspace, with no expiry by default', async () => {
      const created = await store.createDaemonToken({ workspaceId: 'ws-1', daemonId: 'd-1' });
      expect(created.token).toMatch(/^mdt_[0-9A-Za-z]{36}$/);
      expect(created.expiresAt).toBeNull();
      expect(await store.findByHash('daemon', sha256(created.token))).toEqual({
        kind: 'daemon',
        tokenId: created.id,
        subject: 'd-1',
        scopes: [],
        expiresAt: null,
        workspaceId: 'ws-1',
        daemonId: 'd-1',
      });
      // Kinds do not leak into each other's tables.
      expect(await store.findByHash('pat', sha256(created.token))).toBeNull();
    });

    it('filters expired tokens in SQL', async () => {
      const past = await store.createPat({
        userId: 'user-exp',
        name: 'old',
        expiresAt: new Date(Date.now() - 1_000),
      });
      const future = await store.createPat({
        userId: 'user-exp',
        name: 'new',
        expiresAt: new Date(Date.now() + HOUR),
      });
      const never = await store.createPat({ userId: 'user-exp', name: 'forever' });
      const pastDaemon = await store.createDaemonToken({
        workspaceId: 'ws',
        daemonId: 'd-exp',
        expiresAt: new Date(Date.now() - 1_000),
      });
      expect(await store.findByHash('pat', sha256(past.token))).toBeNull();
      expect(await store.findByHash('daemon', sha256(pastDaemon.token))).toBeNull();
      expect((await store.findByHash('pat', sha256(future.token)))?.tokenId).toBe(future.id);
      const forever = await store.findByHash('pat', sha256(never.token));
      expect(forever?.expiresAt).toBeNull();
    });

    it('filters revoked tokens and returns the hash exactly once from revoke', async () => {
      const pat = await store.createPat({ userId: 'user-rev', name: 'x' });
      expect(await store.revoke('pat', pat.id)).toEqual([sha256(pat.token)]);
      expect(await store.revoke('pat', pat.id)).toEqual([]);
      expect(await store.findByHash('pat', sha256(pat.token))).toBeNull();

      const daemon = await store.createDaemonToken({ workspaceId: 'ws', daemonId: 'd-rev' });
      expect(await store.revoke('daemon', daemon.id)).toEqual([sha256(daemon.token)]);
      expect(await store.revoke('daemon', daemon.id)).toEqual([]);
      expect(await store.findByHash('daemon', sha256(daemon.token))).toBeNull();
      // The id of one kind does not revoke a token of another.
      const other = await store.createPat({ userId: 'user-rev', name: 'y' });
      expect(await store.revoke('daemon', other.id)).toEqual([]);
      expect(await store.findByHash('pat', sha256(other.token))).not.toBeNull();
    });

    it('revokes only for the owning subject when one is given', async () => {
      const pat = await store.createPat({ userId: 'owner', name: 'x' });
      expect(await store.revoke('pat', pat.id, { subject: 'someone-else' })).toEqual([]);
      expect(await store.findByHash('pat', sha256(pat.token))).not.toBeNull();
      expect(await store.revoke('pat', pat.id, { subject: 'owner' })).toEqual([sha256(pat.token)]);

      const daemon = await store.createDaemonToken({ workspaceId: 'ws', daemonId: 'd-owner' });
      expect(await store.revoke('daemon', daemon.id, { subject: 'ws' })).toEqual([]);
      expect(await store.revoke('daemon', daemon.id, { subject: 'd-owner' })).toEqual([
        sha256(daemon.token),
      ]);
    });

    it('returns [] (not a 22P02 error) for ids that are not uuids, and ignores unknown kinds', async () => {
      const garbage = [
        '',
        'not-a-uuid',
        "1'; DROP TABLE personal_access_token; --",
        '00000000-0000-0000-0000-00000000000',
        '00000000-0000-0000-0000-0000000000000',
        'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz',
        '\u0000',
        'é'.repeat(36),
      ];
      for (const id of garbage) {
        expect(await store.revoke('pat', id)).toEqual([]);
        expect(await store.revoke('daemon', id, { subject: 'x' })).toEqual([]);
      }
      expect(await store.revoke('pat', '00000000-0000-0000-0000-000000000000')).toEqual([]);
      await expect(store.touch('pat', garbage, new Date(), new Date())).resolves.toBeUndefined();

      const pat = await store.createPat({ userId: 'u', name: 'kinds' });
      expect(await store.findByHash('sigv4', sha256(pat.token))).toBeNull();
      expect(await store.findByHash('__proto__', sha256(pat.token))).toBeNull();
      expect(await store.revoke('toString', pat.id)).toEqual([]);
      await expect(store.touch('constructor', [pat.id], new Date(), new Date())).resolves.toBe(
        undefined,
      );
    });

    it('touches a batch in one conditional UPDATE', async () => {
      const a = await store.createPat({ userId: 'toucher', name: 'a' });
      const b = await store.createPat({ userId: 'toucher', name: 'b' });
      const c = await store.createPat({ userId: 'toucher', name: 'c' });
      const lastUsed = async () => {
        const { rows } = await db.query<{ id: string; last_used_at: Date | null }>(
          `SELECT id, last_used_at FROM "${schema}".personal_access_token WHERE id = ANY($1)`,
          [[a.id, b.id, c.id]],
        );
        return Object.fromEntries(rows.map((r) => [r.id, r.last_used_at?.getTime() ?? null]));
      };
      const t1 = new Date('2030-01-01T00:00:00.000Z');
      const spy = counting(db);
      const spied = createPgTokenStore({ db: spy, schema });
      await spied.touch('pat', [a.id, b.id, a.id], t1, new Date(t1.getTime() - 60_000));
      expect(spy.statements).toHaveLength(1);
      expect(spy.statements[0]).toMatch(/^\s*UPDATE/);
      expect(await lastUsed()).toEqual({
        [a.id]: t1.getTime(),
        [b.id]: t1.getTime(),
        [c.id]: null,
      });

      // Within the window: a and b were used at t1, which is not older than notUsedSince.
      const t2 = new Date(t1.getTime() + 30_000);
      await spied.touch('pat', [a.id, b.id, c.id], t2, new Date(t2.getTime() - 60_000));
      expect(spy.statements).toHaveLength(2);
      expect(await lastUsed()).toEqual({
        [a.id]: t1.getTime(),
        [b.id]: t1.getTime(),
        [c.id]: t2.getTime(),
      });

      // Past the window: everything older than notUsedSince moves forward.
      const t3 = new Date(t1.getTime() + 90_000);
      await spied.touch('pat', [a.id, b.id, c.id], t3, new Date(t3.getTime() - 60_000));
      expect(await lastUsed()).toEqual({
        [a.id]: t3.getTime(),
        [b.id]: t3.getTime(),
        [c.id]: t2.getTime(),
      });

      // Daemon tokens too; an empty batch costs no statement.
      const d = await store.createDaemonToken({ workspaceId: 'ws', daemonId: 'd-touch' });
      await spied.touch('daemon', [d.id], t1, new Date(0));
      await spied.touch('daemon', [], t1, new Date(0));
      expect(spy.statements).toHaveLength(4);
      const { rows } = await db.query(
        `SELECT last_used_at FROM "${schema}".daemon_token WHERE id = $1`,
        [d.id],
      );
      expect(rows[0].last_used_at.getTime()).toBe(t1.getTime());
    });

    it('lists a user’s PATs newest first, without hashes', async () => {
      const user = 'lister';
      const first = await store.createPat({ userId: user, name: 'first', scopes: ['a'] });
      const second = await store.createPat({
        userId: user,
        name: 'second',
        expiresAt: new Date(Date.now() + HOUR),
      });
      await store.createPat({ userId: 'not-lister', name: 'other' });
      // created_at is the transaction time: make the order independent of clock resolution.
      await db.query(
        `UPDATE "${schema}".personal_access_token SET created_at = created_at - interval '1 minute'
          WHERE id = $1`,
        [first.id],
      );
      const listed = await store.listPats(user);
      expect(listed.map((t) => t.id)).toEqual([second.id, first.id]);
      expect(listed[1]).toMatchObject({
        userId: user,
        name: 'first',
        tokenPrefix: first.tokenPrefix,
        scopes: ['a'],
        expiresAt: null,
        lastUsedAt: null,
        revoked: false,
      });
      expect(listed[0]!.expiresAt?.getTime()).toBe(second.expiresAt?.getTime());
      expect(listed[1]!.createdAt).toBeInstanceOf(Date);
      const serialized = JSON.stringify(listed);
      expect(serialized).not.toContain(sha256(first.token));
      expect(serialized).not.toContain(first.token);
      expect(Object.keys(listed[0]!)).not.toContain('tokenHash');

      await store.revoke('pat', first.id);
      expect((await store.listPats(user)).map((t) => t.id)).toEqual([second.id]);
      const all = await store.listPats(user, { includeRevoked: true });
      expect(all.map((t) => [t.id, t.revoked])).toEqual([
        [second.id, false],
        [first.id, true],
      ]);
      expect(await store.listPats('nobody')).toEqual([]);
    });

    it('lists a workspace’s daemon tokens, without hashes', async () => {
      const older = await store.createDaemonToken({ workspaceId: 'ws-list', daemonId: 'd1' });
      const newer = await store.createDaemonToken({
        workspaceId: 'ws-list',
        daemonId: 'd2',
        expiresAt: new Date(Date.now() + HOUR),
      });
      await store.createDaemonToken({ workspaceId: 'ws-other', daemonId: 'd3' });
      await db.query(
        `UPDATE "${schema}".daemon_token SET created_at = created_at - interval '1 minute'
          WHERE id = $1`,
        [older.id],
      );
      const listed = await store.listDaemonTokens('ws-list');
      expect(listed.map((t) => [t.id, t.daemonId])).toEqual([
        [newer.id, 'd2'],
        [older.id, 'd1'],
      ]);
      expect(listed[1]).toMatchObject({ workspaceId: 'ws-list', expiresAt: null, revoked: false });
      expect(JSON.stringify(listed)).not.toContain(sha256(older.token));
      await store.revoke('daemon', older.id);
      expect((await store.listDaemonTokens('ws-list')).map((t) => t.id)).toEqual([newer.id]);
      expect(await store.listDaemonTokens('ws-list', { includeRevoked: true })).toHaveLength(2);
    });

    it('with a pepper, stores HMAC-SHA256 hashes that differ from plain SHA-256', async () => {
      const pepper = 'server-side-pepper';
      const peppered = createPgTokenStore({ db, schema, pepper });
      const created = await peppered.createPat({ userId: 'pepper', name: 'p' });
      const hmac = createHmac('sha256', pepper).update(created.token).digest('hex');
      expect(peppered.hashToken(created.token)).toBe(hmac);
      expect(hmac).not.toBe(sha256(created.token));
      const { rows } = await db.query(
        `SELECT token_hash FROM "${schema}".personal_access_token WHERE id = $1`,
        [created.id],
      );
      expect(rows[0].token_hash).toBe(hmac);
      expect((await peppered.findByHash('pat', hmac))?.tokenId).toBe(created.id);
      expect(await store.findByHash('pat', store.hashToken(created.token))).toBeNull();
      expect(await peppered.revoke('pat', created.id)).toEqual([hmac]);
    });

    it('stores a caller-supplied token only when it is well-formed for the kind', async () => {
      const token = generateToken('pat');
      const created = await store.createPat({ userId: 'seed', name: 'seeded', token });
      expect(created.token).toBe(token);
      expect((await store.findByHash('pat', sha256(token)))?.tokenId).toBe(created.id);

      const bad = [
        token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'),
        'mul_short',
        '',
        generateToken('daemon'),
      ];
      for (const candidate of bad) {
        const error = await store
          .createPat({ userId: 'seed', name: 'bad', token: candidate })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TypeError);
        if (candidate) expect(String((error as Error).message)).not.toContain(candidate);
      }
      await expect(
        store.createDaemonToken({ workspaceId: 'w', daemonId: 'd', token: generateToken('pat') }),
      ).rejects.toThrow(TypeError);
      // The same token twice violates the unique hash: the database error propagates.
      await expect(store.createPat({ userId: 'seed', name: 'dup', token })).rejects.toThrow();
    });

    it('accepts legacy hex tokens and custom prefixes when tokenKinds says so', async () => {
      const tokenKinds = {
        pat: { prefix: 'mul_', acceptLegacyHex: true },
        daemon: { prefix: 'dmn_' },
      };
      const legacyStore = createPgTokenStore({ db, schema, tokenKinds });
      const legacy = `mul_${'0123456789abcdef'.repeat(3).slice(0, 40)}`;
      const created = await legacyStore.createPat({ userId: 'legacy', name: 'l', token: legacy });
      expect(created.tokenPrefix).toBe('mul_0123');
      expect((await legacyStore.findByHash('pat', sha256(legacy)))?.subject).toBe('legacy');
      const daemon = await legacyStore.createDaemonToken({ workspaceId: 'w', daemonId: 'd' });
      expect(createTokenFormat(tokenKinds).parse(daemon.token)).toMatchObject({
        ok: true,
        kind: 'daemon',
      });
      expect(daemon.token.startsWith('dmn_')).toBe(true);
      await expect(
        store.createPat({ userId: 'legacy', name: 'l2', token: legacy.replace('0123', '9999') }),
      ).rejects.toThrow(TypeError);
    });

    it('validates inputs and schema names (no identifier injection)', async () => {
      for (const bad of ['x"; DROP TABLE t; --', 'a b', '', '1abc', 'a'.repeat(64), 'pub"lic']) {
        expect(() => createPgTokenStore({ db, schema: bad })).toThrow(TypeError);
        await expect(migrate(db, { schema: bad })).rejects.toThrow(TypeError);
      }
      await expect(store.createPat({ userId: '', name: 'x' })).rejects.toThrow(TypeError);
      await expect(
        store.createPat({ userId: 'u', name: 'x', expiresAt: new Date('nope') }),
      ).rejects.toThrow(TypeError);
      await expect(
        store.createPat({ userId: 'u', name: 'x', scopes: [1 as unknown as string] }),
      ).rejects.toThrow(TypeError);
    });

    it('propagates database errors (the auth cache turns them into unavailable)', async () => {
      const unmigrated = createPgTokenStore({ db, schema: `${schema}_missing` });
      await expect(unmigrated.findByHash('pat', sha256('x'))).rejects.toThrow();
      await expect(
        unmigrated.revoke('pat', '00000000-0000-0000-0000-000000000000'),
      ).rejects.toThrow();
    });
  });
}
