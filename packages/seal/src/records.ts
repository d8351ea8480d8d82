import type { BackendDescription } from './backend.js';
import { FORMAT_VERSION, isSealedText, readHeader } from './format.js';
import type { LegacyKeyring } from './keyring.js';
import type { Sealer } from './sealer.js';

/** One sealed value and the id of its row. */
export interface SealedRecord {
  readonly id: string;
  readonly value: string;
}

/** A column of sealed values (e.g. `access_key.secret_ciphertext`), read in pages. */
export interface SealedRecordSource {
  /** Bound into each record's AAD. */
  readonly table: string;
  /** Bound into each record's AAD. */
  readonly column: string;
  /** Up to `limit` records with an id greater than `afterId` (`null`: from the start), by id. */
  page(afterId: string | null, limit: number): Promise<SealedRecord[]>;
  /**
   * Compare-and-swap: sets each record to `next` only where it still is `previous` (a record
   * changed meanwhile is left alone). Returns the ids that changed.
   */
  replace(
    changes: ReadonlyArray<{ id: string; previous: string; next: string }>,
  ): Promise<string[]>;
}

/** Every record, page by page. */
export async function* readRecords(
  source: SealedRecordSource,
  batchSize = 1_000,
): AsyncGenerator<SealedRecord[]> {
  let after: string | null = null;
  for (;;) {
    const page = await source.page(after, batchSize);
    if (page.length === 0) return;
    yield page;
    after = page[page.length - 1]!.id;
    if (page.length < batchSize) return;
  }
}

/** What `keys status` prints: counted from headers only, no key touched. */
export interface SealedStatus {
  readonly total: number;
  /** `backend key-id vN` → count; legacy keyring envelopes as `legacy <key id> v1`. */
  readonly groups: ReadonlyArray<{
    backend: string;
    keyId: string;
    version: number;
    count: number;
  }>;
  /** Records that are neither sealed nor legacy envelopes, or whose header does not parse. */
  readonly malformed: readonly string[];
  /** The configured backend, when there is one. */
  readonly configured?: BackendDescription;
  /** Records of another backend than the configured one. */
  readonly otherBackend: number;
  /** Records wrapped by a key id the configured backend does not have. */
  readonly unknownKeyId: number;
  /** Records not on the configured current key (what `rotate` would move). */
  readonly notCurrent: number;
}

/** Counts records by backend, key id and format version from their headers. */
export async function sealedStatus(
  source: SealedRecordSource,
  options: {
    configured?: BackendDescription;
    legacy?: Pick<LegacyKeyring, 'keyIdOf'>;
    batchSize?: number;
  } = {},
): Promise<SealedStatus> {
  const { configured } = options;
  const groups = new Map<
    string,
    { backend: string; keyId: string; version: number; count: number }
  >();
  const malformed: string[] = [];
  let total = 0;
  let otherBackend = 0;
  let unknownKeyId = 0;
  let notCurrent = 0;
  const known = new Set(configured?.keyIds ?? []);
  for await (const page of readRecords(source, options.batchSize)) {
    for (const { id, value } of page) {
      total++;
      let backend: string;
      let keyId: string;
      let version: number;
      if (isSealedText(value)) {
        try {
          ({ backend, keyId, version } = readHeader(value));
        } catch {
          malformed.push(id);
          continue;
        }
      } else if (value.startsWith('v1.') && value.split('.').length === 5) {
        backend = 'legacy';
        keyId = value.split('.')[1]!;
        version = 1;
      } else {
        malformed.push(id);
        continue;
      }
      const name = `${backend}\n${keyId}\n${version}`;
      const group = groups.get(name) ?? { backend, keyId, version, count: 0 };
      group.count++;
      groups.set(name, group);
      if (configured) {
        if (backend !== 'legacy' && backend !== configured.tag) otherBackend++;
        else if (backend !== 'legacy' && !known.has(keyId)) unknownKeyId++;
        if (
          backend !== configured.tag ||
          keyId !== configured.currentKeyId ||
          version !== FORMAT_VERSION
        ) {
          notCurrent++;
        }
      }
    }
  }
  return {
    total,
    groups: [...groups.values()].sort(
      (a, b) => a.backend.localeCompare(b.backend) || a.keyId.localeCompare(b.keyId),
    ),
    malformed,
    ...(configured ? { configured } : {}),
    otherBackend,
    unknownKeyId,
    notCurrent,
  };
}

