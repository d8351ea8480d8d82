// Stage 0 of verification (order in verify.ts): reads the request as it arrived. Checks that it
// has a method and a path, folds the headers into one map (repeated headers kept apart), splits
// the raw target into path and query, and decides the auth form: an `Authorization` header or a
// presigned query (both at once, or neither, is refused here).
import { type HeaderMap, parseQuery, type QueryParameter } from './canonical.js';
import { SigV4Error } from './errors.js';
import type { SigV4Headers, SigV4Request } from './verify-types.js';

/** A request split into what the later stages read. */
export interface RequestParts {
  readonly headers: HeaderMap;
  /** The raw path, without scheme, host, query or fragment; still percent-encoded. */
  readonly rawPath: string;
  readonly params: readonly QueryParameter[];
  readonly form: 'header' | 'query';
  /** Every `Authorization` header value (header form only). */
  readonly authorization: readonly string[] | undefined;
}

function toHeaderMap(headers: SigV4Headers): Map<string, string[]> {
  const map = new Map<string, string[]>();
  const add = (name: string, value: string) => {
    const key = name.toLowerCase();
    const values = map.get(key);
    if (values) values.push(value);
    else map.set(key, [value]);
  };
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const [name, value] of headers as unknown as Array<[string, string]>)
        add(name, String(value));
    } else {
      for (let i = 0; i + 1 < headers.length; i += 2)
        add(String(headers[i]), String(headers[i + 1]));
    }
  } else if (
    headers !== null &&
    typeof headers === 'object' &&
    typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function'
  ) {
    for (const [name, value] of headers as Iterable<readonly [string, string]>)
      add(name, String(value));
  } else if (headers !== null && typeof headers === 'object') {
    for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
      if (value === undefined || value === null) continue;
      if (Array.isArray(value)) for (const v of value) add(name, String(v));
      else add(name, String(value));
    }
  }
  // HTTP/2 carries the host in the :authority pseudo-header.
  const authority = map.get(':authority');
  if (!map.has('host') && authority) map.set('host', authority);
  return map;
}

/** Reads `request` into {@link RequestParts}; throws the {@link SigV4Error} of a request without usable auth. */
export function readRequest(request: SigV4Request): RequestParts {
  if (!request || typeof request.method !== 'string' || typeof request.rawPath !== 'string') {
    throw new SigV4Error('InvalidRequest', 'The request has no method or path.');
  }
  const headers = toHeaderMap(request.headers ?? {});
  let target = request.rawPath;
  const absolute = /^https?:\/\/[^/?#]*/i.exec(target);
  if (absolute) target = target.slice(absolute[0].length) || '/';
  const hash = target.indexOf('#');
  if (hash !== -1) target = target.slice(0, hash);
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const params = parseQuery(q === -1 ? '' : target.slice(q + 1));

  const authorization = headers.get('authorization');
  const queryAuth = params.some(
    (p) =>
      p.name === 'X-Amz-Algorithm' || p.name === 'X-Amz-Credential' || p.name === 'X-Amz-Signature',
  );
  if (authorization && queryAuth) {
    throw new SigV4Error(
      'InvalidArgument',
      'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.',
      { ArgumentName: 'Authorization' },
    );
  }
  if (!authorization && !queryAuth) throw new SigV4Error('MissingAuthenticationToken');
  return { headers, rawPath, params, form: authorization ? 'header' : 'query', authorization };
}
