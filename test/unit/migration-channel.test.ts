/**
 * The data channel of a migration's downtime, run for real through sh on this machine: the SSH session
 * to the destination is replaced by a local `sh` running the testbed's receiver (the forced command of
 * the testbed key) with the channel's request in SSH_ORIGINAL_COMMAND, as sshd would, so the FIFO, the
 * holder, the readiness handshake, the send and the close are all exercised.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  channelReadyArgv,
  closeChannelArgv,
  openChannelArgv,
  type RsyncTarget,
  receiveCommand,
  receiverScript,
  rsyncBatchArgv,
  rsyncPatchArgv,
  sendArgv,
} from '../../src/lib/migration/commands.js';
import { shellQuote } from '../../src/lib/remote/quote.js';

const target: RsyncTarget = {
  user: 'root',
  address: '198.18.1.12',
  port: 22,
  key: '/k',
  knownHosts: '/kh',
  controlPath: '/cp',
};

let dir: string;
/** The staging root of the receiver, and a channel's directory under it. */
let stage: string;
let receiver: string;
const intoOf = (leaf: string) => join(stage, '1', 'dst', leaf);
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgectl-channel-'));
  stage = join(dir, 'stage');
  receiver = join(dir, 'receive');
  writeFileSync(receiver, receiverScript(stage));
});

/** The receiver's side of a channel as sshd runs it for the testbed key: its request in SSH_ORIGINAL_COMMAND. */
function receiverSide(request: string): string {
  return `SSH_ORIGINAL_COMMAND=${shellQuote(request)} exec sh ${shellQuote(receiver)}`;
}
afterEach(() => {
  spawnSync('sh', closeChannelArgv(join(dir, 'chan')).slice(1));
  rmSync(dir, { recursive: true, force: true });
});

/** openChannelArgv with its `ssh ... user@host` replaced by a local shell (with `before` run first). */
function localOpen(chan: string, into: string, before = ''): string[] {
  const argv = openChannelArgv(chan, target, into);
  const at = argv.indexOf('ssh');
  expect(argv[at + argv.slice(at).indexOf('root@198.18.1.12')]).toBe('root@198.18.1.12');
  return [...argv.slice(0, at), 'sh', '-c', `${before}${receiverSide(argv.at(-1)!)}`];
}

