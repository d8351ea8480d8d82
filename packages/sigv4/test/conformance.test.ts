import { describe, expect, it } from 'vitest';
import { createSigV4Verifier, prepareSigV4Request, type SigV4Request } from '../src/index.js';
import { findSigV4Suite, loadSuiteCases, parseHttpRequest, type SuiteCase } from './suite.js';

const OPT_OUT = 'SIGV4_TEST_SUITE_OPTIONAL';
const suite = findSigV4Suite();

function flipHexDigit(signature: string): string {
  const flipped = (Number.parseInt(signature[10]!, 16) ^ 1).toString(16);
  return signature.slice(0, 10) + flipped + signature.slice(11);
}

function requestOf(testCase: SuiteCase, form: 'header' | 'query'): SigV4Request {
  const parsed = parseHttpRequest(testCase.read(`${form}-signed-request.txt`));
  return {
    method: parsed.method,
    rawPath: parsed.target,
    headers: parsed.rawHeaders,
    body: parsed.body,
  };
}

function withFlippedSignature(request: SigV4Request, form: 'header' | 'query'): SigV4Request {
  if (form === 'query') {
    return {
      ...request,
      rawPath: request.rawPath.replace(
        /X-Amz-Signature=([0-9a-f]{64})/,
        (_m, sig: string) => `X-Amz-Signature=${flipHexDigit(sig)}`,
      ),
    };
  }
  const headers = [...(request.headers as string[])];
  const i = headers.findIndex((h, n) => n % 2 === 0 && h.toLowerCase() === 'authorization');
  headers[i + 1] = headers[i + 1]!.replace(
    /Signature=([0-9a-f]{64})/,
    (_m, sig: string) => `Signature=${flipHexDigit(sig)}`,
  );
  return { ...request, headers };
}

function verifierFor(testCase: SuiteCase) {
  const { context } = testCase;
  return createSigV4Verifier({
    service: context.service,
    region: context.region,
    normalizePath: context.normalize,
    // The suite appends the session token after signing when omit_session_token is set.
    allowUnsignedSessionToken: context.omit_session_token === true,
    lookupKey: (id) =>
      id === context.credentials.access_key_id
        ? {
            secret: context.credentials.secret_access_key,
            ...(context.credentials.token ? { sessionToken: context.credentials.token } : {}),
            principal: { user: 'suite' },
          }
        : null,
  });
}

if (!suite.dir) {
  describe('AWS SigV4 test suite', () => {
    if (process.env[OPT_OUT] === '1') {
      it('was explicitly opted out; conformance NOT checked', () => {
        console.warn(
          `[sigv4] AWS SigV4 test suite not found (searched ${suite.searched.join(', ')}); conformance NOT checked because ${OPT_OUT}=1`,
        );
        expect(process.env[OPT_OUT]).toBe('1');
      });
    } else {
      it('must be present', () => {
        throw new Error(
          `The AWS SigV4 test suite was not found. Searched: ${suite.searched.join(', ')}. ` +
            'Check out aws-c-auth\'s tests/aws-signing-test-suite as "shared/sigv4-test-suite" beside the repository, ' +
            `or set SIGV4_TEST_SUITE=<dir containing v4/>. To run without it deliberately, set ${OPT_OUT}=1.`,
        );
      });
    }
  });
} else {
  const cases = loadSuiteCases(suite.dir);
  const timeOf = (testCase: SuiteCase) => Date.parse(testCase.context.timestamp);

  describe(`AWS SigV4 test suite (${suite.dir})`, () => {
    it('has all 38 cases', () => {
      expect(cases.length).toBeGreaterThanOrEqual(38);
    });

    describe.each(cases.map((c) => [c.name, c] as const))('%s', (_name, testCase) => {
      describe.each(['header', 'query'] as const)('%s form', (form) => {
        const request = requestOf(testCase, form);
        const now = timeOf(testCase);

        it('builds the canonical request byte for byte and verifies the signature', async () => {
          const expectedCanonical = testCase.read(`${form}-canonical-request.txt`);
          const prepared = prepareSigV4Request(request, {
            service: testCase.context.service,
            region: testCase.context.region,
            normalizePath: testCase.context.normalize,
            now,
          });
          if (!('canonicalRequest' in prepared)) throw prepared;
          const canonical =
            testCase.context.omit_session_token && prepared.canonicalRequestWithoutToken
              ? prepared.canonicalRequestWithoutToken()
              : prepared.canonicalRequest;
          expect(canonical).toBe(expectedCanonical);

          const result = await verifierFor(testCase).verify(request, { now });
          if (!result.ok) throw result.error;
          expect(result.canonicalRequest).toBe(expectedCanonical);
          expect(result.stringToSign).toBe(testCase.read(`${form}-string-to-sign.txt`));
          expect(result.accessKeyId).toBe(testCase.context.credentials.access_key_id);
          expect(result.form).toBe(form);
          expect(result.session).toBe(testCase.context.credentials.token !== undefined);
        });

        it('refuses one flipped hex digit with SignatureDoesNotMatch', async () => {
          const result = await verifierFor(testCase).verify(withFlippedSignature(request, form), {
            now,
          });
          expect(result.ok).toBe(false);
          if (!result.ok) expect(result.error.code).toBe('SignatureDoesNotMatch');
        });
      });
    });
  });
}
