/**
 * `edgectl experiment compare`: results directories with known numbers (written by the runner's own
 * writeResults), their differences worked out by hand here; same-label merging; the baseline; the settings
 * that differ; bad input and its exit codes; the files written, and a foreign directory refused.
 * To look at the figures: EDGECTL_COMPARE_KEEP=/some/dir npx vitest run --project unit test/unit/experiment-compare.test.ts
 */
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ExperimentCompare from '../../src/commands/experiment/compare.js';
import { ExitCode } from '../../src/lib/errors.js';
import {
  COMPARE_KIND,
  compareDirs,
  type DirComparison,
  type LabelDifference,
  resolveLabels,
} from '../../src/lib/experiment/compare-dirs.js';
import { asComparison, compareMarkdown } from '../../src/lib/experiment/compare-md.js';
import { writeComparison } from '../../src/lib/experiment/compare-write.js';
import type { ExperimentMeta, RunMeta } from '../../src/lib/experiment/format.js';
import { paperOrder } from '../../src/lib/experiment/planner-order.js';
import { readResults } from '../../src/lib/experiment/report-data.js';
import { comparisonSentence } from '../../src/lib/experiment/report-verdict.js';
import { writeResults } from '../../src/lib/experiment/results.js';
import { emptyRunRows, type RunRows } from '../../src/lib/experiment/results-rows.js';
import { writeFixture } from '../fixtures/results/generate.js';
import { runJson } from '../helpers/run-json.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'edgectl-compare-'));
});
afterAll(async () => {
  const keep = process.env['EDGECTL_COMPARE_KEEP'];
  if (keep) await cp(tmp, keep, { recursive: true });
  await rm(tmp, { recursive: true, force: true });
});

/** t(0.975) with 1 and 2 degrees of freedom (tables: 12.706, 4.303). */
const T1 = 12.706204736174698;
const T2 = 4.302652729911275;

interface RunSpec {
  planner?: string;
  service?: string;
  repeat?: number;
  /** Outages [start, end] (ms from the run's start), each after the handover of the same index. */
  outages: [number, number][];
  /** Handover instants (ms). */
  handovers: number[];
  /** E2E of each answered task. */
  e2e: number[];
}

/** A results directory holding exactly these runs (one user, mu1). */
async function writeDir(name: string, specs: RunSpec[], over: Partial<ExperimentMeta> = {}): Promise<string> {
  const dir = join(tmp, name);
  const runs = specs.map((s, i) => {
    const planner = s.planner ?? 'nearest';
    const service = s.service ?? 'simple';
    const repeat = s.repeat ?? i + 1;
    const base = { run: `${planner}-${service}-${repeat}`, planner, repeat, service, user: 'mu1' };
    const rows: RunRows = {
      ...emptyRunRows(),
      tasks: s.e2e.map((e2e, k) => ({
        ...base,
        t_ms: 500 + k * 1000,
        sent_epoch_ms: i * 100_000 + 500 + k * 1000,
        counter: k + 1,
        bytes: 64,
        reconnects: 0,
        e2e_ms: e2e,
        proc_ms: e2e / 2,
        tx_ms: e2e / 2,
        ok: true,
      })),
      migrations: [],
      handovers: s.handovers.map((t) => ({
        ...base,
        t_ms: t,
        from_bs: 'ap1',
        to_bs: 'ap2',
        duration_ms: 100,
      })),
      outages: s.outages.map(([a, b]) => ({
        ...base,
        t_ms: a,
        end_t_ms: b,
        duration_ms: b - a,
        cause: 'handover',
      })),
      checkpoints: [],
      decisions: [],
    };
    const meta: RunMeta = {
      run: base.run,
      planner,
      service,
      repeat,
      startedEpochMs: i * 100_000,
      endedEpochMs: i * 100_000 + 60_000,
      complete: true,
      velocity: 1,
      seed: 1,
      experimentId: i + 1,
    };
    return { meta, rows };
  });
  const meta: ExperimentMeta = {
    version: 1,
    args: { duration: 60, velocity: 1, seed: 1, repeat: specs.length },
    testbed: 'lab',
    inventory: { testbed: 'lab', hosts: [{ name: 'edge1', address: '10.0.0.1' }] },
    versions: { edgectl: '0.1.0', node: 'v20', docker: {}, criu: {}, kernel: {} },
    links: [],
    imageBytes: {},
    startedEpochMs: 0,
    endedEpochMs: specs.length * 100_000,
    complete: true,
    runs: runs.map((r) => r.meta),
    caveats: [],
    ...over,
  };
  await writeResults(dir, meta, runs);
  return dir;
}

