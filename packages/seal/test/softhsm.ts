/**
 * A private SoftHSM2 token for one test file: its own config and token directory under tmp, a
 * wrapping key generated inside it (in a child process, so this process initialises the module
 * only after SOFTHSM2_CONF points at the private config), removed by `cleanup()`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export interface SoftHsm {
  readonly dir: string;
  readonly conf: string;
  readonly tokenLabel: string;
  readonly pinFile: string;
  /** Creates a wrapping key in a token (AES-256 by default; the first token by default). */
  generate(label: string, type?: 'aes-256' | 'rsa-3072', tokenLabel?: string): void;
  /** Initialises one more token (same PIN) in the same directory. */
  initToken(tokenLabel: string): void;
  cleanup(): void;
}

const pkcs11Source = fileURLToPath(new URL('../src/pkcs11.ts', import.meta.url));

export function createSoftHsm(tokenLabel = 'authcache-test'): SoftHsm {
  const dir = mkdtempSync(join(tmpdir(), 'authcache-softhsm-'));
  const tokens = join(dir, 'tokens');
  execFileSync('mkdir', ['-p', tokens]);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(
    conf,
    `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`,
  );
  const pinFile = join(dir, 'pin');
  writeFileSync(pinFile, '1234\n', { mode: 0o600 });
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  const initToken = (label: string) =>
    execFileSync(
      'softhsm2-util',
      ['--init-token', '--free', '--label', label, '--pin', '1234', '--so-pin', '5678'],
      { env, stdio: 'pipe' },
    );
  initToken(tokenLabel);
  // Every use of the module in this process must see the private config.
  process.env.SOFTHSM2_CONF = conf;
  return {
    dir,
    conf,
    tokenLabel,
    pinFile,
    initToken,
    generate(label, type = 'aes-256', token = tokenLabel) {
      const script = `import { generatePkcs11WrappingKey } from ${JSON.stringify(pkcs11Source)};
await generatePkcs11WrappingKey(${JSON.stringify({
        module: SOFTHSM_MODULE,
        slot: { tokenLabel: token },
        pin: { file: pinFile },
        label,
        type,
      })});`;
      execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        env,
        stdio: 'pipe',
        cwd: fileURLToPath(new URL('..', import.meta.url)),
      });
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
