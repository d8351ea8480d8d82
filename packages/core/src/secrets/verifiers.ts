/**
 * Slow secret verifiers for split tokens: scrypt (node:crypto, PHC `$scrypt$`), argon2
 * (`@node-rs/argon2`), bcrypt (`bcryptjs`) and sha-crypt `$5$` / `$6$` (`unixcrypt`). The three
 * libraries are optional peers, imported on first use; a missing one is a clear error then.
 * Why these libraries: see `docs/secrets.md`.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** Checks a secret against a stored slow hash. Stores take one as `secretVerifier`. */
export interface SecretVerifier {
  /** For messages: `scrypt`, `argon2`, `bcrypt`, `sha-crypt`, or a list of them. */
  readonly name: string;
  /** Whether `hash` is in a format this verifier reads (by its `$id$` prefix). */
  accepts(hash: string): boolean;
  /**
   * Whether `secret` matches `hash`. A wrong secret is `false`; a hash this verifier cannot
   * read, or a missing optional library, throws (never a message holding the hash or secret).
   */
  verify(secret: string, hash: string): Promise<boolean>;
  /** A new hash of `secret` with a random salt, when this verifier can make them. */
  hash?(secret: string): Promise<string>;
}

/** Options of {@link scryptVerifier}; the defaults apply to new hashes only. */
export interface ScryptOptions {
  /** CPU/memory cost, a power of two. Default: `2 ** 15` (32 MiB with `r: 8`). */
  N?: number;
  /** Block size. Default: `8`. */
  r?: number;
  /** Parallelism. Default: `1`. */
  p?: number;
  /**
   * Largest `128 × N × r` (bytes) a stored hash may ask for; a row asking more is refused, so a
   * hand-edited file cannot make every verification allocate gigabytes. Default: `256 MiB`.
   */
  maxMemory?: number;
}

const b64 = (buffer: Buffer) => buffer.toString('base64').replace(/=+$/, '');
const unb64 = (text: string) => Buffer.from(text, 'base64');
const SCRYPT_PHC =
  /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/**
 * scrypt (RFC 7914) through `node:crypto` (asynchronous: the libuv threadpool), in the PHC string
 * format `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>` (unpadded standard base64, as Python's
 * passlib writes it). New hashes: 16-byte salt, 32-byte key.
 */
export function scryptVerifier(options: ScryptOptions = {}): SecretVerifier {
  const N = options.N ?? 2 ** 15;
  const r = options.r ?? 8;
  const p = options.p ?? 1;
  const maxMemory = options.maxMemory ?? 256 * 1024 * 1024;
  const ln = Math.log2(N);
  if (!Number.isInteger(ln) || ln < 1 || ln > 30) {
    throw new TypeError('scryptVerifier: N must be a power of two between 2 and 2^30');
  }
  if (!Number.isInteger(r) || r < 1 || !Number.isInteger(p) || p < 1) {
    throw new TypeError('scryptVerifier: r and p must be positive integers');
  }
  if (128 * N * r > maxMemory) throw new TypeError('scryptVerifier: 128 × N × r exceeds maxMemory');
  const derive = (
    secret: string,
    salt: Buffer,
    n: number,
    rr: number,
    pp: number,
    length: number,
  ) =>
    new Promise<Buffer>((resolve, reject) =>
      scrypt(
        secret,
        salt,
        length,
        { N: n, r: rr, p: pp, maxmem: 256 * n * rr + 1024 * 1024 },
        (error, key) => (error ? reject(error) : resolve(key)),
      ),
    );
  return {
    name: 'scrypt',
    accepts: (hash) => hash.startsWith('$scrypt$'),
    async verify(secret, hash) {
      const match = SCRYPT_PHC.exec(hash);
      if (!match)
        throw new TypeError('scryptVerifier: not a $scrypt$ln=…,r=…,p=…$salt$hash string');
      const n = 2 ** Number(match[1]);
      const rr = Number(match[2]);
      const pp = Number(match[3]);
      if (rr < 1 || pp < 1 || 128 * n * rr > maxMemory || n < 2) {
        throw new TypeError(
          'scryptVerifier: the stored parameters exceed maxMemory or are invalid',
        );
      }
      const expected = unb64(match[5]!);
      if (expected.length < 16) throw new TypeError('scryptVerifier: the stored key is too short');
      const actual = await derive(secret, unb64(match[4]!), n, rr, pp, expected.length);
      return timingSafeEqual(actual, expected);
    },
    async hash(secret) {
      const salt = randomBytes(16);
      const key = await derive(secret, salt, N, r, p, 32);
      return `$scrypt$ln=${ln},r=${r},p=${p}$${b64(salt)}$${b64(key)}`;
    },
  };
}

/** Imports an optional peer once; a missing one is an error that says what to install (exported for tests; not in the package index). */
export function lazy<T>(specifier: string, user: string, format: string): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => {
    loaded ??= (import(specifier) as Promise<T>).catch((error: unknown) => {
      loaded = undefined;
      const code = (error as { code?: string })?.code;
      if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
        throw new Error(
          `${user}: ${format} hashes need the optional peer "${specifier}": npm install ${specifier}`,
        );
      }
      throw error;
    });
    return loaded;
  };
}

interface Argon2Module {
  verify(hashed: string, password: string): Promise<boolean>;
  hash(password: string, options?: Record<string, unknown>): Promise<string>;
}

