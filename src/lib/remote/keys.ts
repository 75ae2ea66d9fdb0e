/**
 * Private keys that edgectl authorises somewhere (the lab's user key in its sshds, the testbed key on
 * every server): read only when they are the user's own, so that whoever else can write to the
 * directory they sit in (a checkout owned by another user than the root who runs `lab up`) cannot have
 * a key of theirs authorised by putting it there.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
// ssh2 is CommonJS: its `utils` is no named export.
import ssh2 from 'ssh2';
import { EdgectlError, ExitCode } from '../errors.js';

export class UnsafeKeyError extends EdgectlError {
  constructor(message: string, hint: string) {
    super('UNSAFE_KEY', ExitCode.unsupported, message, { hint });
  }
}

export interface OwnKey {
  privateKey: string;
  /** `TYPE BASE64`, derived from the private key (a .pub beside it is not read: anyone could have written it). */
  publicKey: string;
}

/**
 * Reads a private key that must be a regular file of this process's user, readable and writable by that
 * user alone. The checks and the read go through one open descriptor: the file checked is the file read.
 */
export async function readOwnPrivateKey(file: string): Promise<OwnKey> {
  const fd = await open(file, constants.O_RDONLY | constants.O_NOCTTY);
  let text: string;
  try {
    const st = await fd.stat();
    const uid = process.geteuid?.() ?? st.uid;
    if (!st.isFile() || st.uid !== uid || (st.mode & 0o077) !== 0) {
      throw new UnsafeKeyError(
        `${file} is not a private key of this user's alone (owner uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}): it will not be authorised`,
        `remove it (edgectl makes a new one), or give it to uid ${uid} with mode 600 if it is yours`,
      );
    }
    text = await fd.readFile('utf8');
  } finally {
    await fd.close();
  }
  const key = ssh2.utils.parseKey(text);
  if (key instanceof Error || !key.isPrivateKey()) {
    throw new UnsafeKeyError(
      `${file} is not an unencrypted private key${key instanceof Error ? `: ${key.message}` : ''}`,
      'remove it: edgectl makes a new one',
    );
  }
  return { privateKey: text, publicKey: `${key.type} ${key.getPublicSSH().toString('base64')}` };
}
