import { rdsIamPassword, rdsTokenExpiry } from '@authcache/outbound/rds';
import { Signer } from '@aws-sdk/rds-signer';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';

// AWS's documented example credentials: signing is local, nothing is sent anywhere.
const credentials = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
const at = Date.UTC(2025, 5, 1, 12, 0, 0);
const config = {
  hostname: 'db.example.internal',
  port: 5432,
  username: 'app',
  region: 'eu-west-1',
};

beforeEach(() => {
  vi.useFakeTimers({ now: at, toFake: ['Date', 'setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  vi.useRealTimers();
});

it('gives the token @aws-sdk/rds-signer signs for the same credentials and clock, expiring 15 min later', async () => {
  const expected = await new Signer({ ...config, credentials }).getAuthToken();
  const source = rdsIamPassword({ ...config, credentials });
  const token = await source.get();
  expect(token).toBe(expected);
  expect(token).toMatch(/^db\.example\.internal:5432\/\?Action=connect&DBUser=app&/);
  expect(token).toContain('X-Amz-Date=20250601T120000Z');
  expect(token).toContain(
    'X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20250601%2Feu-west-1%2Frds-db%2Faws4_request',
  );
  expect(rdsTokenExpiry(token)).toBe(at + 900_000);
  expect(source.stats().expiresInMs).toBe(900_000);
  // Refreshed 90 s ahead (10 % of 15 minutes), with the signature of that moment.
  await vi.advanceTimersByTimeAsync(810_000);
  const next = await source.get();
  expect(source.stats().fetches).toBe(2);
  expect(next).toContain('X-Amz-Date=20250601T121330Z');
  expect(next).toBe(await new Signer({ ...config, credentials }).getAuthToken());
  source.close();
});

it('expires no later than temporary credentials that signed it', async () => {
  const expiration = new Date(at + 5 * 60_000);
  const source = rdsIamPassword({
    ...config,
    credentials: async () => ({ ...credentials, sessionToken: 'session', expiration }),
  });
  const token = await source.get();
  expect(token).toContain('X-Amz-Security-Token=session');
  expect(source.stats().expiresInMs).toBe(5 * 60_000);
  source.close();
});
