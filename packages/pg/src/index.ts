export type {
  AccessKeyRow,
  AccessKeySummary,
  PgAccessKeyStore,
  PgAccessKeyStoreOptions,
} from './access-keys.js';
export { createPgAccessKeyStore } from './access-keys.js';
export type { PgBus, PgBusOptions, PgBusStats } from './bus.js';
export { createPgBus, INVALIDATION_CHANNEL } from './bus.js';
export type { MigrateOptions, MigrateResult } from './migrate.js';
export { migrate } from './migrate.js';
export type { Migration } from './migrations.js';
export { accessKeyMigration, migrations } from './migrations.js';
export type { Queryable } from './queryable.js';
export { quoteSchema, withTransaction } from './queryable.js';
export type {
  CreateDaemonTokenInput,
  CreatedToken,
  CreatePatInput,
  DaemonTokenSummary,
  ListPatsOptions,
  PatSummary,
  PgTokenStore,
  PgTokenStoreOptions,
} from './store.js';
export { createPgTokenStore } from './store.js';
