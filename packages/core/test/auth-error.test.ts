import { describe, expect, it } from 'vitest';
import { AuthError, brandAuthError, isAuthError, toHttpError } from '../src/index.js';

describe('AuthError / isAuthError', () => {
  it('carries status, statusCode, a stable code, headers and the full answer', () => {
    const error = new AuthError(toHttpError('revoked'));
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('AuthError');
    expect([error.status, error.statusCode, error.code, error.expose]).toEqual([
      401,
      401,
      'revoked',
      true,
    ]);
    expect(error.headers['WWW-Authenticate']).toContain('error="invalid_token"');
    expect(error.message).toBe('The access token was revoked');
    expect(error.authError.reason).toBe('revoked');
    expect(isAuthError(error)).toBe(true);
  });

  it("recognises another copy's errors by their brand, not by class", () => {
    // A CommonJS and an ESM copy of core are two classes; the brand is one Symbol.for key.
    class OtherCopy extends Error {}
    const foreign = brandAuthError(new OtherCopy('x'), toHttpError('unavailable'));
    expect(isAuthError(foreign)).toBe(true);
    expect(foreign.headers['Retry-After']).toBe('5');
    expect(isAuthError(Object.assign(new Error('x'), { status: 401, code: 'invalid' }))).toBe(
      false,
    );
    expect(isAuthError({})).toBe(false);
    expect(isAuthError(undefined)).toBe(false);
  });

  it('lets error handlers assign status back (koa does)', () => {
    const error = new AuthError(toHttpError('missing'));
    (error as { status: number }).status = 401;
    expect(error.status).toBe(401);
  });
});
