/**
 * `--file`: `token create` and `token revoke` on a token file of `@authcache/file` instead of
 * Postgres. The change is written atomically under the file's lock (two CLIs never lose a row),
 * and the running servers pick it up at their next stat (`statInterval`, 1 s by default).
 */
import {
  argon2Verifier,
  bcryptVerifier,
  createTokenFormat,
  type SecretVerifier,
  scryptVerifier,
  shaCryptVerifier,
} from '@authcache/core';
import { addTokenRow, revokeTokenRow } from '@authcache/file';
import { type Context, OperationalError, str, UsageError } from './command.js';

export const FILE_OPTIONS = `Token file (instead of Postgres; see @authcache/file):
  --file PATH          add the token to this JSON token file (created 0600 if missing)
  --prefix P           token prefix of the split token kind (default: mul_ for pat)
  --hash H             scrypt (default), argon2, bcrypt or sha-crypt`;

const HASHES: Record<string, () => SecretVerifier> = {
  scrypt: () => scryptVerifier(),
  argon2: () => argon2Verifier(),
  bcrypt: () => bcryptVerifier(),
  'sha-crypt': () => shaCryptVerifier(),
};

export interface FileTokenInput {
  readonly userId: string;
  readonly name: string;
  readonly scopes: string[];
}

/** Creates a split token in the file; returns what `token create` prints. */
export async function createFileToken(
  ctx: Context,
  path: string,
  input: FileTokenInput,
  expiresAt: Date | null,
): Promise<{ id: string; token: string; tokenPrefix: string; expiresAt: Date | null }> {
  const prefix = str(ctx, 'prefix') ?? 'mul_';
  const hashName = str(ctx, 'hash') ?? 'scrypt';
  const makeVerifier = HASHES[hashName];
  if (!makeVerifier)
    throw new UsageError(`--hash must be one of ${Object.keys(HASHES).join(', ')}`);
  let format: ReturnType<typeof createTokenFormat>;
  try {
    format = createTokenFormat({ pat: { prefix, split: true } });
  } catch {
    throw new UsageError('--prefix must be 1-16 characters of A-Z a-z 0-9 _');
  }
  const { token, id, secret } = format.generateSplit('pat');
  ctx.secrets.push(token, secret);
  const secretHash = await makeVerifier().hash!(secret);
  try {
    await addTokenRow(path, {
      id,
      kind: 'pat',
      subject: input.userId,
      secretHash,
      scopes: input.scopes,
      expiresAt: expiresAt?.toISOString() ?? null,
      revoked: false,
      name: input.name,
    });
  } catch (error) {
    throw new OperationalError(`${path}: ${(error as Error).message}`);
  }
  return { id, token, tokenPrefix: `${prefix}${id.slice(0, 8)}`, expiresAt };
}

/** Revokes row `id` in the file; the kind defaults to pat. */
export async function revokeFileToken(ctx: Context, path: string, id: string): Promise<string> {
  const kind = str(ctx, 'kind') ?? 'pat';
  let revoked: boolean;
  try {
    revoked = await revokeTokenRow(path, kind, id);
  } catch (error) {
    throw new OperationalError(`${path}: ${(error as Error).message}`);
  }
  if (!revoked) {
    throw new OperationalError(`${path} has no live ${kind} token with the id ${id}`);
  }
  return kind;
}
