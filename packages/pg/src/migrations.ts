/**
 * One schema change. `id` is recorded in `<schema>.authcache_migrations` once applied, so it must
 * never change; `up(schema)` returns the SQL script (several statements allowed) and receives the
 * schema already validated and double-quoted (e.g. `"public"`), ready to prefix table names.
 */
export interface Migration {
  readonly id: string;
  up(schema: string): string;
}

/**
 * Every migration, applied in this order by `migrate()`. Append new entries at the end; never
 * edit or reorder an entry that has shipped. Statements use `IF NOT EXISTS` so that adopting an
 * existing deployment whose tables already exist is a no-op.
 */
export const migrations: readonly Migration[] = [
  {
    id: '0001_personal_access_token',
    up: (s) => `
CREATE TABLE IF NOT EXISTS ${s}.personal_access_token (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id text NOT NULL,
  name text NOT NULL,
  token_hash text NOT NULL UNIQUE,
  token_prefix text NOT NULL,
  scopes text[] NOT NULL DEFAULT '{}',
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS personal_access_token_user_id_idx
  ON ${s}.personal_access_token (user_id, created_at);
`,
  },
  {
    id: '0002_daemon_token',
    up: (s) => `
CREATE TABLE IF NOT EXISTS ${s}.daemon_token (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  token_hash text NOT NULL UNIQUE,
  workspace_id text NOT NULL,
  daemon_id text NOT NULL,
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS daemon_token_workspace_id_idx
  ON ${s}.daemon_token (workspace_id, daemon_id);
`,
  },
];
