import { createTokenSource, fetchWithToken } from '@authcache/outbound';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startUpstream } from './support/upstream.js';

let upstream: Awaited<ReturnType<typeof startUpstream>>;
beforeAll(async () => {
  upstream = await startUpstream('no');
});
afterAll(() => upstream.close());

describe('fetchWithToken', () => {
  it('adds the bearer token, and on a 401 refreshes once and retries once (body included)', async () => {
    let n = 0;
    let fetches = 0;
    const source = createTokenSource({
      fetch: async () => {
        fetches++;
        return { token: `tok-${++n}`, ttl: 600_000 };
      },
    });
    const call = fetchWithToken(source);
    const ok = await call(`${upstream.base}/a`, { method: 'POST', body: 'hello' });
    expect(await ok.text()).toBe('ok hello');
    // The upstream rotates: tok-1 is refused; 20 concurrent calls cause one refresh.
    upstream.valid = 'tok-2';
    upstream.seen.length = 0;
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call(`${upstream.base}/b`, { method: 'POST', body: `n${i}` }).then((r) => r.text()),
      ),
    );
    expect(answers).toEqual(Array.from({ length: 20 }, (_, i) => `ok n${i}`));
    expect(fetches).toBe(2);
    expect(upstream.seen.filter((s) => s.auth === 'Bearer tok-1')).toHaveLength(20);
    expect(upstream.seen.filter((s) => s.auth === 'Bearer tok-2')).toHaveLength(20);
    source.close();
  });

  it('returns a second 401 as it is (one retry only)', async () => {
    upstream.valid = 'nobody';
    let n = 0;
    const source = createTokenSource({
      minRefreshInterval: 0,
      fetch: async () => ({ token: `x-${++n}`, ttl: 600_000 }),
    });
    upstream.seen.length = 0;
    const response = await fetchWithToken(source)(new Request(`${upstream.base}/c`));
    expect(response.status).toBe(401);
    expect(upstream.seen.map((s) => s.auth)).toEqual(['Bearer x-1', 'Bearer x-2']);
    source.close();
  });

  it('a service that refuses every token gets one forced refresh per minRefreshInterval, not one per request', async () => {
    upstream.valid = 'nobody';
    let fetches = 0;
    const source = createTokenSource({
      fetch: async () => ({ token: `y-${++fetches}`, ttl: 600_000 }),
    });
    upstream.seen.length = 0;
    const call = fetchWithToken(source);
    for (let i = 0; i < 5; i++) expect((await call(`${upstream.base}/d`)).status).toBe(401);
    expect(fetches).toBe(2); // the first fetch, and one forced refresh
    // The first call was retried once with y-2; the other 4 were not (same token).
    expect(upstream.seen.map((s) => s.auth)).toEqual([
      'Bearer y-1',
      'Bearer y-2',
      'Bearer y-2',
      'Bearer y-2',
      'Bearer y-2',
      'Bearer y-2',
    ]);
    source.close();
  });
});
