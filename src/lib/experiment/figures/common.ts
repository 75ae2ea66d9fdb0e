/**
 * What every figure shares: the planners' colours and order, the outages' cause colours, fonts, the base
 * config, the one-view-or-a-panel-per-service wrapper, the planner axis, the outage shading layer, and
 * small statistics. Pure.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { RunMeta } from '../format.js';
import { paperOrder } from '../planner-order.js';
import type { OutageRow } from '../report-data.js';

export const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

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

/** The colour scale of the planners, in the paper's order: the same colour for a planner in every figure. */
export function plannerScale(planners: Iterable<string>): { domain: string[]; range: string[] } {
  const domain = paperOrder(planners);
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

/** Orders rows by service (in the order of `services`), then by planner (in the order of `planners`). */
export function byServiceThenPlanner(services: readonly string[], planners: readonly string[]) {
  return (a: { service: string; planner: string }, b: { service: string; planner: string }) =>
    services.indexOf(a.service) - services.indexOf(b.service) ||
    planners.indexOf(a.planner) - planners.indexOf(b.planner);
}

export const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Sample standard deviation (n - 1); 0 for one value. */
export function std(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = mean(values);
  return Math.sqrt(values.reduce((a, b) => a + (b - m) ** 2, 0) / (values.length - 1));
}

/** The q-quantile of sorted values (linear interpolation between ranks, as numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] ?? 0;
  const b = sorted[hi] ?? a;
  return a + (b - a) * (pos - lo);
}

export const median = (values: readonly number[]) =>
  quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );

export const baseConfig = {
  font: FONT,
  background: 'white',
  view: { stroke: '#dddddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const, grid: true },
  axisBand: { grid: false },
  header: { labelFontSize: 12, titleFontSize: 12, labelFontWeight: 'bold' as const },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const, labelLimit: 400 },
  title: { fontSize: 14, anchor: 'start' as const, subtitleFontSize: 11, subtitleColor: '#555555' },
};

/** A view's width or height: pixels, or pixels per band step. */
type Size = number | { step: number };

/** What perService draws: one view of `values`, by service. */
export interface PerServiceView {
  services: readonly string[];
  title: { text: string; subtitle: string };
  values: readonly object[];
  /** The view without data, title or size: a mark with its encoding, or a layer. */
  view: object;
  /** The one view's size (one service), and each panel's (several). */
  single: { width: Size; height: Size };
  panel: { width: Size; height: Size };
  /** Panels side by side (column) or stacked (row). */
  facet: 'column' | 'row';
  /** The axis whose scale each panel keeps its own (services differ by orders of magnitude). */
  independent: 'x' | 'y';
}

/**
 * One service: a single view with the service in its title; several: one panel per service, in the order
 * given. The figures drawn per service all take this shape, so they read alike.
 */
export function perService(o: PerServiceView): TopLevelSpec {
  const [only] = o.services;
  if (o.services.length <= 1)
    return {
      $schema: SCHEMA,
      title: only ? { ...o.title, text: `${o.title.text} (${only})` } : o.title,
      data: { values: o.values },
      ...o.view,
      ...o.single,
      config: baseConfig,
    } as TopLevelSpec;
  return {
    $schema: SCHEMA,
    title: o.title,
    data: { values: o.values },
    facet: { [o.facet]: { field: 'service', type: 'nominal', sort: [...o.services], title: null } },
    spec: { ...o.view, ...o.panel },
    resolve: { scale: { [o.independent]: 'independent' } },
    config: baseConfig,
  } as unknown as TopLevelSpec;
}

/** The planners along x in the given order, labels upright: the axis of the bar figures. */
export function plannerAxis(planners: readonly string[]) {
  return {
    field: 'planner',
    type: 'nominal' as const,
    title: 'Planner',
    sort: [...planners],
    axis: { labelAngle: 0 },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Outages by cause: outages.csv has one row per cause, and a coordinated migration's outage overlaps its
// handover's. Each instant the user was out is put in exactly one category, so overlaps are neither
// counted twice nor drawn as an unlabelled blend of two tints.

export const OUTAGE_CATEGORIES = ['handover', 'migration', 'handover + migration', 'other'] as const;
export type OutageCategory = (typeof OUTAGE_CATEGORIES)[number];

/** Shading of each category: light tints, so the planners keep their colours; every one in the legend. */
export const CATEGORY_COLOURS: Record<OutageCategory, string> = {
  handover: '#9ecae1',
  migration: '#fdae6b',
  'handover + migration': '#c994c7',
  other: '#d9d9d9',
};

export function categoryScale(present: Iterable<string>): { domain: string[]; range: string[] } {
  const set = new Set(present);
  const domain = OUTAGE_CATEGORIES.filter((c) => set.has(c));
  return { domain, range: domain.map((c) => CATEGORY_COLOURS[c]) };
}

/** A span of time during which the user was out, in one category (ms from the run's start). */
export interface OutageSpan {
  fromMs: number;
  toMs: number;
  category: OutageCategory;
  /** The span reaches the run's end without the outage having ended. */
  open: boolean;
}

/**
 * One user's outages in one run as disjoint spans by category: where a handover and a migration outage
 * overlap, `handover + migration`; an outage of any other cause (or a handover/migration overlapping one)
 * counts as `other` only where neither handover nor migration covers it. An unended outage runs to `endMs`.
 */
export function outageSpans(outages: readonly OutageRow[], endMs: number): OutageSpan[] {
  const edges = new Set<number>();
  const spans = outages.map((o) => {
    const to = o.endTMs ?? Math.max(endMs, o.tMs);
    edges.add(o.tMs);
    edges.add(to);
    return { from: o.tMs, to, cause: o.cause, open: o.endTMs === null };
  });
  const points = [...edges].sort((a, b) => a - b);
  const out: OutageSpan[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const a = points[i] as number;
    const b = points[i + 1] as number;
    if (b <= a) continue;
    const covering = spans.filter((s) => s.from <= a && s.to >= b);
    if (covering.length === 0) continue;
    const ho = covering.some((s) => s.cause === 'handover');
    const mig = covering.some((s) => s.cause === 'migration');
    const category: OutageCategory =
      ho && mig ? 'handover + migration' : ho ? 'handover' : mig ? 'migration' : 'other';
    const open = covering.some((s) => s.open && s.to === b);
    const last = out[out.length - 1];
    if (last && last.category === category && last.toMs === a) {
      last.toMs = b;
      last.open = open;
    } else out.push({ fromMs: a, toMs: b, category, open });
  }
  return out;
}

/**
 * The layer that shades the outages (the rows of kind `outage`: fromS, toS, category) along the time axis
 * `x`, coloured by category, its legend naming every category drawn (none when nothing is shaded).
 */
export function outageShading(
  categories: readonly string[],
  x: Record<string, unknown>,
  look: { opacity: number; tooltip: boolean },
) {
  const legend = { orient: 'top', symbolType: 'square' };
  return {
    transform: [{ filter: "datum.kind === 'outage'" }],
    mark: { type: 'rect', opacity: look.opacity },
    encoding: {
      x: { ...x, field: 'fromS' },
      x2: { field: 'toS' },
      fill: {
        field: 'category',
        type: 'nominal',
        scale: categoryScale(categories),
        title: 'Outage',
        legend: categories.length > 0 ? legend : null,
      },
      ...(look.tooltip
        ? {
            tooltip: [
              { field: 'category', type: 'nominal', title: 'outage' },
              { field: 'fromS', type: 'quantitative', title: 'from (s)', format: '.2f' },
              { field: 'toS', type: 'quantitative', title: 'to (s)', format: '.2f' },
            ],
          }
        : {}),
    },
  };
}

/** "1 run", "3 runs". */
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
