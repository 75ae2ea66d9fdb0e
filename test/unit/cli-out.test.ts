/**
 * `--out` never writes over someone's files: a non-empty directory is refused (exit 2, naming it) unless
 * --force, while an experiment's own results directory (--resume, export) is rewritten by design.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkOutDir, OutDirNotEmptyError } from '../../src/lib/cli/out.js';
import { ExitCode } from '../../src/lib/errors.js';
import { openState } from '../../src/lib/state/index.js';
import { runJson } from '../helpers/run-json.js';

const { default: ExperimentExport } = await import('../../src/commands/experiment/export.js');
const { default: ExperimentRun } = await import('../../src/commands/experiment/run.js');

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const hostsFile = join(ROOT, 'hosts.yml');
const dir = mkdtempSync(join(tmpdir(), 'edgectl-cli-out-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const stateFile = join(dir, 'state.db');
openState(stateFile).close();

function results(name: string, id?: number): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(
    join(d, id === undefined ? 'notes.txt' : 'meta.json'),
    id === undefined ? 'mine\n' : JSON.stringify({ id }),
  );
  return d;
}

type Envelope = { status: number; error?: { code: string; message: string; details?: unknown } };

async function run(cmd: Parameters<typeof runJson>[0], argv: string[]): Promise<Envelope> {
  return (await runJson<Envelope>(cmd, argv)).envelope;
}

describe('checkOutDir', () => {
  it('lets a missing or empty directory through, refuses one with files unless forced', () => {
    expect(() => checkOutDir(join(dir, 'nope'), { force: false })).not.toThrow();
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expect(() => checkOutDir(empty, { force: false })).not.toThrow();
    const full = results('full');
    expect(() => checkOutDir(full, { force: false })).toThrow(OutDirNotEmptyError);
    expect(() => checkOutDir(full, { force: true })).not.toThrow();
  });

  it('lets an experiment rewrite its own directory, not another experiment’s', () => {
    const own = results('own-12', 12);
    expect(() => checkOutDir(own, { force: false, ownId: 12 })).not.toThrow();
    expect(() => checkOutDir(own, { force: false, ownId: 13 })).toThrow(OutDirNotEmptyError);
    expect(() => checkOutDir(own, { force: false })).toThrow(OutDirNotEmptyError);
  });

  it('refuses a file given as --out', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    expect(() => checkOutDir(file, { force: true })).toThrow(/is a file, not a directory/);
  });
});

describe('--out on the commands', () => {
  it('experiment export: refuses a non-empty --out with exit 2 naming it, and writes nothing there', async () => {
    const full = results('export-full');
    const r = await run(ExperimentExport, ['7', '--out', full, '--state', stateFile]);
    expect(r.status).toBe(ExitCode.usage);
    expect(r.error?.code).toBe('OUT_DIR_NOT_EMPTY');
    expect(r.error?.message).toContain(full);
    expect(readdirSync(full)).toEqual(['notes.txt']);
    // --force gets past the check (experiment 7 is not in this database: a different error).
    const forced = await run(ExperimentExport, ['7', '--out', full, '--state', stateFile, '--force']);
    expect(forced.error?.code).not.toBe('OUT_DIR_NOT_EMPTY');
  });

  it('experiment run: refuses a non-empty --out before anything runs; --resume may name its own', async () => {
    const full = results('run-full');
    const r = await run(ExperimentRun, ['--out', full, '-f', hostsFile, '--state', stateFile]);
    expect(r.status).toBe(ExitCode.usage);
    expect(r.error?.code).toBe('OUT_DIR_NOT_EMPTY');
    expect(r.error?.message).toContain(full);
    const own = results('run-own', 3);
    const resumed = await run(ExperimentRun, [
      '--resume',
      '3',
      '--out',
      own,
      '-f',
      hostsFile,
      '--state',
      stateFile,
    ]);
    expect(resumed.error?.code).not.toBe('OUT_DIR_NOT_EMPTY');
    const other = await run(ExperimentRun, [
      '--resume',
      '4',
      '--out',
      own,
      '-f',
      hostsFile,
      '--state',
      stateFile,
    ]);
    expect(other.error?.code).toBe('OUT_DIR_NOT_EMPTY');
  });
});
