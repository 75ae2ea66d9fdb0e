import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { InterruptedError } from '../../src/lib/errors.js';
import {
  applyScript,
  type HostProvision,
  interruptedDetails,
  interruptedRun,
  parseApply,
} from '../../src/lib/provision/provision.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-apply-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs an apply script the way the host's shell does: `sh -s` with the script as its stdin. */
async function runScript(script: string) {
  const r = await execa('sh', ['-s'], { input: script, reject: false, stripFinalNewline: false });
  return { code: r.exitCode, stdout: String(r.stdout), parsed: parseApply(String(r.stdout)) };
}

describe('applyScript: one host list of changes sent in one piece', () => {
  it('runs every command in order, each with its own stdin and none reading the script', async () => {
    const log = join(dir, 'order');
    const r = await runScript(
      applyScript([
        { argv: ['sh', '-c', 'echo one >>"$1"', 'x', log] },
        // Bytes that need quoting in a shell, a quote, no final newline.
        { argv: ['sh', '-c', 'cat >>"$1"', 'x', log], stdin: "two 'quoted' $HOME `x`\n\u00e9" },
        // Without stdin of its own a command reads nothing (not the rest of the script).
        { argv: ['sh', '-c', 'wc -c >>"$1"', 'x', log] },
        { argv: ['sh', '-c', 'echo four >>"$1"', 'x', log] },
      ]),
    );
    expect(r.parsed).toEqual({ ok: true });
    expect(readFileSync(log, 'utf8')).toBe("one\ntwo 'quoted' $HOME `x`\n\u00e90\nfour\n");
  });

  it('stops at the first command that fails, naming it with its exit code and stderr', async () => {
    const log = join(dir, 'stop');
    const r = await runScript(
      applyScript([
        { argv: ['sh', '-c', 'echo one >>"$1"; echo noise >&2', 'x', log] },
        { argv: ['sh', '-c', 'echo broken >&2; exit 3'] },
        { argv: ['sh', '-c', 'echo three >>"$1"', 'x', log] },
      ]),
    );
    expect(r.parsed).toEqual({ ok: false, index: 1, code: 3, stderr: 'broken\n' });
    expect(readFileSync(log, 'utf8')).toBe('one\n');
  });

  it('an empty list is done at once; output without its marks is an early end', async () => {
    expect((await runScript(applyScript([]))).parsed).toEqual({ ok: true });
    expect(parseApply('')).toEqual({ ok: false, index: undefined, stderr: '' });
  });
});

describe('an interrupted provision', () => {
  const host = (name: string, error?: string): HostProvision => ({
    name,
    role: 'edge',
    changed: false,
    commands: [],
    units: [],
    latencyEmulated: null,
    latencyMethod: null,
    ...(error ? { error: { message: error } } : {}),
  });

  it('sorts hosts into finished, untouched (also those that failed before changing anything) and failed', () => {
    const hosts = [host('a'), host('b'), host('c', 'unreachable'), host('d', 'tc exited with 2')];
    const details = interruptedDetails(hosts, new Set(['a']), new Set(['a', 'd']));
    expect(details).toMatchObject({ finished: ['a'], untouched: ['b', 'c'], failed: ['d'] });
  });

  it('says which hosts were finished and which untouched, exit code 130', () => {
    const controller = new AbortController();
    controller.abort(new InterruptedError('SIGINT'));
    const err = interruptedRun(
      controller.signal,
      interruptedDetails([host('a'), host('b')], new Set(['a']), new Set(['a'])),
      false,
    );
    expect(err.exitCode).toBe(130);
    expect(err.code).toBe('INTERRUPTED');
    expect(err.message).toBe('interrupted (SIGINT): provisioned completely: a; untouched by this run: b');
  });
});
