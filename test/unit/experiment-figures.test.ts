/**
 * The report's figures beyond the paper's bars: what each spec draws from known rows, the PDF and the
 * vega-lite spec beside each figure, and the report's behaviour when a figure cannot be drawn.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { compile, type TopLevelSpec } from 'vega-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ExperimentReport from '../../src/commands/experiment/report.js';
import type { RunMeta } from '../../src/lib/experiment/format.js';
import {
  alignedHandovers,
  alignedSpec,
  causesSpec,
  e2eEcdf,
  ecdfSpec,
  FigureNotDrawnError,
  fig6Spec,
  handoverWindows,
  outageCauses,
  outageSpans,
  phaseBars,
  phasesSpec,
  type ReportResult,
  readResults,
  reportFigures,
  svgToPdf,
  timelineRun,
  timelineSpec,
  writeReport,
} from '../../src/lib/experiment/report.js';
import type {
  HandoverRow,
  MigrationPhaseRow,
  OutageRow,
  TaskRow,
} from '../../src/lib/experiment/report-data.js';
import { writeFixture } from '../fixtures/results/generate.js';
import { runJson } from '../helpers/run-json.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'edgectl-figures-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const run = (planner: string, repeat = 1): RunMeta =>
  ({
    run: `${planner}-simple-${repeat}`,
    planner,
    service: 'simple',
    repeat,
    startedEpochMs: 0,
    endedEpochMs: 100_000,
    complete: true,
  }) as RunMeta;

const task = (r: RunMeta, tMs: number, e2eMs: number | null, over: Partial<TaskRow> = {}): TaskRow => ({
  run: r.run,
  planner: r.planner,
  repeat: r.repeat,
  service: 'simple',
  user: 'mu1',
  tMs,
  bs: null,
  host: null,
  e2eMs,
  procMs: e2eMs === null ? null : 1,
  txMs: e2eMs === null ? null : e2eMs - 1,
  ok: e2eMs !== null,
  ...over,
});

const handover = (r: RunMeta, tMs: number, toBs = 'ap2'): HandoverRow => ({
  run: r.run,
  planner: r.planner,
  service: 'simple',
  user: 'mu1',
  tMs,
  fromBs: 'ap1',
  toBs,
  durationMs: 500,
});

const outage = (r: RunMeta, tMs: number, endTMs: number | null, cause: string): OutageRow => ({
  run: r.run,
  planner: r.planner,
  service: 'simple',
  user: 'mu1',
  tMs,
  endTMs,
  durationMs: endTMs === null ? null : endTMs - tMs,
  cause,
});

/** The text a PDF shows: its content streams inflated, each text object's glyphs joined. */
function pdfText(pdf: Buffer): string {
  const out: string[] = [];
  const raw = pdf.toString('latin1');
  for (const m of raw.matchAll(/stream\r?\n([\s\S]*?)\r?\nendstream/g)) {
    let body: string;
    try {
      body = inflateSync(Buffer.from(m[1] ?? '', 'latin1')).toString('latin1');
    } catch {
      continue;
    }
    for (const bt of body.matchAll(/BT([\s\S]*?)ET/g))
      out.push(
        [...(bt[1] ?? '').matchAll(/<([0-9a-fA-F]+)>\s*Tj/g)]
          .map((h) => Buffer.from(h[1] ?? '', 'hex').toString('latin1'))
          .join(''),
      );
  }
  return out.join('\n');
}

/** vega-lite's own warnings while compiling a spec (none expected from ours). */
function compileWarnings(spec: TopLevelSpec): string[] {
  const warnings: string[] = [];
  const logger = {
    level: () => logger,
    error: (...a: unknown[]) => warnings.push(`error: ${a.join(' ')}`),
    warn: (...a: unknown[]) => warnings.push(a.join(' ')),
    info: () => logger,
    debug: () => logger,
  };
  compile(spec, { logger: logger as never });
  return warnings;
}

