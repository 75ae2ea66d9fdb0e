/**
 * The paper's Fig. 4 (E2E delay as mean processing + transmission delay per planner) and Fig. 5 (total
 * downtime per planner), as vega-lite specs built by pure functions from rows (section V of the paper).
 */
import type { TopLevelSpec } from 'vega-lite';
import type { PlannerSummary } from '../format.js';
import { paperOrder } from '../planner-order.js';
import type { TaskRow } from '../report-data.js';
import {
  byServiceThenPlanner,
  mean,
  orderServices,
  perService,
  plannerAxis,
  plannerScale,
  round,
  std,
} from './common.js';

/** Fig. 4's and Fig. 5's layout: a band per planner, services side by side, each its own y scale. */
const BAR_PANELS = {
  single: { width: { step: 80 }, height: 260 },
  panel: { width: { step: 70 }, height: 260 },
  facet: 'column',
  independent: 'y',
} as const;

/** One bar of Fig. 4: a planner's mean processing and transmission delay on one service. */
export interface DelayBar {
  service: string;
  planner: string;
  /** Tasks counted: answered (ok) with E2E, processing and transmission delay (unsplit: with E2E). */
  n: number;
  /**
   * false: no task of this bar knows its processing time (a service driven by the http or echo task
   * mode): procMs is 0 and txMs the whole E2E, drawn as one part.
   */
  split: boolean;
  procMs: number;
  txMs: number;
  e2eMs: number;
  /** Standard deviation of the E2E delay of those tasks. */
  e2eStdMs: number;
}

/** Fig. 4's bars from tasks.csv: per service and planner, the means over the answered tasks. */
export function delayBars(tasks: readonly TaskRow[]): DelayBar[] {
  const groups = new Map<string, { service: string; planner: string; rows: TaskRow[]; whole: TaskRow[] }>();
  for (const t of tasks) {
    if (!t.ok || t.e2eMs === null) continue;
    const key = `${t.service}\u0000${t.planner}`;
    const g = groups.get(key) ?? { service: t.service, planner: t.planner, rows: [], whole: [] };
    // A task without its processing time (http and echo task modes) still has its E2E.
    if (t.procMs === null || t.txMs === null) g.whole.push(t);
    else g.rows.push(t);
    groups.set(key, g);
  }
  const services = orderServices([...groups.values()].map((g) => g.service));
  const planners = paperOrder([...groups.values()].map((g) => g.planner));
  return [...groups.values()]
    .map((g) => {
      const split = g.rows.length > 0;
      const rows = split ? g.rows : g.whole;
      const e2e = rows.map((t) => t.e2eMs ?? 0);
      if (!split)
        return {
          service: g.service,
          planner: g.planner,
          n: rows.length,
          split,
          procMs: 0,
          txMs: round(mean(e2e), 2),
          e2eMs: round(mean(e2e), 2),
          e2eStdMs: round(std(e2e), 2),
        };
      return {
        service: g.service,
        planner: g.planner,
        n: g.rows.length,
        split,
        procMs: round(mean(g.rows.map((t) => t.procMs ?? 0)), 2),
        txMs: round(mean(g.rows.map((t) => t.txMs ?? 0)), 2),
        e2eMs: round(mean(e2e), 2),
        e2eStdMs: round(std(e2e), 2),
      };
    })
    .sort(byServiceThenPlanner(services, planners));
}

export const FIG4_CAPTION =
  'Fig. 4: E2E delay of the answered tasks as mean processing delay (solid) plus mean transmission delay ' +
  '(light) per planner (a service whose processing time is not known, driven by the http or echo task mode: ' +
  'the whole E2E as one bar). Error bars: ±1 standard deviation of the E2E delay of the same tasks, drawn around ' +
  'the top of the bar (mean processing + mean transmission delay).';

/** Fig. 4's parts of a bar; the third is the whole E2E of a service whose processing time is not known. */
const PARTS = ['processing', 'transmission', 'E2E (processing not known)'];

/** Which planner on which service, only naming the service when there are several. */
const who = (b: { planner: string; service: string }, several: boolean) =>
  several ? `${b.planner} on ${b.service}` : b.planner;

