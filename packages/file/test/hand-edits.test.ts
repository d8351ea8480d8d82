// Hand edits to the token file while a server runs: each is seen within statInterval plus one
// request, over real HTTP (Express + patAuth), and an invalid file keeps the last good version.
import { renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { issue, readRows, sleep, startServer, tempDir, writeRows } from './support.js';

const STAT_INTERVAL = 200;
/** statInterval plus a generous margin for a loaded machine; then exactly one request. */
const settle = () => sleep(STAT_INTERVAL + 300);

describe('hand edits while a server runs', () => {
  let tmp: ReturnType<typeof tempDir>;
  let path: string;
  beforeEach(() => {
    tmp = tempDir();
    path = join(tmp.dir, 'tokens.json');
  });
  afterEach(() => tmp.cleanup());

  async function running(count = 2) {
    const tokens = await Promise.all(Array.from({ length: count }, () => issue()));
    writeRows(
      path,
      tokens.map((t) => t.row),
    );
    const server = await startServer({ path, statInterval: STAT_INTERVAL });
    for (const t of tokens) expect((await server.get(t.token)).status).toBe(200);
    return { server, tokens };
  }

  it('a changed secret: the old one is refused, the new one accepted, the other row untouched', async () => {
    const { server, tokens } = await running();
    const [a, b] = tokens as [Awaited<ReturnType<typeof issue>>, Awaited<ReturnType<typeof issue>>];
    const replacement = await issue({ id: a.id });
    writeRows(path, [replacement.row, b.row]);
    await settle();
    expect((await server.get(a.token)).status).toBe(401);
    expect((await server.get(`mul_${a.id}.${replacement.secret}`)).status).toBe(200);
    expect((await server.get(b.token)).status).toBe(200);
    await server.close();
  });

  it('a removed row, a revoked row and a shortened expiry are refused', async () => {
    const { server, tokens } = await running(4);
    const [gone, revoked, expiring, kept] = tokens;
    const rows = readRows(path);
    rows[1]!.revoked = true;
    rows[2]!.expiresAt = new Date(Date.now() - 1000).toISOString();
    writeRows(path, [rows[1]!, rows[2]!, rows[3]!]);
    await settle();
    expect((await server.get(gone!.token)).status).toBe(401);
    expect((await server.get(revoked!.token)).status).toBe(401);
    expect((await server.get(expiring!.token)).status).toBe(401);
    expect((await server.get(kept!.token)).status).toBe(200);
    await server.close();
  });

  it('the whole file replaced by mv with the same size and mtime (a new inode) is seen', async () => {
    const { server, tokens } = await running(1);
    const [a] = tokens;
    const second = Math.floor(Date.now() / 1000) - 60;
    utimesSync(path, second, second);
    await settle(); // the touch itself changed nothing the store serves
    const before = statSync(path, { bigint: true });
    // Same id, another secret: a scrypt PHC string of the same parameters has the same length.
    const replacement = await issue({ id: a!.id });
    const next = join(tmp.dir, 'tokens.json.new');
    writeFileSync(next, `${JSON.stringify({ version: 1, tokens: [replacement.row] }, null, 2)}\n`);
    expect(statSync(next, { bigint: true }).size).toBe(before.size);
    utimesSync(next, second, second);
    renameSync(next, path);
    const after = statSync(path, { bigint: true });
    expect([after.mtimeNs, after.size]).toEqual([before.mtimeNs, before.size]);
    expect(after.ino).not.toBe(before.ino);
    await settle();
    expect((await server.get(a!.token)).status).toBe(401);
    expect((await server.get(`mul_${a!.id}.${replacement.secret}`)).status).toBe(200);
    await server.close();
  });

  it('a syntax error mid-edit keeps serving the last good file, logs why without a hash, and the fix applies', async () => {
    const { server, tokens } = await running(2);
    const [a, b] = tokens;
    const good = readRows(path);
    // Half-written: the second row is cut off, and the first row's revoke must not apply either.
    const broken = JSON.stringify(
      { version: 1, tokens: [{ ...good[0], revoked: true }, good[1]] },
      null,
      2,
    );
    writeFileSync(path, broken.slice(0, broken.length - 40));
    await settle();
    expect((await server.get(a!.token)).status).toBe(200);
    expect((await server.get(b!.token)).status).toBe(200);
    const warning = server.logger.lines.find((line) => line.includes('invalid'));
    expect(warning).toMatch(/not valid JSON/);
    for (const row of good)
      expect(server.logger.lines.join('\n')).not.toContain(row.secretHash.slice(-20));
    // A typo'd field is refused the same way, never ignored.
    writeRows(path, [{ ...good[0]!, revoke: true } as never, good[1]!]);
    await settle();
    expect((await server.get(a!.token)).status).toBe(200);
    expect(server.logger.lines.join('\n')).toContain('tokens[0]: unknown field \\"revoke\\"');
    // The edit finished: the revoke applies.
    writeRows(path, [{ ...good[0]!, revoked: true }, good[1]!]);
    await settle();
    expect((await server.get(a!.token)).status).toBe(401);
    expect((await server.get(b!.token)).status).toBe(200);
    expect(server.store.size).toBe(2);
    await server.close();
  });

  it('with watch, an edit applies long before the next stat', async () => {
    const a = await issue();
    writeRows(path, [a.row]);
    const server = await startServer({ path, statInterval: 60_000, watch: true });
    expect((await server.get(a.token)).status).toBe(200);
    writeRows(path, [{ ...a.row, revoked: true }]);
    let status = 200;
    for (let i = 0; i < 50 && status === 200; i++) {
      await sleep(100);
      status = (await server.get(a.token)).status;
    }
    expect(status).toBe(401);
    await server.close();
  });

  it('no secret or hash in responses or logs', async () => {
    const { server, tokens } = await running(1);
    const [a] = tokens;
    const wrong = `mul_${a!.id}.${(await issue()).secret}`;
    expect((await server.get(wrong)).status).toBe(401);
    writeFileSync(path, '{ "version": 1, "tokens": [ ');
    await settle();
    expect((await server.get(a!.token)).status).toBe(200);
    const seen = server.bodies.join('\n') + server.logger.lines.join('\n');
    expect(seen).not.toContain(a!.secret);
    expect(seen).not.toContain(wrong.split('.')[1]);
    expect(seen).not.toContain(a!.row.secretHash.split('$').at(-1));
    await server.close();
  });
});
