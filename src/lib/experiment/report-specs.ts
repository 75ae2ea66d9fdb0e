/**
 * The report's figures as vega-lite specs, built by pure functions from rows: Fig. 4 (E2E delay as mean
 * processing + transmission delay per planner), Fig. 5 (total downtime per planner) and Fig. 6 (E2E delay
 * over a 50 s window around a handover, the outages shaded), as in section V of the paper.
 */
import type { TopLevelSpec } from 'vega-lite';
import { orderPlanners, PLANNER_ORDER } from './compare.js';
import type { PlannerSummary, RunMeta } from './format.js';
import type { HandoverRow, OutageRow, TaskRow } from './report-data.js';

export { orderPlanners, PLANNER_ORDER };

/** One colour per planner, the same in every figure (Tableau 10); other planners take the rest in turn. */
const PLANNER_COLOURS: Record<string, string> = {
  orchestrated: '#4e79a7',
  nearest: '#f28e2b',
  random: '#59a14f',
  cloud: '#79706e',
};
const SPARE_COLOURS = ['#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f'];

/** Fonts a browser and resvg both find on most machines (resvg has no fallback for a bare sans-serif). */
export const FONT = 'Helvetica, Arial, "DejaVu Sans", "Liberation Sans", sans-serif';

/** The colour scale of the planners: the same colour for a planner in every figure. */
export function plannerScale(planners: Iterable<string>): { domain: string[]; range: string[] } {
  const domain = orderPlanners(planners);
  let spare = 0;
  const range = domain.map(
    (p) => PLANNER_COLOURS[p] ?? SPARE_COLOURS[spare++ % SPARE_COLOURS.length] ?? '#999999',
  );
  return { domain, range };
}

/** Services in the order they were run (meta.runs), then any other by name. */
export function orderServices(services: Iterable<string>, runs: readonly RunMeta[] = []): string[] {
  const set = new Set(services);
  const seen = [...new Set(runs.map((r) => r.service))].filter((s) => set.has(s));
  return [...seen, ...[...set].filter((s) => !seen.includes(s)).sort()];
}

const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Sample standard deviation (n - 1); 0 for one value. */
function std(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = mean(values);
  return Math.sqrt(values.reduce((a, b) => a + (b - m) ** 2, 0) / (values.length - 1));
}

const baseConfig = {
  font: FONT,
  background: 'white',
  view: { stroke: '#dddddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const, grid: true },
  axisBand: { grid: false },
  header: { labelFontSize: 12, titleFontSize: 12, labelFontWeight: 'bold' as const },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const },
  title: { fontSize: 14, anchor: 'start' as const, subtitleFontSize: 11, subtitleColor: '#555555' },
};

// ---------------------------------------------------------------------------------------------------------
// Fig. 4: E2E delay breakdown

/** One bar of Fig. 4: a planner's mean processing and transmission delay on one service. */
export interface DelayBar {
  service: string;
  planner: string;
  /** Tasks counted: answered (ok) with E2E, processing and transmission delay. */
  n: number;
  procMs: number;
  txMs: number;
  e2eMs: number;
  /** Standard deviation of the E2E delay of those tasks. */
  e2eStdMs: number;
}

/** Fig. 4's bars from tasks.csv: per service and planner, the means over the answered tasks. */
export function delayBars(tasks: readonly TaskRow[]): DelayBar[] {
  const groups = new Map<string, { service: string; planner: string; rows: TaskRow[] }>();
  for (const t of tasks) {
    if (!t.ok || t.e2eMs === null || t.procMs === null || t.txMs === null) continue;
    const key = `${t.service}\u0000${t.planner}`;
    const g = groups.get(key) ?? { service: t.service, planner: t.planner, rows: [] };
    g.rows.push(t);
    groups.set(key, g);
  }
  const services = orderServices([...groups.values()].map((g) => g.service));
  const planners = orderPlanners([...groups.values()].map((g) => g.planner));
  return [...groups.values()]
    .map((g) => {
      const e2e = g.rows.map((t) => t.e2eMs ?? 0);
      return {
        service: g.service,
        planner: g.planner,
        n: g.rows.length,
        procMs: round(mean(g.rows.map((t) => t.procMs ?? 0)), 2),
        txMs: round(mean(g.rows.map((t) => t.txMs ?? 0)), 2),
        e2eMs: round(mean(e2e), 2),
        e2eStdMs: round(std(e2e), 2),
      };
    })
    .sort(
      (a, b) =>
        services.indexOf(a.service) - services.indexOf(b.service) ||
        planners.indexOf(a.planner) - planners.indexOf(b.planner),
    );
}

