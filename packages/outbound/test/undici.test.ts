import { createTokenSource, TokenUnavailableError } from '@authcache/outbound';
import { bearerToken } from '@authcache/outbound/undici';
import { Agent, request, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startUpstream } from './support/upstream.js';

let upstream: Awaited<ReturnType<typeof startUpstream>>;
beforeAll(async () => {
  upstream = await startUpstream('refused');
});
afterAll(() => upstream.close());

function counted() {
  let n = 0;
  const source = createTokenSource({ fetch: async () => ({ token: `tok-${++n}`, ttl: 600_000 }) });
  return { source, fetches: () => n };
}

describe('bearerToken (undici interceptor)', () => {
  it('adds the token, replacing one the caller set, and on a 401 refreshes once and retries once', async () => {
    upstream.valid = 'tok-1';
    const { source, fetches } = counted();
    const agent = new Agent().compose(bearerToken(source));
    const first = await request(`${upstream.base}/a`, {
      dispatcher: agent,
      method: 'POST',
      body: 'one',
      headers: { Authorization: 'Bearer stale', 'x-other': 'kept' },
    });
    expect(first.statusCode).toBe(200);
    expect(await first.body.text()).toBe('ok one');
    upstream.valid = 'tok-2';
    upstream.seen.length = 0;
    const answers = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const response = await request(`${upstream.base}/b`, {
          dispatcher: agent,
          method: 'POST',
          body: `n${i}`,
        });
        return `${response.statusCode} ${await response.body.text()}`;
      }),
    );
    expect(answers).toEqual(Array.from({ length: 10 }, (_, i) => `200 ok n${i}`));
    expect(fetches()).toBe(2);
    expect(upstream.seen.filter((s) => s.auth === 'Bearer tok-1')).toHaveLength(10);
    expect(upstream.seen.filter((s) => s.auth === 'Bearer tok-2')).toHaveLength(10);
    // undici's fetch goes through the same dispatcher.
    const viaFetch = await undiciFetch(`${upstream.base}/c`, { dispatcher: agent });
    expect(viaFetch.status).toBe(200);
    source.close();
    await agent.close();
  });

  it('hands back the 401 as it came when the refreshed token is refused too', async () => {
    upstream.valid = 'nobody';
    const { source, fetches } = counted();
    const agent = new Agent().compose(bearerToken(source));
    upstream.seen.length = 0;
    const response = await request(`${upstream.base}/d`, { dispatcher: agent });
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    expect(await response.body.text()).toBe('refused');
    expect(upstream.seen.map((s) => s.auth)).toEqual(['Bearer tok-1', 'Bearer tok-2']);
    expect(fetches()).toBe(2);
    source.close();
    await agent.close();
  });

  it('fails the request with the source’s typed error when there is no token', async () => {
    const source = createTokenSource({
      fetch: async () => {
        throw new Error('provider down');
      },
    });
    const agent = new Agent().compose(bearerToken(source));
    await expect(request(`${upstream.base}/e`, { dispatcher: agent })).rejects.toBeInstanceOf(
      TokenUnavailableError,
    );
    source.close();
    await agent.close();
  });
});
