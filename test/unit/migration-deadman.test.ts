/**
 * The dead-man switch's scripts, run here with a stand-in for runc (a script that records its calls and
 * keeps the container's status in a file): it thaws a frozen container after its bound unless the
 * controller settles it first, and exactly one of the two wins.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  armDeadmanArgv,
  deadmanStateArgv,
  parseDeadmanState,
  settleDeadmanArgv,
  thawIfPausedArgv,
} from '../../src/lib/migration/deadman.js';
import { sleep } from '../../src/lib/util/time.js';

let dir: string;
let runc: { runc: string; root: string };

function sh(argv: string[]) {
  return execa(argv[0]!, argv.slice(1), { reject: false });
}

const status = () => readFileSync(join(dir, 'status'), 'utf8').trim();
const calls = () =>
  existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n') : [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgectl-deadman-'));
  const bin = join(dir, 'runc');
  // runc --root ROOT state|resume ID
  writeFileSync(
    bin,
    [
      '#!/bin/sh',
      `d=${JSON.stringify(dir)}`,
      'echo "$3 $4" >> "$d/calls"',
      'case "$3" in',
      '  state) printf \'{\\n  "id": "%s",\\n  "status": "%s"\\n}\\n\' "$4" "$(cat "$d/status")" ;;',
      '  resume) [ "$(cat "$d/status")" = paused ] || { echo "container not paused" >&2; exit 1; }; echo running > "$d/status" ;;',
      'esac',
    ].join('\n'),
  );
  chmodSync(bin, 0o755);
  runc = { runc: bin, root: join(dir, 'root') };
  writeFileSync(join(dir, 'status'), 'paused\n');
});

afterEach(async () => {
  // Whatever a test left armed ends by its pids.
  await sh(settleDeadmanArgv(join(dir, 'dm'), 'disarmed'));
  rmSync(dir, { recursive: true, force: true });
});

describe('the dead-man switch', () => {
  it('thaws the frozen service after its bound when nobody settles it; a late commit learns it fired', async () => {
    const d = join(dir, 'dm');
    expect((await sh(armDeadmanArgv(d, 1, runc, 'c1'))).exitCode).toBe(0);
    expect(parseDeadmanState((await sh(deadmanStateArgv(d))).stdout)).toBe('armed');
    await sleep(300);
    expect(status()).toBe('paused');
    for (let i = 0; i < 40 && status() !== 'running'; i++) await sleep(100);
    expect(status()).toBe('running');
    expect(calls()).toEqual(['state c1', 'resume c1']);
    expect(parseDeadmanState((await sh(deadmanStateArgv(d))).stdout)).toBe('fired');
    const late = await sh(settleDeadmanArgv(d, 'committed'));
    expect(late.exitCode).toBe(3);
    expect(late.stderr).toMatch(/fired/);
  });

  it('a commit before the bound wins: the service is never thawed, and the switch is gone', async () => {
    const d = join(dir, 'dm');
    await sh(armDeadmanArgv(d, 1, runc, 'c1'));
    const pid = Number(readFileSync(join(d, 'pid'), 'utf8'));
    expect((await sh(settleDeadmanArgv(d, 'committed'))).exitCode).toBe(0);
    await sleep(1_500);
    expect(status()).toBe('paused');
    expect(calls()).toEqual([]);
    expect(parseDeadmanState((await sh(deadmanStateArgv(d))).stdout)).toBe('committed');
    // Ended (a zombie until whoever adopted it reaps it).
    await sleep(200);
    const state = existsSync(`/proc/${pid}/stat`)
      ? readFileSync(`/proc/${pid}/stat`, 'utf8').slice(
          readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2,
          -1,
        )[0]
      : 'gone';
    expect(['gone', 'Z']).toContain(state);
  });

  it('does not touch a service that runs (a rollback thawed it already)', async () => {
    writeFileSync(join(dir, 'status'), 'running\n');
    const d = join(dir, 'dm');
    await sh(armDeadmanArgv(d, 1, runc, 'c1'));
    for (let i = 0; i < 30 && parseDeadmanState((await sh(deadmanStateArgv(d))).stdout) !== 'fired'; i++)
      await sleep(100);
    expect(calls()).toEqual(['state c1']);
  });

  it('thawIfPaused resumes a paused container once, and leaves a running one alone', async () => {
    const first = await sh(thawIfPausedArgv(runc, 'c1'));
    expect(first.stdout.trim()).toBe('paused');
    const second = await sh(thawIfPausedArgv(runc, 'c1'));
    expect(second.stdout.trim()).toBe('running');
    expect(calls()).toEqual(['state c1', 'resume c1', 'state c1']);
  });
});
