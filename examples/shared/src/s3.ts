// The `/s3` endpoint, free of any framework: a path-style S3 subset (objects with ranged reads,
// listings v1 and v2, multipart uploads) on an in-memory bucket. Each app only verifies SigV4 with
// its adapter's `sigv4Auth` and moves requests in and responses out.
import { createHash, randomBytes } from 'node:crypto';
import type { RequestAuth } from '@authcache/core';
import { SigV4Error, sigv4ErrorResponse, xmlEscape } from '@authcache/sigv4';

/** Where the S3 endpoint is mounted. */
export const S3_MOUNT = '/s3';
/** Signing name and region the S3 endpoint accepts. */
export const S3_SERVICE = 's3';
export const S3_REGION = 'us-east-1';
/**
 * Largest object the in-memory bucket takes, bytes (64 MiB): a single PutObject, one part, and a
 * whole multipart upload alike.
 */
export const S3_MAX_OBJECT_SIZE = 64 * 1024 * 1024;
/** Smallest part of a multipart upload, but for the last one (5 MiB, as S3). */
export const S3_MIN_PART_SIZE = 5 * 1024 * 1024;
/** Highest part number (as S3). */
const MAX_PART_NUMBER = 10_000;
/** Largest CompleteMultipartUpload XML body read. */
const MAX_XML_BODY = 1024 * 1024;

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
  /**
   * The raw request target, mount included (`/s3/bucket/key?…`), as the client sent and signed
   * it: no dot-segment normalisation (`a/./b/../c` is a key of its own in S3).
   */
  readonly rawUrl: string;
  /** Request headers, lower-case names (only `range` is read). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
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

interface StoredPart {
  readonly body: Buffer;
  /** MD5 of the part, hex, without quotes. */
  readonly md5: string;
  readonly lastModified: Date;
}

interface Upload {
  readonly bucket: string;
  readonly key: string;
  readonly owner: string;
  readonly initiated: Date;
  readonly parts: Map<number, StoredPart>;
}

/** The in-memory store behind `/s3`: objects by bucket, then key. Buckets appear on first write. */
export interface S3Bucket {
  handle(request: S3Request): Promise<S3Response>;
  /** Number of objects held, over every bucket. */
  readonly size: number;
  /** Number of multipart uploads started and neither completed nor aborted. */
  readonly uploads: number;
}

/** Options of {@link createS3Bucket}. */
export interface S3BucketOptions {
  /** Largest object (and part) in bytes. Default: {@link S3_MAX_OBJECT_SIZE} (64 MiB). */
  maxObjectSize?: number;
  /** Smallest part of a multipart upload but the last. Default: {@link S3_MIN_PART_SIZE} (5 MiB). */
  minPartSize?: number;
  /**
   * Path the bucket answers under: `<mount>/<bucket>/<key>`; `''` serves buckets at the root
   * (`/<bucket>/<key>`, as the SigV4 package's SDK scenario mounts it). Default: {@link S3_MOUNT}.
   */
  mount?: string;
  /**
   * Clock (epoch milliseconds) for `Last-Modified` and the `Date` of body-signature errors.
   * Default: `Date.now`.
   */
  clock?: () => number;
}

const XML = { 'content-type': 'application/xml' };
const XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n';
const XMLNS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';

function xmlUnescape(value: string): string {
  const named: Record<string, string> = { quot: '"', amp: '&', lt: '<', gt: '>', apos: "'" };
  return value.replace(/&(#x[0-9a-f]+|#\d+|quot|amp|lt|gt|apos);/gi, (_, entity: string) => {
    if (entity[0] !== '#') return named[entity.toLowerCase()]!;
    const code =
      entity[1] === 'x' || entity[1] === 'X'
        ? Number.parseInt(entity.slice(2), 16)
        : Number(entity.slice(1));
    return String.fromCodePoint(code);
  });
}

function s3Error(
  status: number,
  code: string,
  message: string,
  resource: string,
  extra: { headers?: Record<string, string>; xml?: string } = {},
): S3Response {
  return {
    status,
    headers: { ...XML, ...extra.headers },
    body: `${XML_HEAD}<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message><Resource>${xmlEscape(resource)}</Resource>${extra.xml ?? ''}</Error>`,
  };
}

