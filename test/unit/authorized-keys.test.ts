/**
 * The testbed key's line in authorized_keys: the line itself, and the scripts that find, write and remove
 * it, run for real (sh, awk, flock, mktemp, mv) on files in a temporary directory.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
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
  authorizedKeyLine,
  legacyKeyMarker,
  probeKeyArgv,
  testbedKeyMarker,
  writeKeyArgv,
} from '../../src/lib/provision/authorized-keys.js';

const root = mkdtempSync(join(tmpdir(), 'edgectl-authkeys-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dir: string;
let file: string;
let n = 0;
beforeEach(() => {
  dir = join(root, String(n++));
  mkdirSync(dir);
  file = join(dir, 'authorized_keys');
});

const isRoot = process.getuid?.() === 0;

function lineOf(testbed: string, blob = `AAAA${testbed.replace(/\W/g, '')}`): string {
  return authorizedKeyLine({
    publicKey: `ssh-ed25519 ${blob} some comment`,
    from: ['198.18.1.10', '198.18.1.11'],
    command: `/usr/local/lib/edgectl/receive-${testbed}`,
    marker: testbedKeyMarker(testbed),
  });
}

function run(argv: string[], env: Record<string, string> = {}) {
  const r = spawnSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8',
    env: { ...process.env, EDGECTL_AUTHORIZED_KEYS: file, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const write = (testbed: string, line: string, env?: Record<string, string>) =>
  run(writeKeyArgv(line, testbedKeyMarker(testbed), legacyKeyMarker(testbed)), env);
const probe = (testbed: string, line: string) =>
  run(probeKeyArgv(line, testbedKeyMarker(testbed), legacyKeyMarker(testbed))).stdout.trim();

/** Lines edgectl never wrote, some of them close to its own. */
const FOREIGN = [
  '# keys of the lab staff',
  'ssh-ed25519 AAAAalice alice@laptop',
  '',
  'command="echo hi; exit",no-pty ssh-ed25519 AAAAbob bob with a comment of words',
  'ssh-ed25519 AAAAsub edgectl-testbed:lab-old',
  'ssh-ed25519 AAAAmid edgectl-testbed:lab in the middle',
  'ssh-ed25519 AAAApre xedgectl-testbed:lab',
];

describe('the testbed key line', () => {
  it('allows the receiver only, from the servers, and ends with the marker', () => {
    expect(lineOf('lab')).toBe(
      'from="198.18.1.10,198.18.1.11",restrict,command="/usr/local/lib/edgectl/receive-lab" ssh-ed25519 AAAAlab edgectl-testbed:lab',
    );
  });

  it('refuses values that would break out of an option', () => {
    const base = { publicKey: 'ssh-ed25519 AAAA', from: ['198.18.1.10'], command: '/x', marker: 'm' };
    expect(() => authorizedKeyLine({ ...base, command: '/x" ,no-restrict' })).toThrow();
    expect(() => authorizedKeyLine({ ...base, from: ['198.18.1.10"'] })).toThrow();
    expect(() => authorizedKeyLine({ ...base, from: [] })).toThrow();
    expect(() => authorizedKeyLine({ ...base, marker: 'a\nb' })).toThrow();
    expect(() => authorizedKeyLine({ ...base, publicKey: 'ssh-ed25519' })).toThrow();
  });
});