/** Fig. 4's caption with the tasks behind each bar. */
export function fig4Caption(bars: readonly DelayBar[]): string {
  const several = new Set(bars.map((b) => b.service)).size > 1;
  return `${FIG4_CAPTION} All runs and repetitions; tasks per bar: ${bars.map((b) => `${who(b, several)} ${b.n}`).join(', ')}.`;
}

/** Fig. 4: stacked bars (processing, transmission) per planner, one panel per service when several. */
export function fig4Spec(
  bars: readonly DelayBar[],
  options: { services?: readonly string[]; title?: string } = {},
): TopLevelSpec {
  const services = options.services ?? orderServices(bars.map((b) => b.service));
  const planners = paperOrder(bars.map((b) => b.planner));
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
    if (!b.split) return [{ ...common, part: 'E2E (processing not known)', order: 1, ms: b.txMs }];
    return [
      { ...common, part: 'processing', order: 0, ms: b.procMs },
      { ...common, part: 'transmission', order: 1, ms: b.txMs },
    ];
  });
  // The third part only when a bar needs it: figures of edgectl-protocol services stay as they were.
  const parts = bars.some((b) => !b.split) ? PARTS : PARTS.slice(0, 2);
  const x = plannerAxis(planners);
  const layers = [
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
          sort: parts,
          scale: { domain: parts, range: [1, 0.45, 0.75].slice(0, parts.length) },
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
      transform: [{ filter: 'datum.order === 1' }],
      mark: { type: 'rule', color: '#222222' },
      encoding: {
        x,
        y: { field: 'lo', type: 'quantitative' },
        y2: { field: 'hi' },
      },
    },
    {
      transform: [{ filter: 'datum.order === 1' }],
      mark: { type: 'tick', color: '#222222', thickness: 1.5, size: 10 },
      encoding: { x, y: { field: 'hi', type: 'quantitative' } },
    },
    {
      transform: [{ filter: 'datum.order === 1 && datum.lo > 0' }],
      mark: { type: 'tick', color: '#222222', thickness: 1.5, size: 10 },
      encoding: { x, y: { field: 'lo', type: 'quantitative' } },
    },
  ];
  const title = {
    text: options.title ?? 'E2E delay: processing + transmission',
    subtitle: 'Mean per answered task; error bars ±1 std of E2E',
  };
  return perService({
    services,
    title,
    values,
    view: { layer: layers },
    ...BAR_PANELS,
  });
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
  const order = paperOrder(planners.map((p) => p.planner));
  return planners
    .filter((p) => p.downtimeMs.mean !== null)
    .map((p) => ({
      service: p.service,
      planner: p.planner,
      meanMs: p.downtimeMs.mean ?? 0,
      ci95Ms: p.downtimeMs.n > 1 ? p.downtimeMs.ci95 : null,
      repeats: p.downtimeMs.n,
    }))
    .sort(byServiceThenPlanner(services, order));
}

export const FIG5_CAPTION =
  'Fig. 5: total service downtime the user saw per run (the union of its outages: handovers, migrations ' +
  'and any other gap, overlapping outages counted once), the mean over repetitions per planner. Error bars: ' +
  '95% confidence interval (Student t) where there were two repetitions or more. The paper draws the three ' +
  'planners that migrate; cloud, when it ran, is drawn too (its downtime is that of its handovers alone).';

/** Fig. 5's caption with the repetitions behind each bar. */
export function fig5Caption(bars: readonly DowntimeBar[]): string {
  const several = new Set(bars.map((b) => b.service)).size > 1;
  return `${FIG5_CAPTION} Runs per bar: ${bars.map((b) => `${who(b, several)} ${b.repeats}`).join(', ')}.`;
}

/** Fig. 5: downtime bars per planner (with 95% CI error bars), one panel per service when several. */
export function fig5Spec(
  bars: readonly DowntimeBar[],
  options: { services?: readonly string[]; title?: string } = {},
): TopLevelSpec {
  const services = options.services ?? orderServices(bars.map((b) => b.service));
  const planners = paperOrder(bars.map((b) => b.planner));
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
  const x = plannerAxis(planners);
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
  return perService({
    services,
    title,
    values,
    view: { layer: layers },
    ...BAR_PANELS,
  });
}
