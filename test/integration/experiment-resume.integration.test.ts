/**
 * An experiment that keeps what it measured, on the lab: `experiment run` of two short cloud runs is killed
 * with SIGKILL during its second run (the cloud planner never migrates, so no migration's downtime is under
 * way), which leaves the results directory complete for the first run; `experiment export` rebuilds it from
 * the state database alone, with the second run's rows so far under --unfinished; `experiment run --resume`
 * refuses another duration, then runs only the second run and completes the directory.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExportResult } from '../../src/lib/experiment/export.js';
import type { ExperimentMeta } from '../../src/lib/experiment/format.js';
import type { ExperimentResult } from '../../src/lib/experiment/run.js';
import { edgectl, repoRoot } from '../helpers/cli.js';
import { hostsFile } from '../helpers/lab.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-experiment-resume-'));
const stateFile = join(dir, 'state.db');
const out = join(dir, 'results');
const DATA = [
  'tasks.csv',
  'migrations.csv',
  'handovers.csv',
  'outages.csv',
  'decisions.csv',
  'summary.json',
  'meta.json',
];

function cli<T>(args: string[], timeoutMs = 300_000) {
  return edgectl<T>([...args, '-f', hostsFile, '--state', stateFile, '--json'], { timeoutMs });
}
type Row = Record<string, string>;
const csv = (d: string, name: string): Row[] =>
  parse(readFileSync(join(d, name)), { columns: true }) as Row[];
const metaOf = (d: string) => JSON.parse(readFileSync(join(d, 'meta.json'), 'utf8')) as ExperimentMeta;

let killed: { stderr: string; files: string[]; meta: ExperimentMeta; tasks: Row[]; report: string };

beforeAll(async () => {
  const p = await cli(['provision']);
  expect(p.exitCode, p.stderr).toBe(0);
  const child = execa(
    process.execPath,
    [
      `${repoRoot}bin/run.js`,
      ...['experiment', 'run', '--planner', 'cloud', '--repeat', '2', '--service', 'simple'],
      ...['--duration', '10', '--velocity', '2', '--out', out, '-f', hostsFile, '--state', stateFile],
    ],
    { reject: false, cwd: repoRoot, env: { NO_COLOR: '1' }, timeout: 600_000 },
  );
  let stderr = '';
  let timer: NodeJS.Timeout | undefined;
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    // A few seconds into the second run's loop: its agents offload, and some of its rows are recorded.
    if (timer === undefined && /\[cloud-simple-2\] running for 10 s/.test(stderr))
      timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), 4000);
  });
  const r = await child;
  expect(r.signal, stderr).toBe('SIGKILL');
  killed = {
    stderr,
    files: readdirSync(out).sort(),
    meta: metaOf(out),
    tasks: csv(out, 'tasks.csv'),
    report: readFileSync(join(out, 'report.md'), 'utf8'),
  };
}, 900_000);

afterAll(async () => {
  // Whatever happened above: no service of the user left, the user back on its start base station.
  await cli(['undeploy', '--user', 'mu1', '--forget']);
  await cli(['handover', '--user', 'mu1', '--to', 'ap1', '--blackout', '0']);
  rmSync(dir, { recursive: true, force: true });
}, 300_000);

describe('experiment run killed in its second run, then export and resume', () => {
  it('leaves the results directory complete for the first run: every file whole, meta.json saying what ended', () => {
    expect(killed.files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    for (const f of [...DATA, 'checkpoints.csv', 'report.md', 'fig4-delay.svg', 'fig5-downtime.png'])
      expect(killed.files, f).toContain(f);
    expect(killed.meta).toMatchObject({
      finished: false,
      complete: false,
      plannedRuns: ['cloud-simple-1', 'cloud-simple-2'],
    });
    expect(killed.meta.runs.map((r) => [r.run, r.complete])).toEqual([['cloud-simple-1', true]]);
    expect(killed.tasks.length).toBeGreaterThan(5);
    expect(new Set(killed.tasks.map((t) => t['run']))).toEqual(new Set(['cloud-simple-1']));
    expect(killed.report).toMatch(/drawn before the experiment ended/);
    expect(killed.stderr).toMatch(new RegExp(`--resume ${killed.meta.id}`));
  });

  it('export rebuilds the same files from the database, and with --unfinished the second run’s rows so far', async () => {
    const id = String(killed.meta.id);
    const same = join(dir, 'exported');
    const x = await cli<ExportResult>(['experiment', 'export', id, '--out', same, '--no-report']);
    expect(x.exitCode, x.stderr).toBe(0);
    expect(x.json?.result).toMatchObject({ finished: false, complete: false, missing: ['cloud-simple-2'] });
    for (const f of DATA)
      expect(readFileSync(join(same, f), 'utf8'), f).toBe(readFileSync(join(out, f), 'utf8'));

    const more = join(dir, 'unfinished');
    const u = await cli<ExportResult>(['experiment', 'export', id, '--out', more, '--unfinished']);
    expect(u.exitCode, u.stderr).toBe(0);
    expect(u.json?.result?.runs.map((r) => [r.run, r.complete])).toEqual([
      ['cloud-simple-1', true],
      ['cloud-simple-2', false],
    ]);
    expect(u.json?.warnings.join('\n')).toMatch(/cloud-simple-2 never ended/);
    expect(csv(more, 'tasks.csv').filter((t) => t['run'] === 'cloud-simple-2').length).toBeGreaterThan(0);
    expect(readFileSync(join(more, 'report.md'), 'utf8')).toMatch(/cloud-simple-2/);
  });

  it('resume refuses another configuration, then runs only the second run and completes the directory', async () => {
    const id = String(killed.meta.id);
    const bad = await cli(['experiment', 'run', '--resume', id, '--duration', '20']);
    expect(bad.exitCode).toBe(2);
    expect(bad.json?.error?.message).toMatch(/--duration 20 \(it ran with 10\)/);

    const r = await cli<ExperimentResult>(['experiment', 'run', '--resume', id], 600_000);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json?.result).toMatchObject({ id: killed.meta.id, outDir: out, complete: true });
    const meta = metaOf(out);
    expect(meta).toMatchObject({ finished: true, complete: true });
    expect(meta.resumed).toHaveLength(1);
    expect(meta.runs.map((m) => [m.run, m.complete])).toEqual([
      ['cloud-simple-1', true],
      ['cloud-simple-2', true],
    ]);
    // The first run was kept, not run again: the same attempt, the same rows.
    expect(meta.runs[0]?.experimentId).toBe(killed.meta.runs[0]?.experimentId);
    const tasks = csv(out, 'tasks.csv');
    expect(tasks.filter((t) => t['run'] === 'cloud-simple-1')).toEqual(killed.tasks);
    expect(tasks.filter((t) => t['run'] === 'cloud-simple-2').length).toBeGreaterThan(5);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).not.toMatch(/drawn before the experiment ended/);
  });
});
