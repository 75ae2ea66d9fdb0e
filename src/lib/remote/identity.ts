/**
 * The private keys SSH offers: read once per file and per run (every host that names the same key shares
 * one read, one passphrase prompt and one error); an encrypted one decrypted only when the plain key
 * files and the agent's keys were not accepted.
 */
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
// ssh2 is CommonJS: its `utils` is no named export.
import ssh2, { type ParsedKey } from 'ssh2';
import { EdgectlError, ExitCode, errorMessage } from '../errors.js';

/** The environment variable holding the passphrase of encrypted keys. */
export const PASSPHRASE_ENV = 'EDGECTL_SSH_PASSPHRASE';

/**
 * A key file that cannot be used: missing, unreadable, not a key, or encrypted without a (right)
 * passphrase. Exit 3, as for hosts.yml problems: the fix is in the configuration (hosts.yml, the ssh
 * config, the passphrase given), not on the host, and it is the same for every host that names the key.
 */
export class SshKeyError extends EdgectlError {
  readonly file: string;
  constructor(code: string, file: string, message: string, hint: string, cause?: unknown) {
    super(code, ExitCode.inventory, message, { hint, cause, details: { file } });
    this.name = 'SshKeyError';
    this.file = file;
  }
}

export type PassphrasePrompt = (file: string) => Promise<string | undefined>;

export interface KeyStoreOptions {
  /** Asks for a passphrase (on a terminal); absent: never ask. */
  prompt?: PassphrasePrompt;
  env?: NodeJS.ProcessEnv;
}

interface ReadKey {
  file: string;
  data: Buffer;
  /** The key, when it is not encrypted. */
  parsed?: ParsedKey;
}

function isEncryptedError(err: Error): boolean {
  return /no passphrase given/i.test(err.message);
}

export class KeyStore {
  private readonly reads = new Map<string, Promise<ReadKey | undefined>>();
  private readonly decrypted = new Map<string, Promise<ParsedKey>>();

  constructor(private readonly options: KeyStoreOptions = {}) {}

  /**
   * Reads a key file. `required` (a key hosts.yml names): a missing or unreadable file is an SshKeyError;
   * otherwise (a key the ssh config names) it is skipped, as ssh does: undefined.
   */
  read(file: string, required: boolean, origin: string): Promise<ReadKey | undefined> {
    const key = `${file}\0${required}`;
    let pending = this.reads.get(key);
    if (!pending) {
      pending = this.readOnce(file, required, origin);
      this.reads.set(key, pending);
    }
    return pending;
  }

  private async readOnce(file: string, required: boolean, origin: string): Promise<ReadKey | undefined> {
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (err) {
      if (!required) return undefined;
      const code = (err as NodeJS.ErrnoException).code;
      const what = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? errorMessage(err)})`;
      throw new SshKeyError(
        'SSH_KEY_MISSING',
        file,
        `the SSH key ${file} (${origin}) ${what}`,
        code === 'ENOENT'
          ? `create it (ssh-keygen -t ed25519 -f ${file}) and install its .pub on the hosts, or point ${origin} at your key`
          : `make it readable by the user who runs edgectl (mode 600, owned by that user), or point ${origin} at another key`,
        err,
      );
    }
    const parsed = ssh2.utils.parseKey(data);
    if (parsed instanceof Error) {
      if (isEncryptedError(parsed)) return { file, data };
      if (!required) return undefined;
      throw new SshKeyError(
        'SSH_KEY_INVALID',
        file,
        `the SSH key ${file} (${origin}) is not a private key edgectl can read: ${parsed.message}`,
        `${origin} must name a private key in OpenSSH or PEM format (not the .pub)`,
      );
    }
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key?.isPrivateKey()) {
      if (!required) return undefined;
      throw new SshKeyError(
        'SSH_KEY_INVALID',
        file,
        `the SSH key ${file} (${origin}) is a public key`,
        `${origin} must name the private key (the file without .pub)`,
      );
    }
    return { file, data, parsed: key };
  }

  /**
   * The usable key of a file read: itself when not encrypted, else decrypted with the passphrase from
   * $EDGECTL_SSH_PASSPHRASE, the passphrase file, or a prompt (in that order), once per file.
   */
  usable(read: ReadKey, passphraseFile: string | undefined, origin: string): Promise<ParsedKey> {
    if (read.parsed) return Promise.resolve(read.parsed);
    let pending = this.decrypted.get(read.file);
    if (!pending) {
      pending = this.decrypt(read, passphraseFile, origin);
      this.decrypted.set(read.file, pending);
    }
    return pending;
  }

  private async decrypt(
    read: ReadKey,
    passphraseFile: string | undefined,
    origin: string,
  ): Promise<ParsedKey> {
    const env = this.options.env ?? process.env;
    let passphrase: string | undefined;
    let source: string;
    const fromEnv = env[PASSPHRASE_ENV];
    if (fromEnv !== undefined && fromEnv !== '') {
      passphrase = fromEnv;
      source = `$${PASSPHRASE_ENV}`;
    } else if (passphraseFile !== undefined) {
      source = `ssh.passphraseFile ${passphraseFile}`;
      try {
        passphrase = (await readFile(passphraseFile, 'utf8')).split('\n')[0] ?? '';
      } catch (err) {
        throw new SshKeyError(
          'SSH_KEY_PASSPHRASE',
          read.file,
          `the passphrase file ${passphraseFile} of the SSH key ${read.file} cannot be read: ${errorMessage(err)}`,
          'check ssh.passphraseFile in hosts.yml',
          err,
        );
      }
    } else {
      source = 'the prompt';
      passphrase = this.options.prompt ? await this.options.prompt(read.file) : undefined;
      if (passphrase === undefined) {
        throw new SshKeyError(
          'SSH_KEY_ENCRYPTED',
          read.file,
          `the SSH key ${read.file} (${origin}) is encrypted and no passphrase was given`,
          `add it to an ssh agent (ssh-add ${read.file}), set ${PASSPHRASE_ENV}, or name a file holding the passphrase in ssh.passphraseFile of hosts.yml (edgectl asks on a terminal, not under --json)`,
        );
      }
    }
    const parsed = ssh2.utils.parseKey(read.data, passphrase);
    const key = parsed instanceof Error ? undefined : Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key) {
      // The passphrase itself never goes into a message.
      throw new SshKeyError(
        'SSH_KEY_PASSPHRASE',
        read.file,
        `the passphrase from ${source} does not decrypt the SSH key ${read.file}`,
        `check the passphrase (ssh-keygen -y -f ${read.file} asks for it and prints the public key)`,
      );
    }
    return key;
  }
}

/**
 * Asks for a passphrase on the terminal, echo off; the prompt goes to stderr (stdout may be a pipe).
 * Resolves undefined on an empty answer or end of input.
 */
export function terminalPassphrasePrompt(): PassphrasePrompt {
  // One prompt at a time: hosts connect in parallel, and each file is asked for once (KeyStore).
  let queue: Promise<unknown> = Promise.resolve();
  return (file) => {
    const ask = queue.then(
      () =>
        new Promise<string | undefined>((resolve) => {
          process.stderr.write(`Passphrase for ${file}: `);
          const silent = new Writable({ write: (_chunk, _enc, done) => done() });
          const rl = createInterface({ input: process.stdin, output: silent, terminal: true });
          let answered = false;
          rl.once('line', (line) => {
            answered = true;
            rl.close();
            process.stderr.write('\n');
            resolve(line === '' ? undefined : line);
          });
          rl.once('close', () => {
            if (!answered) resolve(undefined);
          });
        }),
    );
    queue = ask.catch(() => undefined);
    return ask;
  };
}
