import { describe, expect, it } from 'vitest';
import { SigV4Error, sigv4ErrorResponse, xmlEscape } from '../src/index.js';

/** XML 1.0's `Char` production: every character a document may contain, literally or referenced. */
const XML_CHAR = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]$/u;

/**
 * Checks `text` is well-formed XML 1.0 character data (usable in text and in attribute values
 * in either quotes) and decodes it, strictly: any other `&`, a raw `<` or quote, a character or
 * a reference outside `Char` throws.
 */
function decodeCharData(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; ) {
    const c = String.fromCodePoint(text.codePointAt(i)!);
    if (c === '&') {
      const end = text.indexOf(';', i);
      const ref = text.slice(i + 1, end);
      const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
      let decoded = named[ref];
      if (decoded === undefined) {
        const m = /^#x([0-9A-Fa-f]{1,6})$|^#([0-9]{1,7})$/.exec(ref);
        if (!m) throw new Error(`bad reference &${ref};`);
        decoded = String.fromCodePoint(m[1] ? Number.parseInt(m[1], 16) : Number(m[2]));
      }
      if (!XML_CHAR.test(decoded)) throw new Error(`reference to a forbidden character &${ref};`);
      out += decoded;
      i = end + 1;
      continue;
    }
    if (!XML_CHAR.test(c))
      throw new Error(`forbidden character U+${c.codePointAt(0)!.toString(16)}`);
    if (c === '<' || c === '"' || c === "'") throw new Error(`unescaped ${c}`);
    out += c;
    i += c.length;
  }
  return out;
}

describe('xmlEscape', () => {
  it('escapes the markup characters as the five predefined entities', () => {
    expect(xmlEscape(`<a href="x">Tom & Jerry's</a>`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&apos;s&lt;/a&gt;',
    );
    expect(xmlEscape('&amp;')).toBe('&amp;amp;');
  });

  it('writes tab, line feed and carriage return as references, so parsers cannot normalise them', () => {
    expect(xmlEscape('a\tb\nc\r\nd\re')).toBe('a&#x9;b&#xA;c&#xD;&#xA;d&#xD;e');
    expect(xmlEscape('x\u0085y\u2028z')).toBe('x&#x85;y&#x2028;z');
    expect(decodeCharData(xmlEscape('a\tb\nc\r\nd\re'))).toBe('a\tb\nc\r\nd\re');
  });

  it('replaces every character XML 1.0 forbids with U+FFFD', () => {
    const forbidden = [
      ...Array.from({ length: 9 }, (_, i) => i), // U+0000–U+0008
      0x0b,
      0x0c,
      ...Array.from({ length: 0x20 - 0x0e }, (_, i) => 0x0e + i), // U+000E–U+001F
      0xfffe,
      0xffff,
    ].map((code) => String.fromCharCode(code));
    for (const c of forbidden) expect(xmlEscape(`a${c}b`)).toBe('a\uFFFDb');
    // Lone surrogates, high or low, at the start, the middle and the end, and a reversed pair.
    expect(xmlEscape('\uD800x')).toBe('\uFFFDx');
    expect(xmlEscape('x\uDFFFy')).toBe('x\uFFFDy');
    expect(xmlEscape('x\uD83D')).toBe('x\uFFFD');
    expect(xmlEscape('\uDE00\uD83D')).toBe('\uFFFD\uFFFD');
  });

  it('keeps everything XML allows as it is, surrogate pairs included', () => {
    const kept = 'Grüße /photos/猫 😺 \u007f\u0080\u009f\uE000\uFFFD\u{10FFFF} ~!@#$%^*()';
    expect(xmlEscape(kept)).toBe(kept);
    expect(xmlEscape('')).toBe('');
  });

  it('always yields well-formed character data that decodes back (forbidden characters aside)', () => {
    // Every BMP code unit, alone and around a surrogate pair, plus a few astral characters.
    let all = '';
    for (let code = 0; code <= 0xffff; code++) all += String.fromCharCode(code);
    all += '😺\u{10000}\u{10FFFF}';
    const escaped = xmlEscape(all);
    const decoded = decodeCharData(escaped);
    const expected = [...all].map((c) => (XML_CHAR.test(c) ? c : '\uFFFD')).join('');
    expect(decoded).toBe(expected);
  });
});

describe('sigv4ErrorResponse and control characters', () => {
  it('never writes a character XML 1.0 forbids into the error body', () => {
    const error = new SigV4Error('SignatureDoesNotMatch', undefined, {
      StringToSign: 'AWS4-HMAC-SHA256\n20260301T120000Z',
    });
    const { body } = sigv4ErrorResponse(error, {
      requestId: 'R',
      resource: '/bucket/a\u0001b\rc\uD800',
    });
    expect(body).toContain('<Resource>/bucket/a\uFFFDb&#xD;c\uFFFD</Resource>');
    expect(body).toContain('<StringToSign>AWS4-HMAC-SHA256&#xA;20260301T120000Z</StringToSign>');
    const inner = body.slice(body.indexOf('<Error>'));
    for (const text of inner.split(/<[^>]*>/)) expect(() => decodeCharData(text)).not.toThrow();
  });
});
