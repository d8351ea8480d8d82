export { readSchemaStats, type SchemaStats } from './pg-stats.js';
export {
  type CuttableProxy,
  createPool,
  DATABASE_URL,
  dropSchema,
  freshSchemaName,
  startProxy,
} from './postgres.js';
export { type ReadmeExample, readReadmeExample, runReadmeCode } from './readme.js';
