/**
 * The receiver, the only command the testbed key may run on a server: run here through a real sh with
 * the request in SSH_ORIGINAL_COMMAND, as sshd runs a forced command, over a staging root in a
 * temporary directory.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  migrationKey,
  RECEIVER_VERSION,
  receiveCommand,
  receiverPath,
  receiverScript,
  stagingDir,
  stagingRoot,
  TAR_FLAGS_ARGV,
} from '../../src/lib/migration/commands.js';
import { shellJoin } from '../../src/lib/remote/quote.js';

const top = mkdtempSync(join(tmpdir(), 'edgectl-receiver-'));
afterAll(() => rmSync(top, { recursive: true, force: true }));
let base: string;
let root: string;
let script: string;
let n = 0;
beforeEach(() => {
  base = join(top, String(n++));
  root = join(base, 'migrations', 'lab');
  mkdirSync(root, { recursive: true });
  script = join(base, 'receive-lab');
  writeFileSync(script, receiverScript(root), { mode: 0o755 });
});

function receive(command: string, input?: Buffer) {
  const r = spawnSync('sh', [script], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', SSH_ORIGINAL_COMMAND: command },
    ...(input ? { input } : { stdio: ['ignore', 'pipe', 'pipe'] }),
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every path under base, to show that a refused request made nothing. */
function tree(): string[] {
  return (readdirSync(base, { recursive: true }) as string[]).sort();
}

function tarOf(files: Record<string, string>): Buffer {
  const src = mkdtempSync(join(top, 'src-'));
  // As a sender's directories may be: the receiver's own stays 0700 all the same.
  chmodSync(src, 0o755);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(src, name, '..'), { recursive: true });
    writeFileSync(join(src, name), text);
  }
  const r = spawnSync('tar', [...TAR_FLAGS_ARGV, '-C', src, '-cf', '-', '.']);
  rmSync(src, { recursive: true, force: true });
  return r.stdout;
}

describe('the receiver', () => {
  it('accepts the directories of the staging layout, makes each anew (0700) and unpacks into it', () => {
    const r = receive(
      receiveCommand(`${root}/17/dst/pre`),
      tarOf({ 'criu/pages-1.img': 'pages', MANIFEST: 'm' }),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('ready\n');
    expect(readFileSync(join(root, '17/dst/pre/criu/pages-1.img'), 'utf8')).toBe('pages');
    for (const d of ['17', '17/dst', '17/dst/pre']) expect(statSync(join(root, d)).mode & 0o777).toBe(0o700);
    // The other channel of the same migration, next to it.
    expect(receive(receiveCommand(`${root}/17/dst/in`), tarOf({ f: 'x' })).code).toBe(0);
    expect(readFileSync(join(root, '17/dst/in/f'), 'utf8')).toBe('x');
  });

  it('accepts every channel directory the migration uses (stagingDir of the destination, pre and in)', () => {
    const tb = 'paper-fig3';
    for (const id of [1, 42, 123456]) {
      const dst = stagingDir(tb, migrationKey('0123456789abcdef', id), 'dst');
      expect(dst.startsWith(`${stagingRoot(tb)}/`)).toBe(true);
      const local = `${root}${dst.slice(stagingRoot(tb).length)}`;
      for (const leaf of ['pre', 'in']) {
        const r = receive(receiveCommand(`${local}/${leaf}`), tarOf({ f: 'x' }));
        expect(r.code, `${local}/${leaf}: ${r.stderr}`).toBe(0);
      }
    }
  });

  it.each([
    ['a shell command', 'echo hi; id'],
    ['nothing (a login shell)', ''],
    ['tar by hand', `tar -x -C ${'/'}`],
    ['another version', `edgectl-receive 000000000000 /x/17/dst/in`],
    ['a directory outside the root', 'edgectl-receive @V /etc/17/dst/in'],
    ['the root of a testbed whose name extends this one', 'edgectl-receive @V @ROOT-2/17/dst/in'],
    ['the root itself', 'edgectl-receive @V @ROOT'],
    ['a parent directory', 'edgectl-receive @V @ROOT/../17/dst/in'],
    ['a parent directory as the id', 'edgectl-receive @V @ROOT/../dst/in'],
    ['a parent directory as the leaf', 'edgectl-receive @V @ROOT/17/dst/..'],
    ['the current directory as the leaf', 'edgectl-receive @V @ROOT/17/dst/.'],
    ['a hidden leaf', 'edgectl-receive @V @ROOT/17/dst/.x'],
    ['an option-like id', 'edgectl-receive @V @ROOT/-rf/dst/in'],
    ['the source side', 'edgectl-receive @V @ROOT/17/src/in'],
    ['one level too deep', 'edgectl-receive @V @ROOT/17/dst/in/x'],
    ['one level too shallow', 'edgectl-receive @V @ROOT/17/dst'],
    ['a space', 'edgectl-receive @V @ROOT/17/dst/in x'],
    ['a second line', 'edgectl-receive @V @ROOT/17/dst/in\nrm -rf /'],
    ['a command substitution', 'edgectl-receive @V @ROOT/$(id)/dst/in'],
    ['a glob', 'edgectl-receive @V @ROOT/*/dst/in'],
    ['a double slash', 'edgectl-receive @V @ROOT//17/dst/in'],
    ['a name too long', `edgectl-receive @V @ROOT/${'a'.repeat(65)}/dst/in`],
  ])('refuses %s, with a message and exit 2, making nothing', (_what, request) => {
    const before = tree();
    const r = receive(request.replaceAll('@V', RECEIVER_VERSION).replaceAll('@ROOT', root));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^edgectl-receive: \S/);
    expect(tree()).toEqual(before);
  });

  it('says which version it is when asked by another edgectl', () => {
    const r = receive(`edgectl-receive 000000000000 ${root}/17/dst/in`);
    expect(r.stderr).toContain(`another edgectl version (${RECEIVER_VERSION}): run edgectl provision`);
  });

  it('refuses a directory that exists, or a link in its place: nothing an earlier session left is followed', () => {
    expect(receive(receiveCommand(`${root}/17/dst/in`), tarOf({ f: 'x' })).code).toBe(0);
    const again = receive(receiveCommand(`${root}/17/dst/in`), tarOf({ g: 'y' }));
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('exists already');
    expect(existsSync(join(root, '17/dst/in/g'))).toBe(false);
    const outside = join(base, 'outside');
    mkdirSync(outside);
    symlinkSync(outside, join(root, '17/dst/pre'));
    expect(receive(receiveCommand(`${root}/17/dst/pre`), tarOf({ g: 'y' })).code).toBe(2);
    expect(readdirSync(outside)).toEqual([]);
  });

  it('is installed per testbed, and its script names its own root and version', () => {
    expect(receiverPath('paper-fig3')).toBe('/usr/local/lib/edgectl/receive-paper-fig3');
    const text = receiverScript('/var/lib/edgectl/migrations/paper-fig3');
    expect(text).toContain("root='/var/lib/edgectl/migrations/paper-fig3'");
    expect(text).toContain(`version='${RECEIVER_VERSION}'`);
    expect(text).toContain(
      `exec ${shellJoin(['tar', ...TAR_FLAGS_ARGV, '--no-overwrite-dir', '-x', '-C'])} "$dir"`,
    );
    expect(() => receiverScript("/x'; rm -rf /; '")).toThrow();
  });
});
