/**
 * AWS RDS / Aurora IAM database passwords as a token source, on `@aws-sdk/rds-signer` (an
 * optional peer: install it to use this entry point). Plugs straight into `pg`:
 * `new pg.Pool({ password: source.get })` — pg calls it for each new connection, and it answers
 * from memory.
 */

// Through the package's own name (an external of the build): one copy of the classes.
import {
  createTokenSource,
  InvalidTokenResultError,
  type TokenSource,
  type TokenSourceOptions,
} from '@authcache/outbound';
import { Signer, type SignerConfig } from '@aws-sdk/rds-signer';

/** AWS credentials: static ones, or a provider (what the AWS SDK calls `AwsCredentialIdentityProvider`). */
export interface RdsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** When temporary credentials stop working: a token signed with them dies then too. */
  expiration?: Date;
}

/** Options of {@link rdsIamPassword}. */
export interface RdsIamPasswordOptions extends Omit<TokenSourceOptions, 'fetch'> {
  /** The database endpoint, as clients connect to it. */
  hostname: string;
  /** Default: `5432`. */
  port?: number;
  /** The database user (granted `rds_iam`). */
  username: string;
  /** The database's region. Default: the SDK's (environment, profile). */
  region?: string;
  /** Credentials or a provider of them. Default: the SDK's default provider chain. */
  credentials?: RdsCredentials | (() => Promise<RdsCredentials>);
  /** A profile of the shared AWS config files, for region and credentials. */
  profile?: string;
}

/** When an RDS IAM token (a presigned URL without scheme) stops working: `X-Amz-Date + X-Amz-Expires`. */
export function rdsTokenExpiry(token: string): number | undefined {
  const query = token.slice(token.indexOf('?') + 1);
  const params = new URLSearchParams(query);
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(
    params.get('X-Amz-Date') ?? '',
  );
  const expires = Number(params.get('X-Amz-Expires'));
  if (!date || !(expires > 0)) return undefined;
  const [, y, mo, d, h, mi, s] = date.map(Number) as number[];
  return Date.UTC(y!, mo! - 1, d!, h!, mi!, s!) + expires * 1000;
}

/**
 * A source of IAM authentication tokens for an RDS / Aurora database (15 minutes each, refreshed
 * 90 s ahead by default). The expiry is read from the token itself, and is sooner when the
 * credentials that signed it expire sooner. Signing is local: no network call per token.
 */
export function rdsIamPassword(options: RdsIamPasswordOptions): TokenSource {
  const {
    hostname,
    port = 5432,
    username,
    region,
    credentials,
    profile,
    ...sourceOptions
  } = options;
  const name = `rds:${hostname}:${port}:${username}`;
  return createTokenSource({
    name,
    ...sourceOptions,
    async fetch() {
      const identity = typeof credentials === 'function' ? await credentials() : credentials;
      const config: SignerConfig = { hostname, port, username };
      if (region !== undefined) config.region = region;
      if (profile !== undefined) config.profile = profile;
      if (identity !== undefined) config.credentials = identity;
      const token = await new Signer(config).getAuthToken();
      const expiry = rdsTokenExpiry(token);
      if (expiry === undefined)
        throw new InvalidTokenResultError(name, 'the signer gave no expiry');
      const limit = identity?.expiration?.getTime();
      return { token, expiresAt: limit !== undefined ? Math.min(expiry, limit) : expiry };
    },
  });
}
