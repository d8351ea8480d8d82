import { xmlEscape } from './xml.js';

/**
 * Why a SigV4 request was refused. The names are S3's error codes; JSON-protocol services
 * (DynamoDB and friends) get them translated to their own `__type` by {@link sigv4ErrorResponse}.
 */
export type SigV4ErrorCode =
  | 'AccessDenied'
  | 'AuthorizationHeaderMalformed'
  | 'AuthorizationQueryParametersError'
  | 'BadDigest'
  | 'ExpiredToken'
  | 'IncompleteBody'
  | 'InternalError'
  | 'InvalidAccessKeyId'
  | 'InvalidArgument'
  | 'InvalidRequest'
  | 'InvalidToken'
  | 'MissingAuthenticationToken'
  | 'MissingContentLength'
  | 'RequestTimeTooSkewed'
  | 'ServiceUnavailable'
  | 'SignatureDoesNotMatch'
  | 'XAmzContentSHA256Mismatch';

interface CodeSpec {
  /** HTTP status of the S3 (XML) response. */
  readonly status: number;
  /** Code written in the S3 XML body, when it differs from the internal code. */
  readonly s3Code?: string;
  /** `__type` of the JSON-protocol response. */
  readonly jsonType: string;
  /** HTTP status of the JSON-protocol response. */
  readonly jsonStatus: number;
  readonly message: string;
}

/**
 * Statuses and names as AWS answers them, so that SDKs map them to the error classes their
 * users expect (S3: `SignatureDoesNotMatch`; DynamoDB: `InvalidSignatureException`, …).
 */
const CODES: Readonly<Record<SigV4ErrorCode, CodeSpec>> = {
  AccessDenied: {
    status: 403,
    jsonType: 'AccessDeniedException',
    jsonStatus: 400,
    message: 'Access Denied',
  },
  AuthorizationHeaderMalformed: {
    status: 400,
    jsonType: 'IncompleteSignatureException',
    jsonStatus: 400,
    message: 'The authorization header is malformed.',
  },
  AuthorizationQueryParametersError: {
    status: 400,
    jsonType: 'IncompleteSignatureException',
    jsonStatus: 400,
    message: 'The authorization query parameters are malformed.',
  },
  BadDigest: {
    status: 400,
    jsonType: 'BadDigest',
    jsonStatus: 400,
    message: 'The checksum you specified did not match the calculated checksum.',
  },
  ExpiredToken: {
    status: 400,
    jsonType: 'ExpiredTokenException',
    jsonStatus: 400,
    message: 'The provided token has expired.',
  },
  IncompleteBody: {
    status: 400,
    jsonType: 'SerializationException',
    jsonStatus: 400,
    message: 'The request body ended before it was complete.',
  },
  InternalError: {
    status: 500,
    jsonType: 'InternalFailure',
    jsonStatus: 500,
    message: 'We encountered an internal error. Please try again.',
  },
  InvalidAccessKeyId: {
    status: 403,
    jsonType: 'UnrecognizedClientException',
    jsonStatus: 400,
    message: 'The AWS Access Key Id you provided does not exist in our records.',
  },
  InvalidArgument: {
    status: 400,
    jsonType: 'IncompleteSignatureException',
    jsonStatus: 400,
    message: 'Invalid argument.',
  },
  InvalidRequest: {
    status: 400,
    jsonType: 'ValidationException',
    jsonStatus: 400,
    message: 'Invalid request.',
  },
  InvalidToken: {
    status: 400,
    jsonType: 'UnrecognizedClientException',
    jsonStatus: 400,
    message: 'The provided token is malformed or otherwise invalid.',
  },
  MissingAuthenticationToken: {
    status: 403,
    s3Code: 'AccessDenied',
    jsonType: 'MissingAuthenticationTokenException',
    jsonStatus: 403,
    message: 'Request is missing Authentication Token',
  },
  MissingContentLength: {
    status: 411,
    jsonType: 'MissingContentLength',
    jsonStatus: 411,
    message: 'You must provide the Content-Length HTTP header.',
  },
  RequestTimeTooSkewed: {
    status: 403,
    jsonType: 'InvalidSignatureException',
    jsonStatus: 400,
    message: 'The difference between the request time and the current time is too large.',
  },
  ServiceUnavailable: {
    status: 503,
    jsonType: 'ServiceUnavailable',
    jsonStatus: 503,
    message: 'Please reduce your request rate.',
  },
  SignatureDoesNotMatch: {
    status: 403,
    jsonType: 'InvalidSignatureException',
    jsonStatus: 400,
    message:
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
  },
  XAmzContentSHA256Mismatch: {
    status: 400,
    jsonType: 'InvalidSignatureException',
    jsonStatus: 400,
    message: "The provided 'x-amz-content-sha256' header does not match what was computed.",
  },
};

