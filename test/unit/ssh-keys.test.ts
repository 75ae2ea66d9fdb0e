import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ExitCode } from '../../src/lib/errors.js';
import { checkHosts } from '../../src/lib/hosts/check.js';
import { parseInventory } from '../../src/lib/inventory/index.js';
import { KeyStore, PASSPHRASE_ENV, SshKeyError } from '../../src/lib/remote/identity.js';
import { SshPool } from '../../src/lib/remote/ssh.js';

let dir: string;
let plain: string;
let encrypted: string;
const PASSPHRASE = 'correct horse battery';

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'edgectl-keys-'));
  plain = path.join(dir, 'plain');
  encrypted = path.join(dir, 'encrypted');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', plain]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', PASSPHRASE, '-f', encrypted]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function keyError(p: Promise<unknown>): Promise<SshKeyError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SshKeyError);
  return err as SshKeyError;
}

describe('KeyStore', () => {
  it('reads a plain key and uses it as it is', async () => {
    const keys = new KeyStore({ env: {} });
    const read = await keys.read(plain, true, 'ssh.identityFile of host a');
    expect(read?.parsed?.type).toBe('ssh-ed25519');
    const key = await keys.usable(read!, undefined, 'x');
    expect(key.isPrivateKey()).toBe(true);
  });

  it('reports a missing key named in hosts.yml once, with the file and what to do (exit 3)', async () => {
    const keys = new KeyStore({ env: {} });
    const missing = path.join(dir, 'nope');
    const a = keyError(keys.read(missing, true, 'ssh.identityFile of host edge1'));
    const b = keyError(keys.read(missing, true, 'ssh.identityFile of host edge2'));
    const [ea, eb] = await Promise.all([a, b]);
    expect(ea).toBe(eb);
    expect(ea.exitCode).toBe(ExitCode.inventory);
    expect(ea.code).toBe('SSH_KEY_MISSING');
    expect(ea.message).toContain(missing);
    expect(ea.hint).toContain(`ssh-keygen -t ed25519 -f ${missing}`);
  });

  it('skips a missing key that only the ssh config names, as ssh does', async () => {
    const keys = new KeyStore({ env: {} });
    expect(await keys.read(path.join(dir, 'nope'), false, 'IdentityFile')).toBeUndefined();
  });

  it('reports an unreadable key and a public key given as the private one', async () => {
    const keys = new KeyStore({ env: {} });
    expect((await keyError(keys.read(`${plain}.pub`, true, 'ssh.identityFile of host a'))).code).toBe(
      'SSH_KEY_INVALID',
    );
    if (process.getuid?.() !== 0) {
      const locked = path.join(dir, 'locked');
      writeFileSync(locked, 'x');
      chmodSync(locked, 0);
      expect((await keyError(keys.read(locked, true, 'o'))).message).toMatch(/cannot be read \(EACCES\)/);
    }
  });

  it('refuses an encrypted key without a passphrase, saying how to give one', async () => {
    const keys = new KeyStore({ env: {} });
    const read = await keys.read(encrypted, true, 'ssh.identityFile of host a');
    expect(read?.parsed).toBeUndefined();
    const err = await keyError(keys.usable(read!, undefined, 'ssh.identityFile of host a'));
    expect(err.code).toBe('SSH_KEY_ENCRYPTED');
    expect(err.exitCode).toBe(ExitCode.inventory);
    expect(err.hint).toContain(PASSPHRASE_ENV);
    expect(err.hint).toContain(`ssh-add ${encrypted}`);
  });

  it(`decrypts with ${PASSPHRASE_ENV}, and never shows a wrong passphrase`, async () => {
    const right = new KeyStore({ env: { [PASSPHRASE_ENV]: PASSPHRASE } });
    const key = await right.usable((await right.read(encrypted, true, 'o'))!, undefined, 'o');
    expect(key.type).toBe('ssh-ed25519');
    const wrong = new KeyStore({ env: { [PASSPHRASE_ENV]: 'hunter2-wrong' } });
    const err = await keyError(wrong.usable((await wrong.read(encrypted, true, 'o'))!, undefined, 'o'));
    expect(err.code).toBe('SSH_KEY_PASSPHRASE');
    expect(err.message).toContain(`$${PASSPHRASE_ENV}`);
    expect(`${err.message} ${err.hint}`).not.toContain('hunter2');
  });

  it('decrypts with the passphrase file of hosts.yml', async () => {
    const file = path.join(dir, 'passphrase');
    writeFileSync(file, `${PASSPHRASE}\n`, { mode: 0o600 });
    const keys = new KeyStore({ env: {} });
    const key = await keys.usable((await keys.read(encrypted, true, 'o'))!, file, 'o');
    expect(key.isPrivateKey()).toBe(true);
  });

  it('asks once per key file, however many hosts use it', async () => {
    const prompt = vi.fn(async () => PASSPHRASE);
    const keys = new KeyStore({ env: {}, prompt });
    const read = (await keys.read(encrypted, true, 'o'))!;
    const [k1, k2] = await Promise.all([
      keys.usable(read, undefined, 'o'),
      keys.usable(read, undefined, 'o'),
    ]);
    expect(k1).toBe(k2);
    expect(prompt).toHaveBeenCalledTimes(1);
    expect(prompt).toHaveBeenCalledWith(encrypted);
  });
});

describe('a missing key for many hosts', () => {
  it('fails hosts check once, with exit 3, before connecting anywhere', async () => {
    const missing = path.join(dir, 'gone_ed25519');
    // Every host points at one local listener that counts connections: the key error must come first,
    // so none may arrive.
    let connections = 0;
    const server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const inv = parseInventory(
      `testbed: t
defaults:
  ssh: { identityFile: ${missing}, port: ${port}, config: none }
hosts:
  - { name: a, role: mu, address: 127.0.0.1 }
  - { name: b, role: mu, address: 127.0.0.2 }
  - { name: c, role: mu, address: 127.0.0.3 }
`,
      'hosts.yml',
    );
    const pool = new SshPool();
    try {
      const err = await keyError(checkHosts(inv, pool));
      expect(err.exitCode).toBe(ExitCode.inventory);
      expect(err.message).toBe(`the SSH key ${missing} (ssh.identityFile of host a) does not exist`);
      expect(connections).toBe(0);
    } finally {
      await pool.closeAll();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