describe('outages by category', () => {
  it('puts every instant in one category: an overlap of handover and migration is its own, counted once', () => {
    const r = run('orchestrated');
    const spans = outageSpans(
      [
        outage(r, 1000, 3000, 'migration'),
        outage(r, 2500, 3500, 'handover'),
        outage(r, 9000, null, 'service'),
      ],
      10_000,
    );
    expect(spans).toEqual([
      { fromMs: 1000, toMs: 2500, category: 'migration', open: false },
      { fromMs: 2500, toMs: 3000, category: 'handover + migration', open: false },
      { fromMs: 3000, toMs: 3500, category: 'handover', open: false },
      { fromMs: 9000, toMs: 10_000, category: 'other', open: true },
    ]);
  });

  it('gives the time out per handover by cause, planners in the paper’s order, every category in the legend', () => {
    const o = run('orchestrated');
    const c = run('cloud');
    const causes = outageCauses({
      runs: [o, c],
      tasks: [],
      handovers: [handover(o, 2000), handover(o, 50_000), handover(c, 2000)],
      outages: [
        outage(o, 1000, 3000, 'migration'),
        outage(o, 2500, 3500, 'handover'),
        outage(c, 2000, 2600, 'handover'),
      ],
    });
    expect(causes.per).toBe('handover');
    expect(causes.bars.map((b) => [b.planner, b.category, b.ms])).toEqual([
      ['cloud', 'handover', 600],
      ['orchestrated', 'handover', 250], // 500 ms over its two handovers
      ['orchestrated', 'migration', 750],
      ['orchestrated', 'handover + migration', 250],
    ]);
    const spec = causesSpec(causes) as unknown as { encoding: { fill: { scale: { domain: string[] } } } };
    expect(spec.encoding.fill.scale.domain).toEqual(['handover', 'migration', 'handover + migration']);
  });
});

describe('Fig. 6 at any handover, every panel its own scale', () => {
  const cloud = run('cloud');
  const orch = run('orchestrated');
  const tasks = [cloud, orch].flatMap((r) =>
    Array.from({ length: 100 }, (_, i) => task(r, i * 1000, r === cloud ? 400 + (i === 31 ? 1600 : 0) : 5)),
  );
  const input = {
    runs: [orch, cloud],
    tasks,
    handovers: [
      handover(cloud, 30_000),
      handover(cloud, 70_000, 'ap3'),
      handover(orch, 30_000),
      handover(orch, 70_000, 'ap3'),
    ],
    outages: [outage(orch, 29_000, 30_500, 'migration'), outage(orch, 30_000, 30_400, 'handover')],
  };

  it('takes the N-th handover of each planner’s first run', () => {
    expect(handoverWindows(input, 'simple').map((w) => [w.planner, w.index, w.toBs])).toEqual([
      ['cloud', 1, 'ap2'],
      ['orchestrated', 1, 'ap2'],
    ]);
    expect(handoverWindows(input, 'simple', { handover: 2 }).map((w) => [w.planner, w.handoverTMs])).toEqual([
      ['cloud', 70_000],
      ['orchestrated', 70_000],
    ]);
    expect(handoverWindows(input, 'simple', { handover: 3 })).toEqual([]);
  });

  it('draws the panels in the paper’s order, each with its own y scale, the overlap shading labelled', () => {
    const windows = handoverWindows(input, 'simple');
    expect(windows[1]?.outages.map((o) => o.category)).toEqual([
      'migration',
      'handover + migration',
      'migration',
    ]);
    const spec = fig6Spec(windows) as unknown as {
      resolve: { scale: { y: string } };
      facet: { row: { sort: string[] } };
      spec: { layer: { encoding: { fill?: { scale: { domain: string[] }; legend: unknown } } }[] };
    };
    expect(spec.resolve.scale.y).toBe('independent');
    expect(spec.facet.row.sort.map((p) => p.split(' ')[0])).toEqual(['cloud', 'orchestrated']);
    const fill = spec.spec.layer[0]?.encoding.fill;
    expect(fill?.scale.domain).toEqual(['migration', 'handover + migration']);
    expect(fill?.legend).not.toBeNull();
    expect(compileWarnings(spec as unknown as TopLevelSpec)).toEqual([]);
  });

  it('aligns every handover of every run: median and interquartile range per bin and planner', () => {
    const n1 = run('nearest', 1);
    const n2 = run('nearest', 2);
    // Per run one handover at 30 s; E2E 10, 20 (run 1) and 30, 40 (run 2) in the bin just after it.
    const view = alignedHandovers(
      {
        runs: [n1, n2],
        tasks: [
          task(n1, 30_100, 10),
          task(n1, 30_200, 20),
          task(n2, 30_100, 30),
          task(n2, 30_300, 40),
          task(n2, 10_000, 7),
        ],
        handovers: [handover(n1, 30_000), handover(n2, 30_000)],
        outages: [outage(n1, 30_000, 30_400, 'handover')],
      },
      'simple',
      { windowS: 50, beforeS: 20, binS: 0.5 },
    );
    expect(view.planners).toEqual([{ planner: 'nearest', handovers: 2, runs: 2 }]);
    const after = view.bins.find((b) => b.s === 0.25);
    expect(after).toMatchObject({ medianMs: 25, q25Ms: 17.5, q75Ms: 32.5, n: 4, outFraction: 0.5 });
    expect(view.bins.find((b) => b.s === -19.75)).toMatchObject({ medianMs: 7, n: 1 });
    const spec = alignedSpec(view) as unknown as { resolve: { scale: { y: string } } };
    expect(spec.resolve.scale.y).toBe('independent');
    expect(compileWarnings(spec as unknown as TopLevelSpec)).toEqual([]);
  });
});

