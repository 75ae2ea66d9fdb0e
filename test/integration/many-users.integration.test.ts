/**
 * Many users at once on the provisioned lab: six users, each its own agent, container of `simple` (limited
 * here to 1.5 cpus, so an edge of 4 cpus holds two) and seeded random-waypoint walk over the street's area,
 * three of them starting on ap1: their services cannot all go to their nearest servers. Three planners run
 * 45 s each: orchestrated, nearest and an outside planner, the Python example (examples/planners/greedy.py,
 * run by /usr/bin/python3 through `--planner greedy=exec:...`), which decides for all six at once under the
 * same capacities. From the results directory alone: no server's reserved load ever exceeds its capacity
 * (capacity.csv, every change) for any planner, every user has tasks and positions in every run,
 * summary.json and report.md have a row per user, report.md's Capacity section says the capacity was
 * respected at every instant; the outside planner's answers all passed the check (no round rejected), its
 * decisions are recorded and carried out under its name, and meta.json keeps the program it ran.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentMeta, ExperimentSummary } from '../../src/lib/experiment/format.js';
import type { ExperimentResult } from '../../src/lib/experiment/run.js';
import { edgectl, repoRoot } from '../helpers/cli.js';
import { hostsFile, writeVariantInventory } from '../helpers/lab.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-many-'));
const sixFile = join(dir, 'hosts-six-users.yml');
const stateFile = join(dir, 'state.db');
const out = join(dir, 'results');
const USERS = ['mu1', 'mu2', 'mu3', 'mu4', 'mu5', 'mu6'];

/** Start base station and point (m) of each user: three start on ap1 (x = 0). */
const WALKS: { start: string; from: [number, number] }[] = [
  { start: 'ap1', from: [0, 0] },
  { start: 'ap1', from: [5, 0] },
  { start: 'ap1', from: [10, 0] },
  { start: 'ap2', from: [60, 0] },
  { start: 'ap2', from: [65, 0] },
  { start: 'ap3', from: [120, 0] },
];
const PLANNERS = ['orchestrated', 'nearest', 'greedy'];
const RUNS = PLANNERS.map((p) => `${p}-simple-1`);
const greedy = join(repoRoot, 'examples', 'planners', 'greedy.py');

/** Each user its own seed: with one seed they would all walk in step. */
function trajectory(i: number, w: (typeof WALKS)[number]): Record<string, unknown> {
  return {
    type: 'random-waypoint',
    area: { from: [0, -10], to: [120, 10] },
    speed: [1, 3],
    pauseS: 0,
    seed: i + 1,
    start: w.from,
  };
}

function cli<T>(args: string[], hosts = sixFile, timeoutMs = 300_000) {
  return edgectl<T>([...args, '-f', hosts, '--state', stateFile, '--json'], { timeoutMs });
}

type Row = Record<string, string>;
const csv = (name: string): Row[] => parse(readFileSync(join(out, name)), { columns: true }) as Row[];

let result: ExperimentResult;
let warnings: string[] = [];
let tookS = 0;

beforeAll(async () => {
  writeVariantInventory(sixFile, (doc) => {
    // simple reserves 1.5 cpus: two on an edge of 4, four on the cloud of 6.
    const services = doc.get('services') as {
      items: { get: (k: string) => unknown; set: (k: string, v: unknown) => void }[];
    };
    const simple = services.items.find((s) => s.get('name') === 'simple');
    if (!simple) throw new Error('hosts.yml has no service simple');
    simple.set('limits', doc.createNode({ cpus: 1.5, memMB: 256 }));
    doc.setIn(
      ['users'],
      doc.createNode(
        WALKS.map((w, i) => ({
          name: USERS[i],
          host: 'mu',
          service: 'simple',
          trajectory: trajectory(i, w),
          task: { sizeBytes: 2000, ratePerSec: 2 },
          startBasestation: w.start,
        })),
      ),
    );
  });
  // The six users' addresses and paths on the mu host and the access points.
  const p = await cli(['provision']);
  expect(p.exitCode, p.stderr).toBe(0);
  const started = Date.now();
  const r = await cli<ExperimentResult>(
    [
      'experiment',
      'run',
      '--planner',
      'orchestrated,nearest',
      '--planner',
      // Relative to the repository (the command's directory): recorded by absolute path.
      'greedy=exec:/usr/bin/python3 examples/planners/greedy.py',
      '--duration',
      '45',
      '--out',
      out,
    ],
    sixFile,
    900_000,
  );
  tookS = Math.round((Date.now() - started) / 1000);
  expect(r.exitCode, r.stderr).toBe(0);
  result = r.json!.result!;
  warnings = r.json!.warnings;
  // Where the time went (CI time is scarce): readiness, then each run's set-up, window and tear-down.
  const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')) as ExperimentMeta;
  let last = meta.startedEpochMs;
  const parts = meta.runs.map((run) => {
    const setup = (run.startedEpochMs - last) / 1000;
    const window = run.windowS ?? 0;
    last = run.endedEpochMs;
    return `${run.run}: set-up ${setup.toFixed(0)} s, window ${window.toFixed(0)} s, tear-down ${((run.endedEpochMs - run.startedEpochMs) / 1000 - window).toFixed(0)} s`;
  });
  process.stderr.write(`many-users: the experiment took ${tookS} s (${parts.join('; ')})\n`);
}, 1_200_000);

