// The `/s3` endpoint, free of any framework: a path-style S3 subset (PutObject, GetObject,
// ListObjectsV2) on an in-memory bucket. Each app only verifies SigV4 with its adapter's
// `sigv4Auth` and moves requests in and responses out.
import { createHash } from 'node:crypto';
import type { RequestAuth } from '@authcache/core';
import { SigV4Error, sigv4ErrorResponse } from '@authcache/sigv4';

/** Where the S3 endpoint is mounted. */
export const S3_MOUNT = '/s3';
/** Signing name and region the S3 endpoint accepts. */
export const S3_SERVICE = 's3';
export const S3_REGION = 'us-east-1';
/** Largest object the in-memory bucket takes, bytes (16 MiB). */
export const S3_MAX_OBJECT_SIZE = 16 * 1024 * 1024;

/** An S3 answer for the framework to send. */
export interface S3Response {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** XML, an object's bytes, or nothing. */
  readonly body: string | Buffer | null;
}

/** A request that `sigv4Auth` accepted. */
export interface S3Request {
  readonly method: string;
  /** The raw request target, mount included (`/s3/bucket/key?…`), as the client signed it. */
  readonly rawUrl: string;
  /** The verified caller (`req.auth`, `ctx.state.auth`, `c.var.auth`). */
  readonly auth: RequestAuth;
  /**
   * The body as the signature vouches for it (`verifiedNodeBody(req, req.sigv4)` or
   * `verifiedWebBody(c.req.raw.body, c.var.sigv4)`); called only for uploads. Errors with a
   * `SigV4Error` when the body does not match its signature.
   */
  readonly body: () => AsyncIterable<Uint8Array>;
}

interface StoredObject {
  readonly body: Buffer;
  readonly etag: string;
  readonly lastModified: Date;
  readonly owner: string;
}

/** The in-memory store behind `/s3`: objects by bucket, then key. Buckets appear on first write. */
export interface S3Bucket {
  handle(request: S3Request): Promise<S3Response>;
  /** Number of objects held, over every bucket. */
  readonly size: number;
}

const XML = { 'content-type': 'application/xml' };