/** One run: one handover at 10 s, one outage of `downtime` ms from it, tasks with these E2E. */
const oneHandover = (downtime: number, e2e: number[], planner = 'nearest'): RunSpec => ({
  planner,
  handovers: [10_000],
  outages: [[10_000, 10_000 + downtime]],
  e2e,
});

const find = (c: DirComparison, metric: string, label: string, planner = 'nearest') =>
  c.differences.find(
    (d) => d.metric === metric && d.label === label && d.planner === planner,
  ) as LabelDifference;

let A: string;
let B: string;
beforeAll(async () => {
  A = await writeDir('a', [oneHandover(1000, [20, 22]), oneHandover(1200, [24, 26])]);
  B = await writeDir('b', [oneHandover(1500, [34, 32]), oneHandover(1700, [36, 38])]);
});

describe('compareDirs: the differences, by hand', () => {
  it('two runs a side: Welch over runs, with the interval and the relative difference', async () => {
    const c = compareDirs([
      { label: 'A', data: await readResults(A) },
      { label: 'B', data: await readResults(B) },
    ]);
    expect(c.baseline).toBe('A');
    // Total downtime per run: A 1000, 1200; B 1500, 1700. diff 500; each side var 20 000 / 2 runs, so
    // se = sqrt(20 000), df = 20 000² / (10 000² + 10 000²) = 2.
    const d = find(c, 'downtimeMs', 'B');
    expect(d.method).toBe('repetitions');
    expect(d.n).toEqual([2, 2]);
    expect(d.mean).toBe(1600);
    expect(d.baselineMean).toBe(1100);
    expect(d.diff).toBe(500);
    const half = T2 * Math.sqrt(20_000);
    expect(d.lo).toBeCloseTo(500 - half, 2);
    expect(d.hi).toBeCloseTo(500 + half, 2);
    expect(d.includesZero).toBe(true);
    expect(d.relative).toBeCloseTo(500 / 1100, 4);
    expect(d.relativeLo).toBeCloseTo((500 - half) / 1100, 3);
    expect(d.relativeHi).toBeCloseTo((500 + half) / 1100, 3);
    // Mean E2E per run: A 21, 25; B 33, 37: diff 12, var 8 a side, se = sqrt(8), df 2.
    const e = find(c, 'meanE2eMs', 'B');
    expect(e.method).toBe('repetitions');
    expect(e.diff).toBe(12);
    expect(e.lo).toBeCloseTo(12 - T2 * Math.sqrt(8), 2);
    expect(e.hi).toBeCloseTo(12 + T2 * Math.sqrt(8), 2);
    expect(e.relative).toBeCloseTo(12 / 23, 4);
    // Downtime per handover: one handover per run, so the same values, compared over handovers (bootstrap):
    // the resampled means lie in {1000, 1100, 1200} and {1500, 1600, 1700}, the differences in [300, 700].
    const h = find(c, 'downtimePerHandoverMs', 'B');
    expect(h.method).toBe('bootstrap-handovers');
    expect(h.n).toEqual([2, 2]);
    expect(h.diff).toBe(500);
    expect(h.lo).toBeGreaterThanOrEqual(300);
    expect(h.hi).toBeLessThanOrEqual(700);
    expect(h.lo).toBeLessThan(500);
    expect(h.hi).toBeGreaterThan(500);
  });

  it("each condition's mean with its 95% interval (Student t over runs)", async () => {
    const c = compareDirs([
      { label: 'A', data: await readResults(A) },
      { label: 'B', data: await readResults(B) },
    ]);
    const s = c.stats.find((x) => x.label === 'A' && x.metric === 'downtimeMs');
    // mean 1100, std 141.42, half-width t(1) * 141.42 / sqrt(2) = t(1) * 100.
    expect(s).toMatchObject({ over: 'runs', n: 2, mean: 1100 });
    expect(s?.lo).toBeCloseTo(1100 - T1 * 100, 2);
    expect(s?.hi).toBeCloseTo(1100 + T1 * 100, 2);
    const h = c.stats.find((x) => x.label === 'B' && x.metric === 'downtimePerHandoverMs');
    expect(h).toMatchObject({ over: 'handovers', n: 2, mean: 1600 });
  });

  it('one run a side: over handover episodes, the total downtime compared per handover', async () => {
    const four = (ms: number[]): RunSpec => ({
      handovers: [10_000, 20_000, 30_000, 40_000],
      outages: ms.map((d, i) => [(i + 1) * 10_000, (i + 1) * 10_000 + d] as [number, number]),
      e2e: [20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20],
    });
    const x = await writeDir('one-x', [four([100, 200, 300, 400])]);
    const y = await writeDir('one-y', [four([500, 600, 700, 800])]);
    const c = compareDirs([
      { label: 'x', data: await readResults(x) },
      { label: 'y', data: await readResults(y) },
    ]);
    // Per run: 1000 and 2600, one run each: no interval over runs.
    const sx = c.stats.find((s) => s.label === 'x' && s.metric === 'downtimeMs');
    expect(sx).toMatchObject({ n: 1, mean: 1000, lo: null, hi: null });
    // Per handover: 250 against 650.
    for (const metric of ['downtimeMs', 'downtimePerHandoverMs']) {
      const d = find(c, metric, 'y');
      expect(d.method).toBe('bootstrap-handovers');
      expect(d.n).toEqual([4, 4]);
      expect(d.mean).toBe(650);
      expect(d.baselineMean).toBe(250);
      expect(d.diff).toBe(400);
      expect(d.relative).toBeCloseTo(1.6, 4);
      expect(d.includesZero).toBe(false);
    }
    // The same E2E on both sides: a zero difference.
    expect(find(c, 'meanE2eMs', 'y').diff).toBe(0);
  });

  it('the first label is the baseline: reversed, the differences change sign', async () => {
    const c = compareDirs([
      { label: 'B', data: await readResults(B) },
      { label: 'A', data: await readResults(A) },
    ]);
    expect(c.baseline).toBe('B');
    expect(c.conditions.map((x) => x.label)).toEqual(['B', 'A']);
    const d = find(c, 'downtimeMs', 'A');
    expect(d.diff).toBe(-500);
    expect(d.relative).toBeCloseTo(-500 / 1600, 4);
    expect(c.differences.every((x) => x.label === 'A' && x.baseline === 'B')).toBe(true);
    expect(comparisonSentence(asComparison(find(c, 'downtimePerHandoverMs', 'A')))).toMatch(
      /^A's downtime per handover is 31\.3% below B's \(95% interval/,
    );
  });

  it('directories with the same label are pooled: n adds up, a repeated run name stays two runs', async () => {
    // Both directories of B hold a run named nearest-simple-1.
    const b1 = await writeDir('b1', [oneHandover(1500, [34])]);
    const b2 = await writeDir('b2', [oneHandover(1700, [36])]);
    const c = compareDirs([
      { label: 'A', data: await readResults(A) },
      { label: 'B', data: await readResults(b1) },
      { label: 'B', data: await readResults(b2) },
    ]);
    expect(c.conditions.map((x) => [x.label, x.runs, x.dirs.length])).toEqual([
      ['A', 2, 1],
      ['B', 2, 2],
    ]);
    const runsB = c.runs.filter((r) => r.label === 'B');
    expect(runsB.map((r) => r.run)).toEqual(['nearest-simple-1', 'nearest-simple-1']);
    expect(new Set(runsB.map((r) => r.dir)).size).toBe(2);
    expect(c.stats.find((s) => s.label === 'B' && s.metric === 'downtimeMs')).toMatchObject({
      n: 2,
      mean: 1600,
    });
    // Pooled, B has two runs: the same Welch comparison as the directory b with both.
    const d = find(c, 'downtimeMs', 'B');
    expect(d).toMatchObject({ method: 'repetitions', n: [2, 2], diff: 500 });
    expect(d.hi).toBeCloseTo(500 + T2 * Math.sqrt(20_000), 2);
    expect(c.warnings.join('\n')).toMatch(/2 directories labelled B: their 2 runs pooled/);
  });

  it('planners in the paper’s order, only those on both sides compared', async () => {
    const p = await writeDir('planners', [
      oneHandover(500, [10], 'orchestrated'),
      oneHandover(900, [10], 'cloud'),
      oneHandover(800, [10], 'nearest'),
    ]);
    const q = await writeDir('planners-q', [
      oneHandover(600, [10], 'orchestrated'),
      oneHandover(900, [10], 'random'),
    ]);
    const c = compareDirs([
      { label: 'p', data: await readResults(p) },
      { label: 'q', data: await readResults(q) },
    ]);
    expect(c.planners).toEqual(['cloud', 'random', 'nearest', 'orchestrated']);
    expect([...new Set(c.differences.map((d) => d.planner))]).toEqual(['orchestrated']);
    expect(c.warnings.join('\n')).toMatch(/random on simple ran under q but not under p/);
    expect(c.warnings.join('\n')).toMatch(/nearest on simple ran under p but not under q/);
    expect(paperOrder(['orchestrated', 'mine', 'cloud'])).toEqual(['cloud', 'orchestrated', 'mine']);
  });

  it('lists the settings that differ besides the label, and nothing when none do', async () => {
    const other = await writeDir('other', [oneHandover(1500, [34]), oneHandover(1700, [36])], {
      args: { duration: 120, velocity: 1, seed: 1, repeat: 2 },
      testbed: 'rack',
      versions: {
        edgectl: '0.1.0',
        node: 'v20',
        docker: {},
        criu: {},
        kernel: { edge1: '6.8', edge2: '6.8' },
      },
      inventory: { testbed: 'lab', hosts: [{ name: 'edge1', address: '10.0.0.9' }] },
      provenance: {
        commit: 'abc123',
        dirty: false,
        commandLine: ['edgectl'],
        machine: { hostname: 'm', cpus: 2, memGiB: 8, loadAvg: [0.5, 0.4, 0.3] },
        labSessionDelayMs: 0,
        settings: {
          strategy: 'delta',
          codec: 'zstd',
          solver: 'auto',
          planEveryMs: 1000,
          monitorEveryMs: 5000,
        },
      },
    });
    const c = compareDirs([
      { label: 'A', data: await readResults(A) },
      { label: 'other', data: await readResults(other) },
    ]);
    const settings = c.settings.map((s) => s.setting);
    expect(settings).toEqual(
      expect.arrayContaining(['testbed', 'args.duration', 'inventory.hosts[0].address', 'provenance.commit']),
    );
    expect(settings).not.toContain('args.velocity');
    expect(settings).not.toContain('provenance.machine.loadAvg');
    const duration = c.settings.find((s) => s.setting === 'args.duration');
    expect(duration?.values.map((v) => [v.label, v.value])).toEqual([
      ['A', '60'],
      ['other', '120'],
    ]);
    expect(duration?.withinLabel).toBe(false);
    // One condition made of the two: the difference is within the label.
    const merged = compareDirs([
      { label: 'A', data: await readResults(A) },
      { label: 'A', data: await readResults(other) },
      { label: 'B', data: await readResults(B) },
    ]);
    expect(merged.settings.find((s) => s.setting === 'testbed')?.withinLabel).toBe(true);
    const md = compareMarkdown(c);
    expect(md).toContain('| args.duration | A: 60; other: 120 |');
    // A kernel upgraded on both hosts: one row.
    expect(settings).toEqual(expect.arrayContaining(['versions.kernel.edge1', 'versions.kernel.edge2']));
    expect(md).toContain('| versions.kernel.{edge1, edge2} | A: (absent); other: 6.8 |');
    const same = compareDirs([
      { label: 'A', data: await readResults(A) },
      { label: 'B', data: await readResults(B) },
    ]);
    expect(same.settings).toEqual([]);
    expect(compareMarkdown(same)).toContain('Nothing but the label');
  });

  it('refuses fewer than two conditions, and labels that do not match the directories', async () => {
    const a = await readResults(A);
    expect(() => compareDirs([{ label: 'A', data: a }])).toThrow(/one directory is one condition/);
    expect(() =>
      compareDirs([
        { label: 'A', data: a },
        { label: 'A', data: a },
      ]),
    ).toThrow(/2 directories with one label \(A\)/);
    expect(() => resolveLabels(['x', 'y'], ['one'])).toThrow(/1 --label for 2 directories/);
    expect(resolveLabels(['results/v1/', '/r/v2'])).toEqual(['v1', 'v2']);
    expect(resolveLabels(['x', 'y'], [' a ', 'b'])).toEqual(['a', 'b']);
  });
});

describe('writeComparison: the files', () => {
  it('writes compare.json, .md, .csv and the figures whole, and rewrites its own directory', async () => {
    const out = join(tmp, 'out');
    const r = await writeComparison({ dirs: [A, B], labels: ['A', 'B'], outDir: out });
    const names = (await readdir(out)).sort();
    expect(names).toEqual(
      [
        'compare.csv',
        'compare.json',
        'compare.md',
        ...['compare-differences', 'compare-fig4-e2e', 'compare-fig5-downtime'].flatMap((f) =>
          ['svg', 'png', 'pdf', 'vl.json'].map((ext) => `${f}.${ext}`),
        ),
      ].sort(),
    );
    expect(r.files.at(-1)).toBe(join(out, 'compare.json'));
    const json = JSON.parse(await readFile(join(out, 'compare.json'), 'utf8')) as DirComparison;
    expect(json).toMatchObject({ version: 1, kind: COMPARE_KIND, baseline: 'A' });
    expect(json.differences).toEqual(r.differences);
    // The CSV is tidy: one row per service, planner, label and metric; the baseline's without a difference.
    const rows = parse(await readFile(join(out, 'compare.csv'), 'utf8'), { columns: true }) as Record<
      string,
      string
    >[];
    expect(rows).toHaveLength(2 * 3);
    const bDown = rows.find((x) => x['label'] === 'B' && x['metric'] === 'downtimeMs');
    expect(bDown).toMatchObject({
      baseline: 'false',
      n: '2',
      mean: '1600',
      diff: '500',
      diff_method: 'repetitions',
    });
    expect(rows.find((x) => x['label'] === 'A' && x['metric'] === 'downtimeMs')?.['diff']).toBe('');
    const md = await readFile(join(out, 'compare.md'), 'utf8');
    expect(md).toContain('Baseline: **A**');
    expect(md).toMatch(/- nearest: B and A in total downtime: no difference can be claimed/);
    expect(md).toContain('![Fig. 5: total downtime per run, by condition](compare-fig5-downtime.png)');
    for (const f of r.figures) {
      const svg = await readFile(f.files.find((p) => p.endsWith('.svg')) ?? '', 'utf8');
      expect(svg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
      const png = await readFile(f.files.find((p) => p.endsWith('.png')) ?? '');
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.subarray(-8, -4).toString()).toBe('IEND');
    }
    // Fig. 5 draws one bar per condition with its interval; the differences figure the baseline's name.
    const fig5 = await readFile(join(out, 'compare-fig5-downtime.svg'), 'utf8');
    expect(fig5).toContain('Condition');
    expect(await readFile(join(out, 'compare-differences.svg'), 'utf8')).toContain('Differences to A');
    // Written whole: no temporary file left; and compare's own directory is rewritten without --force.
    await writeComparison({ dirs: [A, B], labels: ['A', 'B'], outDir: out });
    expect((await readdir(out)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a non-empty directory it did not write (OUT_DIR_NOT_EMPTY), leaving it as it was; --force writes', async () => {
    const mine = join(tmp, 'mine');
    await mkdir(mine);
    await writeFile(join(mine, 'notes.txt'), 'mine\n');
    await expect(writeComparison({ dirs: [A, B], outDir: mine })).rejects.toMatchObject({
      code: 'OUT_DIR_NOT_EMPTY',
      exitCode: ExitCode.usage,
    });
    expect(await readdir(mine)).toEqual(['notes.txt']);
    // A results directory is not compare's either.
    await expect(writeComparison({ dirs: [A, B], outDir: A })).rejects.toMatchObject({
      code: 'OUT_DIR_NOT_EMPTY',
    });
    await writeComparison({ dirs: [A, B], outDir: mine, force: true });
    expect(await readdir(mine)).toContain('compare.json');
  });

  it('draws the synthetic fixture (four planners, two services) with three conditions', async () => {
    const f1 = join(tmp, 'fix1');
    const f2 = join(tmp, 'fix2');
    await writeFixture(f1, { services: ['simple', 'openface'] });
    await writeFixture(f2, { services: ['simple', 'openface'], handoverAtS: 30 });
    const out = join(tmp, 'out-fixture');
    const r = await writeComparison({ dirs: [f1, f2, f1], labels: ['one', 'two', 'three'], outDir: out });
    expect(r.planners).toEqual(['cloud', 'random', 'nearest', 'orchestrated']);
    expect(r.differences).toHaveLength(2 * 4 * 2 * 3);
    // The same directory against itself: no difference at all.
    for (const d of r.differences.filter((x) => x.label === 'three')) expect(d.diff).toBe(0);
    expect(r.files).toHaveLength(3 + 3 * 4);
  });
});

type Envelope = {
  status: number;
  result?: { outDir: string; baseline: string; differences: LabelDifference[] };
  error?: { code: string; message: string };
};

describe('the command', () => {
  it('compares with --label (comma-separated or repeated) and returns the result in the envelope', async () => {
    const out = join(tmp, 'cmd-out');
    const r = await runJson<Envelope>(ExperimentCompare, [A, B, '--label', 'base,new', '--out', out]);
    expect(r.exitCode).toBe(0);
    expect(r.envelope.result?.baseline).toBe('base');
    expect(r.envelope.result?.outDir).toBe(out);
    expect(r.envelope.result?.differences.find((d) => d.metric === 'downtimeMs')?.diff).toBe(500);
    const repeated = await runJson<Envelope>(ExperimentCompare, [
      A,
      '--label',
      'x',
      B,
      '--label',
      'y',
      '--out',
      out,
    ]);
    expect(repeated.envelope.result?.baseline).toBe('x');
  });

  it.each([
    [
      'a directory that is not a results directory',
      () => [A, tmp, '--out', join(tmp, 'e1')],
      /is not a results directory/,
    ],
    ['one directory', () => [A, '--out', join(tmp, 'e2')], /one condition: nothing to compare/],
    [
      'three labels for two directories',
      () => [A, B, '--label', 'a,b,c', '--out', join(tmp, 'e3')],
      /3 --label for 2/,
    ],
  ])('%s: exit 2, naming it', async (_what, argv, message) => {
    const r = await runJson<Envelope>(ExperimentCompare, argv());
    expect(r.exitCode).toBe(ExitCode.usage);
    expect(r.envelope.status).toBe(ExitCode.usage);
    expect(r.envelope.error?.message).toMatch(message);
  });

  it('names the directory that is not a results directory', async () => {
    const r = await runJson<Envelope>(ExperimentCompare, [A, tmp, '--out', join(tmp, 'e4')]);
    expect(r.envelope.error?.message).toContain(tmp);
  });
});
