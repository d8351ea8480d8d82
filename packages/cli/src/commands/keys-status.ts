import { createSealer, type SealedStatus, sealedStatus, verifySealed } from '@authcache/seal';
import {
  CONNECTION_OPTIONS,
  type Command,
  connectionOptions,
  EXIT,
  OperationalError,
} from '../command.js';
import { schemaOf, withPool } from '../connect.js';
import { json } from '../format.js';
import {
  accessKeySecrets,
  configuredBackend,
  configuredLegacy,
  KEY_BACKEND_OPTIONS,
  keyBackendOptions,
  progressBar,
} from '../keys.js';

function report(status: SealedStatus): string {
  const lines = [`records: ${status.total} (access_key.secret_ciphertext)`];
  const c = status.configured;
  lines.push(
    c
      ? `configured backend: ${c.tag}, current key "${c.currentKeyId}" (keys: ${c.keyIds.join(', ')}): ${c.detail}`
      : 'configured backend: none',
  );
  for (const g of status.groups) {
    lines.push(`  ${g.backend.padEnd(10)} ${g.keyId.padEnd(24)} v${g.version}  ${g.count}`);
  }
  if (status.malformed.length > 0) {
    lines.push(
      `malformed: ${status.malformed.length} (${status.malformed.slice(0, 10).join(', ')})`,
    );
  }
  if (c) {
    lines.push(
      `mismatches: ${status.otherBackend} sealed by another backend, ${status.unknownKeyId} by a key the backend does not have`,
      `not on the current key: ${status.notCurrent}${status.notCurrent > 0 ? ` (authcache keys rotate --to ${c.currentKeyId})` : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** `authcache keys status [--verify]`: sealed secrets by backend, key id and format version. */
export const keysStatus: Command = {
  name: 'keys status',
  summary: 'sealed secrets by backend, key id and version (--verify: decrypt all)',
  usage: `Usage: authcache keys status [--verify] [--json]

Counts the sealed access-key secrets by backend, key id and format version, reading only their
headers: no key backend session, no decryption, fast on any number of rows. Shows the
configured backend and the records it could not open (another backend, an unknown key id).
Exits 1 on mismatches or malformed records.
  --verify             also open the backend and decrypt every record; lists each failure
                       by access key id (altered bytes, a row moved, a missing key); exits 1
                       on any
  --json               print a JSON object

${KEY_BACKEND_OPTIONS}

${CONNECTION_OPTIONS}`,
  options: {
    ...connectionOptions,
    ...keyBackendOptions,
    verify: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run(ctx) {
    const backend = await configuredBackend(ctx);
    const legacy = configuredLegacy(ctx);
    const schema = schemaOf(ctx);
    return withPool(ctx, async (pool) => {
      const source = accessKeySecrets(pool, schema);
      const status = await sealedStatus(source, {
        ...(backend ? { configured: backend.describe() } : {}),
        ...(legacy ? { legacy } : {}),
      });
      let failures: Array<{ id: string; reason: string }> | undefined;
      if (ctx.values.verify) {
        if (!backend) throw new OperationalError('--verify needs a configured key backend');
        try {
          await backend.open?.();
          const result = await verifySealed({
            source,
            sealer: createSealer({ backend, dataKeyTtlMs: 0 }),
            ...(legacy ? { legacy } : {}),
            onProgress: progressBar(ctx, status.total, 'verify'),
          });
          failures = result.failures;
        } finally {
          await backend.close?.();
        }
      }
      const bad =
        status.malformed.length +
        status.otherBackend +
        status.unknownKeyId +
        (failures?.length ?? 0);
      if (ctx.values.json) {
        ctx.io.stdout(json({ ...status, ...(failures ? { verify: { failures } } : {}) }));
      } else {
        let text = report(status);
        if (failures) {
          text += `verify: ${status.total - failures.length} of ${status.total} open\n`;
          for (const f of failures) text += `  FAILED ${f.id}: ${f.reason}\n`;
        }
        ctx.io.stdout(text);
      }
      return bad > 0 ? EXIT.error : EXIT.ok;
    });
  },
};
