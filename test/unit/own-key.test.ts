/**
 * readOwnPrivateKey: a key edgectl authorises is read only when it is this user's alone, and its public
 * half comes from the private key, not from a .pub anyone could have written.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readOwnPrivateKey, UnsafeKeyError } from '../../src/lib/remote/keys.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-ownkey-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function keyPair(name: string): string {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'c', '-f', file]);
  return file;
}

describe('readOwnPrivateKey', () => {
  it('derives the public half from the private key (a .pub beside it is not read)', async () => {
    const file = keyPair('a');
    const pub = readFileSync(`${file}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
    writeFileSync(`${file}.pub`, 'ssh-ed25519 AAAAsomebodyelse mallory\n');
    const key = await readOwnPrivateKey(file);
    expect(key.publicKey).toBe(pub);
    expect(key.privateKey).toBe(readFileSync(file, 'utf8'));
  });

  it('refuses a key that others can read or write', async () => {
    const file = keyPair('b');
    chmodSync(file, 0o640);
    await expect(readOwnPrivateKey(file)).rejects.toThrow(UnsafeKeyError);
    await expect(readOwnPrivateKey(file)).rejects.toThrow(/mode 640\): it will not be authorised/);
  });

  it.runIf(process.getuid?.() === 0)('refuses a key of another user', async () => {
    const file = keyPair('c');
    chownSync(file, 4321, 4321);
    await expect(readOwnPrivateKey(file)).rejects.toThrow(/owner uid 4321/);
  });

  it('refuses what is no private key', async () => {
    const file = join(dir, 'd');
    writeFileSync(
      file,
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID3rkKTeXrZMxpiVihzXXmJdI5WAU0yss2cC8ncOYALA x\n',
      {
        mode: 0o600,
      },
    );
    await expect(readOwnPrivateKey(file)).rejects.toThrow(/is not an unencrypted private key/);
  });
});