/** Every code this package produces, with its S3 status. */
export const SIGV4_ERROR_STATUS: Readonly<Record<SigV4ErrorCode, number>> = Object.freeze(
  Object.fromEntries(Object.entries(CODES).map(([code, spec]) => [code, spec.status])) as Record<
    SigV4ErrorCode,
    number
  >,
);

/**
 * A refused SigV4 request. `details` holds extra, non-secret XML/JSON fields AWS sends with some
 * codes (e.g. `Region` for a wrong region, `ServerTime` for a skewed clock). Neither the message
 * nor the details ever contain a secret, a session token or a signature we computed.
 */
export class SigV4Error extends Error {
  override readonly name = 'SigV4Error';
  readonly code: SigV4ErrorCode;
  /** HTTP status of the S3 answer. JSON services may use another; see {@link sigv4ErrorResponse}. */
  readonly status: number;
  readonly details: Readonly<Record<string, string>>;

  constructor(code: SigV4ErrorCode, message?: string, details: Record<string, string> = {}) {
    const spec = CODES[code];
    super(message ?? spec.message);
    this.code = code;
    this.status = spec.status;
    this.details = details;
  }
}

/**
 * Echoes a client-supplied value in an error message without letting it grow or carry control
 * characters: printable ASCII only (anything else becomes `?`), at most 64 characters, quoted.
 */
export function quote(value: string): string {
  const clean = value.replace(/[^\x20-\x7e]/g, '?');
  return `"${clean.length > 64 ? `${clean.slice(0, 64)}…` : clean}"`;
}

/** Wire format of an error body. */
export type SigV4ErrorProtocol = 'xml' | 'json';

/** Options of {@link sigv4ErrorResponse}. */
export interface SigV4ErrorResponseOptions {
  /**
   * `xml` writes S3's `<Error>` document; `json` writes `{"__type": …, "message": …}` with the
   * JSON-protocol exception names (DynamoDB, Kinesis, …). Default: `xml`.
   */
  protocol?: SigV4ErrorProtocol;
  /** Request id echoed in the body and the `x-amz-request-id`/`x-amzn-RequestId` header. Default: random. */
  requestId?: string;
  /** `<Resource>` of the XML body (usually the request path). Default: omitted. */
  resource?: string;
  /** `HEAD` answers carry no body, as S3 does. Default: `GET`. */
  method?: string;
  /** Time written to the `Date` header, in epoch ms. SDKs correct their clock skew from it. Default: `Date.now()`. */
  now?: number;
}

/** A ready-to-send error answer. */
export interface SigV4ErrorResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** A short random request id (not a secret, just a correlation id). */
function randomRequestId(): string {
  return crypto.randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase();
}

/**
 * Builds the response AWS would send for `error`: status, headers (always a `Date`, from which
 * AWS SDKs correct their clock skew) and an S3 XML or JSON `__type` body. Anything that is not a
 * {@link SigV4Error} becomes `InternalError` without echoing its message.
 */
export function sigv4ErrorResponse(
  error: unknown,
  options: SigV4ErrorResponseOptions = {},
): SigV4ErrorResponse {
  const failure = error instanceof SigV4Error ? error : new SigV4Error('InternalError');
  const spec = CODES[failure.code];
  const requestId = options.requestId ?? randomRequestId();
  const date = new Date(options.now ?? Date.now()).toUTCString();
  const noBody = (options.method ?? 'GET').toUpperCase() === 'HEAD';
  if (options.protocol === 'json') {
    const body = noBody
      ? ''
      : JSON.stringify({ __type: spec.jsonType, message: failure.message, ...failure.details });
    return {
      status: spec.jsonStatus,
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        date,
        'x-amzn-requestid': requestId,
        'x-amzn-errortype': spec.jsonType,
      },
      body,
    };
  }
  let xml = '';
  if (!noBody) {
    const fields: string[] = [
      `<Code>${spec.s3Code ?? failure.code}</Code>`,
      `<Message>${xmlEscape(failure.message)}</Message>`,
    ];
    for (const [name, value] of Object.entries(failure.details)) {
      if (/^[A-Za-z][A-Za-z0-9-]*$/.test(name))
        fields.push(`<${name}>${xmlEscape(value)}</${name}>`);
    }
    if (options.resource !== undefined)
      fields.push(`<Resource>${xmlEscape(options.resource)}</Resource>`);
    fields.push(`<RequestId>${xmlEscape(requestId)}</RequestId>`);
    xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${fields.join('')}</Error>`;
  }
  return {
    status: spec.status,
    headers: { 'content-type': 'application/xml', date, 'x-amz-request-id': requestId },
    body: xml,
  };
}
