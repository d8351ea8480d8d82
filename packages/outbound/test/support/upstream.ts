import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server that accepts only the token it currently considers valid (`valid`, which a
 * test rotates), records what it was sent, and refuses anything else with 401 + `refusal`.
 */
export async function startUpstream(refusal: string) {
  const upstream = {
    valid: 'tok-1',
    seen: [] as { auth: string | undefined; body: string }[],
    base: '',
    close: () => Promise.resolve(),
  };
  const readBody = async (req: IncomingMessage) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    return body;
  };
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    upstream.seen.push({ auth: req.headers.authorization, body });
    if (req.headers.authorization !== `Bearer ${upstream.valid}`) {
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end(refusal);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`ok ${body}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  upstream.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return upstream;
}
