import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createAuthCache,
  createTokenFormat,
  type Logger,
  type SecretVerifier,
  scryptVerifier,
  type TokenKinds,
} from '@authcache/core';
import { patAuth } from '@authcache/express';
import express, { type NextFunction, type Request, type Response } from 'express';
import { createFileTokenStore, type FileTokenStoreOptions, type TokenRow } from '../src/index.js';

export const kinds: TokenKinds = { pat: { prefix: 'mul_', split: true } };
export const format = createTokenFormat(kinds);
/** Small N: the tests count verifications, they do not need them slow. */
export const scrypt = scryptVerifier({ N: 1024, r: 8, p: 1 });

/** A verifier that counts its calls (the slow verifications). */
export function countingVerifier(base: SecretVerifier = scrypt) {
  const counter = { calls: 0 };
  const verifier: SecretVerifier = {
    ...base,
    verify(secret, hash) {
      counter.calls++;
      return base.verify(secret, hash);
    },
  };
  return { verifier, counter };
}

export function tempDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'authcache-file-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A new token and its row (secret hashed with `scrypt`). */
export async function issue(extra: Partial<TokenRow> = {}) {
  const { token, id, secret } = format.generateSplit('pat');
  const row: TokenRow = {
    id,
    kind: 'pat',
    subject: 'user-1',
    secretHash: await scrypt.hash!(secret),
    scopes: ['read'],
    expiresAt: null,
    revoked: false,
    ...extra,
  };
  return { token, id, secret, row };
}

export function writeRows(path: string, rows: TokenRow[]): void {
  writeFileSync(path, `${JSON.stringify({ version: 1, tokens: rows }, null, 2)}\n`, {
    mode: 0o600,
  });
}

export function readRows(path: string): TokenRow[] {
  return (JSON.parse(readFileSync(path, 'utf8')) as { tokens: TokenRow[] }).tokens;
}

/** Collects log lines, to check what is (and is not) in them. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    warn: (message, details) => void lines.push(`${message} ${JSON.stringify(details ?? {})}`),
  };
}

/** A file store, its auth cache and an Express server with patAuth on `/`, listening. */
export async function startServer(
  options: Omit<FileTokenStoreOptions, 'logger'> & { ttl?: number },
) {
  const logger = memoryLogger();
  const store = createFileTokenStore({ ...options, logger });
  const auth = createAuthCache({ store, tokenKinds: kinds, logger, ttl: options.ttl ?? 60_000 });
  store.attach(auth);
  const app = express();
  app.get('/', patAuth({ auth }), (req: Request, res: Response) => {
    res.json({ subject: req.auth!.subject, scopes: req.auth!.scopes });
  });
  app.use(
    (
      error: { status?: number; headers?: Record<string, string> },
      _req: Request,
      res: Response,
      _next: NextFunction,
    ) => {
      res
        .status(error.status ?? 500)
        .set(error.headers ?? {})
        .json({ error: String(error) });
    },
  );
  const server = app.listen(0);
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const bodies: string[] = [];
  return {
    store,
    auth,
    logger,
    bodies,
    async get(token: string) {
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      const text = await res.text();
      bodies.push(text + JSON.stringify([...res.headers]));
      return { status: res.status, text };
    },
    async close() {
      await new Promise((resolve) => server.close(resolve));
      await auth.close();
      await store.close();
    },
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
