import { defaultTokenKinds } from '@authcache/core';

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const TOKEN_RE = new RegExp(
  `(?:${Object.values(defaultTokenKinds)
    .map((spec) => escapeRe(spec.prefix))
    .join('|')})[A-Za-z0-9_-]+`,
  'g',
);

/** The message with every known secret and anything shaped like a token replaced. */
export function redact(message: string, secrets: readonly string[]): string {
  let out = message;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length > 0) out = out.split(secret).join('[redacted]');
  }
  return out.replace(TOKEN_RE, '[redacted]');
}

/** The password of a URL, if it has one (so that it can be redacted). */
export function passwordOf(url: string): string | undefined {
  try {
    const password = decodeURIComponent(new URL(url).password);
    return password === '' ? undefined : password;
  } catch {
    return undefined;
  }
}
