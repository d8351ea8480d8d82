export type { CliIo } from './cli.js';
export { EXIT, run } from './cli.js';
export { parseDuration } from './duration.js';