/** Options of {@link argon2Verifier}; they apply to new hashes only (a hash carries its own). */
export interface Argon2Options {
  /** Memory in KiB. Default: `19_456` (19 MiB, OWASP's argon2id baseline). */
  memoryCost?: number;
  /** Iterations. Default: `2`. */
  timeCost?: number;
  /** Lanes. Default: `1`. */
  parallelism?: number;
}

/**
 * argon2 (`$argon2id$`, `$argon2i$`, `$argon2d$`, RFC 9106) through `@node-rs/argon2`, an
 * optional peer loaded on first use (it runs off the event loop). New hashes are argon2id.
 */
export function argon2Verifier(options: Argon2Options = {}): SecretVerifier {
  const load = lazy<Argon2Module>('@node-rs/argon2', 'argon2Verifier', 'argon2');
  return {
    name: 'argon2',
    accepts: (hash) => /^\$argon2(id|i|d)\$/.test(hash),
    async verify(secret, hash) {
      const argon2 = await load();
      return (await argon2.verify(hash, secret)) === true;
    },
    async hash(secret) {
      const argon2 = await load();
      return argon2.hash(secret, {
        memoryCost: options.memoryCost ?? 19_456,
        timeCost: options.timeCost ?? 2,
        parallelism: options.parallelism ?? 1,
      });
    },
  };
}

interface BcryptModule {
  compare(secret: string, hash: string): Promise<boolean>;
  hash(secret: string, rounds: number): Promise<string>;
  default?: BcryptModule;
}

/**
 * bcrypt (`$2b$`, `$2a$`, `$2y$`) through `bcryptjs`, an optional peer loaded on first use (pure
 * JavaScript; its asynchronous compare yields to the event loop between chunks). Note bcrypt
 * reads at most 72 bytes of a secret. New hashes: `$2b$` with `rounds` (default `12`).
 */
export function bcryptVerifier(options: { rounds?: number } = {}): SecretVerifier {
  const load = lazy<BcryptModule>('bcryptjs', 'bcryptVerifier', 'bcrypt');
  const module_ = async () => {
    const loaded = await load();
    return typeof loaded.compare === 'function' ? loaded : loaded.default!;
  };
  return {
    name: 'bcrypt',
    accepts: (hash) => /^\$2[aby]\$\d\d\$/.test(hash),
    async verify(secret, hash) {
      return (await (await module_()).compare(secret, hash)) === true;
    },
    async hash(secret) {
      return (await module_()).hash(secret, options.rounds ?? 12);
    },
  };
}

interface ShaCryptModule {
  verify(plaintext: string, hash: string): boolean;
  encrypt(plaintext: string, salt?: string): string;
}

const SHA_CRYPT = /^\$([56])\$(?:rounds=(\d{1,9})\$)?[^$]{0,16}\$[./0-9A-Za-z]+$/;

/**
 * sha-crypt (`$5$` SHA-256, `$6$` SHA-512, as glibc `crypt(3)`, `mkpasswd` and
 * `openssl passwd -5/-6` write them) through `unixcrypt`, an optional peer loaded on first use.
 * The computation is synchronous (5 000 rounds by default: a few ms); the auth cache's
 * concurrency bounds and its verified-secret cache keep it rare. A stored hash asking for more
 * than `maxRounds` (default `1_000_000`) is refused. New hashes: `$6$` with 5 000 rounds.
 */
export function shaCryptVerifier(options: { maxRounds?: number } = {}): SecretVerifier {
  const load = lazy<ShaCryptModule>('unixcrypt', 'shaCryptVerifier', 'sha-crypt');
  const maxRounds = options.maxRounds ?? 1_000_000;
  return {
    name: 'sha-crypt',
    accepts: (hash) => hash.startsWith('$5$') || hash.startsWith('$6$'),
    async verify(secret, hash) {
      const match = SHA_CRYPT.exec(hash);
      if (!match) throw new TypeError('shaCryptVerifier: not a $5$ or $6$ crypt string');
      if (match[2] !== undefined && Number(match[2]) > maxRounds) {
        throw new TypeError(
          'shaCryptVerifier: the stored hash asks for more rounds than maxRounds',
        );
      }
      return (await load()).verify(secret, hash) === true;
    },
    async hash(secret) {
      return (await load()).encrypt(
        secret,
        `$6$${randomBytes(12).toString('base64url').slice(0, 16).replace(/[-_]/g, '.')}`,
      );
    },
  };
}

/**
 * One verifier over several formats: each hash goes to the first verifier that `accepts` it;
 * `hash` uses the first one. Default: scrypt (`N` 2^15), argon2, bcrypt, sha-crypt — the
 * optional libraries are only loaded when a hash in their format is verified.
 */
export function createSecretVerifier(
  verifiers: readonly SecretVerifier[] = [
    scryptVerifier(),
    argon2Verifier(),
    bcryptVerifier(),
    shaCryptVerifier(),
  ],
): SecretVerifier {
  if (verifiers.length === 0) throw new TypeError('createSecretVerifier: at least one verifier');
  const first = verifiers[0]!;
  const pick = (hash: string) => {
    const verifier = verifiers.find((v) => v.accepts(hash));
    if (!verifier) {
      throw new TypeError(
        `createSecretVerifier: a stored hash is in no known format (${verifiers.map((v) => v.name).join(', ')})`,
      );
    }
    return verifier;
  };
  return {
    name: verifiers.map((v) => v.name).join(', '),
    accepts: (hash) => verifiers.some((v) => v.accepts(hash)),
    verify: async (secret, hash) => pick(hash).verify(secret, hash),
    ...(first.hash ? { hash: (secret: string) => first.hash!(secret) } : {}),
  };
}
