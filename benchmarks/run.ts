// Runs every benchmark script in turn. Each prints its own ratio table.
// `pnpm bench` runs them all; `pnpm bench <name>` runs one.
import { benchAdapters } from './adapters.js';
import { benchCoreResolve } from './core-resolve.js';
import { benchFrameworks, benchTtl } from './frameworks.js';
import { benchHttpAuth } from './http-auth.js';
import { benchInstructions } from './instructions.js';
import { benchMiddleware } from './middleware.js';
import { benchSecrets } from './secrets.js';
import { benchSigV4 } from './sigv4.js';

const only = process.argv[2];
const benches: Record<string, () => Promise<void>> = {
  core: benchCoreResolve,
  adapters: benchAdapters,
  http: benchHttpAuth,
  sigv4: benchSigV4,
  frameworks: benchFrameworks,
  secrets: benchSecrets,
};
/** Run only when asked by name (`pnpm bench ttl`): minutes each, not part of `pnpm bench`. */
const onDemand: Record<string, () => Promise<void>> = {
  ttl: benchTtl,
  instructions: benchInstructions,
  middleware: benchMiddleware,
};
if (only && !Object.hasOwn(benches, only) && !Object.hasOwn(onDemand, only)) {
  const known = [...Object.keys(benches), ...Object.keys(onDemand)];
  throw new Error(`unknown benchmark "${only}"; known: ${known.join(', ')}`);
}
if (only && Object.hasOwn(onDemand, only)) await onDemand[only]!();
for (const [name, run] of Object.entries(benches)) {
  if (!only || only === name) await run();
}
