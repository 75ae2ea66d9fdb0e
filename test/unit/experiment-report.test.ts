/**
 * `edgectl experiment report`: the pure spec builders on small rows, then the whole report over a synthetic
 * results directory (test/fixtures/results/generate.ts, written by the runner's own writeResults).
 * To look at the figures: EDGECTL_REPORT_KEEP=/some/dir npx vitest run --project unit test/unit/experiment-report.test.ts
 */
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ExperimentReport from '../../src/commands/experiment/report.js';
import type { Comparison, ExperimentSummary, RunMeta } from '../../src/lib/experiment/format.js';
import {
  checkpointTable,
  comparisonSentence,
  completeSummary,
  coordinationTable,
  delayBars,
  downtimeBars,
  FIGURE_IDS,
  fig4Spec,
  fig5Spec,
  fig6Spec,
  formatBytes,
  handoverWindows,
  MANY_USER_FIGURES,
  migrationSpeedTable,
  orderPlanners,
  paperOrder,
  plannerScale,
  predictionTable,
  type ReportResult,
  ratioSentence,
  readResults,
  writeReport,
} from '../../src/lib/experiment/report.js';
import type { DecisionRow, HandoverRow, OutageRow, TaskRow } from '../../src/lib/experiment/report-data.js';
import { writeFixture } from '../fixtures/results/generate.js';
import { repoRoot } from '../helpers/cli.js';
import { runJson } from '../helpers/run-json.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'edgectl-report-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function task(over: Partial<TaskRow>): TaskRow {
  return {
    run: 'nearest-simple-1',
    planner: 'nearest',
    repeat: 1,
    service: 'simple',
    user: 'mu1',
    tMs: 0,
    bs: null,
    host: null,
    e2eMs: 30,
    procMs: 10,
    txMs: 20,
    ok: true,
    ...over,
  };
}

function runMeta(planner: string, repeat: number, service = 'simple'): RunMeta {
  return {
    run: `${planner}-${service}-${repeat}`,
    planner,
    service,
    repeat,
    startedEpochMs: 0,
    endedEpochMs: 60_000,
    complete: true,
    velocity: 1,
    seed: 1,
    experimentId: repeat,
  };
}

/** Every data value of a spec (top level), for asserting on what a figure draws. */
function values(spec: unknown): Record<string, unknown>[] {
  return (spec as { data: { values: Record<string, unknown>[] } }).data.values;
}

