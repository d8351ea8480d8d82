/** Output helpers: tables, JSON, dates and error messages. */

/** An ISO date, or `never` for no date. */
export function date(value: Date | null): string {
  return value === null ? 'never' : value.toISOString();
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Pretty JSON with a trailing newline. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** The most useful message of an error (an `AggregateError`'s parts when it has none). */
export function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const aggregate = (error as { errors?: unknown }).errors;
    if (error.message === '' && Array.isArray(aggregate) && aggregate.length > 0) {
      return aggregate.map(messageOf).join('; ');
    }
    return error.message || error.name;
  }
  return String(error);
}
