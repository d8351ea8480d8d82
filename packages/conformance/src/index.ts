/**
 * Private test kit: the one table of HTTP auth cases that every authcache adapter must answer
 * identically, with the real stores (PGlite, Postgres) and a real JWKS server it runs against.
 */

export type { AdminFixture, AdminHarness, AdminServer } from './admin.js';
export {
  ADMIN_SUBJECT,
  adminOptions,
  adminRows,
  createAdminFixture,
  runAdminConformance,
} from './admin.js';
export type { ConformanceCase, Expectation, RouteSpec } from './cases.js';
export { cases, routes } from './cases.js';
export type { Fixture, JwksServer } from './fixture.js';
export {
  createFixture,
  deadUrl,
  JWT_SECRET,
  STOPPED_JWKS_OPTIONS,
  signHs256,
  startJwksServer,
} from './fixture.js';
export { runHeartbeat } from './heartbeat.js';
export { requestOverHttp } from './http-client.js';
export { countingCalls } from './peek.js';
export type { CuttableProxy, PostgresAuth, SchemaStats } from './postgres.js';
export {
  createPool,
  DATABASE_URL,
  dropSchema,
  freshSchemaName,
  openPostgresAuth,
  readSchemaStats,
  startProxy,
} from './postgres.js';
export type { AdapterHarness, TestClient, TestHeaders, TestResponse } from './run.js';
export { runConformance } from './run.js';