function xmlEscape(value: string): string {
  return value.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function s3Error(status: number, code: string, message: string, resource: string): S3Response {
  return {
    status,
    headers: XML,
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message><Resource>${xmlEscape(resource)}</Resource></Error>`,
  };
}

async function readLimited(body: AsyncIterable<Uint8Array>, limit: number): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new RangeError('object too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Splits `/s3/<bucket>/<key…>?<query>` into its decoded parts; `null` when outside the mount. */
function parseTarget(rawUrl: string) {
  const queryAt = rawUrl.indexOf('?');
  const rawPath = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
  if (rawPath !== S3_MOUNT && !rawPath.startsWith(`${S3_MOUNT}/`)) return null;
  const rest = rawPath.slice(S3_MOUNT.length + 1);
  const slash = rest.indexOf('/');
  try {
    return {
      path: decodeURIComponent(rawPath),
      bucket: decodeURIComponent(slash === -1 ? rest : rest.slice(0, slash)),
      key: slash === -1 ? '' : decodeURIComponent(rest.slice(slash + 1)),
      query: new URLSearchParams(queryAt === -1 ? '' : rawUrl.slice(queryAt + 1)),
    };
  } catch {
    return undefined;
  }
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Creates an empty in-memory bucket store. */
export function createS3Bucket(options: { maxObjectSize?: number } = {}): S3Bucket {
  const maxObjectSize = options.maxObjectSize ?? S3_MAX_OBJECT_SIZE;
  const buckets = new Map<string, Map<string, StoredObject>>();

  async function put(bucket: string, key: string, request: S3Request, path: string) {
    let body: Buffer;
    try {
      body = await readLimited(request.body(), maxObjectSize);
    } catch (error) {
      if (error instanceof RangeError) {
        return s3Error(
          400,
          'EntityTooLarge',
          'Your proposed upload exceeds the maximum allowed size.',
          path,
        );
      }
      // A body that does not match its signature, a bad chunk or checksum: answered as AWS does.
      const answer = sigv4ErrorResponse(
        error instanceof SigV4Error ? error : new SigV4Error('IncompleteBody', 'Bad body.'),
        { method: request.method, resource: path },
      );
      return { status: answer.status, headers: { ...answer.headers }, body: answer.body };
    }
    const etag = `"${createHash('md5').update(body).digest('hex')}"`;
    const objects = buckets.get(bucket) ?? new Map<string, StoredObject>();
    buckets.set(bucket, objects);
    objects.set(key, { body, etag, lastModified: new Date(), owner: request.auth.subject });
    return { status: 200, headers: { etag }, body: null };
  }

  function get(bucket: string, key: string, path: string): S3Response {
    const object = buckets.get(bucket)?.get(key);
    if (!object) return s3Error(404, 'NoSuchKey', 'The specified key does not exist.', path);
    return {
      status: 200,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(object.body.length),
        etag: object.etag,
        'last-modified': object.lastModified.toUTCString(),
        'x-amz-meta-owner': object.owner,
      },
      body: object.body,
    };
  }

  function list(bucket: string, query: URLSearchParams): S3Response {
    const prefix = query.get('prefix') ?? '';
    const delimiter = query.get('delimiter') ?? '';
    const maxKeys = Math.min(Math.max(Number(query.get('max-keys') ?? 1000) || 0, 0), 1000);
    const after = query.get('continuation-token') ?? query.get('start-after') ?? '';
    // `encoding-type=url` (the AWS CLI asks for it): keys and prefixes come back URL-encoded.
    const encode =
      query.get('encoding-type') === 'url'
        ? (value: string) => encodeURIComponent(value).replace(/%2F/g, '/')
        : (value: string) => value;
    const objects = buckets.get(bucket) ?? new Map<string, StoredObject>();
    // Keys under `prefix`, those with `delimiter` after it rolled up into common prefixes.
    const entries = new Set<string>();
    const commonPrefixes = new Set<string>();
    for (const key of objects.keys()) {
      if (!key.startsWith(prefix)) continue;
      const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
      if (cut === -1) entries.add(key);
      else commonPrefixes.add(key.slice(0, cut + delimiter.length));
    }
    for (const common of commonPrefixes) entries.add(common);
    const sorted = [...entries].filter((entry) => entry > after).sort();
    const page = sorted.slice(0, maxKeys);
    const truncated = sorted.length > page.length;
    const xml = page
      .map((entry) => {
        const o = objects.get(entry);
        if (commonPrefixes.has(entry) || !o) {
          return `<CommonPrefixes><Prefix>${xmlEscape(encode(entry))}</Prefix></CommonPrefixes>`;
        }
        return `<Contents><Key>${xmlEscape(encode(entry))}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${xmlEscape(o.etag)}</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
      })
      .join('');
    const next = truncated
      ? `<NextContinuationToken>${xmlEscape(page.at(-1)!)}</NextContinuationToken>`
      : '';
    const echo = (name: string, value: string) =>
      value ? `<${name}>${xmlEscape(encode(value))}</${name}>` : '';
    return {
      status: 200,
      headers: XML,
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${xmlEscape(bucket)}</Name><Prefix>${xmlEscape(encode(prefix))}</Prefix>${echo('Delimiter', delimiter)}${query.get('encoding-type') === 'url' ? '<EncodingType>url</EncodingType>' : ''}<KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${next}${xml}</ListBucketResult>`,
    };
  }

  return {
    get size() {
      let n = 0;
      for (const objects of buckets.values()) n += objects.size;
      return n;
    },
    async handle(request) {
      const target = parseTarget(request.rawUrl);
      if (target === null) return s3Error(404, 'NoSuchKey', 'Not found.', request.rawUrl);
      if (target === undefined) {
        return s3Error(400, 'InvalidURI', "Couldn't parse the specified URI.", S3_MOUNT);
      }
      if (!BUCKET_NAME.test(target.bucket)) {
        return s3Error(400, 'InvalidBucketName', 'The specified bucket is not valid.', S3_MOUNT);
      }
      const { bucket, key, path, query } = target;
      if (key && request.method === 'PUT') return put(bucket, key, request, path);
      if (key && (request.method === 'GET' || request.method === 'HEAD')) {
        return get(bucket, key, path);
      }
      if (!key && request.method === 'GET' && query.get('list-type') === '2') {
        return list(bucket, query);
      }
      return s3Error(
        405,
        'MethodNotAllowed',
        'The specified method is not allowed against this resource.',
        path,
      );
    },
  };
}
