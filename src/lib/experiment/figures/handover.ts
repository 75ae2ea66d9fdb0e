/**
 * Fig. 6 (E2E delay over a window around one handover, one panel per planner, the outages shaded by cause)
 * and its aligned view over every handover (median and interquartile band per planner, time relative to
 * the handover). Pure.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { RunMeta } from '../format.js';
import { paperOrder } from '../planner-order.js';
import type { HandoverRow, OutageRow, TaskRow } from '../report-data.js';
import {
  baseConfig,
  type OutageCategory,
  outageShading,
  outageSpans,
  plannerScale,
  plural,
  quantile,
  round,
  SCHEMA,
} from './common.js';

/** The window of Fig. 6 around a handover (seconds before and after it). */
export interface WindowOptions {
  /** The window's length (s); 50 in the paper. */
  windowS?: number;
  /** How much of it comes before the handover (s): the baselines' migration follows their handover. */
  beforeS?: number;
}

export interface HandoverChoice extends WindowOptions {
  /**
   * The N-th handover (1-based) of each planner's first run: that one, with or without tasks around it.
   * Unset: the first handover of the first run that has tasks on both sides of it (the paper's Fig. 6).
   */
  handover?: number;
}

/** One planner's panel of Fig. 6. */
export interface HandoverWindow {
  planner: string;
  service: string;
  run: string;
  user: string;
  /** Which handover of its run (1-based, by time). */
  index: number;
  /** The handover instant (ms from the start of its run). */
  handoverTMs: number;
  fromBs: string | null;
  toBs: string;
  fromS: number;
  toS: number;
  /** Tasks in the window, x in seconds relative to the handover; `segment` breaks the line at outages. */
  tasks: { s: number; e2eMs: number | null; ok: boolean; segment: number }[];
  /** The user's outages in the window by category (common.ts outageSpans), clipped to it (s from the handover). */
  outages: { fromS: number; toS: number; category: OutageCategory; open: boolean }[];
}

export interface HandoverInput {
  runs: readonly RunMeta[];
  tasks: readonly TaskRow[];
  handovers: readonly HandoverRow[];
  outages: readonly OutageRow[];
}

/** A run's length (ms) for outages that never ended: its last row, at least. */
function runEndMs(run: RunMeta, tasks: readonly TaskRow[], outages: readonly OutageRow[]): number {
  return Math.max(
    run.endedEpochMs - run.startedEpochMs,
    ...tasks.map((t) => t.tMs),
    ...outages.map((o) => o.tMs),
    0,
  );
}

function groupBy<T>(rows: readonly T[], key: (r: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    const list = out.get(k);
    if (list) list.push(r);
    else out.set(k, [r]);
  }
  return out;
}

/** The window around one handover `h` (its index in the run), or null without a task on either side. */
function windowAt(
  run: RunMeta,
  h: HandoverRow,
  index: number,
  runTasks: readonly TaskRow[],
  runOutages: readonly OutageRow[],
  windowS: number,
  beforeS: number,
): HandoverWindow | null {
  const t0 = h.tMs - beforeS * 1000;
  const t1 = h.tMs + (windowS - beforeS) * 1000;
  const tasks = runTasks
    .filter((t) => t.user === h.user && t.tMs >= t0 && t.tMs <= t1)
    .sort((a, b) => a.tMs - b.tMs);
  if (!tasks.some((t) => t.tMs < h.tMs) || !tasks.some((t) => t.tMs > h.tMs)) return null;
  const mine = runOutages.filter((o) => o.user === h.user);
  const outages = outageSpans(mine, runEndMs(run, runTasks, mine))
    .filter((o) => o.toMs > t0 && o.fromMs < t1)
    .map((o) => ({
      fromS: round((Math.max(o.fromMs, t0) - h.tMs) / 1000, 3),
      toS: round((Math.min(o.toMs, t1) - h.tMs) / 1000, 3),
      category: o.category,
      open: o.open,
    }));
  return {
    planner: run.planner,
    service: run.service,
    run: run.run,
    user: h.user,
    index,
    handoverTMs: h.tMs,
    fromBs: h.fromBs,
    toBs: h.toBs,
    fromS: -beforeS,
    toS: windowS - beforeS,
    tasks: segmentTasks(tasks, h.tMs, outages),
    outages,
  };
}