/** Options of {@link verifySealed} and {@link rotateSealed}. */
export interface SealedWalkOptions {
  source: SealedRecordSource;
  sealer: Sealer;
  /** Opens old keyring envelopes. Default: none (they count as failures). */
  legacy?: LegacyKeyring;
  /** Records per page (and per `replace`). Default: `500`. */
  batchSize?: number;
  /** Called after each page with the records done so far. Default: none. */
  onProgress?: (done: number) => void;
}

async function openRecord(options: SealedWalkOptions, record: SealedRecord): Promise<Buffer> {
  const context = { table: options.source.table, column: options.source.column, rowId: record.id };
  if (isSealedText(record.value))
    return Buffer.from(await options.sealer.openText(record.value, context), 'utf8');
  if (!options.legacy) throw new Error('old keyring format and no legacy keyring configured');
  return Buffer.from(options.legacy.open(record.value, record.id), 'utf8');
}

const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Opens every record with the backend; reports the ids that do not open, and why. */
export async function verifySealed(
  options: SealedWalkOptions,
): Promise<{ checked: number; failures: Array<{ id: string; reason: string }> }> {
  const failures: Array<{ id: string; reason: string }> = [];
  let checked = 0;
  for await (const page of readRecords(options.source, options.batchSize ?? 500)) {
    for (const record of page) {
      checked++;
      try {
        (await openRecord(options, record)).fill(0);
      } catch (error) {
        failures.push({ id: record.id, reason: reasonOf(error) });
      }
    }
    options.onProgress?.(checked);
  }
  return { checked, failures };
}

/** Options of {@link rotateSealed}. */
export interface RotateOptions extends SealedWalkOptions {
  /** The key id every record is re-wrapped with (one the sealer's backend has). Required. */
  toKeyId: string;
  /** At most this many records per second (spares the HSM and the database). Default: no limit. */
  maxRate?: number;
  /** Stops between pages. Default: none. */
  signal?: AbortSignal;
  /** Waits (for `maxRate`). Default: `setTimeout`. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Re-wraps every record not yet on `toKeyId` (or still in the old keyring format), page by page,
 * each page written with one compare-and-swap: online (readers keep opening the old or the new
 * value, both valid while the old key is kept) and resumable (a re-run skips what is done).
 */
export async function rotateSealed(options: RotateOptions): Promise<{
  rewrapped: number;
  alreadyCurrent: number;
  changedMeanwhile: number;
  failures: Array<{ id: string; reason: string }>;
}> {
  const { source, sealer, toKeyId } = options;
  if (!sealer.backend.describe().keyIds.includes(toKeyId)) {
    throw new Error(`rotate: the configured ${sealer.backend.tag} backend has no key "${toKeyId}"`);
  }
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const started = Date.now();
  let rewrapped = 0;
  let alreadyCurrent = 0;
  let changedMeanwhile = 0;
  let done = 0;
  const failures: Array<{ id: string; reason: string }> = [];
  for await (const page of readRecords(source, options.batchSize ?? 500)) {
    options.signal?.throwIfAborted();
    const changes: Array<{ id: string; previous: string; next: string }> = [];
    for (const record of page) {
      if (isSealedText(record.value)) {
        try {
          const header = readHeader(record.value);
          if (
            header.backend === sealer.backend.tag &&
            header.keyId === toKeyId &&
            header.version === FORMAT_VERSION
          ) {
            alreadyCurrent++;
            continue;
          }
        } catch {
          // malformed: openRecord reports it
        }
      }
      try {
        const plaintext = await openRecord(options, record);
        const context = { table: source.table, column: source.column, rowId: record.id };
        const next = await sealer.sealText(plaintext, context, { keyId: toKeyId });
        plaintext.fill(0);
        changes.push({ id: record.id, previous: record.value, next });
      } catch (error) {
        failures.push({ id: record.id, reason: reasonOf(error) });
      }
    }
    if (changes.length > 0) {
      const replaced = await source.replace(changes);
      rewrapped += replaced.length;
      changedMeanwhile += changes.length - replaced.length;
    }
    done += page.length;
    options.onProgress?.(done);
    if (options.maxRate && options.maxRate > 0) {
      const due = started + (done / options.maxRate) * 1_000;
      if (due > Date.now()) await sleep(due - Date.now());
    }
  }
  return { rewrapped, alreadyCurrent, changedMeanwhile, failures };
}
