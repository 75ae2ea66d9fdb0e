import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteCommandError } from '../../src/lib/remote/errors.js';
import {
  HostUnreachableError,
  runChecked,
  ShellExecutor,
  SshKeyError,
  SshPool,
  type SshTarget,
} from '../../src/lib/remote/index.js';
import { freePort, startSilentServer, startSshd, type TestSshd } from '../helpers/sshd.js';

const TIMEOUT_MS = 1_500;
let sshd: TestSshd;
const pools: SshPool[] = [];

function target(overrides: Partial<SshTarget['ssh']> = {}, port?: number): SshTarget {
  return {
    name: 'testhost',
    address: '127.0.0.1',
    ssh: {
      user: sshd.user,
      port: port ?? sshd.port,
      identityFile: sshd.identityFile,
      knownHosts: sshd.knownHosts,
      acceptNewHostKeys: false,
      sudo: false,
      connectTimeoutMs: TIMEOUT_MS,
      ...overrides,
    },
  };
}

function newPool(): SshPool {
  const pool = new SshPool();
  pools.push(pool);
  return pool;
}

async function connectError(t: SshTarget): Promise<HostUnreachableError> {
  const started = performance.now();
  const err = await newPool()
    .connect(t)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  const elapsed = performance.now() - started;
  expect(err).toBeInstanceOf(HostUnreachableError);
  // Every failure is reported within the connect timeout (plus scheduling slack).
  expect(elapsed).toBeLessThan(TIMEOUT_MS + 1_000);
  return err as HostUnreachableError;
}

beforeAll(async () => {
  sshd = await startSshd();
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.closeAll()));
  await sshd?.stop();
});