describe('the E2E ECDF', () => {
  it('steps through every answered task, planners in the paper’s order, on a log axis', () => {
    const o = run('orchestrated');
    const c = run('cloud');
    const curves = e2eEcdf([task(o, 0, 4), task(o, 1, 2), task(o, 2, null), task(o, 3, 8), task(c, 0, 400)]);
    expect(curves.map((x) => [x.planner, x.n])).toEqual([
      ['cloud', 1],
      ['orchestrated', 3],
    ]);
    expect(curves[1]?.points.map((p) => [p.e2eMs, p.p])).toEqual([
      [2, 0.33333],
      [4, 0.66667],
      [8, 1],
    ]);
    const spec = ecdfSpec(curves) as unknown as {
      encoding: { x: { scale: { type: string } }; color: { scale: { domain: string[] } } };
    };
    expect(spec.encoding.x.scale.type).toBe('log');
    expect(spec.encoding.color.scale.domain).toEqual(['cloud', 'orchestrated']);
  });

  it('keeps evenly spaced ranks of a long curve, its first and last among them', () => {
    const o = run('orchestrated');
    const curve = e2eEcdf(
      Array.from({ length: 1000 }, (_, i) => task(o, i, i + 1)),
      11,
    )[0];
    expect(curve?.points.map((p) => p.e2eMs)).toEqual([1, 101, 201, 301, 401, 501, 600, 700, 800, 900, 1000]);
    expect(curve?.points.at(-1)?.p).toBe(1);
  });
});

