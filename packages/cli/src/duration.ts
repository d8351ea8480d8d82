const UNITS: Readonly<Record<string, number>> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * Parses a positive duration such as `3600s`, `15m`, `12h`, `30d` or `2w` into milliseconds.
 * Returns `undefined` for anything else (no unit, zero, fractions, negative numbers).
 */
export function parseDuration(text: string): number | undefined {
  const match = /^([1-9][0-9]{0,9})([smhdw])$/.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * UNITS[match[2]!]!;
  return Number.isSafeInteger(ms) ? ms : undefined;
}