/**
 * Fig. 6's windows, one per planner on `service`: by default the first handover of the first run (by
 * repetition) that has tasks on both sides of it within the window; with `handover: N` the N-th handover
 * of the planner's first run. Planners without such a handover are left out.
 */
export function handoverWindows(
  input: HandoverInput,
  service: string,
  options: HandoverChoice = {},
): HandoverWindow[] {
  const windowS = options.windowS ?? 50;
  const beforeS = Math.min(options.beforeS ?? 20, windowS);
  const runs = input.runs.filter((r) => r.service === service);
  const tasksOf = groupBy(input.tasks, (t) => t.run);
  const outagesOf = groupBy(input.outages, (o) => o.run);
  const windows: HandoverWindow[] = [];
  for (const planner of paperOrder(runs.map((r) => r.planner))) {
    const mine = runs.filter((r) => r.planner === planner).sort((a, b) => a.repeat - b.repeat);
    found: for (const run of options.handover === undefined ? mine : mine.slice(0, 1)) {
      const handovers = input.handovers.filter((h) => h.run === run.run).sort((a, b) => a.tMs - b.tMs);
      for (const [i, h] of handovers.entries()) {
        if (options.handover !== undefined && i + 1 !== options.handover) continue;
        const w = windowAt(
          run,
          h,
          i + 1,
          tasksOf.get(run.run) ?? [],
          outagesOf.get(run.run) ?? [],
          windowS,
          beforeS,
        );
        if (w) {
          windows.push(w);
          break found;
        }
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

export function fig6Caption(service: string, o: HandoverChoice = {}): string {
  const windowS = o.windowS ?? 50;
  const beforeS = Math.min(o.beforeS ?? 20, windowS);
  const which =
    o.handover === undefined
      ? 'for each planner the first handover of its first run with tasks on both sides of it'
      : `for each planner handover no. ${o.handover} of its first run`;
  return (
    `Fig. 6: E2E delay of each task of the user offloading to ${service} over a ${windowS} s window around a ` +
    `handover (from ${beforeS} s before to ${windowS - beforeS} s after it), one panel per planner in the paper's order: ` +
    `${which} (the panel names the run and the handover). Each panel has its own y scale. x = 0 (dashed) is the ` +
    'handover instant; the shaded spans are the outages the user saw, by cause (handover, migration, both ' +
    'overlapping, other); failed tasks are marked × at the bottom.'
  );
}

/** The x axis of a window in seconds around x = 0, with round ticks. */
function windowAxis(fromS: number, toS: number, title: string) {
  const step = toS - fromS > 120 ? 20 : toS - fromS > 60 ? 10 : 5;
  const ticks: number[] = [];
  for (let t = Math.ceil(fromS / step) * step; t <= toS; t += step) ticks.push(t);
  return {
    field: 's',
    type: 'quantitative' as const,
    title,
    scale: { domain: [fromS, toS], nice: false },
    axis: { values: ticks },
  };
}

/** Fig. 6: one panel per planner (paper's order, own y scale), E2E (ms) around the handover, outages shaded. */
export function fig6Spec(windows: readonly HandoverWindow[], options: { title?: string } = {}): TopLevelSpec {
  const planners = paperOrder(windows.map((w) => w.planner));
  const colour = plannerScale(planners);
  const categories = [...new Set(windows.flatMap((w) => w.outages.map((o) => o.category)))];
  const fromS = Math.min(...windows.map((w) => w.fromS), 0);
  const toS = Math.max(...windows.map((w) => w.toS), 0);
  const label = (w: HandoverWindow) =>
    `${w.planner} (${w.run}, handover ${w.index}: ${w.fromBs ?? '?'} → ${w.toBs} at ${round(w.handoverTMs / 1000, 1)} s)`;
  const values = windows.flatMap((w) => [
    ...w.outages.map((o) => ({ panel: label(w), planner: w.planner, kind: 'outage', ...o })),
    { panel: label(w), planner: w.planner, kind: 'handover', s: 0 },
    ...w.tasks.map((t) => ({ panel: label(w), planner: w.planner, kind: 'task', ...t })),
  ]);
  const panels = planners.flatMap((p) => windows.filter((w) => w.planner === p).map(label));
  const x = windowAxis(fromS, toS, 'Time relative to the handover (s)');
  const y = { field: 'e2eMs', type: 'quantitative' as const, title: 'E2E delay (ms)' };
  const spec = {
    layer: [
      outageShading(categories, x, { opacity: 0.7, tooltip: true }),
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
          color: { field: 'planner', type: 'nominal', scale: colour, legend: null },
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
    $schema: SCHEMA,
    title: {
      text: options.title ?? `E2E delay around a handover (${windows[0]?.service ?? 'no service'})`,
      subtitle:
        'Each point is a task; shaded: outages the user saw, by cause; dashed: the handover instant; each panel its own y scale',
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
    resolve: { scale: { y: 'independent' } },
    spacing: 14,
    config: baseConfig,
  } as TopLevelSpec;
}

// ---------------------------------------------------------------------------------------------------------
// Every handover aligned at x = 0

/** One time bin of the aligned view: the E2E of the answered tasks in it, over every handover of a planner. */
export interface AlignedBin {
  service: string;
  planner: string;
  /** The bin's centre (s from the handover). */
  s: number;
  medianMs: number;
  q25Ms: number;
  q75Ms: number;
  /** Tasks in the bin. */
  n: number;
  /** Handovers whose window has an outage covering the bin's centre, out of `handovers`. */
  outFraction: number;
}

export interface AlignedView {
  service: string;
  binS: number;
  fromS: number;
  toS: number;
  /** Per planner: handovers aligned and runs they came from. */
  planners: { planner: string; handovers: number; runs: number }[];
  bins: AlignedBin[];
}

/**
 * The aligned view of every handover of every run of `service` (all repetitions): tasks of the handed-over
 * user within the window, time relative to their handover, binned (`binS`, default 1/100 of the window);
 * per planner and bin the median and interquartile range of E2E. A task in the windows of two handovers
 * (they were closer than the window) counts in both.
 */
export function alignedHandovers(
  input: HandoverInput,
  service: string,
  options: WindowOptions & { binS?: number } = {},
): AlignedView {
  const windowS = options.windowS ?? 50;
  const beforeS = Math.min(options.beforeS ?? 20, windowS);
  const binS = options.binS ?? Math.max(0.1, windowS / 100);
  const nBins = Math.ceil(windowS / binS);
  const runs = input.runs.filter((r) => r.service === service);
  const tasksOf = groupBy(input.tasks, (t) => t.run);
  const outagesOf = groupBy(input.outages, (o) => o.run);
  const planners: AlignedView['planners'] = [];
  const bins: AlignedBin[] = [];
  for (const planner of paperOrder(runs.map((r) => r.planner))) {
    const samples: number[][] = Array.from({ length: nBins }, () => []);
    const out = new Array<number>(nBins).fill(0);
    let handovers = 0;
    const usedRuns = new Set<string>();
    for (const run of runs.filter((r) => r.planner === planner)) {
      const runTasks = tasksOf.get(run.run) ?? [];
      const runOutages = outagesOf.get(run.run) ?? [];
      for (const h of input.handovers.filter((x) => x.run === run.run)) {
        handovers++;
        usedRuns.add(run.run);
        const t0 = h.tMs - beforeS * 1000;
        for (const t of runTasks) {
          if (t.user !== h.user || !t.ok || t.e2eMs === null || t.tMs < t0) continue;
          const i = Math.floor((t.tMs - t0) / 1000 / binS);
          if (i < nBins) samples[i]?.push(t.e2eMs);
        }
        const mine = runOutages.filter((o) => o.user === h.user);
        const spans = outageSpans(mine, runEndMs(run, runTasks, mine));
        for (let i = 0; i < nBins; i++) {
          const c = t0 + (i + 0.5) * binS * 1000;
          if (spans.some((o) => o.fromMs <= c && o.toMs > c)) out[i] = (out[i] ?? 0) + 1;
        }
      }
    }
    if (handovers === 0) continue;
    planners.push({ planner, handovers, runs: usedRuns.size });
    for (const [i, list] of samples.entries()) {
      if (list.length === 0) continue;
      const sorted = list.sort((a, b) => a - b);
      bins.push({
        service,
        planner,
        s: round(-beforeS + (i + 0.5) * binS, 3),
        medianMs: round(quantile(sorted, 0.5), 2),
        q25Ms: round(quantile(sorted, 0.25), 2),
        q75Ms: round(quantile(sorted, 0.75), 2),
        n: sorted.length,
        outFraction: round((out[i] ?? 0) / handovers, 3),
      });
    }
  }
  return { service, binS, fromS: -beforeS, toS: windowS - beforeS, planners, bins };
}

export function alignedCaption(view: AlignedView): string {
  const counts = view.planners
    .map((p) => `${p.planner} ${plural(p.handovers, 'handover')} in ${plural(p.runs, 'run')}`)
    .join(', ');
  return (
    `Fig. 6, every handover: the E2E delay of the answered tasks of the handed-over user offloading to ${view.service}, ` +
    `time relative to each handover (${-view.fromS} s before to ${view.toS} s after), all runs and repetitions ` +
    `(${counts}), in ${view.binS} s bins: the line is the median, the band the interquartile range. ` +
    'One panel per planner in the ' +
    "paper's order, each with its own y scale (the tooltip gives the share of handovers in which the user was out in that bin)."
  );
}

/** The aligned view: per planner a panel (own y scale) of the median line and the IQR band, and the outage share. */
export function alignedSpec(view: AlignedView): TopLevelSpec {
  const planners = view.planners.map((p) => p.planner);
  const colour = plannerScale(planners);
  const label = (p: AlignedView['planners'][number]) =>
    `${p.planner} (${plural(p.handovers, 'handover')}, ${plural(p.runs, 'run')})`;
  const labels = new Map(view.planners.map((p) => [p.planner, label(p)]));
  const values = view.bins.map((b) => ({ ...b, panel: labels.get(b.planner) }));
  const x = windowAxis(view.fromS, view.toS, 'Time relative to the handover (s)');
  return {
    $schema: SCHEMA,
    title: {
      text: `E2E delay around every handover (${view.service})`,
      subtitle: 'Median (line) and interquartile range (band) per time bin; dashed: the handover instant',
    },
    data: { values },
    facet: {
      row: {
        field: 'panel',
        type: 'nominal',
        sort: view.planners.map(label),
        title: null,
        header: { labelAngle: 0, labelAlign: 'left', labelAnchor: 'start', labelOrient: 'top' },
      },
    },
    spec: {
      layer: [
        {
          mark: { type: 'area', opacity: 0.3 },
          encoding: {
            x,
            y: { field: 'q25Ms', type: 'quantitative', title: 'E2E delay (ms)' },
            y2: { field: 'q75Ms' },
            color: { field: 'planner', type: 'nominal', scale: colour, legend: null },
          },
        },
        {
          mark: { type: 'line', strokeWidth: 1.5 },
          encoding: {
            x,
            y: { field: 'medianMs', type: 'quantitative' },
            color: { field: 'planner', type: 'nominal', scale: colour, legend: null },
            tooltip: [
              { field: 's', type: 'quantitative', title: 't (s)', format: '.2f' },
              { field: 'medianMs', type: 'quantitative', title: 'median (ms)', format: '.1f' },
              { field: 'q25Ms', type: 'quantitative', title: 'q25 (ms)', format: '.1f' },
              { field: 'q75Ms', type: 'quantitative', title: 'q75 (ms)', format: '.1f' },
              { field: 'n', type: 'quantitative', title: 'tasks' },
              { field: 'outFraction', type: 'quantitative', title: 'share out', format: '.0%' },
            ],
          },
        },
        {
          mark: { type: 'rule', strokeDash: [4, 3], color: '#555555' },
          encoding: { x: { datum: 0, type: 'quantitative' } },
        },
      ],
      width: 620,
      height: 120,
    },
    resolve: { scale: { y: 'independent' } },
    spacing: 14,
    config: baseConfig,
  } as TopLevelSpec;
}
