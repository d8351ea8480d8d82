import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cases, type RouteSpec, routes, type TestHeaders } from './cases.js';

export type { TestHeaders } from './cases.js';

import { createFixture, type Fixture } from './fixture.js';

/** A response as every adapter's client reports it; header names lower-case. */
export interface TestResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly text: string;
}

/** Speaks real HTTP to an app listening on a port (supertest, or node:http). */
export interface TestClient {
  request(method: string, path: string, headers: TestHeaders): Promise<TestResponse>;
  close?(): Promise<void>;
}

/** One adapter under test: mounts the given routes, each answering `{ "auth": … }` with 200. */
export interface AdapterHarness {
  readonly name: string;
  mount(routes: readonly RouteSpec[]): Promise<TestClient> | TestClient;
}

function credentialsIn(headers: TestHeaders): string[] {
  const found: string[] = [];
  for (const [name, values] of Object.entries(headers)) {
    for (const value of typeof values === 'string' ? [values] : values) {
      if (name.toLowerCase() === 'authorization') found.push(...value.split(/[\s,]+/));
      if (name.toLowerCase() === 'cookie') found.push(value.replace(/^token=/, ''));
    }
  }
  return found.filter((token) => token.length >= 20);
}

/** Runs the whole conformance table against one adapter, over a real PGlite store. */
export function runConformance(harness: AdapterHarness): void {
  describe(`${harness.name}: RFC 6750 conformance`, () => {
    let fixture: Fixture;
    let client: TestClient;

    beforeAll(async () => {
      fixture = await createFixture();
      client = await harness.mount(routes(fixture));
    });
    afterAll(async () => {
      await client?.close?.();
      await fixture?.close();
    });

    it.each(cases)('$name', async (testCase) => {
      const headers = await testCase.headers(fixture);
      const expected = testCase.expect(fixture);
      const res = await client.request(testCase.method ?? 'GET', testCase.path, headers);

      expect(res.status, res.text).toBe(expected.status);
      const challenge = res.headers['www-authenticate'];
      if (expected.wwwAuthenticate === null) expect(challenge).toBeUndefined();
      else if (typeof expected.wwwAuthenticate === 'string')
        expect(challenge).toBe(expected.wwwAuthenticate);
      else if (expected.wwwAuthenticate) expect(challenge).toMatch(expected.wwwAuthenticate);
      if (expected.retryAfter === null) expect(res.headers['retry-after']).toBeUndefined();
      else if (expected.retryAfter !== undefined)
        expect(res.headers['retry-after']).toBe(expected.retryAfter);
      if (res.status >= 400 && res.status !== 503) expect(challenge).toMatch(/^Bearer realm="/);

      if (expected.auth !== undefined) {
        const body = JSON.parse(res.text) as { auth: Record<string, unknown> | null };
        if (expected.auth === null) expect(body.auth).toBeNull();
        else expect(body.auth).toMatchObject(expected.auth);
      }

      // Whatever the outcome, the credential is never reflected back.
      const reflected = JSON.stringify(res.headers) + res.text;
      for (const token of credentialsIn(headers)) expect(reflected).not.toContain(token);
    });
  });
}
