// One variant of the secrets benchmark (secrets.ts) in a process of its own: an Express 5 route
// behind a split-token check whose secrets are kept under scrypt.
//   scrypt-every-request  the row looked up by id, scrypt run on every request (what a system
//                         storing token secrets like passwords does without a cache)
//   authcache             @authcache/file + the verified-secret cache behind patAuth
// The parent drives it over IPC: `sample` (served, cpu, slow verifications), `profile`
// start/stop (node:inspector, written to a file), `stop`.
import type { AddressInfo } from 'node:net';
import {
  type AuthCache,
  createAuthCache,
  createTokenFormat,
  scryptVerifier,
} from '@authcache/core';
import { patAuth } from '@authcache/express';
import { createFileTokenStore } from '@authcache/file';
import express, { type NextFunction, type Request, type Response } from 'express';
import { handleProfileMessage } from './cpu-profile.js';

export type SecretsVariant = 'scrypt-every-request' | 'authcache';
export interface SecretsSample {
  type: 'sample';
  served: number;
  cpu: number;
  /** Slow verifications run so far (scrypt calls). */
  slow: number;
}

const variant = process.env.BENCH_VARIANT as SecretsVariant;
const path = process.env.BENCH_TOKEN_FILE!;
const N = Number(process.env.BENCH_SCRYPT_N);
const kinds = { pat: { prefix: 'mul_', split: true } } as const;
const base = scryptVerifier({ N, r: 8, p: 1 });
let slow = 0;
const verifier = {
  ...base,
  verify(secret: string, hash: string) {
    slow++;
    return base.verify(secret, hash);
  },
};

let served = 0;
const app = express();
let auth: AuthCache | undefined;
if (variant === 'authcache') {
  const store = createFileTokenStore({ path, secretVerifier: verifier });
  // A TTL longer than the run: the measured rounds are the warm path.
  auth = createAuthCache({ store, tokenKinds: kinds, ttl: 3_600_000 });
  store.attach(auth);
  app.get('/', patAuth({ auth }), (req: Request, res: Response) => {
    served++;
    res.json({ subject: req.auth!.subject });
  });
} else {
  // The baseline: the same file, the same parse, the row by id, scrypt on every request.
  const { readFileSync } = await import('node:fs');
  const rows = new Map(
    (
      JSON.parse(readFileSync(path, 'utf8')) as {
        tokens: { id: string; subject: string; secretHash: string }[];
      }
    ).tokens.map((row) => [row.id, row]),
  );
  const format = createTokenFormat(kinds);
  app.get('/', async (req: Request, res: Response, next: NextFunction) => {
    try {
      const header = req.headers.authorization ?? '';
      const parsed = format.parse(header.slice(7));
      const row = parsed.ok && parsed.id !== undefined ? rows.get(parsed.id) : undefined;
      if (!row || !(await verifier.verify(parsed.ok ? parsed.secret! : '', row.secretHash))) {
        res.status(401).json({ error: 'invalid_token' });
        return;
      }
      served++;
      res.json({ subject: row.subject });
    } catch (error) {
      next(error);
    }
  });
}
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));

process.on(
  'message',
  async (message: { type: string; action?: 'start' | 'stop'; file?: string }) => {
    if (message.type === 'sample') {
      const { user, system } = process.cpuUsage();
      process.send!({ type: 'sample', served, cpu: user + system, slow } satisfies SecretsSample);
    } else if (message.type === 'profile') {
      await handleProfileMessage(message.action!, message.file);
      process.send!({ type: 'profile', action: message.action });
    } else if (message.type === 'stop') {
      server.closeAllConnections();
      server.close();
      await auth?.close();
      process.exit(0);
    }
  },
);
process.send!({ type: 'ready', port: (server.address() as AddressInfo).port });
