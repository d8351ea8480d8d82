import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import type { TestHeaders, TestResponse } from './run.js';

/**
 * One request over real HTTP with node's client, which sends an array header value as several
 * header lines. For harnesses that serve the app on a port themselves (Hono on
 * `@hono/node-server`); supertest does the same for express and koa.
 */
export function requestOverHttp(
  origin: string,
  method: string,
  path: string,
  headers: TestHeaders,
): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      new URL(path, origin),
      { method, headers: headers as OutgoingHttpHeaders, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('error', reject);
        res.on('end', () => {
          const flat: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) {
            if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
          }
          resolve({ status: res.statusCode ?? 0, headers: flat, text });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}
