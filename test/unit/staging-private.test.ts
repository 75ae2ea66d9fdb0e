/**
 * What a migration writes on a server is private to root, and the writable layer keeps every xattr, ACL
 * and file capability through its tar: the scripts of src/lib/migration/commands.ts run for real on this
 * machine under a caller's umask of 022 (a login shell's), their results' modes and attributes read back.
 * The xattr round trip needs root (trusted.*, security.capability, a whiteout's mknod) and the attr, acl
 * and libcap2-bin tools (scripts/install-host-deps.sh installs them for the controller).
 */
import { spawnSync } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  makeStagingArgv,
  placeSnapshotArgv,
  receiveCommand,
  receiverScript,
  snapshotArgv,
} from '../../src/lib/migration/commands.js';

const work = mkdtempSync(join(tmpdir(), 'edgectl-private-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs an argv under umask 022, as a login shell would leave it. */
function run(argv: string[], input?: Buffer): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('sh', ['-c', 'umask 022; exec "$@"', 'with-umask', ...argv], {
    encoding: 'utf8',
    timeout: 20_000,
    ...(input ? { input } : {}),
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const mode = (p: string) => lstatSync(p).mode & 0o7777;
const sh = (script: string, ...args: string[]) => {
  const r = spawnSync('sh', ['-c', script, 'sh', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${script}: ${r.stderr}`);
  return r.stdout;
};

describe('staging is private', () => {
  it('makes the staging root 0700 (also one an earlier edgectl left 0755) and every directory below', () => {
    const root = join(work, 'migrations');
    // Left 0755 by an earlier edgectl: the root, and a migration's directory of another state database.
    mkdirSync(join(root, 'lab', '7'), { recursive: true, mode: 0o755 });
    const dir = join(root, 'lab', '7', 'src');
    const r = run(makeStagingArgv(dir, root));
    expect(r.code, r.stderr).toBe(0);
    for (const p of [root, join(root, 'lab'), join(root, 'lab', '7'), dir]) expect(mode(p), p).toBe(0o700);
    // Again: nothing to do, no error.
    expect(run(makeStagingArgv(dir, root)).code).toBe(0);
  });

  it('a snapshot through Docker’s checkpoint: images (Docker’s 0644) and the layer’s tar become 0600', () => {
    const ckpt = join(work, 'docker-ckpt');
    const upper = join(work, 'upper-1');
    mkdirSync(ckpt, { mode: 0o755 });
    mkdirSync(upper);
    writeFileSync(join(ckpt, 'pages-1.img'), 'pages', { mode: 0o644 });
    writeFileSync(join(ckpt, 'config.json'), '{}', { mode: 0o644 });
    writeFileSync(join(upper, 'app.txt'), 'x', { mode: 0o644 });
    const out = join(work, 'snap-1');
    const r = run(snapshotArgv(out, ckpt, upper));
    expect(r.code, r.stderr).toBe(0);
    expect(mode(out)).toBe(0o700);
    expect(mode(join(out, 'criu'))).toBe(0o700);
    for (const f of ['criu/pages-1.img', 'criu/config.json', 'rootfs.tar'])
      expect(mode(join(out, f)), f).toBe(0o600);
    // Hard links: Docker's copy is the same file (read by Docker as root).
    expect(statSync(join(ckpt, 'pages-1.img')).ino).toBe(statSync(join(out, 'criu', 'pages-1.img')).ino);
  });

  it('the data channel’s receiver makes its directory 0700 and keeps the archive’s private modes', () => {
    const from = join(work, 'send-from');
    mkdirSync(join(from, 'criu'), { recursive: true, mode: 0o700 });
    writeFileSync(join(from, 'criu', 'pages-1.img'), 'pages', { mode: 0o600 });
    sh('chmod 700 "$1"', from);
    // The receiver as provision installs it (the testbed key's forced command), for a staging root here.
    const root = join(work, 'received');
    const script = join(work, 'receive.sh');
    writeFileSync(script, receiverScript(root), { mode: 0o700 });
    const into = `${root}/0123456789abcdef-1/dst/in`;
    const archive = spawnSync('tar', ['--xattrs', '--xattrs-include=*', '-C', from, '-cf', '-', '.']).stdout;
    const r = spawnSync('sh', [script], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', SSH_ORIGINAL_COMMAND: receiveCommand(into) },
      input: archive,
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('ready\n');
    expect(mode(join(root, '0123456789abcdef-1'))).toBe(0o700);
    expect(mode(into)).toBe(0o700);
    expect(mode(join(into, 'criu'))).toBe(0o700);
    expect(mode(join(into, 'criu', 'pages-1.img'))).toBe(0o600);
  });

  it('placing a snapshot: Docker’s checkpoint directory private, the layer’s own modes kept as they were', () => {
    const layer = join(work, 'layer-2');
    mkdirSync(join(layer, 'etc'), { recursive: true });
    sh(
      'chmod 755 "$1/etc"; echo conf > "$1/etc/app.conf"; chmod 644 "$1/etc/app.conf"; echo s > "$1/run.sh"; chmod 750 "$1/run.sh"',
      layer,
    );
    const snap = join(work, 'snap-2');
    mkdirSync(join(snap, 'criu'), { recursive: true, mode: 0o700 });
    writeFileSync(join(snap, 'criu', 'pages-1.img'), 'pages', { mode: 0o600 });
    writeFileSync(join(snap, 'criu', 'core-1.img'), 'core', { mode: 0o600 });
    sh('tar -C "$1" -cf "$2/rootfs.tar" .', layer, snap);
    const upper = join(work, 'upper-2');
    mkdirSync(upper);
    const ckpt = join(work, 'docker-2', 'containers', 'c', 'checkpoints', 'final');
    const r = run(placeSnapshotArgv(snap, upper, ckpt));
    expect(r.code, r.stderr).toBe(0);
    expect(mode(join(upper, 'etc'))).toBe(0o755);
    expect(mode(join(upper, 'etc', 'app.conf'))).toBe(0o644);
    expect(mode(join(upper, 'run.sh'))).toBe(0o750);
    expect(mode(join(work, 'docker-2', 'containers', 'c', 'checkpoints'))).toBe(0o700);
    expect(mode(ckpt)).toBe(0o700);
    expect(mode(join(ckpt, 'core-1.img'))).toBe(0o600);
    expect(readlinkSync(join(ckpt, 'pages-1.img'))).toMatch(/^(\.\.\/)+/);
  });
});

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('the writable layer’s attributes through a migration’s tar (as root)', () => {
  it('keeps user.* and trusted.overlay.* xattrs, a file capability (its owner changed too), POSIX ACLs and whiteouts', () => {
    const upper = join(work, 'upper-3');
    mkdirSync(join(upper, 'opaque'), { recursive: true });
    mkdirSync(join(upper, 'shared'));
    writeFileSync(join(upper, 'notes.txt'), 'notes');
    writeFileSync(join(upper, 'server'), readFileSync('/bin/true'), { mode: 0o755 });
    sh(
      [
        'set -e',
        'cd "$1"',
        'setfattr -n user.foo -v bar notes.txt',
        'setfacl -m u:65534:r notes.txt',
        'setfacl -d -m u:65534:rx shared',
        'chown 1234:1234 server',
        // After the owner: a change of owner clears a capability.
        'setcap cap_net_bind_service+ep server',
        'setfattr -n trusted.overlay.opaque -v y opaque',
        'mknod gone c 0 0',
      ].join('\n'),
      upper,
    );
    const ckpt = join(work, 'ckpt-3');
    mkdirSync(ckpt);
    writeFileSync(join(ckpt, 'core-1.img'), 'core');
    const snap = join(work, 'snap-3');
    expect(run(snapshotArgv(snap, ckpt, upper)).code).toBe(0);
    const restored = join(work, 'restored-3');
    mkdirSync(restored);
    const r = run(placeSnapshotArgv(snap, restored, join(work, 'docker-3', 'final')));
    expect(r.code, r.stderr).toBe(0);
    expect(sh('getfattr --only-values -n user.foo "$1/notes.txt"', restored)).toBe('bar');
    expect(sh('getfattr --only-values -n trusted.overlay.opaque "$1/opaque"', restored)).toBe('y');
    expect(sh('getcap "$1/server"', restored)).toMatch(/server cap_net_bind_service=ep/);
    expect(statSync(join(restored, 'server')).uid).toBe(1234);
    expect(sh('getfacl -cn "$1/notes.txt"', restored)).toContain('user:65534:r--');
    expect(sh('getfacl -cn "$1/shared"', restored)).toContain('default:user:65534:r-x');
    const gone = statSync(join(restored, 'gone'));
    expect(gone.isCharacterDevice() && gone.rdev).toBe(0);
  });
});
