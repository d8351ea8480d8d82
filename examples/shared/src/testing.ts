// The smoke suite every example runs: the app as a child process on a free port, driven over real
// HTTP and WebSocket, on the embedded store (its default) and on the shared Postgres.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { generateToken } from '@authcache/core';
import { createPgTokenStore } from '@authcache/pg';
import { generateAccessKeyId, generateSecretAccessKey } from '@authcache/sigv4';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createExampleContext } from './context.js';

/** A running example child process. */
export interface ExampleProcess {
  /** e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `src/main.ts` of the example in `dir` the way `pnpm start` does, with `PORT=0` (a free
 * port) and `env`, and resolves once it prints where it listens.
 */
export function startExampleProcess(
  dir: string,
  env: Record<string, string>,
): Promise<ExampleProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'src/main.ts'],
    {
      cwd: dir,
      env: { ...process.env, DATABASE_URL: '', REDIS_URL: '', PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`example did not start in time:\n${output}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      resolve({
        url: match[1]!,
        output: () => output,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          // A clean shutdown that hangs (e.g. closing connections to an unreachable database)
          // must not hang the suite.
          const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(killer);
        },
      });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`example exited with ${code} before listening:\n${output}`));
    });
  });
}

/** A TCP proxy that forwards until told to go silent. */
export interface BlackholeProxy {
  readonly port: number;
  /**
   * From now on forwards nothing, either way, on open connections and new ones alike (which are
   * still accepted): a peer that vanished without a FIN or RST, as behind a dropped route.
   */
  blackhole(): void;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

/** Starts a {@link BlackholeProxy} on a free port in front of `target`. */
export async function startBlackholeProxy(target: {
  host: string;
  port: number;
}): Promise<BlackholeProxy> {
  let silent = false;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  };
  const server = createServer((client) => {
    track(client);
    // Silent: read and drop whatever arrives, answer nothing, never close.
    if (silent) {
      client.on('data', () => {});
      return;
    }
    const upstream = tcpConnect(target.port, target.host);
    track(upstream);
    client.on('data', (chunk) => {
      if (!silent) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!silent) client.write(chunk);
    });
    client.on('close', () => {
      if (!silent) upstream.destroy();
    });
    upstream.on('close', () => {
      if (!silent) client.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    blackhole() {
      silent = true;
    },
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** Result of one `aws` CLI run. */
interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (asynchronously: the event loop keeps running). */
function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Checks that the AWS CLI is on `PATH`, failing with what to do when it is not (`.ci/run`
 * installs it). The S3 suite does not skip without it: a missing CLI must not pass as green.
 */
async function requireAwsCli(): Promise<void> {
  const found = await run('aws', ['--version'], process.env).catch((error: Error) => error);
  if (found instanceof Error || found.code !== 0) {
    throw new Error(
      'The AWS CLI (`aws`) is not on PATH, and the /s3 tests drive it: install it (`pip install awscli`, or `apt-get install awscli`; .ci/run does it) and run again',
    );
  }
}

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Opened {
  ws: WebSocket;
  protocol: string;
  welcome: { type: string; identity: Record<string, unknown> };
}

function openSocket(
  url: string,
  options: { headers?: Record<string, string>; protocols?: string[] } = {},
) {
  return new Promise<Opened>((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers });
    ws.once('message', (data) =>
      resolve({ ws, protocol: ws.protocol, welcome: JSON.parse(String(data)) }),
    );
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

async function redisKeys(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

async function errorName(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'no error';
  } catch (error) {
    return (error as Error).name;
  }
}

function nextMessage(ws: WebSocket): Promise<Record<string, unknown>> {
  return new Promise((resolve) => ws.once('message', (data) => resolve(JSON.parse(String(data)))));
}

function closeEvent(ws: WebSocket): Promise<{ code: number; reason: string; at: number }> {
  return new Promise((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: String(reason), at: Date.now() })),
  );
}

/** Registers the smoke suite of one example app (call it from `test/smoke.test.ts`). */
export function defineExampleSmokeTests(options: {
  name: string;
  dir: string;
  /**
   * Size of the file the AWS CLI copies up and down; over 8 MiB, so that it goes multipart up
   * and in ranged GETs down. Default: 12 MB (two parts), to keep the suite quick; one app runs
   * the 50 MB round trip.
   */
  awsCliBytes?: number;
}): void {
  const awsCliBytes = options.awsCliBytes ?? 12_000_000;
  for (const backend of ['pglite', 'postgres'] as const) {
    describe(`${options.name} on ${backend === 'pglite' ? 'embedded PGlite (default)' : 'Postgres + Redis (DATABASE_URL, REDIS_URL)'}`, () => {
      const seedPat = generateToken('pat');
      const seedDaemon = generateToken('daemon');
      const seedKey = {
        accessKeyId: generateAccessKeyId(),
        secretAccessKey: generateSecretAccessKey(),
      };
      const encryptionKey = randomBytes(32).toString('base64');
      const schema = `authcache_example_${process.pid}_${randomBytes(4).toString('hex')}`;
      const prefix = `authcache-example:${schema}:`;
      let pool: pg.Pool | undefined;
      let redis: Redis | undefined;
      let app: ExampleProcess;
      const sockets: WebSocket[] = [];
      const s3Clients: S3Client[] = [];
      const s3 = (secretAccessKey = seedKey.secretAccessKey, accessKeyId = seedKey.accessKeyId) => {
        const client = new S3Client({
          endpoint: `${app.url}/s3`,
          region: 'us-east-1',
          forcePathStyle: true,
          credentials: { accessKeyId, secretAccessKey },
          maxAttempts: 1,
        });
        s3Clients.push(client);
        return client;
      };
      const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
      const request = (path: string, init: RequestInit = {}) => fetch(`${app.url}${path}`, init);
      const wsUrl = () => `${app.url.replace(/^http/, 'ws')}/ws`;
      const open = async (opts: Parameters<typeof openSocket>[1]) => {
        const opened = await openSocket(wsUrl(), opts);
        sockets.push(opened.ws);
        return opened;
      };
      const createToken = async (body: unknown) => {
        const res = await request('/api/tokens', {
          method: 'POST',
          headers: { ...bearer(seedPat), 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: res.status, body: (await res.json()) as { id: string; token: string } };
      };

      beforeAll(async () => {
        const env: Record<string, string> = {
          SEED_PAT: seedPat,
          SEED_DAEMON_TOKEN: seedDaemon,
          SEED_ACCESS_KEY: `${seedKey.accessKeyId}:${seedKey.secretAccessKey}`,
        };
        if (backend === 'postgres') {
          pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
          redis = new Redis(REDIS_URL);
          Object.assign(env, {
            DATABASE_URL,
            DATABASE_SCHEMA: schema,
            REDIS_URL,
            REDIS_PREFIX: prefix,
            ACCESS_KEY_ENCRYPTION_KEY: encryptionKey,
          });
        }
        app = await startExampleProcess(options.dir, env);
      });

      afterAll(async () => {
        for (const client of s3Clients) client.destroy();
        for (const ws of sockets) ws.terminate();
        await app?.stop();
        if (pool) {
          await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await pool.end();
        }
        if (redis) {
          const keys = await redisKeys(redis, prefix);
          if (keys.length > 0) await redis.del(...keys);
          await redis.quit();
        }
      });

      it('GET /api/me answers the seeded PAT with its identity', async () => {
        const res = await request('/api/me', { headers: bearer(seedPat) });
        expect(res.status).toBe(200);
        expect(await res.json()).toMatchObject({ path: 'pat', kind: 'pat', subject: 'demo' });
      });

      it('/admin: the seeded user (default ADMIN_SUBJECTS) reads metrics and invalidates a subject on every tier and bus', async () => {
        expect((await request('/admin/metrics')).status).toBe(401);
        const metrics = await request('/admin/metrics', { headers: bearer(seedPat) });
        expect(metrics.status).toBe(200);
        expect(((await metrics.json()) as { stats: object }).stats).toHaveProperty(
          'invalidationsByScope',
        );
        const res = await request('/admin/invalidate', {
          method: 'POST',
          headers: { ...bearer(seedPat), 'Content-Type': 'application/json' },
          body: JSON.stringify({ scope: 'subject', subject: 'nobody-in-particular' }),
        });
        expect(res.status).toBe(200);
        expect(await res.json()).toMatchObject({
          scope: 'subject',
          admin: { subject: 'demo' },
          outcome: { tierCleared: true, busesFailed: 0 },
        });
        const console = await request('/admin/');
        expect(console.status).toBe(200);
        expect(console.headers.get('content-security-policy')).toContain("script-src 'self'");
      });

      it('GET /api/me answers RFC 6750 errors: 401 challenge, 400 malformed, 401 invalid_token', async () => {
        const missing = await request('/api/me');
        expect(missing.status).toBe(401);
        expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]*"$/);
        const malformed = await request('/api/me', { headers: { Authorization: 'Bearer' } });
        expect(malformed.status).toBe(400);
        expect(malformed.headers.get('www-authenticate')).toContain('error="invalid_request"');
        // A daemon token is not a PAT: this route does not accept it.
        const daemon = await request('/api/me', { headers: bearer(seedDaemon) });
        expect(daemon.status).toBe(401);
        expect(daemon.headers.get('www-authenticate')).toContain('error="invalid_token"');
      });

      it('POST /api/daemon/heartbeat takes the daemon token, falls back to a PAT, rejects none', async () => {
        const daemon = await request('/api/daemon/heartbeat', {
          method: 'POST',
          headers: bearer(seedDaemon),
        });
        expect(daemon.status).toBe(200);
        expect(await daemon.json()).toMatchObject({
          ok: true,
          path: 'daemon_token',
          workspaceId: 'demo',
          daemonId: 'demo',
        });
        const pat = await request('/api/daemon/heartbeat', {
          method: 'POST',
          headers: bearer(seedPat),
        });
        expect(await pat.json()).toMatchObject({ ok: true, path: 'pat', subject: 'demo' });
        expect((await request('/api/daemon/heartbeat', { method: 'POST' })).status).toBe(401);
      });

      it('POST /api/tokens creates a working PAT, shown once; bad bodies are 400', async () => {
        const created = await createToken({ name: 'smoke', expiresIn: 3600 });
        expect(created.status).toBe(201);
        expect(created.body.id).toEqual(expect.any(String));
        expect(created.body.token).toMatch(/^mul_/);
        const me = await request('/api/me', { headers: bearer(created.body.token) });
        expect(await me.json()).toMatchObject({
          subject: 'demo',
          name: 'smoke',
          tokenId: created.body.id,
        });
        expect((await createToken({ expiresIn: 60 })).status).toBe(400);
        expect((await createToken({ name: 'x', expiresIn: -1 })).status).toBe(400);
        expect((await createToken({ name: 'a\u0000b' })).status).toBe(400);
        const notJson = await request('/api/tokens', {
          method: 'POST',
          headers: { ...bearer(seedPat), 'Content-Type': 'application/json' },
          body: '{"name": oops',
        });
        expect(notJson.status).toBe(400);
        const tooLarge = await request('/api/tokens', {
          method: 'POST',
          headers: { ...bearer(seedPat), 'Content-Type': 'application/json' },
          body: JSON.stringify({ name: 'x', padding: 'x'.repeat(5 * 1024) }),
        });
        expect(tooLarge.status).toBe(413);
        const unauthenticated = await request('/api/tokens', {
          method: 'POST',
          body: '{"name":"x"}',
        });
        expect(unauthenticated.status).toBe(401);
      });

      it('/ws accepts the header, the bearer subprotocol and the first message, and echoes the identity', async () => {
        const viaHeader = await open({ headers: bearer(seedPat) });
        expect(viaHeader.welcome).toMatchObject({
          type: 'welcome',
          identity: { path: 'pat', subject: 'demo' },
        });
        viaHeader.ws.send('ping');
        expect(await nextMessage(viaHeader.ws)).toMatchObject({ type: 'echo', data: 'ping' });

        const viaProtocol = await open({ protocols: ['bearer', seedDaemon] });
        expect(viaProtocol.protocol).toBe('bearer');
        expect(viaProtocol.welcome.identity).toMatchObject({
          path: 'daemon_token',
          daemonId: 'demo',
        });

        const browser = new WebSocket(wsUrl());
        sockets.push(browser);
        await new Promise((resolve) => browser.once('open', resolve));
        const ok = nextMessage(browser);
        browser.send(JSON.stringify({ type: 'auth', token: seedPat }));
        expect(await ok).toEqual({ type: 'auth_ok' });

        await expect(open({ headers: bearer(generateToken('pat')) })).rejects.toThrow('HTTP 401');
        await expect(open({ headers: { Authorization: 'Bearer a b' } })).rejects.toThrow(
          'HTTP 400',
        );
      });

      it('DELETE /api/tokens/:id revokes at once: 204, then 401, its WebSocket closed 4401, then 404', async () => {
        const { body: created } = await createToken({ name: 'to-revoke' });
        const { ws } = await open({ protocols: ['bearer', created.token] });
        const closed = closeEvent(ws);
        const revokedAt = Date.now();
        const res = await request(`/api/tokens/${created.id}`, {
          method: 'DELETE',
          headers: bearer(seedPat),
        });
        expect(res.status).toBe(204);
        expect((await request('/api/me', { headers: bearer(created.token) })).status).toBe(401);
        const { code, reason, at } = await closed;
        expect({ code, reason }).toEqual({ code: 4401, reason: 'token_revoked' });
        expect(at - revokedAt).toBeLessThan(1_000);
        const again = await request(`/api/tokens/${created.id}`, {
          method: 'DELETE',
          headers: bearer(seedPat),
        });
        expect(again.status).toBe(404);
        const unknown = await request('/api/tokens/not-a-token-id', {
          method: 'DELETE',
          headers: bearer(seedPat),
        });
        expect(unknown.status).toBe(404);
      });

      it('/s3 takes the real AWS SDK with SEED_ACCESS_KEY: PutObject (buffer, stream), GetObject, ListObjectsV2', async () => {
        const client = s3();
        await client.send(
          new PutObjectCommand({
            Bucket: 'smoke',
            Key: 'notes/hello world.txt',
            Body: Buffer.from('hello from a buffer'),
          }),
        );
        // A stream of unknown hash: the SDK sends it aws-chunked with a checksum trailer.
        const streamed = Buffer.alloc(100_000, 'z');
        await client.send(
          new PutObjectCommand({
            Bucket: 'smoke',
            Key: 'notes/streamed ✓.bin',
            Body: Readable.from([streamed.subarray(0, 40_000), streamed.subarray(40_000)]),
            ContentLength: streamed.length,
          }),
        );
        const got = await client.send(
          new GetObjectCommand({ Bucket: 'smoke', Key: 'notes/hello world.txt' }),
        );
        expect(await got.Body!.transformToString()).toBe('hello from a buffer');
        expect(got.Metadata).toEqual({ owner: 'demo' });
        const gotStream = await client.send(
          new GetObjectCommand({ Bucket: 'smoke', Key: 'notes/streamed ✓.bin' }),
        );
        expect(Buffer.from(await gotStream.Body!.transformToByteArray()).equals(streamed)).toBe(
          true,
        );
        const head = await client.send(
          new HeadObjectCommand({ Bucket: 'smoke', Key: 'notes/streamed ✓.bin' }),
        );
        expect(head.ContentLength).toBe(streamed.length);
        const list = await client.send(
          new ListObjectsV2Command({ Bucket: 'smoke', Prefix: 'notes/' }),
        );
        expect(list.Contents?.map((c) => [c.Key, c.Size])).toEqual([
          ['notes/hello world.txt', 19],
          ['notes/streamed ✓.bin', streamed.length],
        ]);
        expect(
          await errorName(client.send(new GetObjectCommand({ Bucket: 'smoke', Key: 'nope' }))),
        ).toBe('NoSuchKey');
        // The key id is announced, the secret never.
        expect(app.output()).toContain(seedKey.accessKeyId);
        expect(app.output()).not.toContain(seedKey.secretAccessKey);
      });

      it('/s3 answers a presigned GET fetched as is; a wrong secret is SignatureDoesNotMatch, an unknown key InvalidAccessKeyId, none AccessDenied', async () => {
        const client = s3();
        await client.send(
          new PutObjectCommand({ Bucket: 'smoke', Key: 'shared.txt', Body: 'presigned!' }),
        );
        const url = await getSignedUrl(
          client,
          new GetObjectCommand({ Bucket: 'smoke', Key: 'shared.txt' }),
          { expiresIn: 60 },
        );
        expect(url).toContain('X-Amz-Signature=');
        const res = await fetch(url);
        expect(res.status).toBe(200);
        expect(await res.text()).toBe('presigned!');
        const tampered = await fetch(url.replace('shared.txt', 'other.txt'));
        expect(tampered.status).toBe(403);
        expect(await tampered.text()).toContain('<Code>SignatureDoesNotMatch</Code>');

        const intruder = s3(generateSecretAccessKey());
        expect(
          await errorName(
            intruder.send(new GetObjectCommand({ Bucket: 'smoke', Key: 'shared.txt' })),
          ),
        ).toBe('SignatureDoesNotMatch');
        expect(
          await errorName(
            intruder.send(new PutObjectCommand({ Bucket: 'smoke', Key: 'x', Body: 'x' })),
          ),
        ).toBe('SignatureDoesNotMatch');
        const stranger = s3(seedKey.secretAccessKey, generateAccessKeyId());
        expect(
          await errorName(
            stranger.send(new GetObjectCommand({ Bucket: 'smoke', Key: 'shared.txt' })),
          ),
        ).toBe('InvalidAccessKeyId');
        const anonymous = await request('/s3/smoke/shared.txt');
        expect(anonymous.status).toBe(403);
        expect(await anonymous.text()).toContain('<Code>AccessDenied</Code>');
        // The PAT API is untouched by the S3 mount.
        expect((await request('/api/me', { headers: bearer(seedPat) })).status).toBe(200);
      });

      it('/s3 with the AWS SDK: ranged GetObject and HeadObject, DeleteObject, ListObjects v1, keys with dot segments kept literally', async () => {
        const client = s3();
        const digits = Buffer.from('0123456789');
        // Dot segments are part of an S3 key: neither the client nor the app resolves them,
        // even where the resolved path would leave /s3 (`ranged/../../../api/me` → `/api/me`).
        const keys = ['ranged/d/./e/../f', 'ranged/digits', 'ranged/../../../api/me'];
        for (const Key of keys) {
          await client.send(new PutObjectCommand({ Bucket: 'smoke', Key, Body: digits }));
        }
        const part = await client.send(
          new GetObjectCommand({ Bucket: 'smoke', Key: 'ranged/digits', Range: 'bytes=2-5' }),
        );
        expect([
          part.$metadata.httpStatusCode,
          part.ContentRange,
          part.ContentLength,
          part.AcceptRanges,
          await part.Body!.transformToString(),
        ]).toEqual([206, 'bytes 2-5/10', 4, 'bytes', '2345']);
        const suffix = await client.send(
          new GetObjectCommand({ Bucket: 'smoke', Key: 'ranged/digits', Range: 'bytes=-3' }),
        );
        expect(await suffix.Body!.transformToString()).toBe('789');
        const head = await client.send(
          new HeadObjectCommand({ Bucket: 'smoke', Key: 'ranged/digits', Range: 'bytes=7-' }),
        );
        expect([head.ContentLength, head.ContentRange]).toEqual([3, 'bytes 7-9/10']);
        expect(
          await errorName(
            client.send(
              new GetObjectCommand({ Bucket: 'smoke', Key: 'ranged/digits', Range: 'bytes=10-' }),
            ),
          ),
        ).toBe('InvalidRange');

        const all = await client.send(
          new ListObjectsCommand({ Bucket: 'smoke', Prefix: 'ranged/' }),
        );
        expect(all.Contents?.map((c) => c.Key)).toEqual([...keys].sort());
        for (const Key of keys) {
          const got = await client.send(new GetObjectCommand({ Bucket: 'smoke', Key }));
          expect(await got.Body!.transformToString()).toBe('0123456789');
        }
        expect(
          await errorName(
            client.send(new GetObjectCommand({ Bucket: 'smoke', Key: 'ranged/d/f' })),
          ),
        ).toBe('NoSuchKey');
        const page = await client.send(
          new ListObjectsCommand({
            Bucket: 'smoke',
            Prefix: 'ranged/',
            Delimiter: '/',
            MaxKeys: 2,
          }),
        );
        expect([
          page.CommonPrefixes?.map((p) => p.Prefix),
          page.Contents?.map((c) => c.Key),
          page.IsTruncated,
          page.NextMarker,
        ]).toEqual([['ranged/../', 'ranged/d/'], undefined, true, 'ranged/d/']);
        const next = await client.send(
          new ListObjectsCommand({
            Bucket: 'smoke',
            Prefix: 'ranged/',
            Delimiter: '/',
            Marker: page.NextMarker,
          }),
        );
        expect([next.Contents?.map((c) => c.Key), next.IsTruncated]).toEqual([
          ['ranged/digits'],
          false,
        ]);

        for (const Key of keys) {
          const deleted = await client.send(new DeleteObjectCommand({ Bucket: 'smoke', Key }));
          expect(deleted.$metadata.httpStatusCode).toBe(204);
        }
        const again = await client.send(
          new DeleteObjectCommand({ Bucket: 'smoke', Key: 'ranged/digits' }),
        );
        expect(again.$metadata.httpStatusCode).toBe(204);
        const none = await client.send(
          new ListObjectsCommand({ Bucket: 'smoke', Prefix: 'ranged/' }),
        );
        expect(none.Contents ?? []).toEqual([]);
      });

      it('/s3 takes multipart uploads from the AWS SDK (lib-storage Upload, the commands one by one)', async () => {
        const client = s3();
        const MiB = 1024 * 1024;
        const data = randomBytes(12 * MiB + 123);
        const upload = new Upload({
          client,
          params: { Bucket: 'smoke', Key: 'multi/blob.bin', Body: data },
          partSize: 5 * MiB,
          queueSize: 3,
        });
        const done = await upload.done();
        expect(done.ETag).toMatch(/^"[0-9a-f]{32}-3"$/);
        const got = await client.send(
          new GetObjectCommand({ Bucket: 'smoke', Key: 'multi/blob.bin' }),
        );
        expect(got.ETag).toBe(done.ETag);
        expect(Buffer.from(await got.Body!.transformToByteArray()).equals(data)).toBe(true);
        // Across the boundary of parts 1 and 2.
        const across = await client.send(
          new GetObjectCommand({
            Bucket: 'smoke',
            Key: 'multi/blob.bin',
            Range: `bytes=${5 * MiB - 2}-${5 * MiB + 1}`,
          }),
        );
        expect(
          Buffer.from(await across.Body!.transformToByteArray()).equals(
            data.subarray(5 * MiB - 2, 5 * MiB + 2),
          ),
        ).toBe(true);

        const Key = 'multi/small-parts.bin';
        const { UploadId } = await client.send(
          new CreateMultipartUploadCommand({ Bucket: 'smoke', Key }),
        );
        const parts: { ETag?: string; PartNumber: number }[] = [];
        for (const PartNumber of [1, 2]) {
          const { ETag } = await client.send(
            new UploadPartCommand({ Bucket: 'smoke', Key, UploadId, PartNumber, Body: 'tiny' }),
          );
          parts.push({ ETag, PartNumber });
        }
        const listed = await client.send(new ListPartsCommand({ Bucket: 'smoke', Key, UploadId }));
        expect(listed.Parts?.map((p) => [p.PartNumber, p.Size])).toEqual([
          [1, 4],
          [2, 4],
        ]);
        const complete = (Parts: typeof parts) =>
          client.send(
            new CompleteMultipartUploadCommand({
              Bucket: 'smoke',
              Key,
              UploadId,
              MultipartUpload: { Parts },
            }),
          );
        expect(await errorName(complete(parts))).toBe('EntityTooSmall');
        expect(await errorName(complete([...parts].reverse()))).toBe('InvalidPartOrder');
        expect(await errorName(complete([{ ...parts[0]!, PartNumber: 3 }]))).toBe('InvalidPart');
        await client.send(new AbortMultipartUploadCommand({ Bucket: 'smoke', Key, UploadId }));
        expect(await errorName(complete(parts.slice(1)))).toBe('NoSuchUpload');
        expect(await errorName(client.send(new GetObjectCommand({ Bucket: 'smoke', Key })))).toBe(
          'NoSuchKey',
        );
      });

      if (backend === 'pglite') {
        it(`/s3 round-trips ${awsCliBytes / 1e6} MB through the real AWS CLI: multipart upload, ranged download, ls, rm`, async () => {
          await requireAwsCli();
          const dir = await mkdtemp(join(tmpdir(), 'authcache-awscli-'));
          try {
            const empty = join(dir, 'empty');
            await writeFile(empty, '');
            const env: NodeJS.ProcessEnv = {
              ...process.env,
              AWS_ACCESS_KEY_ID: seedKey.accessKeyId,
              AWS_SECRET_ACCESS_KEY: seedKey.secretAccessKey,
              AWS_DEFAULT_REGION: 'us-east-1',
              // No profile, credentials or settings of the machine's user leak in.
              AWS_CONFIG_FILE: empty,
              AWS_SHARED_CREDENTIALS_FILE: empty,
              AWS_EC2_METADATA_DISABLED: 'true',
            };
            for (const name of [
              'AWS_PROFILE',
              'AWS_SESSION_TOKEN',
              'AWS_ENDPOINT_URL',
              'AWS_ENDPOINT_URL_S3',
            ]) {
              delete env[name];
            }
            const aws = async (...args: string[]) => {
              const result = await run('aws', ['--endpoint-url', `${app.url}/s3`, ...args], env);
              return { ...result, ok: () => expect(result.code, result.stderr).toBe(0) };
            };
            // In aws-cli's 8 MiB chunks: parts up, ranged GETs down.
            const data = randomBytes(awsCliBytes);
            const parts = Math.ceil(awsCliBytes / (8 * 1024 * 1024));
            await writeFile(join(dir, 'in.bin'), data);
            await writeFile(join(dir, 'note.txt'), 'a note\n');
            const remote = 's3://cli/big/d/./e/../in file.bin';
            (await aws('s3', 'cp', join(dir, 'in.bin'), remote, '--only-show-errors')).ok();
            (
              await aws(
                's3',
                'cp',
                join(dir, 'note.txt'),
                's3://cli/note.txt',
                '--only-show-errors',
              )
            ).ok();
            const head = await s3().send(
              new HeadObjectCommand({ Bucket: 'cli', Key: 'big/d/./e/../in file.bin' }),
            );
            expect([head.ContentLength, head.ETag]).toEqual([
              data.length,
              expect.stringMatching(new RegExp(`^"[0-9a-f]{32}-${parts}"$`)),
            ]);
            (await aws('s3', 'cp', remote, join(dir, 'out.bin'), '--only-show-errors')).ok();
            const out = await readFile(join(dir, 'out.bin'));
            expect(out.length).toBe(data.length);
            expect(out.equals(data)).toBe(true);
            const listed = await aws('s3', 'ls', 's3://cli/', '--recursive');
            listed.ok();
            expect(listed.stdout).toContain(` ${awsCliBytes} big/d/./e/../in file.bin\n`);
            expect(listed.stdout).toMatch(/ 7 note\.txt\n/);
            (await aws('s3', 'rm', remote, '--only-show-errors')).ok();
            const after = await aws('s3', 'ls', 's3://cli/', '--recursive');
            after.ok();
            expect(after.stdout).not.toContain('in file.bin');
            expect(after.stdout).toContain('note.txt');
          } finally {
            await rm(dir, { recursive: true, force: true });
          }
        }, 120_000);

        it('fails to start on a malformed SEED_ACCESS_KEY, naming the variable but not its value', async () => {
          const bad = `${seedKey.accessKeyId}-${seedKey.secretAccessKey}`;
          const error = await startExampleProcess(options.dir, { SEED_ACCESS_KEY: bad }).catch(
            (e: Error) => e,
          );
          expect(String(error)).toMatch(/exited with 1 before listening/);
          expect(String(error)).toContain('SEED_ACCESS_KEY must be <access key id>:<secret>');
          expect(String(error)).not.toContain(seedKey.secretAccessKey);
        });
      }

      if (backend === 'postgres') {
        it('fills the Redis tier and announces on both buses', async () => {
          expect(app.output()).toContain('shared tier: redis, bus: postgres + redis');
          expect((await request('/api/me', { headers: bearer(seedPat) })).status).toBe(200);
          // Revocations above went through the stream; fills are written in the background.
          expect(await redis!.xlen(`${prefix}invalidations`)).toBeGreaterThan(0);
          await expect
            .poll(async () => (await redisKeys(redis!, prefix)).length)
            .toBeGreaterThan(1);
        });

        it('SEED_ACCESS_KEY is idempotent on a persistent database, and refuses another secret', async () => {
          const env = {
            DATABASE_URL,
            DATABASE_SCHEMA: schema,
            ACCESS_KEY_ENCRYPTION_KEY: encryptionKey,
            SEED_ACCESS_KEY: `${seedKey.accessKeyId}:${seedKey.secretAccessKey}`,
          };
          // A second start on the same database (a restart, another instance) keeps the key.
          const again = await createExampleContext({ env });
          await again.close();
          const other = generateSecretAccessKey();
          const error = await createExampleContext({
            env: { ...env, SEED_ACCESS_KEY: `${seedKey.accessKeyId}:${other}` },
          }).catch((e: Error) => e);
          expect(String(error)).toContain(
            'SEED_ACCESS_KEY could not be seeded: that access key id already exists with another secret',
          );
          expect(String(error)).not.toContain(other);
          const wrongKey = await createExampleContext({
            env: { ...env, ACCESS_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') },
          }).catch((e: Error) => e);
          expect(String(wrongKey)).toContain(
            'SEED_ACCESS_KEY could not be seeded: the stored key does not open with ACCESS_KEY_ENCRYPTION_KEY',
          );
          const stillWorks = await s3().send(
            new ListObjectsV2Command({ Bucket: 'smoke', Prefix: 'notes/' }),
          );
          expect(stillWorks.KeyCount).toBe(2);
        });

        it("DELETE /api/tokens/:id of another user's token is 404 and leaves it working", async () => {
          const store = createPgTokenStore({ db: pool!, schema });
          const other = await store.createPat({ userId: 'someone-else', name: 'theirs' });
          const res = await request(`/api/tokens/${other.id}`, {
            method: 'DELETE',
            headers: bearer(seedPat),
          });
          expect(res.status).toBe(404);
          const me = await request('/api/me', { headers: bearer(other.token) });
          expect(me.status).toBe(200);
          expect(await me.json()).toMatchObject({ subject: 'someone-else' });
        });
      }
    });
  }

  describe(`${options.name} when Postgres goes silent`, () => {
    it('answers a token not cached yet with 503 + Retry-After within seconds (the pool times out)', async () => {
      const schema = `authcache_example_hole_${process.pid}_${randomBytes(4).toString('hex')}`;
      const database = new URL(DATABASE_URL);
      const proxy = await startBlackholeProxy({
        host: database.hostname,
        port: Number(database.port || 5432),
      });
      const proxied = new URL(DATABASE_URL);
      proxied.host = `127.0.0.1:${proxy.port}`;
      const seedPat = generateToken('pat');
      let app: ExampleProcess | undefined;
      try {
        app = await startExampleProcess(options.dir, {
          DATABASE_URL: proxied.href,
          DATABASE_SCHEMA: schema,
          ACCESS_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
          SEED_PAT: seedPat,
        });
        const me = (token: string) =>
          fetch(`${app!.url}/api/me`, {
            headers: { Authorization: `Bearer ${token}` },
            signal: AbortSignal.timeout(20_000),
          });
        expect((await me(seedPat)).status).toBe(200);
        proxy.blackhole();
        const started = Date.now();
        const res = await me(generateToken('pat'));
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
        expect(Date.now() - started).toBeLessThan(15_000);
      } finally {
        // Connections first: a clean shutdown waits for the database to hang up.
        await proxy.close();
        await app?.stop();
        const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await pool.end();
      }
    }, 60_000);
  });
}