function pngSize(png: Buffer): { width: number; height: number } {
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe('Fig. 4: delay bars', () => {
  it('draws the whole E2E of a service whose processing time is not known (http and echo task modes)', () => {
    const bars = delayBars([
      task({ service: 'web', procMs: null, txMs: null, e2eMs: 20 }),
      task({ service: 'web', procMs: null, txMs: null, e2eMs: 40 }),
      task({ procMs: 10, txMs: 20, e2eMs: 30 }),
    ]);
    expect(bars.map((b) => [b.service, b.split, b.n, b.procMs, b.txMs, b.e2eMs])).toEqual([
      ['simple', true, 1, 10, 20, 30],
      ['web', false, 2, 0, 30, 30],
    ]);
    const rows = values(fig4Spec(bars));
    expect(rows.filter((r) => r['service'] === 'web').map((r) => [r['part'], r['ms']])).toEqual([
      ['E2E (processing not known)', 30],
    ]);
    // Figures of edgectl-protocol services keep their two parts in the legend.
    expect(JSON.stringify(fig4Spec(bars.filter((b) => b.split)))).not.toContain('not known');
  });

  it('stacks the mean processing and transmission delay of the answered tasks, with the std of E2E', () => {
    const bars = delayBars([
      task({ procMs: 10, txMs: 20, e2eMs: 30 }),
      task({ procMs: 20, txMs: 40, e2eMs: 60 }),
      task({ ok: false, e2eMs: null, procMs: null, txMs: null }),
      task({ planner: 'orchestrated', run: 'orchestrated-simple-1', procMs: 5, txMs: 5, e2eMs: 10 }),
    ]);
    // The paper's order: nearest before orchestrated.
    expect(bars).toEqual([
      {
        service: 'simple',
        planner: 'nearest',
        n: 2,
        split: true,
        procMs: 15,
        txMs: 30,
        e2eMs: 45,
        e2eStdMs: 21.21,
      },
      {
        service: 'simple',
        planner: 'orchestrated',
        n: 1,
        split: true,
        procMs: 5,
        txMs: 5,
        e2eMs: 10,
        e2eStdMs: 0,
      },
    ]);
    const spec = fig4Spec(bars);
    const rows = values(spec);
    const nearest = rows.filter((r) => r['planner'] === 'nearest');
    expect(nearest.map((r) => [r['part'], r['ms']])).toEqual([
      ['processing', 15],
      ['transmission', 30],
    ]);
    // The error bar runs around the top of the stack: 45 ± 21.21.
    expect(nearest[0]).toMatchObject({ top: 45, lo: 23.79, hi: 66.21 });
    const json = JSON.stringify(spec);
    expect(json).toContain('"stack":"zero"');
    expect(json).toContain('Delay (ms)');
    expect(json).not.toContain('"facet"');
  });

  it('draws one panel per service when there are several', () => {
    const bars = delayBars([task({}), task({ service: 'openface', run: 'nearest-openface-1' })]);
    const spec = fig4Spec(bars) as { facet?: { column?: { field: string; sort: string[] } } };
    expect(spec.facet?.column?.field).toBe('service');
    expect(spec.facet?.column?.sort).toEqual(['openface', 'simple']);
  });
});

describe('planner colours', () => {
  it('orders the paper’s planners first and gives each the same colour in every figure', () => {
    expect(orderPlanners(['cloud', 'zeta', 'nearest', 'orchestrated', 'random'])).toEqual([
      'orchestrated',
      'nearest',
      'random',
      'cloud',
      'zeta',
    ]);
    // Figures and tables show the paper's order (its Fig. 4-6: cloud, random, nearest, orchestrated); the
    // verdict's pairs keep orchestrated first (orderPlanners above), so their signs do not change.
    expect(paperOrder(['orchestrated', 'zeta', 'nearest', 'cloud', 'random'])).toEqual([
      'cloud',
      'random',
      'nearest',
      'orchestrated',
      'zeta',
    ]);
    expect(plannerScale(['orchestrated', 'cloud']).domain).toEqual(['cloud', 'orchestrated']);
    const all = plannerScale(['cloud', 'nearest', 'orchestrated']);
    const two = plannerScale(['nearest', 'orchestrated']);
    expect(all.range[all.domain.indexOf('nearest')]).toBe(two.range[two.domain.indexOf('nearest')]);
    expect(new Set(all.range).size).toBe(3);
  });
});

describe('Fig. 5: downtime bars', () => {
  const summary = (planner: string, mean: number, ci95: number | null, n: number) =>
    ({ planner, service: 'simple', downtimeMs: { mean, ci95, n } }) as never;

  it('draws 95% CI error bars only with two repetitions or more, in ms below 10 s', () => {
    const bars = downtimeBars([summary('nearest', 2000, 300, 3), summary('orchestrated', 1200, null, 1)]);
    expect(bars.map((b) => [b.planner, b.ci95Ms])).toEqual([
      ['nearest', 300],
      ['orchestrated', null],
    ]);
    const spec = fig5Spec(bars);
    expect(values(spec).find((v) => v['planner'] === 'nearest')).toMatchObject({
      value: 2000,
      lo: 1700,
      hi: 2300,
    });
    expect(JSON.stringify(spec)).toContain('Total downtime (ms)');
    expect(JSON.stringify(spec)).toContain('"y2"');
  });

  it('switches to seconds for long runs and draws no error bar with one repetition', () => {
    const spec = fig5Spec(downtimeBars([summary('nearest', 42_000, null, 1)]));
    expect(values(spec)[0]).toMatchObject({ value: 42, lo: null, hi: null });
    expect(JSON.stringify(spec)).toContain('Total downtime (s)');
    expect(JSON.stringify(spec)).not.toContain('"y2"');
  });
});

describe('Fig. 6: the window around a handover', () => {
  const ho = (run: string, planner: string, tMs: number): HandoverRow => ({
    run,
    planner,
    service: 'simple',
    user: 'mu1',
    tMs,
    fromBs: 'ap1',
    toBs: 'ap2',
    durationMs: 500,
  });
  const outage = (
    run: string,
    planner: string,
    tMs: number,
    endTMs: number | null,
    cause: string,
  ): OutageRow => ({
    run,
    planner,
    service: 'simple',
    user: 'mu1',
    tMs,
    endTMs,
    durationMs: endTMs === null ? null : endTMs - tMs,
    cause,
  });
  // Tasks every second from 0 to 120 s in nearest's second run; only after 40 s in its first.
  const tasks = [
    ...Array.from({ length: 121 }, (_, i) =>
      task({ run: 'nearest-simple-2', repeat: 2, tMs: i * 1000, ok: i !== 61, e2eMs: i === 61 ? null : 30 }),
    ),
    ...Array.from({ length: 80 }, (_, i) => task({ run: 'nearest-simple-1', tMs: 40_000 + i * 1000 })),
  ];
  const input = {
    runs: [runMeta('nearest', 1), runMeta('nearest', 2), runMeta('cloud', 1)],
    tasks,
    handovers: [
      // Run 1: no task before its first handover; run 2: 60 s then 100 s.
      ho('nearest-simple-1', 'nearest', 10_000),
      ho('nearest-simple-2', 'nearest', 100_000),
      ho('nearest-simple-2', 'nearest', 60_000),
    ],
    outages: [
      outage('nearest-simple-2', 'nearest', 60_000, 60_500, 'handover'),
      outage('nearest-simple-2', 'nearest', 68_000, 69_500, 'migration'),
      outage('nearest-simple-2', 'nearest', 5_000, 6_000, 'service'),
      outage('nearest-simple-2', 'nearest', 85_000, null, 'service'),
    ],
  };

  it('takes the first handover of the first run with tasks on both sides, 20 s before to 30 s after it', () => {
    const [w, ...rest] = handoverWindows(input, 'simple');
    expect(rest).toEqual([]); // cloud has no handover: no panel
    expect(w).toMatchObject({
      planner: 'nearest',
      run: 'nearest-simple-2',
      handoverTMs: 60_000,
      fromS: -20,
      toS: 30,
    });
    expect(w?.tasks.map((t) => t.s)).toEqual(Array.from({ length: 51 }, (_, i) => i - 20));
    expect(w?.tasks.find((t) => t.s === 1)).toMatchObject({ ok: false, e2eMs: null });
  });

  it('keeps the outages of the window by category, clipped to it, an unfinished one to its end', () => {
    const w = handoverWindows(input, 'simple')[0];
    expect(w?.outages).toEqual([
      { fromS: 0, toS: 0.5, category: 'handover', open: false },
      { fromS: 8, toS: 9.5, category: 'migration', open: false },
      { fromS: 25, toS: 30, category: 'other', open: true },
    ]);
  });

  it('breaks the line at every outage and failed task', () => {
    const w = handoverWindows(input, 'simple', { windowS: 50, beforeS: 25 })[0];
    const seg = (s: number) => w?.tasks.find((t) => t.s === s)?.segment;
    expect(seg(-1)).toBe(seg(-25));
    expect(seg(0)).toBe(seg(-1)); // the task sent at the handover instant, before the outage began
    expect(seg(2)).toBeGreaterThan(seg(0) ?? 0); // after the outage and the failed task
    expect(seg(10)).toBeGreaterThan(seg(8) ?? 0); // across the migration
    expect(w?.outages.map((o) => o.category)).toEqual(['handover', 'migration']);
  });

  it('shades the outages as rect marks and draws one panel per planner', () => {
    const spec = fig6Spec(handoverWindows(input, 'simple'));
    const rows = values(spec);
    expect(rows.filter((r) => r['kind'] === 'outage').map((r) => [r['fromS'], r['toS']])).toEqual([
      [0, 0.5],
      [8, 9.5],
      [25, 30],
    ]);
    expect(rows.filter((r) => r['kind'] === 'task')).toHaveLength(51);
    const json = JSON.stringify(spec);
    expect(json).toContain('"type":"rect"');
    expect(json).toContain('"x2":{"field":"toS"}');
    expect(json).toContain('Time relative to the handover (s)');
    expect(json).toContain('E2E delay (ms)');
    expect((spec as { facet: { row: { field: string } } }).facet.row.field).toBe('panel');
  });
});

describe('Table I and the wording', () => {
  it('averages the pre-migration checkpoints and the deltas per service', () => {
    const c = (kind: string, bytes: number, service = 'simple') => ({
      run: 'x',
      planner: 'nearest',
      service,
      migration: '1',
      kind,
      bytes,
    });
    const rows = checkpointTable(
      { imageBytes: { simple: 74_200_000, yolo: null }, runs: [runMeta('nearest', 1)] },
      [c('pre', 10e6), c('pre', 12e6), c('final', 11e6), c('delta', 40e3), c('delta', 60e3)],
    );
    expect(rows).toEqual([
      {
        service: 'simple',
        imageBytes: 74_200_000,
        preBytes: 11e6,
        preN: 2,
        deltaBytes: 50e3,
        deltaN: 2,
        reduction: 1 - 50e3 / 11e6,
      },
      {
        service: 'yolo',
        imageBytes: null,
        preBytes: null,
        preN: 0,
        deltaBytes: null,
        deltaN: 0,
        reduction: null,
      },
    ]);
  });

  it('writes sizes as the paper does and ratios as plain sentences', () => {
    expect([74_200_000, 1_860_000_000, 47_700, 196_800_000, 512].map(formatBytes)).toEqual([
      '74.2 MB',
      '1.86 GB',
      '47.7 KB',
      '197 MB',
      '512 B',
    ]);
    expect(ratioSentence('total downtime', 'nearest', 1 / 0.6)).toBe(
      "orchestrated's total downtime is 40.0% below nearest's",
    );
    expect(ratioSentence('mean E2E delay', 'cloud', 0.8)).toBe(
      "orchestrated's mean E2E delay is 25.0% above cloud's",
    );
  });
});

describe('the verdict and the decisions', () => {
  const comparison = (over: Partial<Comparison>): Comparison => ({
    a: 'orchestrated',
    b: 'nearest',
    service: 'simple',
    metric: 'downtimeMs',
    method: 'repetitions',
    meanA: 1100,
    meanB: 2100,
    diff: -1000,
    lo: -1608.487,
    hi: -391.513,
    n: [2, 2],
    includesZero: false,
    relative: -0.4762,
    ...over,
  });

  it('says the difference and its interval relative to b, or that none can be claimed', () => {
    // 1000 / 2100 = 47.6%; the interval -1608.487 to -391.513 is 76.6% to 18.6% below.
    expect(comparisonSentence(comparison({}))).toBe(
      "orchestrated's total downtime is 47.6% below nearest's (95% interval 18.6% to 76.6%)",
    );
    expect(
      comparisonSentence(
        comparison({
          metric: 'meanE2eMs',
          method: 'bootstrap-handovers',
          meanA: 30,
          meanB: 20,
          diff: 10,
          lo: 5,
          hi: 15,
          relative: 0.5,
        }),
      ),
    ).toBe(
      "orchestrated's mean E2E delay per handover is 50.0% above nearest's (95% interval 25.0% to 75.0%)",
    );
    expect(
      comparisonSentence(
        comparison({ meanA: 900, meanB: 1000, diff: -100, lo: -300, hi: 100, includesZero: true }),
      ),
    ).toBe(
      'orchestrated and nearest in total downtime: no difference can be claimed: the 95% interval includes zero (orchestrated − nearest = −100 ms, 95% interval −300 ms to +100 ms)',
    );
    expect(
      comparisonSentence(
        comparison({
          lo: null,
          hi: null,
          includesZero: null,
          n: [1, 1],
          note: 'fewer than two runs on a side (1 and 1)',
        }),
      ),
    ).toContain('no difference can be claimed without an interval, fewer than two runs on a side (1 and 1)');
    expect(comparisonSentence(comparison({ meanA: null, diff: null, lo: null, hi: null }))).toContain(
      'cannot be compared in total downtime',
    );
  });

  const decision = (over: Partial<DecisionRow>): DecisionRow => ({
    run: 'orchestrated-simple-1',
    planner: 'orchestrated',
    service: 'simple',
    user: 'mu1',
    kind: 'coordinated',
    status: 'done',
    error: null,
    decidedTMs: 1000,
    plannedHandoverTMs: 10_000,
    actualHandoverTMs: 10_010,
    handoverLateMs: 10,
    checkpointLateMs: 0,
    estPreMs: null,
    estMigMs: null,
    estHoMs: null,
    measPreMs: null,
    measMigMs: null,
    measHoMs: null,
    handoverInside: true,
    reactionMs: null,
    preBytes: null,
    preTransferMs: null,
    preMbps: null,
    linkMbps: null,
    ...over,
  });

  it('counts the coordinated pairs planned, kept, inside the outage, and their lateness', () => {
    const rows = coordinationTable([
      decision({ handoverLateMs: 10 }),
      decision({ handoverLateMs: 40, handoverInside: false }),
      decision({ handoverLateMs: -20 }),
      decision({ status: 'dropped', handoverLateMs: null, handoverInside: null, error: 'busy' }),
      decision({ status: 'failed', handoverLateMs: null, handoverInside: null }),
      decision({ planner: 'nearest', kind: 'reactive' }),
    ]);
    expect(rows).toEqual([
      {
        service: 'simple',
        planner: 'orchestrated',
        planned: 5,
        done: 3,
        inside: 2,
        insideKnown: 3,
        lateMedianMs: 10,
        lateMaxMs: 40,
        lateN: 3,
        dropped: 1,
        failed: 1,
      },
    ]);
  });

  it('gives the mean error and mean absolute error of each estimate', () => {
    // T_mig: (800 - 1000) and (900 - 700): mean error 0, mean absolute error 200.
    const rows = predictionTable([
      decision({ estMigMs: 800, measMigMs: 1000, estHoMs: 500, measHoMs: 550 }),
      decision({ estMigMs: 900, measMigMs: 700 }),
      decision({ estMigMs: 900 }),
    ]);
    expect(rows).toEqual([
      {
        service: 'simple',
        planner: 'orchestrated',
        quantity: 'T_mig',
        n: 2,
        meanEstMs: 850,
        meanMeasMs: 850,
        meanErrorMs: 0,
        meanAbsErrorMs: 200,
      },
      {
        service: 'simple',
        planner: 'orchestrated',
        quantity: 'T_ho',
        n: 1,
        meanEstMs: 500,
        meanMeasMs: 550,
        meanErrorMs: -50,
        meanAbsErrorMs: 50,
      },
    ]);
  });

  it('gives the reaction delay of reactive migrations and the pre-transfer throughput against the link', () => {
    const reactive = (reactionMs: number, preMbps: number) =>
      decision({ planner: 'nearest', kind: 'reactive', reactionMs, preMbps, linkMbps: 100 });
    const rows = migrationSpeedTable([
      reactive(300, 40),
      reactive(500, 80),
      reactive(1200, 60),
      decision({ reactionMs: 9999, preMbps: 8, linkMbps: 100 }), // coordinated: no reaction
      decision({ planner: 'cloud', kind: 'reactive' }), // nothing measured: no row
    ]);
    expect(rows).toEqual([
      {
        service: 'simple',
        planner: 'nearest',
        reactionN: 3,
        reactionMedianMs: 500,
        reactionMaxMs: 1200,
        preN: 3,
        preMedianMBps: 7.5, // 60 Mbit/s
        preMedianOfLink: 0.6,
      },
      {
        service: 'simple',
        planner: 'orchestrated',
        reactionN: 0,
        reactionMedianMs: null,
        reactionMaxMs: null,
        preN: 1,
        preMedianMBps: 1,
        preMedianOfLink: 0.08,
      },
    ]);
  });
});

describe('the report over results with and without decisions', () => {
  it('puts the verdict first, with the coordination, prediction and speed tables from decisions.csv', async () => {
    const dir = join(tmp, 'decisions');
    await writeFixture(dir, {
      planners: ['nearest', 'orchestrated'],
      repeats: 2,
      dropped: ['orchestrated-simple-2'],
    });
    const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as { runs: RunMeta[] };
    meta.runs = meta.runs.map((r) => ({
      ...r,
      windowS: 70,
      truncated:
        r.run === 'nearest-simple-2' ? ['mu1 handover at 58.0 s: its migration had not ended at 70 s'] : [],
    }));
    await writeFile(join(dir, 'meta.json'), JSON.stringify(meta));
    const r = await writeReport(dir);
    expect(r.warnings).toEqual([]);
    const md = await readFile(join(dir, 'report.md'), 'utf8');
    const at = (s: string) => md.indexOf(s);
    expect(at('## Verdict')).toBeGreaterThan(0);
    expect(at('## Verdict')).toBeLessThan(at('## When and where'));
    expect(md).toMatch(
      /- simple: orchestrated's total downtime is \d+\.\d% below nearest's \(95% interval \d+\.\d% to \d+\.\d%\)\./,
    );
    expect(md).toContain('| simple | orchestrated − nearest | total downtime |');
    expect(md).toContain('repetitions (2, 2 runs)');
    expect(md).toContain(
      'its duration, then a drain until the reactions to the handovers inside it had ended (70 s)',
    );
    expect(md).toContain('- nearest-simple-2: mu1 handover at 58.0 s: its migration had not ended at 70 s');
    // Two pairs kept (20 and 40 ms late), one dropped.
    expect(md).toContain('| simple | orchestrated | 3 | 2 | 2 of 2 | +30 ms | +40 ms | 1 | 0 |');
    expect(md).toContain(
      '- orchestrated-simple-2, mu1 (decided at 30.0 s): coordinated, dropped: the agent did not take the handover: busy',
    );
    expect(md).toMatch(/\| simple \| orchestrated \| T_mig \| 2 \| 800 \| 1\d{3} \| −\d+ \| \d+ \|/);
    expect(md).toMatch(/\| simple \| nearest \| 2 \| 9\d{3} ms \| 9\d{3} ms \| 2 \| 4\.\d \| 3\d\.\d% \|/);
    expect(md).toContain('checkpoints.csv and decisions.csv in this directory');
    // Downtime per handover beside the total: one handover per run.
    expect(md).toMatch(
      /\| simple \| orchestrated \| 2 \| .* \| 1\d{3} ms ± \d+ ms \| 1\d{3} ms ± \d+ ms \(n=2\) \|/,
    );
  });

  it('reads results written before decisions and comparisons: computes the verdict, says what is not recorded', async () => {
    const dir = join(tmp, 'older');
    await writeFixture(dir, { planners: ['nearest', 'orchestrated', 'cloud'], repeats: 1 });
    const written = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'));
    const data = await readResults(dir);
    expect(completeSummary(data).computed).toBe(false);
    // As an older edgectl wrote it: no decisions.csv, no comparisons, no downtime per handover.
    await rm(join(dir, 'decisions.csv'));
    const { comparisons, ...older } = written;
    older.planners = older.planners.map(({ downtimePerHandoverMs, ...p }: Record<string, unknown>) => p);
    await writeFile(join(dir, 'summary.json'), JSON.stringify(older));
    const again = await readResults(dir);
    expect(again.decisions).toBeNull();
    expect(again.warnings).toEqual([]);
    const completed = completeSummary(again);
    expect(completed.computed).toBe(true);
    // The report's computation from the CSV files agrees with the runner's summary.
    expect(completed.summary.comparisons).toEqual(comparisons);
    expect(completed.summary.planners.map((p) => p.downtimePerHandoverMs)).toEqual(
      written.planners.map((p: { downtimePerHandoverMs: unknown }) => p.downtimePerHandoverMs),
    );
    expect(comparisons[0]).toMatchObject({ a: 'orchestrated', b: 'nearest', method: 'bootstrap-handovers' });
    const r = await writeReport(dir);
    expect(r.warnings).toEqual([]);
    const md = await readFile(join(dir, 'report.md'), 'utf8');
    expect(md).toContain('the report computed them from the CSV files');
    expect(md.match(/Not recorded in this run/g)).toHaveLength(3);
    expect(md).toContain('these runs recorded no drain');
    expect(md).toContain('outages.csv and checkpoints.csv in this directory');
  });
});

/** The figures of a one-user experiment: the many-user ones are left out. */
const ONE_USER_FIGURES = FIGURE_IDS.filter((id) => !MANY_USER_FIGURES.includes(id));

describe('a report of two users', () => {
  it('draws per-user and capacity, and report.md has a table per user and the Capacity section', async () => {
    const dir = join(tmp, 'two-users');
    await writeFixture(dir, { planners: ['nearest', 'orchestrated'], repeats: 1, twoUsers: true });
    const r = await writeReport(dir);
    expect(r.figures.map((f) => [f.id, f.drawn])).toEqual(
      expect.arrayContaining([
        ['per-user', true],
        ['capacity', true],
      ]),
    );
    const md = await readFile(join(dir, 'report.md'), 'utf8');
    expect(md).toContain('## Per user');
    expect(md).toContain('### nearest (simple)');
    expect(md).toMatch(/^\| mu2 \| simple \| \d+/m);
    expect(md).toContain('## Capacity');
    // Both on edge1 (1 cpu each of 4) until nearest's migration takes mu1 to edge2.
    expect(md).toContain('| nearest | edge1 | 2 | 2 | 4 | 1024 | 16384 | yes |');
    expect(md).toContain('- orchestrated: respected at every instant: yes.');
    const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as ExperimentSummary;
    const nearest = summary.planners.find((p) => p.planner === 'nearest');
    expect(nearest?.users?.map((u) => [u.user, u.migrations])).toEqual([
      ['mu1', 1],
      ['mu2', 0],
    ]);
    // mu2 is mu1 5 ms slower.
    const [mu1, mu2] = nearest?.users ?? [];
    expect((mu2?.e2eMs.mean ?? 0) - (mu1?.e2eMs.mean ?? 0)).toBeCloseTo(5, 0);
  }, 60_000);

  it('a one-user report has neither section', async () => {
    const dir = join(tmp, 'one-user');
    await writeFixture(dir, { planners: ['nearest'], repeats: 1 });
    await writeReport(dir);
    const md = await readFile(join(dir, 'report.md'), 'utf8');
    expect(md).not.toContain('## Per user');
    expect(md).not.toContain('## Capacity');
    const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as ExperimentSummary;
    expect(summary.planners[0]?.users).toBeUndefined();
  }, 60_000);
});

describe('writeReport over a results directory', () => {
  let dir: string;
  let result: ReportResult;
  beforeAll(async () => {
    dir = join(tmp, 'full');
    await writeFixture(dir, { services: ['simple', 'openface'], incomplete: ['random-openface-2'] });
    result = await writeReport(dir);
    const keep = process.env['EDGECTL_REPORT_KEEP'];
    if (keep) await cp(dir, keep, { recursive: true });
  }, 60_000);

  it('writes every drawn figure as SVG, PNG, PDF and its vega-lite spec, report.md and report.html', async () => {
    expect(result.figures.map((f) => f.id)).toEqual(ONE_USER_FIGURES);
    // The fixture has the data of every figure, migration_phases.csv and positions.csv included.
    for (const f of result.figures) expect([f.id, f.drawn]).toEqual([f.id, true]);
    expect(result.files).toEqual([
      ...result.figures
        .filter((f) => f.drawn)
        .flatMap((f) => ['svg', 'png', 'pdf', 'vl.json'].map((ext) => join(dir, `${f.name}.${ext}`))),
      join(dir, 'report.md'),
      join(dir, 'report.html'),
    ]);
    expect(result.figures.find((f) => f.id === 'fig6')?.name).toBe('fig6-handover');
    for (const f of result.files) expect((await stat(f)).size).toBeGreaterThan(500);
  });

  it('draws SVGs with their axis titles', async () => {
    const svg = async (n: string) => readFile(join(dir, `${n}.svg`), 'utf8');
    const fig4 = await svg('fig4-delay');
    expect(fig4.startsWith('<svg')).toBe(true);
    expect(fig4).toContain('Delay (ms)');
    expect(fig4).toContain('Planner');
    const fig5 = await svg('fig5-downtime');
    expect(fig5.startsWith('<svg')).toBe(true);
    expect(fig5).toContain('Total downtime (ms)');
    const fig6 = await svg('fig6-handover');
    expect(fig6.startsWith('<svg')).toBe(true);
    expect(fig6).toContain('E2E delay (ms)');
    expect(fig6).toContain('Time relative to the handover (s)');
    // Openface, as in the paper; one panel per planner.
    expect(result.figures[2]?.title).toContain('openface');
    for (const p of ['orchestrated', 'nearest', 'random', 'cloud'])
      expect(fig6).toContain(`${p} (${p}-openface-1`);
  });

  it('renders PNGs twice the size of the SVG', async () => {
    for (const n of ['fig4-delay', 'fig5-downtime', 'fig6-handover']) {
      const png = await readFile(join(dir, `${n}.png`));
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      const svg = await readFile(join(dir, `${n}.svg`), 'utf8');
      const width = Number(/width="(\d+(?:\.\d+)?)"/.exec(svg)?.[1]);
      const { width: w, height: h } = pngSize(png);
      expect(w).toBe(Math.ceil(width * 2));
      expect(w).toBeGreaterThan(400);
      expect(h).toBeGreaterThan(300);
      expect(png.length).toBeGreaterThan(10_000);
    }
  });

  it('writes report.md: the ratios, the figures, Table I, the summary, what was emulated', async () => {
    const md = await readFile(join(dir, 'report.md'), 'utf8');
    expect(md).toMatch(/^# Experiment report: paper-fig3/);
    expect(md).toMatch(/simple: orchestrated's total downtime is \d+\.\d% below nearest's/);
    expect(md).toMatch(/orchestrated's mean E2E delay is \d+\.\d% below cloud's/);
    expect(md).toContain('![Fig. 4: E2E delay breakdown](fig4-delay.png)');
    expect(md).toContain('(fig5-downtime.png)');
    expect(md).toContain('(fig6-handover.png)');
    expect(md).toContain(
      '| Service | Image size | Checkpoint of pre-migration | Checkpoint of migration (delta) | Reduction ratio |',
    );
    expect(md).toMatch(/\| simple \| 74\.2 MB \| 11\.\d+ MB \(n=6\) \| 4\d\.\d KB \(n=6\) \| 99\.\d% \|/);
    expect(md).toMatch(
      /\| openface \| 1\.86 GB \| 19\d(\.\d)? MB \(n=6\) \| [78]\.\d+ MB \(n=6\) \| 9\d\.\d% \|/,
    );
    expect(md).toContain('| Service | Planner | Runs | Tasks | E2E (ms) |');
    expect(md).toMatch(/\| openface \| random \* \| 2 \|/);
    expect(md).toContain('**This experiment is incomplete.**');
    expect(md).toContain('- random-openface-2: interrupted');
    expect(md).toContain('## What was and was not emulated');
    expect(md).toContain('| edge1 ↔ edge2 | 25 | yes | tc netem on the data network |');
    expect(md).toContain('| edge1 → cloud | 75 | no | – |');
    expect(md).toContain('Latency was emulated on 2 of 4 directed links');
    expect(md).toContain('- The mobile user is virtual');
    expect(md).toContain('Docker: 27.5.1 on edge1, edge2, cloud.');
    expect(result.warnings).toContain(
      'run random-openface-2 is incomplete (interrupted): its rows are included',
    );
  });
});

describe('what the report tolerates and refuses', () => {
  it('draws a run with no migration, handover or outage (empty CSV files)', async () => {
    const dir = join(tmp, 'quiet');
    await writeFixture(dir, { planners: ['cloud', 'orchestrated'], repeats: 1, quiet: true });
    expect((await readFile(join(dir, 'outages.csv'), 'utf8')).trim().split('\n')).toHaveLength(1);
    const r = await writeReport(dir);
    expect(r.figures.map((f) => [f.id, f.drawn])).toEqual([
      ['fig4', true],
      ['fig5', true],
      ['fig6', false],
      ['fig6-aligned', false],
      ['ecdf', true],
      ['outages', false],
      ['phases', false],
      ['timeline', true],
    ]);
    expect(r.files).toHaveLength(4 * 4 + 2);
    const md = await readFile(join(dir, 'report.md'), 'utf8');
    expect(md).toContain('| simple | 74.2 MB | – | – | – |');
    expect(md).toContain('the downtime ratio to cloud is not defined');
    // Not drawn: no file, no placeholder, and report.md says why.
    await expect(stat(join(dir, 'fig6-handover.svg'))).rejects.toThrow();
    expect(md).toContain(
      '### Fig. 6: E2E delay around a handover (simple)\n\nNot drawn: no handover with tasks on both sides of it.',
    );
    expect(md).toContain('### Outages by cause\n\nNot drawn: no outage in outages.csv.');
  });

  it('draws from gzipped tables, and datapackage.json comes to name them so', async () => {
    const dir = join(tmp, 'gzipped');
    await writeFixture(dir, { planners: ['nearest', 'orchestrated'], repeats: 1 });
    const tasks = await readFile(join(dir, 'tasks.csv'));
    await writeFile(join(dir, 'tasks.csv.gz'), gzipSync(tasks));
    await rm(join(dir, 'tasks.csv'));
    const r = await writeReport(dir);
    expect(r.figures.find((f) => f.id === 'fig4')?.drawn).toBe(true);
    expect(r.files).toContain(join(dir, 'datapackage.json'));
    const pkg = JSON.parse(await readFile(join(dir, 'datapackage.json'), 'utf8')) as {
      resources: { name: string; path: string; compression?: string }[];
    };
    expect(pkg.resources.find((x) => x.name === 'tasks')).toMatchObject({
      path: 'tasks.csv.gz',
      compression: 'gz',
    });
    expect(pkg.resources.find((x) => x.name === 'outages')?.path).toBe('outages.csv');
    // Once it names the files as they are, a second report leaves it alone.
    expect((await writeReport(dir)).files).not.toContain(join(dir, 'datapackage.json'));
  }, 60_000);

  it('draws every figure from a copy of docs/paper-1600s (gzipped tasks, migrations a row per phase)', async () => {
    const dir = join(tmp, 'paper-1600s');
    await cp(join(repoRoot, 'docs', 'paper-1600s'), dir, { recursive: true });
    const r = await writeReport(dir);
    expect(r.figures.map((f) => [f.id, f.drawn])).toEqual(ONE_USER_FIGURES.map((id) => [id, true]));
    expect(r.warnings).toEqual([]);
    const svg = async (name: string) => readFile(join(dir, `${name}.svg`), 'utf8');
    for (const f of r.figures) {
      const text = await svg(f.name);
      expect(text, f.name).not.toMatch(/Not drawn/);
      expect(text.length, f.name).toBeGreaterThan(10_000);
      expect((await stat(join(dir, `${f.name}.png`))).size, f.name).toBeGreaterThan(30_000);
      // every planner that ran is in every figure
      for (const p of ['cloud', 'random', 'nearest', 'orchestrated'])
        if (f.id !== 'phases' || p !== 'cloud') expect(text, `${f.name} ${p}`).toContain(p);
    }
    // Fig. 6: the first handover of each planner's run, panels in the paper's order.
    const fig6 = await svg('fig6-handover');
    const panels = ['cloud-simple-1', 'random-simple-1', 'nearest-simple-1', 'orchestrated-simple-1'];
    expect(panels.map((p) => fig6.indexOf(p))).toEqual(
      panels.map((p) => fig6.indexOf(p)).sort((a, b) => a - b),
    );
    expect(fig6).toContain('handover 1: ap1');
    // The phases come from the old migrations.csv's phase rows; the aligned view counts all 27 handovers.
    expect(await svg('migration-phases')).toContain('pre-transfer');
    expect(await svg('fig6-aligned')).toContain('27 handovers');
  }, 120_000);

  it('reads a CSV file of zero bytes as no rows', async () => {
    const dir = join(tmp, 'zero');
    await writeFixture(dir, { planners: ['nearest'], repeats: 1 });
    await writeFile(join(dir, 'checkpoints.csv'), '');
    await writeFile(join(dir, 'migrations.csv'), '');
    const data = await readResults(dir);
    expect(data.checkpoints).toEqual([]);
    expect((await writeReport(dir)).files).toContain(join(dir, 'report.md'));
  });

  const runCommand = (argv: string[]) => runJson(ExperimentReport, argv);

  it('refuses a directory that is not a results directory with exit 2, naming what is missing', async () => {
    const dir = join(tmp, 'not-results');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'meta.json'), '{}');
    const { envelope, exitCode } = await runCommand([dir]);
    expect(exitCode).toBe(2);
    expect(envelope['status']).toBe(2);
    expect(envelope['error']).toMatchObject({ code: 'USAGE' });
    expect((envelope['error'] as { message: string }).message).toContain('has no summary.json');
  });

  it('refuses a missing directory and a meta.json of another shape with exit 2', async () => {
    const missing = await runCommand([join(tmp, 'nowhere')]);
    expect(missing.exitCode).toBe(2);
    expect((missing.envelope['error'] as { message: string }).message).toContain('no such directory');
    const dir = join(tmp, 'bad-meta');
    await writeFixture(dir, { planners: ['nearest'], repeats: 1 });
    await writeFile(join(dir, 'meta.json'), JSON.stringify({ version: 1, testbed: 'x', runs: [{ run: 3 }] }));
    const bad = await runCommand([dir]);
    expect(bad.exitCode).toBe(2);
    expect((bad.envelope['error'] as { message: string }).message).toMatch(/meta\.json .*runs\[0\]\.run/);
  });

  it('returns the files, figures and warnings in the JSON envelope', async () => {
    const dir = join(tmp, 'cmd');
    await writeFixture(dir, { planners: ['nearest', 'orchestrated'], repeats: 1 });
    const { envelope, exitCode } = await runCommand([dir, '--handover-service', 'simple']);
    expect(exitCode ?? 0).toBe(0);
    expect(envelope['status']).toBe(0);
    const result = envelope['result'] as ReportResult;
    expect(result.dir).toBe(dir);
    expect(result.files).toContain(join(dir, 'report.md'));
    expect(result.figures.map((f) => f.id)).toEqual(ONE_USER_FIGURES);
    expect(result.warnings).toEqual([]);
  });
});