afterAll(async () => {
  for (const u of USERS) await cli(['undeploy', '--user', u]).catch(() => {});
  // Back to the repository's testbed: the extra users' addresses and paths go away.
  await edgectl(['provision', '-f', hostsFile, '--json']);
  rmSync(dir, { recursive: true, force: true });
}, 300_000);

describe('experiment run: six users whose services cannot all fit on their nearest servers', () => {
  it('runs both planners to the end, each user its own service (the run keeps the service name)', () => {
    expect(result.complete, JSON.stringify(result.warnings)).toBe(true);
    expect(result.runs.map((r) => r.run)).toEqual(RUNS);
    const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')) as ExperimentMeta;
    for (const run of meta.runs) {
      expect(run.users?.map((u) => u.user)).toEqual(USERS);
      // The third user on ap1 found edge1 full: capacity bound from the first placement on.
      const onEdge1 = run.users?.filter((u) => u.host === 'edge1') ?? [];
      expect(onEdge1.length, JSON.stringify(run.users)).toBeLessThanOrEqual(2);
      expect(run.users?.filter((u) => u.bs === 'ap1' && u.host !== 'edge1').length).toBeGreaterThan(0);
    }
  });

  it('no server ever holds more than its capacity, at any instant, for both planners', () => {
    const rows = csv('capacity.csv');
    for (const planner of PLANNERS) {
      const mine = rows.filter((r) => r['planner'] === planner);
      expect(mine.length, planner).toBeGreaterThanOrEqual(4);
      // Each row is a server's load from its instant on: every change is a row, so every instant is checked.
      for (const r of mine) {
        expect(Number(r['cpus']), JSON.stringify(r)).toBeLessThanOrEqual(Number(r['cap_cpus']) + 1e-9);
        expect(Number(r['mem_mb']), JSON.stringify(r)).toBeLessThanOrEqual(Number(r['cap_mem_mb']));
      }
      // Six services of 1.5 cpus are placed at the start: 9 cpus over the servers.
      const atStart = mine.filter((r) => r['t_ms'] === '0');
      expect(atStart.reduce((a, r) => a + Number(r['cpus']), 0)).toBeCloseTo(9, 6);
      expect(atStart.reduce((a, r) => a + Number(r['users']), 0)).toBe(6);
    }
  });

  it('every user has tasks and positions in every run, and a row in summary.json', () => {
    const tasks = csv('tasks.csv');
    const positions = csv('positions.csv');
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as ExperimentSummary;
    for (const run of RUNS)
      for (const u of USERS) {
        const answered = tasks.filter((t) => t['run'] === run && t['user'] === u && t['ok'] === 'true');
        expect(answered.length, `${run} ${u}`).toBeGreaterThan(20);
        expect(
          positions.filter((t) => t['run'] === run && t['user'] === u).length,
          `${run} ${u}`,
        ).toBeGreaterThan(10);
      }
    for (const p of summary.planners) {
      expect(
        p.users?.map((u) => u.user),
        p.planner,
      ).toEqual(USERS);
      for (const u of p.users ?? []) expect(u.tasks, `${p.planner} ${u.user}`).toBeGreaterThan(20);
    }
  });

  it('report.md: a table per user and a Capacity section that says it was respected', () => {
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('## Per user');
    for (const u of USERS) expect(md).toMatch(new RegExp(`^\\| ${u} \\|`, 'm'));
    expect(md).toContain('## Capacity');
    expect(md).toContain('- orchestrated: respected at every instant: yes.');
    expect(md).toContain('- nearest: respected at every instant: yes.');
    expect(md).toContain('- greedy: respected at every instant: yes.');
  });

  it('the outside planner: every answer passed the check, its decisions carried out under its name', () => {
    const decisions = csv('decisions.csv').filter((d) => d['planner'] === 'greedy');
    const all = JSON.stringify(decisions);
    expect(decisions.length, all).toBeGreaterThan(0);
    // A failed round (an answer that broke a constraint, a time-out, a crash) leaves `rejected` rows and a warning.
    expect(
      decisions.filter((d) => d['status'] === 'rejected'),
      all,
    ).toEqual([]);
    expect(warnings.filter((w) => w.includes('planner greedy'))).toEqual([]);
    const coordinated = decisions.filter((d) => d['kind'] === 'coordinated');
    expect(coordinated.length, all).toBeGreaterThan(0);
    expect(coordinated.filter((d) => d['status'] === 'done').length, all).toBeGreaterThan(0);
    // Its migrations are in the results under its run.
    expect(csv('migrations.csv').some((m) => m['run'] === 'greedy-simple-1' && m['ok'] === 'true')).toBe(
      true,
    );
    const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')) as ExperimentMeta;
    expect(meta.args['outside']).toEqual([
      { name: 'greedy', exec: ['/usr/bin/python3', greedy], timeoutMs: 2000 },
    ]);
  });
});
