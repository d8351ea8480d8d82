import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { looksLikeCredential, selectBearerProtocol } from '../src/index.js';

const req = {} as IncomingMessage;
const offers = (...values: string[]) => new Set(values);

describe('selectBearerProtocol', () => {
  it('answers bearer, a listed protocol, or nothing; never an unlisted or credential offer', () => {
    const select = selectBearerProtocol(undefined, { protocols: ['chat', 'mul_x'] });
    expect(select(offers('bearer', 'mul_tok', 'chat'), req)).toBe('chat');
    expect(select(offers('bearer', 'mul_tok'), req)).toBe('bearer');
    // Listed or not, a token-shaped offer is never the answer.
    expect(select(offers('mul_x', 'graphql-ws'), req)).toBe(false);
    expect(select(offers('graphql-ws'), req)).toBe(false);
  });

  it('takes the prefixes of custom token kinds', () => {
    const select = selectBearerProtocol((protocols) => [...protocols][0] ?? false, {
      tokenKinds: { service: { prefix: 'svc_' } },
    });
    expect(select(offers('svc_abc', 'chat'), req)).toBe('chat');
    expect(select(offers('svc_abc'), req)).toBe(false);
  });

  it("ignores an answer of the app's hook that was not a candidate", () => {
    const select = selectBearerProtocol(() => 'mul_tok');
    expect(select(offers('bearer', 'mul_tok', 'chat'), req)).toBe('bearer');
    expect(select(offers('chat'), req)).toBe(false);
  });
});

describe('looksLikeCredential', () => {
  it.each([
    ['mul_abc', true],
    ['mdt_abc', true],
    ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln', true],
    ['chat', false],
    ['graphql-transport-ws', false],
    ['v1.json.example', false],
  ])('%s → %s', (value, expected) => {
    expect(looksLikeCredential(value)).toBe(expected);
  });
});
