// The one XML escape of this package (error bodies; the S3 example's listings use it too).

/** What each escaped character becomes; anything matched but not listed becomes U+FFFD. */
const REFERENCES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  '\t': '&#x9;',
  '\n': '&#xA;',
  '\r': '&#xD;',
  '\u0085': '&#x85;',
  '\u2028': '&#x2028;',
};

/**
 * Markup characters, whitespace a parser would normalise, and every character XML 1.0 forbids
 * even as a reference. With the `u` flag, `[\uD800-\uDFFF]` matches lone surrogates only: a valid
 * pair is one code point above U+FFFF.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const ESCAPED = /[&<>"'\t\n\r\u0085\u2028]|[\x00-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/gu;

/**
 * Escapes a string for XML 1.0 text or an attribute value (in either quotes). The result is
 * always well-formed XML 1.0 character data:
 * - `&` `<` `>` `"` `'` become `&amp;` `&lt;` `&gt;` `&quot;` `&apos;`;
 * - tab, line feed and carriage return become `&#x9;` `&#xA;` `&#xD;` (as S3 and the AWS SDKs
 *   write them), so that a parser's line-end and attribute normalisation cannot change them;
 *   U+0085 and U+2028 (line ends in XML 1.1) become `&#x85;` `&#x2028;` likewise;
 * - characters XML 1.0 does not allow at all, not even as a numeric reference (U+0000–U+0008,
 *   U+000B, U+000C, U+000E–U+001F, lone surrogates, U+FFFE, U+FFFF), become U+FFFD, the
 *   replacement character: writing `&#x1;` would make the whole document unparsable for strict
 *   parsers. Such values cannot round-trip through XML; S3 clients that need them exactly list
 *   with `encoding-type=url`.
 *
 * Everything else, including non-ASCII text and valid surrogate pairs, is kept as is.
 */
export function xmlEscape(value: string): string {
  return value.replace(ESCAPED, (c) => REFERENCES[c] ?? '\uFFFD');
}
