import type { PGlite, PGliteOptions } from '@electric-sql/pglite';

/** Options of {@link createEmbeddedDb}. */
export interface EmbeddedDbOptions {
  /**
   * Directory where PGlite keeps its files, created when missing. Default: none, i.e. an
   * in-memory database that disappears on `close()`.
   */
  dataDir?: string;
  /** Extra PGlite options (extensions, debug level…). Default: none. */
  pglite?: Omit<PGliteOptions, 'dataDir'>;
}

/** An embedded Postgres (PGlite): a `Queryable` with `exec`, `transaction` and `close()`. */
export type EmbeddedDb = PGlite;

/**
 * Starts an embedded Postgres (PGlite, WebAssembly, no server to run). The module is loaded on
 * first use, so applications on real Postgres never pay for it. Call `close()` when done.
 */
export async function createEmbeddedDb(options: EmbeddedDbOptions = {}): Promise<EmbeddedDb> {
  const { PGlite } = await import('@electric-sql/pglite');
  return PGlite.create({ ...options.pglite, dataDir: options.dataDir });
}
