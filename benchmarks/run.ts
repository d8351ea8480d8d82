// Runs every benchmark script in turn. Each prints its own ratio table.
// `pnpm bench` runs them all; `pnpm bench <name>` runs one.
import { benchCoreResolve } from './core-resolve.js';
import { benchHttpAuth } from './http-auth.js';
import { benchSigV4 } from './sigv4.js';

const only = process.argv[2];
const benches: Record<string, () => Promise<void>> = {
  core: benchCoreResolve,
  http: benchHttpAuth,
  sigv4: benchSigV4,
};
if (only && !Object.hasOwn(benches, only)) {
  throw new Error(`unknown benchmark "${only}"; known: ${Object.keys(benches).join(', ')}`);
}
for (const [name, run] of Object.entries(benches)) {
  if (!only || only === name) await run();
}
