import { describe, expect, it } from 'vitest';
import { SIGV4_ERROR_STATUS, SigV4Error, sigv4ErrorResponse } from '../src/index.js';

const now = Date.parse('2026-03-01T12:00:00Z');

describe('sigv4ErrorResponse', () => {
  it('writes S3 XML with the status, a Date header and escaped details', () => {
    const error = new SigV4Error('AuthorizationHeaderMalformed', 'the region "<eu>" is wrong', {
      Region: 'us-east-1',
    });
    const response = sigv4ErrorResponse(error, { now, requestId: 'REQ1', resource: '/bucket/a&b' });
    expect(response.status).toBe(400);
    expect(response.headers).toEqual({
      'content-type': 'application/xml',
      date: 'Sun, 01 Mar 2026 12:00:00 GMT',
      'x-amz-request-id': 'REQ1',
    });
    expect(response.body).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AuthorizationHeaderMalformed</Code>' +
        '<Message>the region &quot;&lt;eu&gt;&quot; is wrong</Message><Region>us-east-1</Region>' +
        '<Resource>/bucket/a&amp;b</Resource><RequestId>REQ1</RequestId></Error>',
    );
  });

  it('uses the S3 statuses SDKs expect', () => {
    expect(SIGV4_ERROR_STATUS).toMatchObject({
      SignatureDoesNotMatch: 403,
      InvalidAccessKeyId: 403,
      RequestTimeTooSkewed: 403,
      AccessDenied: 403,
      ExpiredToken: 400,
      InvalidToken: 400,
      AuthorizationHeaderMalformed: 400,
      AuthorizationQueryParametersError: 400,
      InvalidArgument: 400,
      ServiceUnavailable: 503,
    });
    const anonymous = sigv4ErrorResponse(new SigV4Error('MissingAuthenticationToken'), { now });
    expect(anonymous.status).toBe(403);
    expect(anonymous.body).toContain('<Code>AccessDenied</Code>');
  });

  it('writes JSON-protocol errors with __type and x-amzn-ErrorType', () => {
    const response = sigv4ErrorResponse(new SigV4Error('InvalidAccessKeyId'), {
      protocol: 'json',
      now,
      requestId: 'R',
    });
    expect(response.status).toBe(400);
    expect(response.headers['x-amzn-errortype']).toBe('UnrecognizedClientException');
    expect(response.headers.date).toBe('Sun, 01 Mar 2026 12:00:00 GMT');
    expect(JSON.parse(response.body)).toEqual({
      __type: 'UnrecognizedClientException',
      message: 'The AWS Access Key Id you provided does not exist in our records.',
    });
    const skew = sigv4ErrorResponse(new SigV4Error('RequestTimeTooSkewed'), {
      protocol: 'json',
      now,
    });
    expect(JSON.parse(skew.body).__type).toBe('InvalidSignatureException');
  });

  it('sends no body to HEAD, and hides anything that is not a SigV4Error', () => {
    expect(sigv4ErrorResponse(new SigV4Error('AccessDenied'), { method: 'HEAD', now }).body).toBe(
      '',
    );
    const hidden = sigv4ErrorResponse(new Error('password=hunter2'), { now });
    expect(hidden.status).toBe(500);
    expect(hidden.body).not.toContain('hunter2');
  });
});