describe('migration phases and the run timeline', () => {
  const phase = (
    migration: string,
    seq: number,
    name: string,
    durationMs: number,
    planner = 'nearest',
  ): MigrationPhaseRow => ({
    run: `${planner}-simple-1`,
    planner,
    repeat: 1,
    service: 'simple',
    user: 'mu1',
    migration,
    seq,
    phase: name,
    startMs: 0,
    durationMs,
    bytes: null,
  });

  it('stacks the median duration of each phase per planner, in the phases’ order', () => {
    const bars = phaseBars([
      phase('1', 0, 'checkpoint', 100),
      phase('1', 1, 'transfer', 300),
      phase('2', 0, 'checkpoint', 200),
      phase('2', 1, 'transfer', 500),
      phase('3', 0, 'checkpoint', 900),
      phase('9', 0, 'checkpoint', 50, 'orchestrated'),
    ]);
    expect(bars.map((b) => [b.planner, b.phase, b.medianMs, b.n, b.migrations])).toEqual([
      ['nearest', 'checkpoint', 200, 3, 3],
      ['nearest', 'transfer', 400, 2, 3],
      ['orchestrated', 'checkpoint', 50, 1, 1],
    ]);
    expect(compileWarnings(phasesSpec(bars))).toEqual([]);
  });

  it('draws where the user and its service were, from tasks.csv, else from handovers.csv', () => {
    const r = run('nearest');
    const tasks = [
      task(r, 0, 5, { bs: 'ap1', host: 'edge1' }),
      task(r, 40_000, 5, { bs: 'ap2', host: 'edge1' }),
      task(r, 60_000, 5, { bs: 'ap2', host: 'edge2' }),
    ];
    const base = {
      runs: [r],
      handovers: [handover(r, 40_000)],
      outages: [],
      migrations: [],
      positions: null,
    };
    const t = timelineRun({ ...base, tasks }, r.run);
    expect(t?.lanes).toEqual([
      { lane: 'base station', name: 'ap1', fromS: 0, toS: 40 },
      { lane: 'base station', name: 'ap2', fromS: 40, toS: 100 },
      { lane: 'server', name: 'edge1', fromS: 0, toS: 60 },
      { lane: 'server', name: 'edge2', fromS: 60, toS: 100 },
    ]);
    const older = timelineRun({ ...base, tasks: tasks.map((x) => ({ ...x, bs: null, host: null })) }, r.run);
    expect(older?.laneSources).toEqual({ bs: 'handovers', server: null });
    expect(older?.lanes.map((l) => [l.name, l.fromS, l.toS])).toEqual([
      ['ap1', 0, 40],
      ['ap2', 40, 100],
    ]);
    expect(compileWarnings(timelineSpec([t, older].filter((x) => x !== null)))).toEqual([]);
  });
});

describe('the files of a figure', () => {
  let dir: string;
  let result: ReportResult;
  beforeAll(async () => {
    dir = join(tmp, 'files');
    await writeFixture(dir, { planners: ['orchestrated', 'nearest', 'cloud'], repeats: 2 });
    result = await writeReport(dir);
  }, 120_000);

  it('writes a PDF that holds the figure’s text', async () => {
    const pdf = await readFile(join(dir, 'fig5-downtime.pdf'));
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    const text = pdfText(pdf);
    expect(text).toContain('Total service downtime per run');
    expect(text).toContain('orchestrated');
    expect(pdfText(await svgToPdf(await readFile(join(dir, 'fig6-handover.svg'), 'utf8')))).toContain(
      'ap1 -> ap2',
    );
  });

  it('writes each figure’s vega-lite spec with its data inlined, compiling without a warning', async () => {
    for (const f of result.figures.filter((x) => x.drawn)) {
      const spec = JSON.parse(await readFile(f.spec, 'utf8')) as TopLevelSpec;
      expect(JSON.stringify(spec)).toContain('"values"');
      expect(compileWarnings(spec), f.name).toEqual([]);
    }
  });

  it('lists the planners in the paper’s order in every figure and in report.md', async () => {
    const fig4 = JSON.parse(await readFile(join(dir, 'fig4-delay.vl.json'), 'utf8')) as {
      layer: { encoding: { x: { sort: string[] } } }[];
    };
    expect(fig4.layer[0]?.encoding.x.sort).toEqual(['cloud', 'nearest', 'orchestrated']);
    const md = await readFile(join(dir, 'report.md'), 'utf8');
    expect(md.indexOf('| simple | cloud |')).toBeLessThan(md.indexOf('| simple | nearest |'));
    expect(md.indexOf('| simple | nearest |')).toBeLessThan(md.indexOf('| simple | orchestrated |'));
    // Each drawn figure with its caption and its files, in the report's order.
    for (const f of result.figures.filter((x) => x.drawn))
      expect(md).toContain(`(${f.name}.svg), [PDF](${f.name}.pdf), [vega-lite](${f.name}.vl.json))`);
  });
});

