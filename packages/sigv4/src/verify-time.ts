// Stage 2 of verification (order in verify.ts): date, scope and skew. Reads the signing time
// (header form: `x-amz-date`, else an IMF-fixdate `Date`; the presigned `X-Amz-Date` is read by
// verify-presigned.ts with the same parser), then checks the credential scope against this
// endpoint in this order: service, region, scope date = signing date; then the clock skew of the
// header form (the presigned validity window is checked in verify-presigned.ts instead).
import type { HeaderMap } from './canonical.js';
import { quote, SigV4Error } from './errors.js';
import { type Credential, scopeError } from './verify-credential.js';
import type { VerifierConfig } from './verify-types.js';

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const HTTP_DATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** The signing time: as the client wrote it in the string to sign, and in epoch ms. */
export interface SigningTime {
  readonly amzDate: string;
  readonly requestTime: number;
}

/** Epoch ms of a `yyyyMMdd'T'HHmmss'Z'` date; `undefined` if malformed or not a real date. */
export function parseAmzDate(value: string): number | undefined {
  const m = AMZ_DATE.exec(value);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const time = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(time);
  if (
    check.getUTCFullYear() !== y ||
    check.getUTCMonth() !== mo - 1 ||
    check.getUTCDate() !== d ||
    check.getUTCHours() !== h ||
    check.getUTCMinutes() !== mi ||
    check.getUTCSeconds() !== s
  ) {
    return undefined;
  }
  return time;
}

/** `yyyyMMdd'T'HHmmss'Z'` */
export function formatAmzDate(time: number): string {
  return new Date(time)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** Time of an HTTP `Date` header (IMF-fixdate, as RFC 9110 requires senders to use). */
function parseHttpDate(value: string): number | undefined {
  if (!HTTP_DATE.test(value.trim())) return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : time;
}

/** The signing time of the header form: `x-amz-date` (exactly one), else `Date`. */
export function headerSigningTime(headers: HeaderMap): SigningTime {
  const xAmzDate = headers.get('x-amz-date');
  if (xAmzDate) {
    const value = xAmzDate.length === 1 ? xAmzDate[0]!.trim() : '';
    const time = parseAmzDate(value);
    if (time === undefined) {
      throw new SigV4Error(
        'AccessDenied',
        'AWS authentication requires a valid Date or x-amz-date header',
      );
    }
    // Exactly what the client signed.
    return { amzDate: value, requestTime: time };
  }
  const date = headers.get('date');
  const time = date?.length === 1 ? parseHttpDate(date[0]!) : undefined;
  if (time === undefined) {
    throw new SigV4Error(
      'AccessDenied',
      'AWS authentication requires a valid Date or x-amz-date header',
    );
  }
  return { amzDate: formatAmzDate(time), requestTime: time };
}

/** The credential scope against this endpoint: service, then region, then date. */
export function checkScope(
  config: VerifierConfig,
  form: 'header' | 'query',
  credential: Credential,
  amzDate: string,
): void {
  if (credential.service !== config.service) {
    throw scopeError(
      form,
      `incorrect service ${quote(credential.service)}. This endpoint belongs to "${config.service}".`,
    );
  }
  const { regions } = config;
  if (!config.anyRegion && !regions.includes(credential.region)) {
    throw scopeError(
      form,
      `the region ${quote(credential.region)} is wrong; expecting "${regions[0]}"`,
      regions.length === 1 ? { Region: regions[0]! } : {},
    );
  }
  if (credential.date !== amzDate.slice(0, 8)) {
    throw scopeError(
      form,
      `Invalid credential date ${quote(credential.date)}. This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`,
    );
  }
}

/** Header form: the signing time must be within `maxSkew` of now, either way. */
export function checkSkew(now: number, time: SigningTime, maxSkew: number): void {
  if (Math.abs(now - time.requestTime) > maxSkew) {
    throw new SigV4Error('RequestTimeTooSkewed', undefined, {
      RequestTime: time.amzDate,
      ServerTime: new Date(now).toISOString(),
      MaxAllowedSkewMilliseconds: String(maxSkew),
    });
  }
}
