/**
 * The paper's two vision workloads on the lab: the face and the detect services deployed, sent the sample
 * frames through the user's radio path, live-migrated (delta) between edge servers and sent the same
 * frames again. What a migration must keep is checked from the answers: the face service matches every
 * face to the gallery entry it enrolled before the move (nothing enrolled anew), the detect service's
 * tally doubles exactly; the counter continues and the migration's own state digest agrees. Then a short
 * experiment of nearest and orchestrated on face and detect, whose report has the processing delay in
 * Fig. 4 and a row per service in Table I (simple's runs are the experiment test's: running them here too
 * cost two runs of CI time and checked nothing new).
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployResult } from '../../src/lib/docker/deploy.js';
import type { ExperimentSummary } from '../../src/lib/experiment/format.js';
import type { ExperimentResult } from '../../src/lib/experiment/run.js';
import type { MigrationResult } from '../../src/lib/migration/model.js';
import type { OffloadedTask, OffloadResult } from '../../src/lib/mu/offload.js';
import { edgectl } from '../helpers/cli.js';
import { hostsFile } from '../helpers/lab.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-vision-'));
const stateFile = join(dir, 'state.db');
const out = join(dir, 'results');

function cli<T>(args: string[], timeoutMs = 300_000) {
  return edgectl<T>([...args, '-f', hostsFile, '--state', stateFile, '--json'], { timeoutMs });
}

async function offload(count: number): Promise<OffloadedTask[]> {
  const r = await cli<OffloadResult>([
    'offload',
    '--user',
    'mu1',
    '--count',
    String(count),
    '--timeout',
    '30s',
  ]);
  expect(r.exitCode, r.stderr).toBe(0);
  const tasks = r.json!.result!.tasks;
  for (const t of tasks) expect(t.ok, t.error).toBe(true);
  return tasks;
}

async function migrateTo(to: string): Promise<MigrationResult> {
  const r = await cli<MigrationResult>(['migrate', '--user', 'mu1', '--to', to]);
  expect(r.exitCode, r.stderr).toBe(0);
  const m = r.json!.result!;
  expect(m.strategy).toBe('delta');
  expect(m.downtimeMs).toBeGreaterThan(0);
  expect(m.probe?.answeredBy).toBe('to');
  // The migration's own check: the state after the counter read on the source, the same on the destination.
  expect(m.stateDigest).toEqual({
    counter: expect.any(Number),
    digest: expect.stringMatching(/^[0-9a-f]{32}$/),
  });
  return m;
}

interface Face {
  id: number | string;
  enrolled: boolean;
  distance: number | null;
}
const facesOf = (t: OffloadedTask) => (t.result?.['faces'] ?? []) as Face[];
const tallyOf = (t: OffloadedTask) => (t.result?.['tally'] ?? {}) as Record<string, number>;

beforeAll(async () => {
  expect((await cli(['provision'])).exitCode).toBe(0);
  await cli(['undeploy', '--user', 'mu1']);
}, 300_000);

afterAll(async () => {
  await cli(['undeploy', '--user', 'mu1']).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

describe('face: a gallery that survives a live migration', () => {
  it('enrols the faces of the sample frames, moves, and then matches every one of them to its entry', async () => {
    const d = await cli<DeployResult>(['deploy', '--user', 'mu1', '--service', 'face', '--host', 'edge1']);
    expect(d.exitCode, d.stderr).toBe(0);
    const before = await offload(6);
    // Real frames: JPEGs of different sizes, each with a face found and a real processing time.
    expect(new Set(before.map((t) => t.bytes)).size).toBeGreaterThan(1);
    for (const t of before) {
      expect(facesOf(t).length, `frame ${t.counter}`).toBeGreaterThan(0);
      expect(t.procMs).toBeGreaterThan(20);
    }
    const m = await migrateTo('edge2');
    expect(m.bytesDuringDowntime).toBeGreaterThan(0);
    const after = await offload(6);
    expect(after[0]!.counter).toBeGreaterThan(before.at(-1)!.counter!);
    for (const [i, t] of after.entries()) {
      const was = facesOf(before[i]!);
      const now = facesOf(t);
      expect(now.length).toBe(was.length);
      // The same frame again: every face is matched (none enrolled) to the entry it had before the move.
      for (const [j, f] of now.entries()) {
        expect(f.enrolled, `frame ${i} face ${j}`).toBe(false);
        expect(f.id).toBe(was[j]!.id);
      }
    }
    expect(after.at(-1)!.result?.['gallery']).toBe(before.at(-1)!.result?.['gallery']);
  });
});

describe('detect: a tally that survives a live migration', () => {
  it('counts the objects of the sample frames, moves, and counts them again on top', async () => {
    await cli(['undeploy', '--user', 'mu1']);
    const d = await cli<DeployResult>(['deploy', '--user', 'mu1', '--service', 'detect', '--host', 'edge2']);
    expect(d.exitCode, d.stderr).toBe(0);
    const before = await offload(6);
    const objects = before.flatMap((t) => (t.result?.['objects'] ?? []) as { class: string }[]);
    expect(objects.map((o) => o.class)).toContain('person');
    const first = tallyOf(before.at(-1)!);
    await migrateTo('edge3');
    const after = await offload(6);
    // The same frames through the same model: every class counted exactly twice as often.
    const second = tallyOf(after.at(-1)!);
    expect(Object.keys(second).sort()).toEqual(Object.keys(first).sort());
    for (const [cls, n] of Object.entries(first)) expect(second[cls], cls).toBe(2 * n);
    await cli(['undeploy', '--user', 'mu1']);
  });
});

type Row = Record<string, string>;
const csv = (name: string): Row[] => parse(readFileSync(join(out, name)), { columns: true }) as Row[];

describe('experiment run: nearest and orchestrated on face and detect', () => {
  let result: ExperimentResult;
  beforeAll(async () => {
    const r = await cli<ExperimentResult>(
      [
        'experiment',
        'run',
        '--planner',
        'nearest,orchestrated',
        '--service',
        'face,detect',
        '--duration',
        '45',
        '--velocity',
        '2',
        '--out',
        out,
      ],
      1_800_000,
    );
    expect(r.exitCode, r.stderr).toBe(0);
    result = r.json!.result!;
  }, 1_900_000);

  it('runs every planner on every service, each migrating with its state intact', () => {
    expect(result.complete).toBe(true);
    expect(result.runs.map((r) => `${r.planner}/${r.service}`).sort()).toEqual(
      ['nearest', 'orchestrated'].flatMap((p) => ['detect', 'face'].map((s) => `${p}/${s}`)).sort(),
    );
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as ExperimentSummary;
    expect(summary.planners.length).toBeGreaterThan(0);
    for (const p of summary.planners) expect(p.counterContinuous, p.planner).toBe(true);
  });

  it('records the frames and the processing time of the vision services', () => {
    const tasks = csv('tasks.csv');
    for (const service of ['face', 'detect']) {
      const mine = tasks.filter((t) => t['service'] === service && t['ok'] === 'true');
      expect(mine.length, service).toBeGreaterThan(5);
      // Frames of different sizes, and processing that is a real part of the E2E.
      expect(new Set(mine.map((t) => t['bytes'])).size, service).toBeGreaterThan(1);
      const proc = mine.map((t) => Number(t['proc_ms']));
      expect(Math.min(...proc), service).toBeGreaterThan(20);
    }
  });

  it('draws Fig. 4 with a panel per service and Table I with a row per service', () => {
    const svg = readFileSync(join(out, 'fig4-delay.svg'), 'utf8');
    for (const s of ['face', 'detect']) expect(svg, s).toContain(s);
    expect(statSync(join(out, 'fig4-delay.png')).size).toBeGreaterThan(5000);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    const table = md.slice(md.indexOf('## Table I'));
    const rows = table
      .split('\n')
      .filter((l) => l.startsWith('|') && !/^\|\s*(Service|-)/.test(l))
      .map((l) => l.split('|')[1]!.trim());
    expect(rows.slice(0, 2)).toEqual(['face', 'detect']);
  });
});