describe('a figure that cannot be drawn', () => {
  const runCommand = (argv: string[]) => runJson(ExperimentReport, argv);

  it('fails the report when it was drawn before, leaving the earlier file byte-identical', async () => {
    const dir = join(tmp, 'before');
    await writeFixture(dir, { planners: ['nearest', 'orchestrated'], repeats: 1 });
    await writeReport(dir);
    const before = await readFile(join(dir, 'fig6-handover.svg'));
    const beforePdf = await readFile(join(dir, 'fig6-handover.pdf'));
    const mdBefore = await readFile(join(dir, 'report.md'));
    const htmlBefore = await readFile(join(dir, 'report.html'));
    // The handovers lost (a damaged copy): Fig. 6 cannot be drawn now.
    const header = (await readFile(join(dir, 'handovers.csv'), 'utf8')).split('\n')[0];
    await writeFile(join(dir, 'handovers.csv'), `${header}\n`);
    const err = await writeReport(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FigureNotDrawnError);
    expect((err as FigureNotDrawnError).exitCode).toBe(6);
    expect((err as FigureNotDrawnError).message).toContain(
      'fig6-handover (no handover with tasks on both sides of it)',
    );
    expect(await readFile(join(dir, 'fig6-handover.svg'))).toEqual(before);
    expect(await readFile(join(dir, 'fig6-handover.pdf'))).toEqual(beforePdf);
    // The other figures were drawn again; report.md and report.html, which show Fig. 6, were left alone.
    expect(await readFile(join(dir, 'report.md'))).toEqual(mdBefore);
    expect(await readFile(join(dir, 'report.html'))).toEqual(htmlBefore);
    expect((err as FigureNotDrawnError).result.files).toContain(join(dir, 'fig4-delay.pdf'));
    expect((err as FigureNotDrawnError).result.files).not.toContain(join(dir, 'report.md'));
  }, 120_000);

  it('fails the command when named with --figure, --handover or --run; the default report exits 0 without it', async () => {
    const dir = join(tmp, 'quiet');
    await writeFixture(dir, { planners: ['cloud', 'orchestrated'], repeats: 1, quiet: true });
    const plain = await runCommand([dir]);
    expect(plain.exitCode ?? 0).toBe(0);
    const figures = (plain.envelope['result'] as ReportResult).figures;
    expect(figures.find((f) => f.id === 'outages')).toMatchObject({
      drawn: false,
      asked: false,
      reason: 'no outage in outages.csv',
    });
    await expect(stat(join(dir, 'outages-by-cause.svg'))).rejects.toThrow();
    await expect(stat(join(dir, 'fig6-handover.png'))).rejects.toThrow();

    const asked = await runCommand([dir, '--figure', 'outages']);
    expect(asked.exitCode).toBe(6);
    expect(asked.envelope['error']).toMatchObject({ code: 'FIGURE_NOT_DRAWN' });
    // The error's details list every figure, drawn or not, and why.
    const listed = (asked.envelope['error'] as { details: { figures: ReportResult['figures'] } }).details
      .figures;
    expect(listed.find((f) => f.id === 'outages')).toMatchObject({ drawn: false, asked: true });
    expect(listed.find((f) => f.id === 'fig4')).toMatchObject({ drawn: true, reason: null });
    await expect(stat(join(dir, 'outages-by-cause.svg'))).rejects.toThrow();

    const ho = await runCommand([dir, '--handover', '2']);
    expect(ho.exitCode).toBe(6);
    expect((ho.envelope['error'] as { message: string }).message).toContain('fig6-handover-2');

    const badRun = await runCommand([dir, '--run', 'nearest-simple-9']);
    expect(badRun.exitCode).toBe(6);
    expect((badRun.envelope['error'] as { message: string }).message).toContain('no run nearest-simple-9');
  }, 120_000);

  it('draws the asked handover and run under their own names', async () => {
    const dir = join(tmp, 'asked');
    await writeFixture(dir, { planners: ['nearest'], repeats: 1 });
    const data = await readResults(dir);
    const figures = reportFigures(data, { handover: 1, run: 'nearest-simple-1' });
    expect(
      figures.filter((f) => f.id === 'fig6' || f.id === 'timeline').map((f) => [f.name, f.spec !== null]),
    ).toEqual([
      ['fig6-handover-1', true],
      ['timeline-nearest-simple-1', true],
    ]);
  });
});
