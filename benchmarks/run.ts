// Runs every benchmark script in turn. Each prints its own ratio table.
import { benchCoreResolve } from './core-resolve.js';

const only = process.argv[2];
const benches: Record<string, () => Promise<void>> = {
  core: benchCoreResolve,
};
for (const [name, run] of Object.entries(benches)) {
  if (!only || only === name) await run();
}
