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
 * The `access_key` table of SigV4 access keys (owned by `@authcache/sigv4`). The secret must be
 * recoverable (the server recomputes the HMAC), so it is stored encrypted: `secret_ciphertext`
 * is an envelope produced by the application's keyring, never the plaintext. The session token
 * of temporary credentials is stored as its SHA-256 only.
 */
export const accessKeyMigration: Migration = {
  id: '0004_access_key',
  up: (s) => `
CREATE TABLE IF NOT EXISTS ${s}.access_key (
  access_key_id text PRIMARY KEY,
  secret_ciphertext text NOT NULL,
  principal_id text NOT NULL,
  session_token_hash text,
  expires_at timestamptz,
  revoked boolean NOT NULL DEFAULT false,
  last_used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS access_key_principal_id_idx
  ON ${s}.access_key (principal_id, created_at);
`,
};

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
    // The durable backstop of createPgBus: every change that makes a cached identity wrong (revoked,
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
  {
    // 0003 announced only revocation, deletion, a shortened expiry and a changed hash of the
    // two token tables. A cached identity is just as wrong after any other change of a column
    // `findByHash` builds it from (a PAT's owner, name or scopes, a daemon token's workspace or
    // daemon id, a lengthened expiry), and access keys (0004) had no trigger at all, so a
    // SQL-revoked key stayed valid until the TTL. This re-points every trigger at one function
    // that covers them all, through the same log + pg_notify path.
    //
    // It also makes the log catch-up exact (see createPgBus): each row records the id of the
    // transaction that wrote it (`xid`, a 64-bit xid8), so a reader can tell, from a snapshot,
    // which rows may still commit later, whatever their id or timestamp. `created_at` becomes the
    // time of the insert (clock_timestamp()), not the start of its transaction.
    id: '0005_identity_change_triggers',
    up: (s) => `
ALTER TABLE ${s}.authcache_invalidation ADD COLUMN IF NOT EXISTS xid xid8;
-- Set apart from ADD COLUMN: existing rows keep NULL (no rewrite, and no reader takes them
-- for rows of a transaction still to come).
ALTER TABLE ${s}.authcache_invalidation ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX IF NOT EXISTS authcache_invalidation_xid_idx
  ON ${s}.authcache_invalidation (xid);
-- When a pruner first saw the row committed: pruning counts the retention from here, since a
-- row can commit long after created_at (a long transaction) and must still be read by then.
ALTER TABLE ${s}.authcache_invalidation ADD COLUMN IF NOT EXISTS visible_at timestamptz;
CREATE INDEX IF NOT EXISTS authcache_invalidation_visible_at_idx
  ON ${s}.authcache_invalidation (visible_at);
CREATE INDEX IF NOT EXISTS authcache_invalidation_unseen_idx
  ON ${s}.authcache_invalidation (id) WHERE visible_at IS NULL;

CREATE OR REPLACE FUNCTION ${s}.authcache_log_invalidation(
  p_kind text, p_token_hash text, p_reason text, p_origin text
) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  new_id bigint;
  new_xid xid8 := pg_current_xact_id();
BEGIN
  INSERT INTO ${s}.authcache_invalidation (kind, token_hash, reason, origin, created_at, xid)
    VALUES (p_kind, p_token_hash, p_reason, p_origin, clock_timestamp(), new_xid)
    RETURNING id INTO new_id;
  PERFORM pg_notify('authcache_invalidation', json_build_object(
    'schema', '${s.slice(1, -1)}', 'id', new_id, 'xid', new_xid::text, 'kind', p_kind,
    'hash', p_token_hash, 'reason', p_reason, 'origin', p_origin)::text);
END
$fn$;

-- TG_ARGV: the kind, then the column that holds the cache key (token_hash; access_key_id for
-- access keys, which the sigv4 lookup resolves with resolveHash('sigv4', access_key_id)).
CREATE OR REPLACE FUNCTION ${s}.authcache_identity_changed() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
  token_kind text := TG_ARGV[0];
  old_key text := to_jsonb(OLD) ->> TG_ARGV[1];
  new_key text;
BEGIN
  -- A row already revoked has been announced; un-revoking it is not (a revoke, once
  -- acknowledged, never comes back from a cache).
  IF OLD.revoked THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'DELETE' THEN
    PERFORM ${s}.authcache_log_invalidation(token_kind, old_key, 'revoked', NULL);
    RETURN NULL;
  END IF;
  new_key := to_jsonb(NEW) ->> TG_ARGV[1];
  IF NEW.revoked OR new_key IS DISTINCT FROM old_key THEN
    -- Revoked, or the old secret / key id stops working for good.
    PERFORM ${s}.authcache_log_invalidation(token_kind, old_key, 'revoked', NULL);
  ELSE
    -- Still valid, but the identity cached for it is not what the row says any more.
    PERFORM ${s}.authcache_log_invalidation(token_kind, new_key, 'invalidated', NULL);
  END IF;
  RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS authcache_invalidate_update ON ${s}.personal_access_token;
CREATE TRIGGER authcache_invalidate_update
  AFTER UPDATE OF id, user_id, name, token_hash, scopes, expires_at, revoked
  ON ${s}.personal_access_token
  FOR EACH ROW
  WHEN ((OLD.id, OLD.user_id, OLD.name, OLD.token_hash, OLD.scopes, OLD.expires_at, OLD.revoked)
    IS DISTINCT FROM
    (NEW.id, NEW.user_id, NEW.name, NEW.token_hash, NEW.scopes, NEW.expires_at, NEW.revoked))
  EXECUTE FUNCTION ${s}.authcache_identity_changed('pat', 'token_hash');
DROP TRIGGER IF EXISTS authcache_invalidate_delete ON ${s}.personal_access_token;
CREATE TRIGGER authcache_invalidate_delete
  AFTER DELETE ON ${s}.personal_access_token
  FOR EACH ROW
  EXECUTE FUNCTION ${s}.authcache_identity_changed('pat', 'token_hash');

DROP TRIGGER IF EXISTS authcache_invalidate_update ON ${s}.daemon_token;
CREATE TRIGGER authcache_invalidate_update
  AFTER UPDATE OF id, token_hash, workspace_id, daemon_id, expires_at, revoked
  ON ${s}.daemon_token
  FOR EACH ROW
  WHEN ((OLD.id, OLD.token_hash, OLD.workspace_id, OLD.daemon_id, OLD.expires_at, OLD.revoked)
    IS DISTINCT FROM
    (NEW.id, NEW.token_hash, NEW.workspace_id, NEW.daemon_id, NEW.expires_at, NEW.revoked))
  EXECUTE FUNCTION ${s}.authcache_identity_changed('daemon', 'token_hash');
DROP TRIGGER IF EXISTS authcache_invalidate_delete ON ${s}.daemon_token;
CREATE TRIGGER authcache_invalidate_delete
  AFTER DELETE ON ${s}.daemon_token
  FOR EACH ROW
  EXECUTE FUNCTION ${s}.authcache_identity_changed('daemon', 'token_hash');

DROP TRIGGER IF EXISTS authcache_invalidate_update ON ${s}.access_key;
CREATE TRIGGER authcache_invalidate_update
  AFTER UPDATE OF access_key_id, secret_ciphertext, principal_id, session_token_hash,
    expires_at, revoked
  ON ${s}.access_key
  FOR EACH ROW
  WHEN ((OLD.access_key_id, OLD.secret_ciphertext, OLD.principal_id, OLD.session_token_hash,
      OLD.expires_at, OLD.revoked)
    IS DISTINCT FROM
    (NEW.access_key_id, NEW.secret_ciphertext, NEW.principal_id, NEW.session_token_hash,
      NEW.expires_at, NEW.revoked))
  EXECUTE FUNCTION ${s}.authcache_identity_changed('sigv4', 'access_key_id');
DROP TRIGGER IF EXISTS authcache_invalidate_delete ON ${s}.access_key;
CREATE TRIGGER authcache_invalidate_delete
  AFTER DELETE ON ${s}.access_key
  FOR EACH ROW
  EXECUTE FUNCTION ${s}.authcache_identity_changed('sigv4', 'access_key_id');

-- 0003's trigger function, now used by no trigger.
DROP FUNCTION IF EXISTS ${s}.authcache_token_changed();
`,
  },
];
