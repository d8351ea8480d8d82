import { accessKeyMigration } from './access-keys.js';

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
  {
    // The durable backstop of pgBus: every change that makes a cached identity wrong (revoked,
    // row deleted, expires_at shortened, token_hash changed) is logged and announced with
    // pg_notify, whoever made it — the app, the CLI or a plain SQL UPDATE. Touches of
    // last_used_at do not fire the trigger (WHEN clause), so the hot write path pays nothing.
    id: '0003_authcache_invalidation',
    up: (s) => `
CREATE TABLE IF NOT EXISTS ${s}.authcache_invalidation (
  id bigserial PRIMARY KEY,
  kind text NOT NULL,
  token_hash text NOT NULL,
  reason text NOT NULL,
  origin text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS authcache_invalidation_created_at_idx
  ON ${s}.authcache_invalidation (created_at);

CREATE OR REPLACE FUNCTION ${s}.authcache_log_invalidation(
  p_kind text, p_token_hash text, p_reason text, p_origin text
) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  new_id bigint;
BEGIN
  INSERT INTO ${s}.authcache_invalidation (kind, token_hash, reason, origin)
    VALUES (p_kind, p_token_hash, p_reason, p_origin)
    RETURNING id INTO new_id;
  -- Delivered at commit. The payload carries the message, so listeners need no query; the
  -- schema lets several schemas share one database (and one channel).
  PERFORM pg_notify('authcache_invalidation', json_build_object(
    'schema', '${s.slice(1, -1)}', 'id', new_id, 'kind', p_kind, 'hash', p_token_hash,
    'reason', p_reason, 'origin', p_origin)::text);
END
$fn$;

CREATE OR REPLACE FUNCTION ${s}.authcache_token_changed() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
  token_kind text := TG_ARGV[0];
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF NOT OLD.revoked THEN
      PERFORM ${s}.authcache_log_invalidation(token_kind, OLD.token_hash, 'revoked', NULL);
    END IF;
    RETURN OLD;
  END IF;
  IF NEW.revoked AND NOT OLD.revoked THEN
    PERFORM ${s}.authcache_log_invalidation(token_kind, OLD.token_hash, 'revoked', NULL);
  ELSIF NEW.token_hash IS DISTINCT FROM OLD.token_hash AND NOT OLD.revoked THEN
    -- The old secret stops working for good.
    PERFORM ${s}.authcache_log_invalidation(token_kind, OLD.token_hash, 'revoked', NULL);
  ELSIF NEW.expires_at IS NOT NULL
    AND (OLD.expires_at IS NULL OR NEW.expires_at < OLD.expires_at) AND NOT NEW.revoked THEN
    PERFORM ${s}.authcache_log_invalidation(token_kind, NEW.token_hash, 'invalidated', NULL);
  END IF;
  RETURN NEW;
END
$fn$;

DROP TRIGGER IF EXISTS authcache_invalidate_update ON ${s}.personal_access_token;
CREATE TRIGGER authcache_invalidate_update
  AFTER UPDATE OF revoked, token_hash, expires_at ON ${s}.personal_access_token
  FOR EACH ROW
  WHEN (OLD.revoked IS DISTINCT FROM NEW.revoked
    OR OLD.token_hash IS DISTINCT FROM NEW.token_hash
    OR OLD.expires_at IS DISTINCT FROM NEW.expires_at)
  EXECUTE FUNCTION ${s}.authcache_token_changed('pat');
DROP TRIGGER IF EXISTS authcache_invalidate_delete ON ${s}.personal_access_token;
CREATE TRIGGER authcache_invalidate_delete
  AFTER DELETE ON ${s}.personal_access_token
  FOR EACH ROW
  EXECUTE FUNCTION ${s}.authcache_token_changed('pat');

DROP TRIGGER IF EXISTS authcache_invalidate_update ON ${s}.daemon_token;
CREATE TRIGGER authcache_invalidate_update
  AFTER UPDATE OF revoked, token_hash, expires_at ON ${s}.daemon_token
  FOR EACH ROW
  WHEN (OLD.revoked IS DISTINCT FROM NEW.revoked
    OR OLD.token_hash IS DISTINCT FROM NEW.token_hash
    OR OLD.expires_at IS DISTINCT FROM NEW.expires_at)
  EXECUTE FUNCTION ${s}.authcache_token_changed('daemon');
DROP TRIGGER IF EXISTS authcache_invalidate_delete ON ${s}.daemon_token;
CREATE TRIGGER authcache_invalidate_delete
  AFTER DELETE ON ${s}.daemon_token
  FOR EACH ROW
  EXECUTE FUNCTION ${s}.authcache_token_changed('daemon');
`,
  },
  accessKeyMigration,
];
