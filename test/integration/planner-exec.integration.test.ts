/**
 * An outside planner in an experiment on the provisioned lab: the Python example (examples/planners/greedy.py,
 * run by /usr/bin/python3 through `--planner greedy=exec:...`) next to orchestrated, one short run each with a
 * brisk user (2 m/s: past the middle between ap1 and ap2 within 20 s). Both runs complete; the outside
 * planner's decisions are recorded under its name and carried out (every answer passed the check: no
 * round rejected), it moves the service as the walk requires, and its name is in the results, the report
 * and meta.json (with the program it ran, by absolute path).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentMeta, ExperimentSummary } from '../../src/lib/experiment/format.js';
import type { ExperimentResult } from '../../src/lib/experiment/run.js';
import { edgectl, repoRoot } from '../helpers/cli.js';
import { hostsFile } from '../helpers/lab.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-planner-exec-'));
const stateFile = join(dir, 'state.db');
const out = join(dir, 'results');
const greedy = join(repoRoot, 'examples', 'planners', 'greedy.py');

function cli<T>(args: string[], timeoutMs = 300_000) {
  return edgectl<T>([...args, '-f', hostsFile, '--state', stateFile, '--json'], { timeoutMs });
}

type Row = Record<string, string>;
const csv = (name: string): Row[] => parse(readFileSync(join(out, name)), { columns: true }) as Row[];

let result: ExperimentResult;
let warnings: string[];

beforeAll(async () => {
  const p = await cli(['provision']);
  expect(p.exitCode, p.stderr).toBe(0);
  const r = await cli<ExperimentResult>(
    [
      'experiment',
      'run',
      '--planner',
      'orchestrated',
      '--planner',
      // Relative to the repository (the command's directory): recorded by absolute path.
      'greedy=exec:/usr/bin/python3 examples/planners/greedy.py',
      '--service',
      'simple',
      '--duration',
      '45',
      '--velocity',
      '2',
      '--out',
      out,
    ],
    600_000,
  );
  expect(r.exitCode, r.stderr).toBe(0);
  result = r.json!.result!;
  warnings = r.json!.warnings;
}, 700_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('experiment run: the Python example as an outside planner next to orchestrated', () => {
  it('completes both runs, named after their planners', () => {
    expect(result.complete).toBe(true);
    expect(result.runs.map((r) => [r.run, r.planner])).toEqual([
      ['orchestrated-simple-1', 'orchestrated'],
      ['greedy-simple-1', 'greedy'],
    ]);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as ExperimentSummary;
    const g = summary.planners.find((x) => x.planner === 'greedy');
    expect(g?.tasks).toBeGreaterThan(30);
    expect(g?.counterContinuous).toBe(true);
    // Past the middle it hears ap2 best: the service follows the user to edge2.
    expect(g?.migrations).toBeGreaterThan(0);
    expect(g?.handovers).toBeGreaterThan(0);
  });

  it('records its decisions under its name, each carried out as orchestrated’s; no round rejected', () => {
    const decisions = csv('decisions.csv').filter((d) => d['planner'] === 'greedy');
    const all = JSON.stringify(decisions);
    expect(decisions.length, all).toBeGreaterThan(0);
    // Every answer passed the check (a failed round leaves `rejected` rows and a warning).
    expect(
      decisions.filter((d) => d['status'] === 'rejected'),
      all,
    ).toEqual([]);
    expect(warnings.filter((w) => w.includes('planner greedy'))).toEqual([]);
    const coordinated = decisions.filter((d) => d['kind'] === 'coordinated');
    expect(coordinated.length, all).toBeGreaterThan(0);
    for (const d of coordinated) {
      expect(d['status'], all).toBe('done');
      expect(d['to_bs'], all).not.toBe('');
      expect(Number.isFinite(Number(d['planned_handover_t_ms'])), all).toBe(true);
    }
    expect(
      coordinated.some((d) => d['from_host'] !== d['to_host'] && d['to_host'] === 'edge2'),
      all,
    ).toBe(true);
    // Its migrations are in the results under its run.
    expect(csv('migrations.csv').some((m) => m['run'] === 'greedy-simple-1')).toBe(true);
  });

  it('keeps the program it ran in meta.json, and the report names it', () => {
    const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')) as ExperimentMeta;
    expect(meta.args['outside']).toEqual([
      { name: 'greedy', exec: ['/usr/bin/python3', greedy], timeoutMs: 2000 },
    ]);
    expect(meta.provenance?.commandLine).toContain(
      'greedy=exec:/usr/bin/python3 examples/planners/greedy.py',
    );
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/greedy/);
  });
});
