import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuthCache } from '@authcache/core';
import { afterAll, expect, it } from 'vitest';
import { createEmbeddedDb } from '../src/embedded.js';
import { createPgTokenStore, migrate } from '../src/index.js';

const dataDir = mkdtempSync(join(tmpdir(), 'authcache-pglite-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

// Two PGlite boots from disk: generous timeout so a loaded CI machine is not a failure.
it('persists tokens and migrations under dataDir across restarts', {
  timeout: 120_000,
}, async () => {
  const first = await createEmbeddedDb({ dataDir });
  expect((await migrate(first)).applied.length).toBeGreaterThan(0);
  const created = await createPgTokenStore({ db: first }).createPat({ userId: 'disk', name: 'd' });
  await first.close();

  const second = await createEmbeddedDb({ dataDir });
  try {
    expect((await migrate(second)).applied).toEqual([]);
    const store = createPgTokenStore({ db: second });
    const auth = createAuthCache({ store });
    const result = await auth.resolve('pat', created.token);
    expect(result.ok && result.identity).toMatchObject({ tokenId: created.id, subject: 'disk' });
    await auth.close();
    const { rows } = await second.query<{ last_used_at: Date | null }>(
      'SELECT last_used_at FROM personal_access_token WHERE id = $1',
      [created.id],
    );
    expect(rows[0]!.last_used_at).toBeInstanceOf(Date);
  } finally {
    await second.close();
  }
});