function xmlResponse(body: string): S3Response {
  return { status: 200, headers: XML, body: `${XML_HEAD}${body}` };
}

async function readLimited(body: AsyncIterable<Uint8Array>, limit: number): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new RangeError('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Splits `<mount>/<bucket>/<key…>?<query>` into its decoded parts; `null` when outside the mount. */
function parseTarget(rawUrl: string, mount: string) {
  const queryAt = rawUrl.indexOf('?');
  const rawPath = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
  if ((mount === '' || rawPath !== mount) && !rawPath.startsWith(`${mount}/`)) return null;
  const rest = rawPath.slice(mount.length + 1);
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

/** A `Range` header against an object of `size` bytes, as S3 reads it. */
export type ByteRange =
  /** No range, or one S3 ignores (malformed, several ranges): the whole object, 200. */
  | { kind: 'whole' }
  /** One satisfiable range, inclusive: 206. */
  | { kind: 'partial'; start: number; end: number }
  /** One well-formed range past the end: 416 `InvalidRange`. */
  | { kind: 'unsatisfiable' };

/**
 * Reads a `Range` header as S3 does: one `bytes=a-b`, `bytes=a-` or `bytes=-n` (suffix) range;
 * `b` past the end is cut to the end, a suffix longer than the object is the whole object (206).
 * A first byte at or past the end, or an empty suffix (`-0`), is unsatisfiable. A header S3 does
 * not understand — malformed, `b < a`, another unit, or several ranges (`bytes=0-1,5-6`; S3 does
 * not serve multipart/byteranges) — is ignored: the whole object, 200.
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (header === undefined) return { kind: 'whole' };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match || (match[1] === '' && match[2] === '')) return { kind: 'whole' };
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(size - suffix, 0), end: size - 1 };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return { kind: 'whole' };
  if (start >= size) return { kind: 'unsatisfiable' };
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  return { kind: 'partial', start, end };
}

function header(request: S3Request, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const md5 = (data: Uint8Array) => createHash('md5').update(data).digest();

/** Creates an empty in-memory bucket store. */
export function createS3Bucket(options: S3BucketOptions = {}): S3Bucket {
  const maxObjectSize = options.maxObjectSize ?? S3_MAX_OBJECT_SIZE;
  const minPartSize = options.minPartSize ?? S3_MIN_PART_SIZE;
  const mount = options.mount ?? S3_MOUNT;
  const clock = options.clock ?? Date.now;
  const now = () => new Date(clock());
  const buckets = new Map<string, Map<string, StoredObject>>();
  const uploads = new Map<string, Upload>();

  /** Reads the verified body, or the answer to send instead (too large, bad signature). */
  async function readBody(
    request: S3Request,
    path: string,
    limit: number,
  ): Promise<Buffer | S3Response> {
    try {
      return await readLimited(request.body(), limit);
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
        { method: request.method, resource: path, now: clock() },
      );
      return { status: answer.status, headers: { ...answer.headers }, body: answer.body };
    }
  }

  function store(bucket: string, key: string, object: StoredObject) {
    const objects = buckets.get(bucket) ?? new Map<string, StoredObject>();
    buckets.set(bucket, objects);
    objects.set(key, object);
  }

  async function put(bucket: string, key: string, request: S3Request, path: string) {
    const body = await readBody(request, path, maxObjectSize);
    if (!Buffer.isBuffer(body)) return body;
    const etag = `"${md5(body).toString('hex')}"`;
    store(bucket, key, { body, etag, lastModified: now(), owner: request.auth.subject });
    return { status: 200, headers: { etag }, body: null };
  }

  function get(bucket: string, key: string, request: S3Request, path: string): S3Response {
    const object = buckets.get(bucket)?.get(key);
    if (!object) return s3Error(404, 'NoSuchKey', 'The specified key does not exist.', path);
    const size = object.body.length;
    const headers: Record<string, string> = {
      'accept-ranges': 'bytes',
      'content-type': 'application/octet-stream',
      etag: object.etag,
      'last-modified': object.lastModified.toUTCString(),
      'x-amz-meta-owner': object.owner,
    };
    const range = parseRange(header(request, 'range'), size);
    if (range.kind === 'unsatisfiable') {
      return s3Error(416, 'InvalidRange', 'The requested range is not satisfiable', path, {
        headers: { 'accept-ranges': 'bytes', 'content-range': `bytes */${size}` },
        xml: `<RangeRequested>${xmlEscape(header(request, 'range') ?? '')}</RangeRequested><ActualObjectSize>${size}</ActualObjectSize>`,
      });
    }
    if (range.kind === 'partial') {
      const body = object.body.subarray(range.start, range.end + 1);
      return {
        status: 206,
        headers: {
          ...headers,
          'content-range': `bytes ${range.start}-${range.end}/${size}`,
          'content-length': String(body.length),
        },
        body,
      };
    }
    return {
      status: 200,
      headers: { ...headers, 'content-length': String(size) },
      body: object.body,
    };
  }

  function remove(bucket: string, key: string): S3Response {
    // As S3 (unversioned): 204 whether the key was there or not.
    buckets.get(bucket)?.delete(key);
    return { status: 204, headers: {}, body: null };
  }

  function list(bucket: string, query: URLSearchParams): S3Response {
    const v2 = query.get('list-type') === '2';
    const prefix = query.get('prefix') ?? '';
    const delimiter = query.get('delimiter') ?? '';
    const maxKeys = Math.min(Math.max(Number(query.get('max-keys') ?? 1000) || 0, 0), 1000);
    const marker = query.get('marker') ?? '';
    const after = v2 ? (query.get('continuation-token') ?? query.get('start-after') ?? '') : marker;
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
    const echo = (name: string, value: string) =>
      value ? `<${name}>${xmlEscape(encode(value))}</${name}>` : '';
    const common = `<Name>${xmlEscape(bucket)}</Name><Prefix>${xmlEscape(encode(prefix))}</Prefix>`;
    const encodingType =
      query.get('encoding-type') === 'url' ? '<EncodingType>url</EncodingType>' : '';
    if (v2) {
      const next = truncated
        ? `<NextContinuationToken>${xmlEscape(page.at(-1)!)}</NextContinuationToken>`
        : '';
      return xmlResponse(
        `<ListBucketResult ${XMLNS}>${common}${echo('Delimiter', delimiter)}${encodingType}<KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${next}${xml}</ListBucketResult>`,
      );
    }
    // ListObjects (v1): `Marker` in, `NextMarker` out only with a delimiter (S3 leaves it out
    // otherwise; clients then continue from the last key).
    const nextMarker =
      truncated && delimiter ? `<NextMarker>${xmlEscape(encode(page.at(-1)!))}</NextMarker>` : '';
    return xmlResponse(
      `<ListBucketResult ${XMLNS}>${common}<Marker>${xmlEscape(encode(marker))}</Marker>${nextMarker}<MaxKeys>${maxKeys}</MaxKeys>${echo('Delimiter', delimiter)}${encodingType}<IsTruncated>${truncated}</IsTruncated>${xml}</ListBucketResult>`,
    );
  }

  // Multipart uploads: parts are held apart until CompleteMultipartUpload joins them.

  const noSuchUpload = (path: string) =>
    s3Error(
      404,
      'NoSuchUpload',
      'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
      path,
    );

  function findUpload(
    uploadId: string,
    bucket: string,
    key: string,
    path: string,
  ): Upload | S3Response {
    const upload = uploads.get(uploadId);
    if (upload && upload.bucket === bucket && upload.key === key) return upload;
    return noSuchUpload(path);
  }

  function createUpload(bucket: string, key: string, request: S3Request): S3Response {
    const uploadId = randomBytes(24).toString('base64url');
    uploads.set(uploadId, {
      bucket,
      key,
      owner: request.auth.subject,
      initiated: now(),
      parts: new Map(),
    });
    return xmlResponse(
      `<InitiateMultipartUploadResult ${XMLNS}><Bucket>${xmlEscape(bucket)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`,
    );
  }

  async function uploadPart(
    bucket: string,
    key: string,
    query: URLSearchParams,
    request: S3Request,
    path: string,
  ): Promise<S3Response> {
    const found = findUpload(query.get('uploadId')!, bucket, key, path);
    if (!('parts' in found)) return found;
    const partNumber = Number(query.get('partNumber'));
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
      return s3Error(
        400,
        'InvalidArgument',
        `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`,
        path,
      );
    }
    // The parts held for one upload never add up past the largest object.
    let held = 0;
    for (const [n, part] of found.parts) if (n !== partNumber) held += part.body.length;
    const body = await readBody(request, path, maxObjectSize - held);
    if (!Buffer.isBuffer(body)) return body;
    // Aborted or completed while the body was read: the part has nowhere to go.
    if (uploads.get(query.get('uploadId')!) !== found) return noSuchUpload(path);
    const hex = md5(body).toString('hex');
    found.parts.set(partNumber, { body, md5: hex, lastModified: now() });
    return { status: 200, headers: { etag: `"${hex}"` }, body: null };
  }

  async function completeUpload(
    bucket: string,
    key: string,
    uploadId: string,
    request: S3Request,
    path: string,
  ): Promise<S3Response> {
    const found = findUpload(uploadId, bucket, key, path);
    if (!('parts' in found)) return found;
    const body = await readBody(request, path, MAX_XML_BODY);
    if (!Buffer.isBuffer(body)) return body;
    const malformed = () =>
      s3Error(
        400,
        'MalformedXML',
        'The XML you provided was not well-formed or did not validate against our published schema.',
        path,
      );
    const xml = body.toString('utf8');
    if (!/<CompleteMultipartUpload[\s>]/.test(xml)) return malformed();
    const listed: { partNumber: number; etag: string }[] = [];
    for (const [, inner] of xml.matchAll(/<Part>([\s\S]*?)<\/Part>/g)) {
      const number = /<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(inner!)?.[1];
      const etag = /<ETag>([\s\S]*?)<\/ETag>/.exec(inner!)?.[1];
      if (number === undefined || etag === undefined) return malformed();
      listed.push({
        partNumber: Number(number),
        etag: xmlUnescape(etag).trim().replace(/^"|"$/g, ''),
      });
    }
    if (listed.length === 0) return malformed();
    for (let i = 1; i < listed.length; i++) {
      if (listed[i]!.partNumber <= listed[i - 1]!.partNumber) {
        return s3Error(
          400,
          'InvalidPartOrder',
          'The list of parts was not in ascending order. Parts must be ordered by part number.',
          path,
        );
      }
    }
    const parts: StoredPart[] = [];
    for (const { partNumber, etag } of listed) {
      const part = found.parts.get(partNumber);
      if (!part || part.md5 !== etag.toLowerCase()) {
        return s3Error(
          400,
          'InvalidPart',
          "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
          path,
          { xml: `<PartNumber>${partNumber}</PartNumber><ETag>${xmlEscape(etag)}</ETag>` },
        );
      }
      parts.push(part);
    }
    for (let i = 0; i < parts.length - 1; i++) {
      if (parts[i]!.body.length < minPartSize) {
        return s3Error(
          400,
          'EntityTooSmall',
          'Your proposed upload is smaller than the minimum allowed object size.',
          path,
          {
            xml: `<ProposedSize>${parts[i]!.body.length}</ProposedSize><MinSizeAllowed>${minPartSize}</MinSizeAllowed><PartNumber>${listed[i]!.partNumber}</PartNumber>`,
          },
        );
      }
    }
    const object = Buffer.concat(parts.map((part) => part.body));
    if (object.length > maxObjectSize) {
      return s3Error(
        400,
        'EntityTooLarge',
        'Your proposed upload exceeds the maximum allowed size.',
        path,
      );
    }
    // As S3: the MD5 of the parts' binary MD5s, then `-<number of parts>`.
    const digest = md5(Buffer.concat(parts.map((part) => Buffer.from(part.md5, 'hex'))));
    const etag = `"${digest.toString('hex')}-${parts.length}"`;
    uploads.delete(uploadId);
    store(bucket, key, { body: object, etag, lastModified: now(), owner: found.owner });
    return xmlResponse(
      `<CompleteMultipartUploadResult ${XMLNS}><Location>${xmlEscape(path)}</Location><Bucket>${xmlEscape(bucket)}</Bucket><Key>${xmlEscape(key)}</Key><ETag>${xmlEscape(etag)}</ETag></CompleteMultipartUploadResult>`,
    );
  }

  function abortUpload(bucket: string, key: string, uploadId: string, path: string): S3Response {
    const found = findUpload(uploadId, bucket, key, path);
    if (!('parts' in found)) return found;
    uploads.delete(uploadId);
    return { status: 204, headers: {}, body: null };
  }

  function listParts(
    bucket: string,
    key: string,
    query: URLSearchParams,
    path: string,
  ): S3Response {
    const uploadId = query.get('uploadId')!;
    const found = findUpload(uploadId, bucket, key, path);
    if (!('parts' in found)) return found;
    const maxParts = Math.min(Math.max(Number(query.get('max-parts') ?? 1000) || 0, 0), 1000);
    const marker = Number(query.get('part-number-marker') ?? 0) || 0;
    const numbers = [...found.parts.keys()].filter((n) => n > marker).sort((a, b) => a - b);
    const page = numbers.slice(0, maxParts);
    const truncated = numbers.length > page.length;
    const parts = page
      .map((n) => {
        const part = found.parts.get(n)!;
        return `<Part><PartNumber>${n}</PartNumber><LastModified>${part.lastModified.toISOString()}</LastModified><ETag>"${part.md5}"</ETag><Size>${part.body.length}</Size></Part>`;
      })
      .join('');
    const next =
      page.length > 0 ? `<NextPartNumberMarker>${page.at(-1)}</NextPartNumberMarker>` : '';
    return xmlResponse(
      `<ListPartsResult ${XMLNS}><Bucket>${xmlEscape(bucket)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${uploadId}</UploadId><PartNumberMarker>${marker}</PartNumberMarker>${next}<MaxParts>${maxParts}</MaxParts><IsTruncated>${truncated}</IsTruncated><StorageClass>STANDARD</StorageClass>${parts}</ListPartsResult>`,
    );
  }

  return {
    get size() {
      let n = 0;
      for (const objects of buckets.values()) n += objects.size;
      return n;
    },
    get uploads() {
      return uploads.size;
    },
    async handle(request) {
      const target = parseTarget(request.rawUrl, mount);
      if (target === null) return s3Error(404, 'NoSuchKey', 'Not found.', request.rawUrl);
      if (target === undefined) {
        return s3Error(400, 'InvalidURI', "Couldn't parse the specified URI.", mount || '/');
      }
      if (!BUCKET_NAME.test(target.bucket)) {
        return s3Error(
          400,
          'InvalidBucketName',
          'The specified bucket is not valid.',
          mount || '/',
        );
      }
      const { bucket, key, path, query } = target;
      const method = request.method;
      const uploadId = query.get('uploadId');
      if (key && uploadId !== null) {
        if (method === 'PUT' && query.has('partNumber')) {
          return uploadPart(bucket, key, query, request, path);
        }
        if (method === 'POST') return completeUpload(bucket, key, uploadId, request, path);
        if (method === 'DELETE') return abortUpload(bucket, key, uploadId, path);
        if (method === 'GET') return listParts(bucket, key, query, path);
      } else if (key) {
        if (method === 'POST' && query.has('uploads')) return createUpload(bucket, key, request);
        if (method === 'PUT') return put(bucket, key, request, path);
        if (method === 'GET' || method === 'HEAD') return get(bucket, key, request, path);
        if (method === 'DELETE') return remove(bucket, key);
      } else if (method === 'GET') {
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