function run(argv: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8',
    timeout: 20_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('the data channel', () => {
  it('opens before the data exists, then carries a directory whole and reports its size', () => {
    const chan = join(dir, 'chan');
    const into = intoOf('in');
    // The channel asks the receiver for its directory, and nothing else.
    expect(openChannelArgv(chan, target, into).at(-1)).toBe(receiveCommand(into));
    // The receiver is up (and has made its directory) before anything is sent.
    expect(run(localOpen(chan, into))).toMatchObject({ code: 0 });
    expect(existsSync(into)).toBe(true);
    const from = join(dir, 'src');
    mkdirSync(join(from, 'criu'), { recursive: true });
    writeFileSync(join(from, 'criu', 'pages-1.img'), Buffer.alloc(300_000, 7));
    writeFileSync(join(from, 'MANIFEST'), 'vcdiff criu/pages-1.img\n');
    const sent = run(sendArgv(chan, from));
    expect(sent.code, sent.stderr).toBe(0);
    expect(Number(sent.stdout.trim())).toBeGreaterThan(300_000);
    expect(readFileSync(join(into, 'criu', 'pages-1.img')).equals(Buffer.alloc(300_000, 7))).toBe(true);
    expect(readFileSync(join(into, 'MANIFEST'), 'utf8')).toBe('vcdiff criu/pages-1.img\n');
  });

  it('starts without waiting, and is waited for only when the data is due', () => {
    const chan = join(dir, 'chan');
    const into = intoOf('in');
    const noWait = openChannelArgv(chan, target, into, { wait: false });
    expect(noWait[2]).not.toContain('until grep -qx ready');
    // The receiver's side takes a while to come up (a login shell): the start returns before it is ready.
    const at = noWait.indexOf('ssh');
    expect(run([...noWait.slice(0, at), 'sh', '-c', `sleep 1; ${receiverSide(noWait.at(-1)!)}`]).code).toBe(
      0,
    );
    expect(existsSync(join(chan, 'out')) && readFileSync(join(chan, 'out'), 'utf8')).not.toContain('ready');
    // channelReadyArgv waits for it; the channel then carries data as one opened and waited for at once.
    const ready = run(channelReadyArgv(chan));
    expect(ready.code, ready.stderr).toBe(0);
    expect(readFileSync(join(chan, 'out'), 'utf8')).toContain('ready');
    const from = join(dir, 'src');
    mkdirSync(from);
    writeFileSync(join(from, 'f'), 'x');
    expect(run(sendArgv(chan, from)).code).toBe(0);
    expect(readFileSync(join(into, 'f'), 'utf8')).toBe('x');
  });

  it('says so when a channel started without waiting never comes up', () => {
    const chan = join(dir, 'chan');
    const noWait = openChannelArgv(chan, target, intoOf('in'), { wait: false });
    const at = noWait.indexOf('ssh');
    expect(run([...noWait.slice(0, at), 'sh', '-c', 'echo "refused" >&2; exit 255']).code).toBe(0);
    const r = run(channelReadyArgv(chan));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/did not start \(exit 255\): refused/);
    expect(run(channelReadyArgv(join(dir, 'nothing'))).stderr).toMatch(/no data channel/);
  });

  it('fails to open, with the receiver’s words, when the destination side cannot start', () => {
    const r = run(localOpen(join(dir, 'chan'), intoOf('in'), 'echo "no such shell" >&2; exit 3; '));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/did not start \(exit 3\): no such shell/);
  });

  it('refuses to send through a channel whose receiver has gone', () => {
    const chan = join(dir, 'chan');
    expect(run(localOpen(chan, intoOf('in'), 'trap "" PIPE; ')).code).toBe(0);
    // The receiver dies (a cut link, a killed session): the send says so instead of hanging.
    const pid = Number(readFileSync(join(chan, 'ssh.pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    const from = join(dir, 'src');
    mkdirSync(from);
    writeFileSync(join(from, 'f'), 'x');
    // wait until the channel noticed
    for (let i = 0; i < 200 && !existsSync(join(chan, 'rc')); i++) execFileSync('sleep', ['0.01']);
    const r = run(sendArgv(chan, from));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not open/);
  });

  it('closes an unused channel: its processes end and its files go', () => {
    const chan = join(dir, 'chan');
    expect(run(localOpen(chan, intoOf('in'))).code).toBe(0);
    const pids = ['ssh.pid', 'holder.pid'].map((f) => Number(readFileSync(join(chan, f), 'utf8')));
    expect(run(closeChannelArgv(chan)).code).toBe(0);
    expect(existsSync(chan)).toBe(false);
    for (let i = 0; i < 100 && pids.some(alive); i++) execFileSync('sleep', ['0.02']);
    expect(pids.filter(alive)).toEqual([]);
  });
});

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('the rsync codec', () => {
  it('writes a batch at the source against its own copy and rebuilds the final image from it at the destination', () => {
    const pre = join(dir, 'pre');
    const final = join(dir, 'final');
    const dst = join(dir, 'dst');
    for (const d of [pre, final, dst]) mkdirSync(d);
    const pages = randomBytes(2_000_000);
    writeFileSync(join(pre, 'pages.img'), pages);
    writeFileSync(join(pre, 'gone.img'), 'old');
    const changed = Buffer.from(pages);
    changed.write('changed', 100_000);
    // Same size and the same mtime second: rsync's quick check alone would skip it.
    writeFileSync(join(final, 'pages.img'), changed);
    writeFileSync(join(final, 'new.img'), 'new');
    execFileSync('cp', ['-a', `${pre}/.`, dst]);
    const delta = join(dir, 'delta');
    const r = run(rsyncBatchArgv(pre, final, delta));
    expect(r.code, r.stderr).toBe(0);
    expect(Number(r.stdout.trim())).toBeLessThan(200_000);
    // The source's copy is untouched.
    expect(readFileSync(join(pre, 'pages.img')).equals(pages)).toBe(true);
    const p = run(rsyncPatchArgv(dst, delta));
    expect(p.code, p.stderr).toBe(0);
    expect(readFileSync(join(dst, 'pages.img')).equals(changed)).toBe(true);
    expect(readFileSync(join(dst, 'new.img'), 'utf8')).toBe('new');
    expect(existsSync(join(dst, 'gone.img'))).toBe(false);
  });
});
