// The example API, free of any framework: each app only moves requests in and responses out.
import type { RequestAuth } from '@authcache/core';
import type { ExampleContext } from './context.js';

/** A response for the framework to send: status and JSON body (none for 204). */
export interface ApiResponse {
  readonly status: number;
  readonly body?: unknown;
}

/** Longest lifetime `POST /api/tokens` grants: ten years, in seconds. */
export const MAX_EXPIRES_IN = 10 * 365 * 24 * 3600;

/** An identity as the API shows it: everything but secrets (there are none on it anyway). */
export function publicIdentity(auth: RequestAuth) {
  return {
    path: auth.path,
    kind: auth.kind,
    subject: auth.subject,
    tokenId: auth.tokenId,
    scopes: auth.scopes,
    expiresAt: auth.expiresAt === null ? null : new Date(auth.expiresAt).toISOString(),
    ...(auth.name === undefined ? {} : { name: auth.name }),
    ...(auth.workspaceId === undefined ? {} : { workspaceId: auth.workspaceId }),
    ...(auth.daemonId === undefined ? {} : { daemonId: auth.daemonId }),
  };
}

const badRequest = (description: string): ApiResponse => ({
  status: 400,
  body: { error: 'invalid_request', error_description: description },
});
const unavailable: ApiResponse = { status: 503, body: { error: 'temporarily_unavailable' } };

/** `GET /api/me`. */
export function me(auth: RequestAuth): ApiResponse {
  return { status: 200, body: publicIdentity(auth) };
}

/** `POST /api/tokens` with `{ "name": string, "expiresIn"?: seconds }`: 201 `{ id, token, … }`. */
export async function createToken(
  ctx: ExampleContext,
  auth: RequestAuth,
  body: unknown,
): Promise<ApiResponse> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return badRequest('Expected a JSON object');
  }
  const { name, expiresIn } = body as { name?: unknown; expiresIn?: unknown };
  if (typeof name !== 'string' || name.trim() === '' || name.length > 100) {
    return badRequest('name must be a non-empty string of at most 100 characters');
  }
  // Postgres refuses NUL in text; that would surface as a 503 from the store below.
  if (/\p{Cc}/u.test(name)) {
    return badRequest('name must not contain control characters');
  }
  if (
    expiresIn !== undefined &&
    expiresIn !== null &&
    (typeof expiresIn !== 'number' || !(expiresIn > 0) || expiresIn > MAX_EXPIRES_IN)
  ) {
    return badRequest(`expiresIn must be a number of seconds between 0 and ${MAX_EXPIRES_IN}`);
  }
  const expiresAt = typeof expiresIn === 'number' ? new Date(Date.now() + expiresIn * 1000) : null;
  try {
    const created = await ctx.store.createPat({
      userId: auth.subject,
      name: name.trim(),
      expiresAt,
    });
    return {
      status: 201,
      // The only time the plaintext token is ever shown.
      body: {
        id: created.id,
        token: created.token,
        name: name.trim(),
        expiresAt: created.expiresAt?.toISOString() ?? null,
      },
    };
  } catch {
    return unavailable;
  }
}

/** `DELETE /api/tokens/:id`: 204, or 404 when the caller has no such live token. */
export async function revokeToken(
  ctx: ExampleContext,
  auth: RequestAuth,
  id: string,
): Promise<ApiResponse> {
  try {
    // `subject` makes another user's token id indistinguishable from an unknown one.
    const revoked = await ctx.auth.revoke('pat', id, { subject: auth.subject });
    return revoked ? { status: 204 } : { status: 404, body: { error: 'not_found' } };
  } catch {
    return unavailable;
  }
}

/** `POST /api/daemon/heartbeat`: the hottest route; a warm cache answers it without a query. */
export function heartbeat(auth: RequestAuth): ApiResponse {
  return {
    status: 200,
    body: {
      ok: true,
      path: auth.path,
      subject: auth.subject,
      workspaceId: auth.workspaceId ?? null,
      daemonId: auth.daemonId ?? null,
      receivedAt: new Date().toISOString(),
    },
  };
}