export const FIG4_CAPTION =
  'Fig. 4: E2E delay of the answered tasks as mean processing delay (solid) plus mean transmission delay ' +
  '(light) per planner. Error bars: ±1 standard deviation of the E2E delay of the same tasks, drawn around ' +
  'the top of the bar (mean processing + mean transmission delay).';

/** Fig. 4: stacked bars (processing, transmission) per planner, one panel per service when several. */
export function fig4Spec(
  bars: readonly DelayBar[],
  options: { services?: readonly string[]; title?: string } = {},
): TopLevelSpec {
  const services = options.services ?? orderServices(bars.map((b) => b.service));
  const planners = orderPlanners(bars.map((b) => b.planner));
  const colour = plannerScale(planners);
  const values = bars.flatMap((b) => {
    const top = b.procMs + b.txMs;
    const common = {
      service: b.service,
      planner: b.planner,
      n: b.n,
      e2eMs: b.e2eMs,
      e2eStdMs: b.e2eStdMs,
      top: round(top, 2),
      lo: round(Math.max(0, top - b.e2eStdMs), 2),
      hi: round(top + b.e2eStdMs, 2),
    };
    return [
      { ...common, part: 'processing', order: 0, ms: b.procMs },
      { ...common, part: 'transmission', order: 1, ms: b.txMs },
    ];
  });
  const x = {
    field: 'planner',
    type: 'nominal' as const,
    title: 'Planner',
    sort: planners,
    axis: { labelAngle: 0 },
  };
  const layer: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    layer: [
      {
        mark: { type: 'bar', width: { band: 0.7 } },
        encoding: {
          x,
          y: {
            field: 'ms',
            type: 'quantitative',
            stack: 'zero',
            title: 'Delay (ms)',
            ...(values.every((v) => v.hi <= 0) ? { scale: { domain: [0, 1] } } : {}),
          },
          color: { field: 'planner', type: 'nominal', scale: colour, title: 'Planner', legend: null },
          opacity: {
            field: 'part',
            type: 'ordinal',
            sort: ['processing', 'transmission'],
            scale: { domain: ['processing', 'transmission'], range: [1, 0.45] },
            title: 'Delay',
            legend: { orient: 'top', symbolType: 'square', symbolFillColor: '#555555', symbolStrokeWidth: 0 },
          },
          order: { field: 'order', type: 'quantitative' },
          tooltip: [
            { field: 'service', type: 'nominal' },
            { field: 'planner', type: 'nominal' },
            { field: 'part', type: 'nominal' },
            { field: 'ms', type: 'quantitative', title: 'mean (ms)', format: '.1f' },
            { field: 'e2eStdMs', type: 'quantitative', title: 'E2E std (ms)', format: '.1f' },
            { field: 'n', type: 'quantitative', title: 'tasks' },
          ],
        },
      },
      {
        transform: [{ filter: "datum.part === 'transmission'" }],
        mark: { type: 'rule', color: '#222222' },
        encoding: {
          x,
          y: { field: 'lo', type: 'quantitative' },
          y2: { field: 'hi' },
        },
      },
      {
        transform: [{ filter: "datum.part === 'transmission'" }],
        mark: { type: 'tick', color: '#222222', thickness: 1.5, size: 10 },
        encoding: { x, y: { field: 'hi', type: 'quantitative' } },
      },
      {
        transform: [{ filter: "datum.part === 'transmission' && datum.lo > 0" }],
        mark: { type: 'tick', color: '#222222', thickness: 1.5, size: 10 },
        encoding: { x, y: { field: 'lo', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec;
  const title = {
    text: options.title ?? 'E2E delay: processing + transmission',
    subtitle: 'Mean per answered task; error bars ±1 std of E2E',
  };
  if (services.length <= 1)
    return {
      ...layer,
      title: services[0] ? { ...title, text: `${title.text} (${services[0]})` } : title,
      data: { values },
      width: { step: 80 },
      height: 260,
      config: baseConfig,
    } as TopLevelSpec;
  const { $schema, ...inner } = layer as { $schema: string };
  return {
    $schema,
    title,
    data: { values },
    facet: { column: { field: 'service', type: 'nominal', sort: [...services], title: null } },
    spec: { ...inner, width: { step: 70 }, height: 260 },
    resolve: { scale: { y: 'independent' } },
    config: baseConfig,
  } as TopLevelSpec;
}

// ---------------------------------------------------------------------------------------------------------
// Fig. 5: total downtime

/** One bar of Fig. 5: a planner's total downtime per run on one service, over repetitions. */
export interface DowntimeBar {
  service: string;
  planner: string;
  meanMs: number;
  /** Half-width of the 95% confidence interval over repetitions; null with one repetition. */
  ci95Ms: number | null;
  repeats: number;
}

/** Fig. 5's bars from summary.json (downtimeMs: the union of the user's outages per run, over repeats). */
export function downtimeBars(planners: readonly PlannerSummary[]): DowntimeBar[] {
  const services = orderServices(planners.map((p) => p.service));
  const order = orderPlanners(planners.map((p) => p.planner));
  return planners
    .filter((p) => p.downtimeMs.mean !== null)
    .map((p) => ({
      service: p.service,
      planner: p.planner,
      meanMs: p.downtimeMs.mean ?? 0,
      ci95Ms: p.downtimeMs.n > 1 ? p.downtimeMs.ci95 : null,
      repeats: p.downtimeMs.n,
    }))
    .sort(
      (a, b) =>
        services.indexOf(a.service) - services.indexOf(b.service) ||
        order.indexOf(a.planner) - order.indexOf(b.planner),
    );
}

export const FIG5_CAPTION =
  'Fig. 5: total service downtime the user saw per run (the union of its outages: handovers, migrations ' +
  'and any other gap, overlapping outages counted once), the mean over repetitions per planner. Error bars: ' +
  '95% confidence interval (Student t) where there were two repetitions or more. The paper draws the three ' +
  'planners that migrate; cloud, when it ran, is drawn too (its downtime is that of its handovers alone).';

/** Fig. 5: downtime bars per planner (with 95% CI error bars), one panel per service when several. */
export function fig5Spec(
  bars: readonly DowntimeBar[],
  options: { services?: readonly string[]; title?: string } = {},
): TopLevelSpec {
  const services = options.services ?? orderServices(bars.map((b) => b.service));
  const planners = orderPlanners(bars.map((b) => b.planner));
  const colour = plannerScale(planners);
  // Seconds once a bar passes 10 s (1600 s runs see tens of seconds), milliseconds below.
  const inSeconds = bars.some((b) => b.meanMs + (b.ci95Ms ?? 0) >= 10_000);
  const unit = inSeconds ? 's' : 'ms';
  const k = inSeconds ? 1000 : 1;
  const values = bars.map((b) => ({
    service: b.service,
    planner: b.planner,
    repeats: b.repeats,
    value: round(b.meanMs / k, 3),
    lo: b.ci95Ms === null ? null : round(Math.max(0, b.meanMs - b.ci95Ms) / k, 3),
    hi: b.ci95Ms === null ? null : round((b.meanMs + b.ci95Ms) / k, 3),
    labelY: round((b.meanMs + (b.ci95Ms ?? 0)) / k, 3),
  }));
  const x = {
    field: 'planner',
    type: 'nominal' as const,
    title: 'Planner',
    sort: planners,
    axis: { labelAngle: 0 },
  };
  const hasCi = values.some((v) => v.hi !== null);
  const layers = [
    {
      mark: { type: 'bar', width: { band: 0.7 } },
      encoding: {
        x,
        y: {
          field: 'value',
          type: 'quantitative',
          title: `Total downtime (${unit})`,
          // No downtime at all: an axis from 0 to 1 rather than a degenerate one.
          ...(values.every((v) => v.labelY <= 0) ? { scale: { domain: [0, 1] } } : {}),
        },
        color: { field: 'planner', type: 'nominal', scale: colour, legend: null },
        tooltip: [
          { field: 'service', type: 'nominal' },
          { field: 'planner', type: 'nominal' },
          { field: 'value', type: 'quantitative', title: `mean (${unit})`, format: '.2f' },
          { field: 'repeats', type: 'quantitative' },
        ],
      },
    },
    {
      // The mean above the bar, or above its error bar.
      mark: { type: 'text', dy: -5, baseline: 'bottom', fontSize: 10, color: '#333333' },
      encoding: {
        x,
        y: { field: 'labelY', type: 'quantitative' },
        text: { field: 'value', type: 'quantitative', format: inSeconds ? '.1f' : '.0f' },
      },
    },
    ...(hasCi
      ? [
          {
            transform: [{ filter: 'datum.hi !== null' }],
            mark: { type: 'rule', color: '#222222' },
            encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } },
          },
          ...(['lo', 'hi'] as const).map((f) => ({
            transform: [{ filter: 'datum.hi !== null' }],
            mark: { type: 'tick', color: '#222222', thickness: 1.5, size: 10 },
            encoding: { x, y: { field: f, type: 'quantitative' } },
          })),
        ]
      : []),
  ];
  const title = {
    text: options.title ?? 'Total service downtime per run',
    subtitle: hasCi ? 'Mean over repetitions; error bars: 95% CI' : 'One repetition: no confidence interval',
  };
  if (services.length <= 1)
    return {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: services[0] ? { ...title, text: `${title.text} (${services[0]})` } : title,
      data: { values },
      layer: layers,
      width: { step: 80 },
      height: 260,
      config: baseConfig,
    } as TopLevelSpec;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    data: { values },
    facet: { column: { field: 'service', type: 'nominal', sort: [...services], title: null } },
    spec: { layer: layers, width: { step: 70 }, height: 260 },
    resolve: { scale: { y: 'independent' } },
    config: baseConfig,
  } as TopLevelSpec;
}

// ---------------------------------------------------------------------------------------------------------
// Fig. 6: E2E delay around a handover

/** The window of Fig. 6 around a handover (seconds before and after it). */
export interface WindowOptions {
  /** The window's length (s); 50 in the paper. */
  windowS?: number;
  /** How much of it comes before the handover (s): the baselines' migration follows their handover. */
  beforeS?: number;
}

/** One planner's panel of Fig. 6. */
export interface HandoverWindow {
  planner: string;
  service: string;
  run: string;
  user: string;
  /** The handover instant (ms from the start of its run). */
  handoverTMs: number;
  fromBs: string | null;
  toBs: string;
  fromS: number;
  toS: number;
  /** Tasks in the window, x in seconds relative to the handover; `segment` breaks the line at outages. */
  tasks: { s: number; e2eMs: number | null; ok: boolean; segment: number }[];
  /** The outages in the window, clipped to it (seconds relative to the handover). */
  outages: { fromS: number; toS: number; cause: string; open: boolean }[];
}

/**
 * Fig. 6's windows: for each planner (on `service`), the first handover of the first run (by repetition)
 * that has tasks on both sides of it within the window; the planners without one are left out.
 */
export function handoverWindows(
  input: {
    runs: readonly RunMeta[];
    tasks: readonly TaskRow[];
    handovers: readonly HandoverRow[];
    outages: readonly OutageRow[];
  },
  service: string,
  options: WindowOptions = {},
): HandoverWindow[] {
  const windowS = options.windowS ?? 50;
  const beforeS = Math.min(options.beforeS ?? 20, windowS);
  const runs = input.runs.filter((r) => r.service === service);
  const names = new Set(runs.map((r) => r.run));
  const tasksOf = new Map<string, TaskRow[]>();
  for (const t of input.tasks) {
    if (!names.has(t.run)) continue;
    const list = tasksOf.get(t.run);
    if (list) list.push(t);
    else tasksOf.set(t.run, [t]);
  }
  const windows: HandoverWindow[] = [];
  for (const planner of orderPlanners(runs.map((r) => r.planner))) {
    const mine = runs.filter((r) => r.planner === planner).sort((a, b) => a.repeat - b.repeat);
    found: for (const run of mine) {
      const handovers = input.handovers.filter((h) => h.run === run.run).sort((a, b) => a.tMs - b.tMs);
      for (const h of handovers) {
        const t0 = h.tMs - beforeS * 1000;
        const t1 = h.tMs + (windowS - beforeS) * 1000;
        const tasks = (tasksOf.get(run.run) ?? [])
          .filter((t) => t.user === h.user && t.tMs >= t0 && t.tMs <= t1)
          .sort((a, b) => a.tMs - b.tMs);
        if (!tasks.some((t) => t.tMs < h.tMs) || !tasks.some((t) => t.tMs > h.tMs)) continue;
        const outages = input.outages
          .filter((o) => o.run === run.run && o.user === h.user)
          .map((o) => ({ o, end: o.endTMs ?? Number.POSITIVE_INFINITY }))
          .filter(({ o, end }) => end > t0 && o.tMs < t1)
          .sort((a, b) => a.o.tMs - b.o.tMs)
          .map(({ o, end }) => ({
            fromS: round((Math.max(o.tMs, t0) - h.tMs) / 1000, 3),
            toS: round((Math.min(end, t1) - h.tMs) / 1000, 3),
            cause: o.cause,
            open: o.endTMs === null,
          }));
        windows.push({
          planner,
          service,
          run: run.run,
          user: h.user,
          handoverTMs: h.tMs,
          fromBs: h.fromBs,
          toBs: h.toBs,
          fromS: -beforeS,
          toS: windowS - beforeS,
          tasks: segmentTasks(tasks, h.tMs, outages),
          outages,
        });
        break found;
      }
    }
  }
  return windows;
}

/** Tasks relative to the handover; a new line segment after a failed task or across an outage. */
function segmentTasks(
  tasks: readonly TaskRow[],
  handoverTMs: number,
  outages: readonly { fromS: number; toS: number }[],
): HandoverWindow['tasks'] {
  let segment = 0;
  let lastS: number | null = null;
  return tasks.map((t) => {
    const s = round((t.tMs - handoverTMs) / 1000, 3);
    const ok = t.ok && t.e2eMs !== null;
    if (!ok) segment++;
    else if (lastS !== null && outages.some((o) => o.toS > (lastS ?? s) && o.fromS < s)) segment++;
    if (ok) lastS = s;
    return { s, e2eMs: ok ? t.e2eMs : null, ok, segment };
  });
}

/** Shading of the outages in Fig. 6 by cause: neutral tints, so the planners keep their colours. */
const CAUSE_COLOURS: Record<string, string> = {
  handover: '#9ecae1',
  migration: '#fdae6b',
};
const SPARE_CAUSE_COLOURS = ['#c7c7c7', '#d9d9d9', '#bcbddc', '#c7e9c0'];

export function fig6Caption(service: string, o: WindowOptions = {}): string {
  const windowS = o.windowS ?? 50;
  const beforeS = Math.min(o.beforeS ?? 20, windowS);
  return (
    `Fig. 6: E2E delay of each task of the user offloading to ${service} over a ${windowS} s window around a ` +
    `handover (from ${beforeS} s before to ${windowS - beforeS} s after it), one panel per planner: for each planner ` +
    'the first handover of the first run with tasks on both sides of it. x = 0 (dashed) is the handover instant; ' +
    'the shaded spans are the outages the user saw (by cause); failed tasks are marked × at the bottom.'
  );
}

/** Fig. 6: one panel per planner, E2E (ms) over seconds relative to the handover, outages shaded. */
export function fig6Spec(windows: readonly HandoverWindow[], options: { title?: string } = {}): TopLevelSpec {
  const planners = orderPlanners(windows.map((w) => w.planner));
  const colour = plannerScale(planners);
  const causes = [...new Set(windows.flatMap((w) => w.outages.map((o) => o.cause)))].sort(
    (a, b) => (CAUSE_COLOURS[a] ? 0 : 1) - (CAUSE_COLOURS[b] ? 0 : 1) || (a < b ? -1 : a > b ? 1 : 0),
  );
  let spare = 0;
  const causeRange = causes.map(
    (c) => CAUSE_COLOURS[c] ?? SPARE_CAUSE_COLOURS[spare++ % SPARE_CAUSE_COLOURS.length] ?? '#cccccc',
  );
  const fromS = Math.min(...windows.map((w) => w.fromS), 0);
  const toS = Math.max(...windows.map((w) => w.toS), 0);
  const label = (w: HandoverWindow) =>
    `${w.planner} (${w.run}, ${w.fromBs ?? '?'} → ${w.toBs} at ${round(w.handoverTMs / 1000, 1)} s)`;
  const values = windows.flatMap((w) => [
    ...w.outages.map((o) => ({ panel: label(w), planner: w.planner, kind: 'outage', ...o })),
    { panel: label(w), planner: w.planner, kind: 'handover', s: 0 },
    ...w.tasks.map((t) => ({ panel: label(w), planner: w.planner, kind: 'task', ...t })),
  ]);
  const panels = planners.flatMap((p) => windows.filter((w) => w.planner === p).map(label));
  const step = toS - fromS > 120 ? 20 : toS - fromS > 60 ? 10 : 5;
  const ticks: number[] = [];
  for (let t = Math.ceil(fromS / step) * step; t <= toS; t += step) ticks.push(t);
  const x = {
    field: 's',
    type: 'quantitative' as const,
    title: 'Time relative to the handover (s)',
    scale: { domain: [fromS, toS], nice: false },
    axis: { values: ticks },
  };
  const y = { field: 'e2eMs', type: 'quantitative' as const, title: 'E2E delay (ms)' };
  const spec = {
    layer: [
      {
        transform: [{ filter: "datum.kind === 'outage'" }],
        mark: { type: 'rect', opacity: 0.55 },
        encoding: {
          x: { ...x, field: 'fromS' },
          x2: { field: 'toS' },
          color: {
            field: 'cause',
            type: 'nominal',
            scale: { domain: causes, range: causeRange },
            title: 'Outage',
            legend: causes.length > 0 ? { orient: 'top', symbolType: 'square' } : null,
          },
          tooltip: [
            { field: 'cause', type: 'nominal' },
            { field: 'fromS', type: 'quantitative', title: 'from (s)', format: '.2f' },
            { field: 'toS', type: 'quantitative', title: 'to (s)', format: '.2f' },
          ],
        },
      },
      {
        transform: [{ filter: "datum.kind === 'handover'" }],
        mark: { type: 'rule', strokeDash: [4, 3], color: '#555555' },
        encoding: { x },
      },
      {
        transform: [{ filter: "datum.kind === 'task' && datum.ok" }],
        mark: { type: 'line', strokeWidth: 1.2 },
        encoding: {
          x,
          y,
          detail: { field: 'segment', type: 'nominal' },
          stroke: { field: 'planner', type: 'nominal', scale: colour, legend: null },
        },
      },
      {
        transform: [{ filter: "datum.kind === 'task' && datum.ok" }],
        mark: { type: 'circle', size: 14, opacity: 1 },
        encoding: {
          x,
          y,
          fill: { field: 'planner', type: 'nominal', scale: colour, legend: null },
          tooltip: [
            { field: 's', type: 'quantitative', title: 't (s)', format: '.2f' },
            { field: 'e2eMs', type: 'quantitative', title: 'E2E (ms)', format: '.1f' },
          ],
        },
      },
      {
        transform: [{ filter: "datum.kind === 'task' && !datum.ok" }],
        mark: { type: 'point', shape: 'cross', angle: 45, size: 40, color: '#d62728', filled: true },
        encoding: { x, y: { datum: 0, type: 'quantitative' } },
      },
    ],
    width: 620,
    height: 130,
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: options.title ?? `E2E delay around a handover (${windows[0]?.service ?? 'no service'})`,
      subtitle: 'Each point is a task; shaded: outages the user saw; dashed: the handover instant',
    },
    data: { values },
    facet: {
      row: {
        field: 'panel',
        type: 'nominal',
        sort: panels,
        title: null,
        header: { labelAngle: 0, labelAlign: 'left', labelAnchor: 'start', labelOrient: 'top' },
      },
    },
    spec,
    resolve: { scale: { y: 'shared' } },
    spacing: 14,
    config: baseConfig,
  } as TopLevelSpec;
}

/** A figure with nothing to draw: its title and why, so that every figure file is still there. */
export function emptySpec(title: string, message: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title },
    data: { values: [{ message }] },
    mark: { type: 'text', fontSize: 13, color: '#555555' },
    encoding: { text: { field: 'message', type: 'nominal' } },
    width: 420,
    height: 60,
    config: { ...baseConfig, view: { stroke: null } },
  } as TopLevelSpec;
}
