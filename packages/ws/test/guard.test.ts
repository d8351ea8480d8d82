import { generateToken } from '@authcache/core';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  closed,
  connect,
  createTestStore,
  type Harness,
  handshake,
  nextMessage,
  openRaw,
  startHarness,
  type TestStore,
} from './support.js';

let db: TestStore;
let harness: Harness | undefined;
const opened: WebSocket[] = [];

beforeAll(async () => {
  db = await createTestStore();
});
afterAll(async () => {
  await db.close();
});
afterEach(async () => {
  for (const ws of opened.splice(0)) ws.terminate();
  await harness?.close();
  harness = undefined;
});

async function start(options: Parameters<typeof startHarness>[1] = {}): Promise<Harness> {
  harness = await startHarness(db.store, options);
  return harness;
}

async function open(url: string, options: Parameters<typeof connect>[1] = {}) {
  const result = await connect(url, options);
  if (result.type !== 'open')
    throw new Error(`expected an open socket, got HTTP ${result.rejection.status}`);
  opened.push(result.ws);
  return result;
}

async function rejected(url: string, options: Parameters<typeof connect>[1] = {}) {
  const result = await connect(url, options);
  if (result.type !== 'rejected') {
    opened.push(result.ws);
    throw new Error('expected the upgrade to be rejected');
  }
  return result.rejection;
}

describe('token sources', () => {
  it('accepts a PAT in the Authorization header', async () => {
    const { url, guard } = await start();
    const { token } = await db.createToken('pat', 'alice');
    const { first, ws } = await open(url, { headers: { Authorization: `Bearer ${token}` } });
    expect(first).toEqual({ type: 'hello', subject: 'alice', kind: 'pat' });
    expect(guard.identityOf(guard.wss.clients.values().next().value!)?.subject).toBe('alice');
    expect(guard.connections).toBe(1);
    expect(ws.protocol).toBe('');
  });

  it('accepts a daemon token with a lowercase scheme', async () => {
    const { url } = await start();
    const { token } = await db.createToken('daemon', 'daemon-1');
    const { first } = await open(url, { headers: { Authorization: `bearer ${token}` } });
    expect(first).toEqual({ type: 'hello', subject: 'daemon-1', kind: 'daemon' });
  });

  it('accepts Sec-WebSocket-Protocol: bearer, <token> and echoes only "bearer"', async () => {
    const { url } = await start();
    const { token } = await db.createToken('pat', 'bob');
    const { first, ws, responseHeaders } = await open(url, { protocols: ['bearer', token] });
    expect(first).toMatchObject({ subject: 'bob' });
    expect(ws.protocol).toBe('bearer');
    expect(responseHeaders['sec-websocket-protocol']).toBe('bearer');
    expect(JSON.stringify(responseHeaders)).not.toContain(token);
  });

  it('never echoes the token when other subprotocols are offered too', async () => {
    const { url } = await start();
    const { token } = await db.createToken('pat', 'bob');
    const { ws, responseHeaders } = await open(url, { protocols: ['chat', 'bearer', token] });
    // `chat` is not among the app's protocols: only `bearer` is answered.
    expect(ws.protocol).toBe('bearer');
    expect(JSON.stringify(responseHeaders)).not.toContain(token);
  });

  it('never echoes a token offered as a subprotocol without bearer', async () => {
    const { url } = await start();
    const { token } = await db.createToken('pat', 'bob');
    const header = { Authorization: `Bearer ${token}` };
    // ws alone answers the first offer: the token.
    const { ws, headers, result } = await handshake(url, [token, 'chat'], header);
    opened.push(ws);
    expect(headers['sec-websocket-protocol']).toBeUndefined();
    expect(JSON.stringify(headers)).not.toContain(token);
    // RFC 6455: the client offered subprotocols and got none, so it fails the handshake.
    expect(result).toMatch(/no subprotocol/);
  });

  it('answers an offer from the protocols option, never a credential-shaped one', async () => {
    const { url } = await start({ protocols: ['chat'] });
    const { token } = await db.createToken('pat', 'bob');
    const jwtShaped = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
    for (const offers of [
      [token, 'chat'],
      [jwtShaped, 'chat'],
      ['graphql-ws', 'chat', 'bearer', token],
    ]) {
      const headers: Record<string, string> = offers.includes('bearer')
        ? {}
        : { Authorization: `Bearer ${token}` };
      const { ws, headers: answer, result } = await handshake(url, offers, headers);
      opened.push(ws);
      expect(result, offers.join()).toBe('open');
      expect(answer['sec-websocket-protocol']).toBe('chat');
      expect(JSON.stringify(answer)).not.toContain(token);
    }
  });

  it('in browser mode, a token offered as the only subprotocol is not echoed', async () => {
    const { url } = await start({ browserAuth: true });
    const { token } = await db.createToken('pat', 'bob');
    const { ws, headers, result } = await handshake(url, [token]);
    opened.push(ws);
    expect(headers['sec-websocket-protocol']).toBeUndefined();
    expect(JSON.stringify(headers)).not.toContain(token);
    expect(result).toMatch(/no subprotocol/);
  });

  it("never shows a credential-shaped offer to the app's handleProtocols", async () => {
    const { WebSocketServer } = await import('ws');
    const seen: string[][] = [];
    const wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) => {
        seen.push([...protocols]);
        return [...protocols][0] ?? false;
      },
    });
    const { url } = await start({ wss });
    const { token } = await db.createToken('pat', 'bob');
    const { ws, headers } = await handshake(url, [token, 'graphql-ws'], {
      Authorization: `Bearer ${token}`,
    });
    opened.push(ws);
    expect(headers['sec-websocket-protocol']).toBe('graphql-ws');
    expect(seen).toEqual([['graphql-ws']]);
  });

  it('lets the app pick one of its own subprotocols, never the token', async () => {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) => [...protocols].at(-1) ?? false,
    });
    const { url } = await start({ wss });
    const { token } = await db.createToken('pat', 'bob');
    const { ws } = await open(url, { protocols: ['bearer', token, 'graphql-ws'] });
    expect(ws.protocol).toBe('graphql-ws');
    const second = await open(url, { protocols: ['bearer', token] });
    expect(second.ws.protocol).toBe('bearer');
  });
});