describe('SSH executor against a real sshd', () => {
  it('runs a command and returns its output and exit code', async () => {
    const exec = newPool().executor(target());
    const r = await exec.run(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    expect(r.ms).toBeGreaterThan(0);
    expect(r.timedOut).toBe(false);
  });

  it('delivers argv with quotes, spaces, $(), backticks and ; intact', async () => {
    const exec = newPool().executor(target());
    const args = [
      "it's",
      'two words',
      '$(touch /tmp/edgectl-pwned)',
      '`id`',
      'a;b',
      '"double"',
      '*',
      'tab\there',
      '',
      '$HOME',
      'back\\slash',
      '|&><',
    ];
    const r = await exec.run(['printf', '%s\\n', ...args]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(args.map((a) => `${a}\n`).join(''));
    expect(() => readFileSync('/tmp/edgectl-pwned')).toThrow();
  });

  it('passes stdin and environment variables', async () => {
    const exec = newPool().executor(target());
    const r = await exec.run(['sh', '-c', 'cat; printf "%s" "$EDGECTL_X"'], {
      stdin: 'from stdin\n',
      env: { EDGECTL_X: "a 'quoted' value" },
    });
    expect(r.stdout).toBe("from stdin\na 'quoted' value");
  });

  it('shares one connection between concurrent commands', async () => {
    const exec = newPool().executor(target());
    const results = await Promise.all(
      Array.from({ length: 20 }, () => exec.run(['sh', '-c', 'echo "$SSH_CONNECTION"'])),
    );
    const connections = new Set(results.map((r) => r.stdout.trim()));
    expect(results.every((r) => r.code === 0)).toBe(true);
    expect(connections.size).toBe(1);
  });

  it('kills a command that runs past its timeout, on the host itself', async () => {
    const exec = newPool().executor(target());
    // A sleep no other process runs: it must be gone from this machine (the test host) afterwards.
    const seconds = `30.${process.pid}`;
    const r = await exec.run(['sleep', seconds], { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.code).toBe(124);
    const running = () =>
      readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .some((p) => {
          try {
            return readFileSync(`/proc/${p}/cmdline`, 'utf8') === `sleep\0${seconds}\0`;
          } catch {
            return false;
          }
        });
    expect(running()).toBe(false);
  });

  it('runChecked names host, command and stderr on failure', async () => {
    const exec = newPool().executor(target());
    const err = await runChecked(exec, ['ls', '/no/such/dir']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteCommandError);
    expect((err as Error).message).toMatch(/on testhost: `ls \/no\/such\/dir` exited with 2: .*No such file/);
  });

  it('reconnects after the connection drops', async () => {
    const pool = newPool();
    const exec = pool.executor(target());
    const first = await exec.run(['sh', '-c', 'echo "$SSH_CONNECTION"']);
    const { client } = await pool.connect(target());
    await new Promise<void>((resolve) => {
      client.once('close', () => resolve());
      client.end();
    });
    const second = await exec.run(['sh', '-c', 'echo "$SSH_CONNECTION"']);
    expect(second.code).toBe(0);
    expect(second.stdout).not.toBe(first.stdout);
  });
});

describe('a persistent remote shell', () => {
  it('runs commands one after another in one session, with their output, stderr and exit codes', async () => {
    const shell = new ShellExecutor(newPool(), target());
    try {
      await shell.open();
      const a = await shell.run(['sh', '-c', 'printf "no newline"; echo err >&2; exit 3']);
      expect(a).toMatchObject({ code: 3, stdout: 'no newline', stderr: 'err\n', timedOut: false });
      // Every command runs in the same shell process (its parent), unlike SshExecutor's sessions.
      const parents = await Promise.all(
        Array.from({ length: 5 }, () => shell.run(['sh', '-c', 'echo $PPID'])),
      );
      expect(new Set(parents.map((r) => r.stdout)).size).toBe(1);
      const fresh = await newPool().executor(target()).run(['sh', '-c', 'echo $PPID']);
      expect(fresh.stdout).not.toBe(parents[0]!.stdout);
      // Output that looks like a frame header, and bytes without a newline, come back intact.
      const tricky = await shell.run(['printf', '%s', '@edgectl-0000-1 0 0 0\nx']);
      expect(tricky.stdout).toBe('@edgectl-0000-1 0 0 0\nx');
      // Commands read no stdin of the shell (it carries the next commands) but what they are given.
      const cat = await shell.run(['cat'], { timeoutMs: 2_000 });
      expect(cat).toMatchObject({ code: 0, stdout: '', timedOut: false });
      const given = Buffer.from([0, 1, 2, 39, 10, 255, 36, 40]);
      const fed = await shell.run(['sh', '-c', 'od -An -tu1 | tr -s " \\n" " "; echo $PPID >&2'], {
        stdin: given,
      });
      expect(fed.stdout.trim()).toBe([...given].join(' '));
      expect(fed.stderr).toBe(parents[0]!.stdout); // still the same shell
      const argv = ["it's", 'two words', '$(id)', '`id`', 'a;b', ''];
      expect((await shell.run(['printf', '%s\\n', ...argv])).stdout).toBe(argv.map((x) => `${x}\n`).join(''));
    } finally {
      await shell.close();
    }
  });

  it('enforces a time limit and goes on with the next command', async () => {
    const shell = new ShellExecutor(newPool(), target());
    try {
      const r = await shell.run(['sleep', '30'], { timeoutMs: 300 });
      expect(r).toMatchObject({ code: 124, timedOut: true });
      expect((await shell.run(['echo', 'after'])).stdout).toBe('after\n');
    } finally {
      await shell.close();
    }
  });

  it('opens a new shell when the old one ended, and fails the command that was running', async () => {
    const pool = newPool();
    const shell = new ShellExecutor(pool, target());
    try {
      const before = await shell.run(['sh', '-c', 'echo $PPID']);
      const killed = await shell.run(['sh', '-c', 'kill -9 $PPID; sleep 5']).catch((e: unknown) => e);
      expect(killed).toBeInstanceOf(HostUnreachableError);
      expect((killed as Error).message).toMatch(/remote shell on testhost ended/);
      const after = await shell.run(['sh', '-c', 'echo $PPID']);
      expect(after.code).toBe(0);
      expect(after.stdout).not.toBe(before.stdout);
    } finally {
      await shell.close();
    }
  });
});

describe('SSH connection failures, each with its own clear error', () => {
  it('a wrong key', async () => {
    const err = await connectError(target({ identityFile: sshd.wrongIdentityFile }));
    expect(err.reason).toBe('auth');
    expect(err.code).toBe('SSH_AUTH');
    expect(err.message).toMatch(/authentication .* failed/);
    expect(err.hint).toMatch(/ssh.identityFile/);
  });

  it('a closed port', async () => {
    const err = await connectError(target({}, await freePort()));
    expect(err.reason).toBe('refused');
    expect(err.message).toMatch(/refused/);
  });

  it('an unknown host key', async () => {
    const err = await connectError(target({ knownHosts: sshd.emptyKnownHosts }));
    expect(err.reason).toBe('hostkey-unknown');
    expect(err.message).toMatch(/not in .*empty_known_hosts: refused \(key SHA256:/);
    expect(err.hint).toMatch(/acceptNewHostKeys/);
  });

  it('a changed host key', async () => {
    const file = join(sshd.dir, 'other_known_hosts');
    const otherKey = join(sshd.dir, 'other_host_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
    const [type, blob] = readFileSync(`${otherKey}.pub`, 'utf8').split(' ');
    writeFileSync(file, `[127.0.0.1]:${sshd.port} ${type} ${blob}\n`);
    const err = await connectError(target({ knownHosts: file }));
    expect(err.reason).toBe('hostkey-mismatch');
    expect(err.message).toMatch(/does not match/);
    rmSync(file);
  });

  it('accepts and records a new host key only when told to', async () => {
    const file = join(sshd.dir, 'tofu_known_hosts');
    writeFileSync(file, '');
    const pool = newPool();
    const r = await pool.executor(target({ knownHosts: file, acceptNewHostKeys: true })).run(['true']);
    expect(r.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(readFileSync(sshd.knownHosts, 'utf8'));
    // Now known: a strict connection succeeds.
    const strict = await newPool()
      .executor(target({ knownHosts: file }))
      .run(['true']);
    expect(strict.code).toBe(0);
  });

  it('a dead host', async () => {
    const silent = await startSilentServer();
    try {
      const err = await connectError(target({}, silent.port));
      expect(err.reason).toBe('timeout');
      expect(err.message).toMatch(`within ${TIMEOUT_MS} ms`);
    } finally {
      await silent.stop();
    }
  });

  it('a missing key file: a configuration error (exit 3) naming the file, before any connection', async () => {
    const missing = join(sshd.dir, 'missing_key');
    const err = await newPool()
      .connect(target({ identityFile: missing }))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(SshKeyError);
    expect(err).toMatchObject({ code: 'SSH_KEY_MISSING', exitCode: 3, file: missing });
  });
});
