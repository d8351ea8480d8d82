import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readAndRestoreNodeBody, readNodeBody } from '../src/index.js';

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

/** A server whose handler's result (or error message) is the response body. */
async function serve(handler: (req: IncomingMessage) => Promise<unknown>): Promise<string> {
  const server = createServer((req, res) => {
    handler(req).then(
      (value) => res.end(JSON.stringify(value)),
      (error: Error) => res.writeHead(500).end(error.message),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  close = () => new Promise((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('readAndRestoreNodeBody', () => {
  it('reads the body and leaves it for the next reader, whatever its size', async () => {
    const url = await serve(async (req) => {
      const first = await readAndRestoreNodeBody(req, 10_000_000);
      const second = await readNodeBody(req, 10_000_000);
      return { first: first.length, same: first.equals(second) };
    });
    for (const body of [undefined, '', 'x', 'y'.repeat(1_000_000)]) {
      const response = await fetch(url, body === undefined ? {} : { method: 'POST', body });
      expect(await response.json()).toEqual({ first: body?.length ?? 0, same: true });
    }
  });

  it('refuses bodies over the limit with InvalidRequest', async () => {
    const url = await serve(async (req) => {
      try {
        return await readAndRestoreNodeBody(req, 10);
      } catch (error) {
        return (error as { code?: string }).code;
      }
    });
    expect(await (await fetch(url, { method: 'POST', body: 'x'.repeat(11) })).json()).toBe(
      'InvalidRequest',
    );
  });

  it('uses req.rawBody when a parser consumed the stream first, and says so otherwise', async () => {
    const url = await serve(async (req) => {
      const consumed = await readNodeBody(req);
      const error = await readAndRestoreNodeBody(req).catch((e: Error) => e.message);
      (req as IncomingMessage & { rawBody?: Buffer }).rawBody = consumed;
      return { error, raw: (await readAndRestoreNodeBody(req)).toString() };
    });
    const answer = (await (
      await fetch(url, { method: 'POST', body: 'parsed already' })
    ).json()) as {
      error: string;
      raw: string;
    };
    expect(answer.error).toMatch(/consumed before SigV4 verification/);
    expect(answer.raw).toBe('parsed already');
  });
});