describe('rejections before the upgrade', () => {
  it('401 with a bare Bearer challenge when no credential is sent', async () => {
    const { url } = await start({ realm: 'test' });
    const rejection = await rejected(url);
    expect(rejection.status).toBe(401);
    expect(rejection.headers['www-authenticate']).toBe('Bearer realm="test"');
    expect(rejection.headers.connection).toBe('close');
  });

  it('401 invalid_token for an unknown or revoked token', async () => {
    const { url, auth } = await start();
    const unknown = await rejected(url, {
      headers: { Authorization: `Bearer ${generateToken('pat')}` },
    });
    expect(unknown.status).toBe(401);
    expect(unknown.headers['www-authenticate']).toContain('error="invalid_token"');
    const { token, id } = await db.createToken('pat', 'carol');
    await auth.revoke('pat', id);
    const revoked = await rejected(url, { headers: { Authorization: `Bearer ${token}` } });
    expect(revoked.status).toBe(401);
    expect(revoked.headers['www-authenticate']).toMatch(
      /^Bearer realm="[^"]*", error="invalid_token"/,
    );
    expect(revoked.body).not.toContain(token);
  });

  it('401 invalid_token for a well-formed token of a kind this endpoint does not accept', async () => {
    const { url } = await start({ kinds: ['daemon'] });
    const { token } = await db.createToken('pat', 'dave');
    const rejection = await rejected(url, { headers: { Authorization: `Bearer ${token}` } });
    expect(rejection.status).toBe(401);
    expect(rejection.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('401 with a bare challenge for another scheme (RFC 6750: no bearer credential)', async () => {
    const { url } = await start();
    const rejection = await rejected(url, { headers: { Authorization: 'Basic dXNlcjpwdw==' } });
    expect(rejection.status).toBe(401);
    expect(rejection.headers['www-authenticate']).toBe('Bearer realm="api"');
  });

  it('403 insufficient_scope when the token lacks a required scope', async () => {
    const { url } = await start({ scopes: ['ws:connect'] });
    const { token } = await db.createToken('pat', 'scoped');
    const rejection = await rejected(url, { headers: { Authorization: `Bearer ${token}` } });
    expect(rejection.status).toBe(403);
    expect(rejection.headers['www-authenticate']).toContain('scope="ws:connect"');
  });

  it('400 invalid_request for a malformed Authorization header', async () => {
    const { url } = await start();
    for (const header of ['Bearer', 'Bearer a b', 'Bearer tok\u00e9n']) {
      const rejection = await rejected(url, { headers: { Authorization: header } });
      expect(rejection.status, header).toBe(400);
      expect(rejection.headers['www-authenticate']).toContain('error="invalid_request"');
    }
  });

  it('400 invalid_request for two Authorization headers, even equal ones (node keeps the first)', async () => {
    const { url } = await start();
    const { token } = await db.createToken('pat', 'erin');
    const other = await db.createToken('pat', 'frank');
    for (const values of [
      [`Bearer ${token}`, `Bearer ${token}`],
      [`Bearer ${token}`, `Bearer ${other.token}`],
      [`Bearer ${token}`, 'Basic dXNlcjpwdw=='],
      ['Basic dXNlcjpwdw==', `Bearer ${token}`],
    ]) {
      const rejection = await rejected(url, { headers: { Authorization: values } });
      expect(rejection.status, values.join(' | ')).toBe(400);
      expect(rejection.headers['www-authenticate']).toBe(
        'Bearer realm="api", error="invalid_request", error_description="More than one Authorization header"',
      );
      expect(JSON.stringify(rejection)).not.toContain(token);
    }
  });

  it('400 invalid_request when the credential comes two ways at once', async () => {
    const { url } = await start();
    const { token } = await db.createToken('pat', 'erin');
    const rejection = await rejected(url, {
      headers: { Authorization: `Bearer ${token}` },
      protocols: ['bearer', token],
    });
    expect(rejection.status).toBe(400);
    expect(rejection.headers['www-authenticate']).toContain('error="invalid_request"');
  });

  it('400 invalid_request for a bearer subprotocol without a token', async () => {
    const { url } = await start();
    const rejection = await rejected(url, { protocols: ['bearer'] });
    expect(rejection.status).toBe(400);
  });

  it('404 for another path when the guard is the only upgrade listener', async () => {
    const { url } = await start();
    const rejection = await rejected(url.replace('/ws', '/other'));
    expect(rejection.status).toBe(404);
  });
});

describe('live connections', () => {
  it("closes a revoked token's open socket with 4401 within 1 s", async () => {
    const { url, auth, guard } = await start();
    const { token, id } = await db.createToken('pat', 'gina');
    const other = await db.createToken('pat', 'gina');
    const { ws } = await open(url, { headers: { Authorization: `Bearer ${token}` } });
    const { ws: bystander } = await open(url, { protocols: ['bearer', other.token] });
    const done = closed(ws);
    const revokedAt = Date.now();
    await auth.revoke('pat', id);
    const { code, reason, at } = await done;
    expect(code).toBe(4401);
    expect(reason).toBe('token_revoked');
    expect(at - revokedAt).toBeLessThan(1_000);
    expect(bystander.readyState).toBe(WebSocket.OPEN);
    expect(guard.connections).toBe(1);
  });

  it("closes a socket at its token's expires_at", async () => {
    const { url } = await start();
    const expiresAt = Date.now() + 1_500;
    const { token } = await db.createToken('pat', 'hank', expiresAt);
    const { ws } = await open(url, { headers: { Authorization: `Bearer ${token}` } });
    const { code, reason, at } = await closed(ws);
    expect(code).toBe(4401);
    expect(reason).toBe('token_expired');
    expect(at).toBeGreaterThanOrEqual(expiresAt);
    expect(at - expiresAt).toBeLessThan(2_000);
  });

  it("keeps a socket whose expiry is beyond setTimeout's range open", async () => {
    const { url, guard } = await start();
    const { token } = await db.createToken('pat', 'ivan', Date.now() + 30 * 24 * 3600_000);
    const { ws } = await open(url, { headers: { Authorization: `Bearer ${token}` } });
    // An unclamped 30-day setTimeout fires after ~1 ms; the socket must survive it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    ws.send('still here');
    expect(await nextMessage(ws)).toEqual({ type: 'echo', data: 'still here' });
    expect(guard.connections).toBe(1);
  });

  it('closes a JWT connection when its exp passes (JWTs are verified, never cached)', async () => {
    const secret = new TextEncoder().encode('a-test-secret-of-at-least-32-bytes!!');
    const { url, guard } = await start({ kinds: [], jwt: { secret } });
    const exp = Math.ceil(Date.now() / 1000) + 2;
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('jwt-user')
      .setExpirationTime(exp)
      .sign(secret);
    const { ws, first } = await open(url, { protocols: ['bearer', jwt] });
    expect(first).toEqual({ type: 'hello', subject: 'jwt-user', kind: 'jwt' });
    expect(guard.identityOf([...guard.wss.clients][0]!)?.path).toBe('jwt');
    const { code, reason, at } = await closed(ws);
    expect({ code, reason }).toEqual({ code: 4401, reason: 'token_expired' });
    expect(at).toBeGreaterThanOrEqual(exp * 1000);
  });

  it('re-checks live tokens on a flush and closes those no longer valid', async () => {
    const { url, auth } = await start();
    const revoked = await db.createToken('pat', 'jane');
    const kept = await db.createToken('pat', 'jane');
    const { ws } = await open(url, { headers: { Authorization: `Bearer ${revoked.token}` } });
    const { ws: keptWs } = await open(url, { headers: { Authorization: `Bearer ${kept.token}` } });
    // Revoked behind this instance's back (no bus message): only a flush can reveal it.
    await db.revokeInStore(revoked.id);
    const done = closed(ws);
    auth.clear();
    expect(await done).toMatchObject({ code: 4401, reason: 'invalid_token' });
    keptWs.send('ok');
    expect(await nextMessage(keptWs)).toEqual({ type: 'echo', data: 'ok' });
  });

  it('re-reads the expiry after an invalidation and closes at the new expires_at', async () => {
    const { url, auth } = await start();
    const { token, id } = await db.createToken('pat', 'kim');
    const { ws } = await open(url, { headers: { Authorization: `Bearer ${token}` } });
    const expiresAt = Date.now() + 500;
    await db.setExpiry(id, expiresAt);
    const done = closed(ws);
    await auth.invalidate('pat', auth.hashToken(token));
    const { code, at } = await done;
    expect(code).toBe(4401);
    expect(at).toBeGreaterThanOrEqual(expiresAt);
  });

  it('closes every connection with 1001 when the guard closes', async () => {
    const { url, guard } = await start();
    const { token } = await db.createToken('pat', 'lee');
    const { ws } = await open(url, { headers: { Authorization: `Bearer ${token}` } });
    const done = closed(ws);
    await guard.close();
    expect((await done).code).toBe(1001);
    expect(guard.connections).toBe(0);
  });
});

describe('browser mode (first message)', () => {
  it('authenticates with {"type":"auth"} and keeps messages sent right after it', async () => {
    const { url } = await start({ browserAuth: true });
    const { token } = await db.createToken('pat', 'mia');
    const ws = await openRaw(url);
    opened.push(ws);
    const messages: unknown[] = [];
    ws.on('message', (data) => messages.push(JSON.parse(data.toString())));
    ws.send(JSON.stringify({ type: 'auth', token }));
    ws.send('right behind');
    await expect.poll(() => messages.length).toBe(3);
    expect(messages).toEqual([
      { type: 'auth_ok' },
      { type: 'hello', subject: 'mia', kind: 'pat' },
      { type: 'echo', data: 'right behind' },
    ]);
  });

  it('still takes a token from the handshake when one is sent', async () => {
    const { url } = await start({ browserAuth: true });
    const { token } = await db.createToken('pat', 'ned');
    const { first } = await open(url, { protocols: ['bearer', token] });
    expect(first).toMatchObject({ type: 'hello', subject: 'ned' });
  });

  it('closes with 4401 for a bad token, a non-auth message, or no message in time', async () => {
    const { url } = await start({ browserAuth: true, browserAuthTimeoutMs: 300 });
    const { token, id } = await db.createToken('pat', 'olga');
    await harness!.auth.revoke('pat', id);

    const bad = await openRaw(url);
    const badClosed = closed(bad);
    bad.send(JSON.stringify({ type: 'auth', token }));
    expect(await badClosed).toMatchObject({ code: 4401, reason: 'token_revoked' });

    const chatty = await openRaw(url);
    const chattyClosed = closed(chatty);
    chatty.send('hello?');
    expect(await chattyClosed).toMatchObject({ code: 4401, reason: 'invalid_request' });

    const silent = await openRaw(url);
    const opened = Date.now();
    const silentClosed = await closed(silent);
    expect(silentClosed).toMatchObject({ code: 4401, reason: 'auth_timeout' });
    expect(silentClosed.at - opened).toBeGreaterThanOrEqual(250);
  });

  it('closes a browser-authenticated socket when its token is revoked', async () => {
    const { url, auth } = await start({ browserAuth: true });
    const { token, id } = await db.createToken('pat', 'pia');
    const ws = await openRaw(url);
    opened.push(ws);
    const ok = nextMessage(ws);
    ws.send(JSON.stringify({ type: 'auth', token }));
    expect(await ok).toEqual({ type: 'auth_ok' });
    const done = closed(ws);
    await auth.revoke('pat', id);
    expect(await done).toMatchObject({ code: 4401, reason: 'token_revoked' });
  });
});

// Last in the file: it stops this file's embedded database (starting a second one costs seconds).
describe('store outage', () => {
  let steady: { token: string };
  let frank: { token: string };
  beforeAll(async () => {
    steady = await db.createToken('pat', 'steady');
    frank = await db.createToken('pat', 'frank');
  });

  it('keeps live sockets open while a re-check cannot reach the store, and retries', async () => {
    const { url, auth, guard } = await start({ revalidateRetryMs: 100 });
    const { token } = steady;
    const { ws } = await open(url, { headers: { Authorization: `Bearer ${token}` } });
    await db.breakStore();
    // A flush and an invalidation both ask the store again; it is down, so nothing can be
    // decided: closing every socket on a database blip would be a reconnect storm.
    auth.clear();
    await auth.invalidate('pat', auth.hashToken(token));
    await new Promise((resolve) => setTimeout(resolve, 400));
    ws.send('still here');
    expect(await nextMessage(ws)).toEqual({ type: 'echo', data: 'still here' });
    expect(guard.connections).toBe(1);
  });

  it('503 with Retry-After, never 401, when the store is unavailable', async () => {
    const { url } = await start();
    const { token } = frank;
    await db.breakStore();
    const rejection = await rejected(url, { headers: { Authorization: `Bearer ${token}` } });
    expect(rejection.status).toBe(503);
    expect(rejection.headers['retry-after']).toBe('5');
    expect(rejection.headers['www-authenticate']).toBeUndefined();
  });

  it('closes a browser-mode socket with 1013, not 4401, when the store is unavailable', async () => {
    const { url } = await start({ browserAuth: true });
    const ws = await openRaw(url);
    const done = closed(ws);
    ws.send(JSON.stringify({ type: 'auth', token: generateToken('pat') }));
    expect(await done).toMatchObject({ code: 1013, reason: 'unavailable' });
  });
});
