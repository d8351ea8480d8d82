// Temporary local copy of the result → HTTP mapping; replaced by core's http.ts once it lands.
import type { FailureReason } from '@authcache/core';
import type { AuthorizationToken } from './credentials.js';

const BEARER_RE = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

export function parseAuthorization(header: string | undefined): AuthorizationToken {
  if (header === undefined || header === '') return { type: 'none' };
  const match = BEARER_RE.exec(header);
  return match ? { type: 'token', token: match[1]! } : { type: 'malformed' };
}

export interface HttpRejection {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export function httpRejection(reason: FailureReason, realm: string): HttpRejection {
  const challenge = `Bearer realm="${realm}"`;
  const json = (error: string) => JSON.stringify({ error });
  switch (reason) {
    case 'missing':
      return {
        status: 401,
        headers: { 'WWW-Authenticate': challenge },
        body: json('unauthorized'),
      };
    case 'malformed':
      return {
        status: 400,
        headers: { 'WWW-Authenticate': `${challenge}, error="invalid_request"` },
        body: json('invalid_request'),
      };
    case 'insufficient_scope':
      return {
        status: 403,
        headers: { 'WWW-Authenticate': `${challenge}, error="insufficient_scope"` },
        body: json('insufficient_scope'),
      };
    case 'unavailable':
      return {
        status: 503,
        headers: { 'Retry-After': '5' },
        body: json('temporarily_unavailable'),
      };
    default:
      return {
        status: 401,
        headers: { 'WWW-Authenticate': `${challenge}, error="invalid_token"` },
        body: json('invalid_token'),
      };
  }
}
