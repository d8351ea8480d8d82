/** The PKCS#11 module, shared by every backend and set-up call of the process on the same path. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as Pkcs11Js from 'pkcs11js';

/** Where the PIN comes from: never an inline string, so it stays out of configs and logs. */
export type Pkcs11Pin =
  /** A file holding the PIN (trailing newline ignored); keep it mode 0600. */
  | { file: string }
  /**
   * A systemd credential: `$CREDENTIALS_DIRECTORY/<name>` (`LoadCredentialEncrypted=<name>:…`).
   */
  | { credential: string };

/**
 * The token: a slot id as the module numbers them, or `{ tokenLabel }` (robust when slots are
 * renumbered, as SoftHSM does).
 */
export type Pkcs11Slot = number | { tokenLabel: string };

export function describeSlot(slot: Pkcs11Slot): string {
  return typeof slot === 'number' ? `slot ${slot}` : `token "${slot?.tokenLabel}"`;
}

/** `pkcs11js`, the optional peer. */
export async function loadPkcs11(): Promise<typeof Pkcs11Js> {
  try {
    const imported = (await import('pkcs11js')) as unknown as { default?: typeof Pkcs11Js };
    return (imported.default ?? imported) as typeof Pkcs11Js;
  } catch (error) {
    throw new Error('the optional peer "pkcs11js" is not installed (npm install pkcs11js)', {
      cause: error,
    });
  }
}

// Loaded and initialised once per process and path (C_Initialize is per process); finalised when
// the last user releases it.
const modules = new Map<string, { lib: Pkcs11Js.PKCS11; users: number }>();

/** The initialised module at `path`; counts one more user unless `alreadyCounted`. */
export function acquireModule(
  js: typeof Pkcs11Js,
  path: string,
  alreadyCounted = false,
): Pkcs11Js.PKCS11 {
  let shared = modules.get(path);
  if (!shared) {
    const lib = new js.PKCS11();
    lib.load(path);
    try {
      lib.C_Initialize();
    } catch (error) {
      if (!String((error as Error).message).includes('CKR_CRYPTOKI_ALREADY_INITIALIZED')) {
        throw error;
      }
    }
    shared = { lib, users: 0 };
    modules.set(path, shared);
  }
  if (!alreadyCounted) shared.users++;
  return shared.lib;
}

export function releaseModule(path: string): void {
  const shared = modules.get(path);
  if (!shared || --shared.users > 0) return;
  modules.delete(path);
  try {
    shared.lib.C_Finalize();
  } catch {
    // finalised elsewhere
  }
}

export function findSlot(lib: Pkcs11Js.PKCS11, slot: Pkcs11Slot): Buffer | undefined {
  const slots = lib.C_GetSlotList(true);
  if (typeof slot === 'number') {
    return slots.find((s) => s.readUIntLE(0, Math.min(s.length, 6)) === slot);
  }
  return slots.find((s) => lib.C_GetTokenInfo(s).label.trim() === slot.tokenLabel);
}

/** Logs the user in; already logged in (logins are per process and token) is fine. */
export function login(
  lib: Pkcs11Js.PKCS11,
  js: typeof Pkcs11Js,
  session: Buffer,
  pin: string,
): void {
  try {
    lib.C_Login(session, js.CKU_USER, pin);
  } catch (error) {
    if (!String((error as Error).message).includes('CKR_USER_ALREADY_LOGGED_IN')) throw error;
  }
}

export async function readPin(pin: Pkcs11Pin): Promise<string> {
  let path: string;
  if (pin && 'file' in pin && typeof pin.file === 'string') path = pin.file;
  else if (pin && 'credential' in pin && typeof pin.credential === 'string') {
    const dir = process.env.CREDENTIALS_DIRECTORY;
    if (!dir) {
      throw new Error(`pin.credential "${pin.credential}": $CREDENTIALS_DIRECTORY is not set`);
    }
    path = join(dir, pin.credential);
  } else throw new TypeError('pkcs11Key: options.pin must be { file } or { credential }');
  try {
    return (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  } catch (error) {
    throw new Error(
      `cannot read the PIN file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
}