describe('writing the line', () => {
  it('replaces only the lines whose last field is the marker (or the older one), whole', () => {
    const lab2 = lineOf('lab-2');
    writeFileSync(
      file,
      [
        ...FOREIGN,
        'ssh-ed25519 AAAAold1 edgectl-testbed-lab',
        lab2,
        'from="198.18.1.99",restrict,command="/old" ssh-ed25519 AAAAold2 edgectl-testbed:lab',
        'ssh-ed25519 AAAAold3 edgectl-testbed-lab-2',
      ].join('\n'),
    );
    const line = lineOf('lab');
    expect(probe('lab', line)).toBe('0 2');
    const r = write('lab', line);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(
      `${[...FOREIGN, lab2, 'ssh-ed25519 AAAAold3 edgectl-testbed-lab-2', line].join('\n')}\n`,
    );
    expect(probe('lab', line)).toBe('1 1');
    // Again: the same file.
    expect(write('lab', line).code).toBe(0);
    expect(probe('lab', line)).toBe('1 1');
    expect(
      readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l === line),
    ).toHaveLength(1);
  });

  it('testbeds whose names extend one another keep each other’s line, in any order', () => {
    const names = ['tb1', 'tb10', 'tb11', 'lab', 'lab-2'];
    for (const order of [names, [...names].reverse()]) {
      rmSync(file, { force: true });
      for (const tb of order) expect(write(tb, lineOf(tb)).code).toBe(0);
      // And each once more, the first-written last.
      for (const tb of order) expect(write(tb, lineOf(tb)).code).toBe(0);
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      expect(lines.sort()).toEqual(names.map((tb) => lineOf(tb)).sort());
    }
  });

  it('with an empty line (a reset) removes the testbed’s lines and nothing else', () => {
    writeFileSync(file, `${[...FOREIGN, lineOf('lab'), lineOf('lab-2')].join('\n')}\n`);
    expect(write('lab', '').code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(`${[...FOREIGN, lineOf('lab-2')].join('\n')}\n`);
    expect(probe('lab', lineOf('lab'))).toBe('0 0');
  });

  it('keeps the mode and owner of the file, and leaves nothing beside it but its lock', () => {
    writeFileSync(file, 'ssh-ed25519 AAAAalice alice\n');
    chmodSync(file, 0o640);
    if (isRoot) chownSync(file, 4321, 4322);
    expect(write('lab', lineOf('lab')).code).toBe(0);
    const st = statSync(file);
    expect(st.mode & 0o7777).toBe(0o640);
    if (isRoot) expect([st.uid, st.gid]).toEqual([4321, 4322]);
    expect(readdirSync(dir).sort()).toEqual(['authorized_keys', 'authorized_keys.edgectl-lock']);
  });

  it.runIf(isRoot)('makes a new file 0600 and a new ~/.ssh 0700, both owned like the home', () => {
    const home = join(dir, 'home');
    mkdirSync(home);
    chownSync(home, 4321, 4322);
    file = join(home, '.ssh', 'authorized_keys');
    expect(write('lab', lineOf('lab')).code).toBe(0);
    const d = statSync(join(home, '.ssh'));
    const f = statSync(file);
    expect([d.mode & 0o7777, d.uid, d.gid]).toEqual([0o700, 4321, 4322]);
    expect([f.mode & 0o7777, f.uid, f.gid]).toEqual([0o600, 4321, 4322]);
    expect(readFileSync(file, 'utf8')).toBe(`${lineOf('lab')}\n`);
  });

  it('replaces the file a symbolic link names, and keeps the link', () => {
    const real = join(dir, 'real_keys');
    writeFileSync(real, 'ssh-ed25519 AAAAalice alice\n');
    symlinkSync('real_keys', file);
    expect(write('lab', lineOf('lab')).code).toBe(0);
    expect(lstatSync(file).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, 'utf8')).toBe(`ssh-ed25519 AAAAalice alice\n${lineOf('lab')}\n`);
  });

  /** A directory of commands that shadow the real ones, each failing as a full or read-only disk would. */
  function failing(name: string, script: string): Record<string, string> {
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, name), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
    return { PATH: `${bin}:${process.env['PATH']}` };
  }

  it.each([
    ['awk', 'writes half of the copy, then fails', 'head -c 20 "$2"; echo "awk: write failure" >&2; exit 2'],
    ['sync', 'cannot flush it', 'echo "sync: I/O error" >&2; exit 1'],
    ['mv', 'cannot rename it', 'echo "mv: Read-only file system" >&2; exit 1'],
    ['mktemp', 'cannot create it', 'echo "mktemp: No space left on device" >&2; exit 1'],
  ])('leaves the file as it was when %s %s, and says so', (name, _what, script) => {
    const before = `${FOREIGN.join('\n')}\n${lineOf('lab-2')}\nssh-ed25519 AAAAold edgectl-testbed-lab\n`;
    writeFileSync(file, before);
    chmodSync(file, 0o600);
    const r = write('lab', lineOf('lab'), failing(name, script));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`edgectl: .*; ${file} is left as it was`));
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(
      readdirSync(dir).filter((f) => f.startsWith('authorized_keys.edgectl-') && !f.endsWith('lock')),
    ).toEqual([]);
  });

  it('the probe of a missing file finds nothing', () => {
    expect(existsSync(file)).toBe(false);
    expect(probe('lab', lineOf('lab'))).toBe('0 0');
  });
});
