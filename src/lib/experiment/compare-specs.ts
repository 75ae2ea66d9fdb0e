/**
 * `experiment compare`'s figures as vega-lite specs, pure: Fig. 5 (total downtime per run) and Fig. 4 (mean
 * E2E delay per run) with one bar per condition side by side within each planner, error bars the 95%
 * interval; and the differences (each condition − the baseline, per planner and metric) with their 95%
 * intervals against a zero line.
 */
import type { TopLevelSpec } from 'vega-lite';
import {
  type CompareMetric,
  type ConditionStat,
  type DirComparison,
  type LabelDifference,
  METRIC_NAMES,
} from './compare-dirs.js';
import { baseConfig, plannerAxis, SCHEMA } from './figures/common.js';

/** Tableau 10: one colour per condition, in the order of the labels. */
const LABEL_COLOURS = [
  '#4e79a7',
  '#f28e2b',
  '#59a14f',
  '#e15759',
  '#76b7b2',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

// The report's config, but the legend keeps vega's default label limit: a condition's label is cut short
// as it always was here.
const { labelLimit: _labelLimit, ...legend } = baseConfig.legend;
const config = { ...baseConfig, legend };

const round = (v: number, digits = 3) => Math.round(v * 10 ** digits) / 10 ** digits;

function labelScale(labels: readonly string[]): { domain: string[]; range: string[] } {
  return {
    domain: [...labels],
    range: labels.map((_, i) => LABEL_COLOURS[i % LABEL_COLOURS.length] ?? '#999'),
  };
}

/** The conditions side by side within each planner's band, in the labels' order. */
const conditionOffset = (labels: readonly string[]) => ({
  field: 'label',
  type: 'nominal' as const,
  sort: [...labels],
});

/** One panel per service when there are several, else the one panel with the service in the title. */
function facetted(
  layer: object[],
  values: object[],
  services: readonly string[],
  title: { text: string; subtitle: string },
  size: { step: number; height: number },
  row?: { field: string; sort: string[] },
): TopLevelSpec {
  if (services.length <= 1 && !row)
    return {
      $schema: SCHEMA,
      title: services[0] ? { ...title, text: `${title.text} (${services[0]})` } : title,
      data: { values },
      layer,
      width: { step: size.step, for: 'position' },
      height: size.height,
      config,
    } as TopLevelSpec;
  return {
    $schema: SCHEMA,
    title,
    data: { values },
    facet: {
      ...(services.length > 1
        ? { column: { field: 'service', type: 'nominal', sort: [...services], title: null } }
        : {}),
      // A row's name above it: at its side, rotated, a long name outgrows a short row.
      ...(row
        ? {
            row: {
              field: row.field,
              type: 'nominal',
              sort: row.sort,
              title: null,
              header: { labelOrient: 'top', labelAngle: 0, labelAnchor: 'start', labelFontWeight: 'normal' },
            },
          }
        : {}),
    },
    spec: { layer, width: { step: size.step, for: 'position' }, height: size.height },
    resolve: { scale: { y: 'independent' } },
    config,
  } as TopLevelSpec;
}

export interface BarOptions {
  title: string;
  subtitle: string;
  yTitle: string;
}

/** Bars of one metric: x the planner, within it one bar per condition, error bars the 95% interval. */
export function conditionBarsSpec(
  comparison: Pick<DirComparison, 'services' | 'planners' | 'conditions' | 'stats'>,
  metric: CompareMetric,
  options: BarOptions,
): TopLevelSpec {
  const labels = comparison.conditions.map((c) => c.label);
  const stats = comparison.stats.filter((s) => s.metric === metric && s.mean !== null);
  const services = comparison.services.filter((s) => stats.some((x) => x.service === s));
  // Seconds once a bar passes 10 s (1600 s runs see tens of seconds), milliseconds below.
  const inSeconds = metric !== 'meanE2eMs' && stats.some((s) => (s.hi ?? s.mean ?? 0) >= 10_000);
  const k = inSeconds ? 1000 : 1;
  const unit = inSeconds ? 's' : 'ms';
  const values = stats.map((s: ConditionStat) => ({
    service: s.service,
    planner: s.planner,
    label: s.label,
    n: s.n,
    value: round((s.mean ?? 0) / k),
    lo: s.lo === null ? null : round(Math.max(0, s.lo) / k),
    hi: s.hi === null ? null : round(s.hi / k),
  }));
  const x = plannerAxis(comparison.planners);
  const xOffset = conditionOffset(labels);
  const layer: object[] = [
    {
      mark: { type: 'bar', width: { band: 0.85 } },
      encoding: {
        x,
        xOffset,
        y: {
          field: 'value',
          type: 'quantitative',
          title: `${options.yTitle} (${unit})`,
          ...(values.every((v) => (v.hi ?? v.value) <= 0) ? { scale: { domain: [0, 1] } } : {}),
        },
        color: { field: 'label', type: 'nominal', scale: labelScale(labels), title: 'Condition' },
        tooltip: [
          { field: 'service', type: 'nominal' },
          { field: 'planner', type: 'nominal' },
          { field: 'label', type: 'nominal', title: 'condition' },
          { field: 'value', type: 'quantitative', title: `mean (${unit})`, format: '.2f' },
          { field: 'lo', type: 'quantitative', title: `95% from (${unit})`, format: '.2f' },
          { field: 'hi', type: 'quantitative', title: `95% to (${unit})`, format: '.2f' },
          { field: 'n', type: 'quantitative', title: 'runs' },
        ],
      },
    },
  ];
  if (values.some((v) => v.hi !== null))
    layer.push({
      transform: [{ filter: 'datum.hi !== null' }],
      mark: { type: 'rule', color: '#222222' },
      encoding: { x, xOffset, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } },
    });
  return facetted(
    layer,
    values,
    services,
    { text: options.title, subtitle: options.subtitle },
    {
      step: 30 + 22 * labels.length,
      height: 260,
    },
  );
}

/** What a difference compares, as a figure's row and a table's column say it. */
export function differenceName(d: Pick<LabelDifference, 'metric' | 'method'>): string {
  if (d.metric === 'downtimePerHandoverMs' || d.method === 'repetitions') return METRIC_NAMES[d.metric];
  return d.metric === 'downtimeMs' ? 'downtime per handover' : 'mean E2E delay per handover';
}

/**
 * The differences worth drawing or listing: a total downtime compared over handovers (too few runs) is the
 * downtime per handover again, listed once.
 */
export function distinctDifferences(differences: readonly LabelDifference[]): LabelDifference[] {
  return differences.filter((d) => !(d.metric === 'downtimeMs' && d.method === 'bootstrap-handovers'));
}

/** The differences figure: per planner and metric, each condition − the baseline with its 95% interval. */
export function differencesSpec(
  comparison: Pick<DirComparison, 'services' | 'planners' | 'conditions' | 'differences' | 'baseline'>,
): TopLevelSpec {
  const labels = comparison.conditions.map((c) => c.label).filter((l) => l !== comparison.baseline);
  const diffs = distinctDifferences(comparison.differences).filter((d) => d.diff !== null);
  const services = comparison.services.filter((s) => diffs.some((d) => d.service === s));
  const names = [...new Set(diffs.map(differenceName))];
  const order = [
    'total downtime per run',
    'downtime per handover',
    'mean E2E delay per run',
    'mean E2E delay per handover',
  ].filter((n) => names.includes(n));
  const values = diffs.map((d) => ({
    service: d.service,
    planner: d.planner,
    label: d.label,
    what: `${differenceName(d)} (ms)`,
    diff: d.diff,
    lo: d.lo,
    hi: d.hi,
    relative: d.relative,
    n: `${d.n[0]} vs ${d.n[1]}`,
  }));
  const x = plannerAxis(comparison.planners);
  const xOffset = conditionOffset(labels);
  // The colours of the bar figures, without the baseline (it has no difference to itself).
  const all = labelScale(comparison.conditions.map((c) => c.label));
  const colour = {
    domain: labels,
    range: labels.map((l) => all.range[all.domain.indexOf(l)] ?? '#999999'),
  };
  const layer: object[] = [
    { mark: { type: 'rule', color: '#555555', strokeDash: [4, 3] }, encoding: { y: { datum: 0 } } },
    {
      transform: [{ filter: 'datum.lo !== null' }],
      mark: { type: 'rule', strokeWidth: 2 },
      encoding: {
        x,
        xOffset,
        y: { field: 'lo', type: 'quantitative', title: null },
        y2: { field: 'hi' },
        color: { field: 'label', type: 'nominal', scale: colour, title: 'Condition' },
      },
    },
    {
      mark: { type: 'point', filled: true, size: 60 },
      encoding: {
        x,
        xOffset,
        // The row's header names the metric and its unit; the title, the baseline.
        y: { field: 'diff', type: 'quantitative', title: null },
        color: { field: 'label', type: 'nominal', scale: colour, title: 'Condition' },
        tooltip: [
          { field: 'service', type: 'nominal' },
          { field: 'planner', type: 'nominal' },
          { field: 'label', type: 'nominal', title: 'condition' },
          { field: 'what', type: 'nominal', title: 'metric' },
          { field: 'diff', type: 'quantitative', title: 'difference (ms)', format: '.1f' },
          { field: 'lo', type: 'quantitative', title: '95% from (ms)', format: '.1f' },
          { field: 'hi', type: 'quantitative', title: '95% to (ms)', format: '.1f' },
          { field: 'relative', type: 'quantitative', title: 'relative', format: '+.1%' },
          { field: 'n', type: 'nominal', title: 'n (condition vs baseline)' },
        ],
      },
    },
  ];
  return facetted(
    layer,
    values,
    services,
    {
      text: `Differences to ${comparison.baseline}`,
      subtitle:
        'Each condition − the baseline, with its 95% interval; an interval across zero claims no difference',
    },
    { step: 30 + 22 * labels.length, height: 160 },
    { field: 'what', sort: order.map((n) => `${n} (ms)`) },
  );
}

export const COMPARE_FIG5_CAPTION =
  'Fig. 5 across conditions: the total service downtime the user saw per run (the union of its outages), ' +
  'the mean over the runs of each condition (directories with the same label pooled), one bar per condition ' +
  'within each planner. Error bars: 95% confidence interval of the mean (Student t) where a condition had ' +
  'two runs or more.';

export const COMPARE_FIG4_CAPTION =
  'Fig. 4 across conditions: the mean E2E delay of the answered tasks per run, the mean over the runs of ' +
  'each condition, one bar per condition within each planner. Error bars: 95% confidence interval of the ' +
  'mean (Student t) where a condition had two runs or more.';

export const COMPARE_DIFF_CAPTION =
  'Differences: each condition − the baseline, per planner and metric, with its 95% interval: over runs ' +
  "(Welch's t) when both had two runs or more, else over handover episodes (percentile bootstrap). An " +
  'interval that crosses the dashed zero line claims no difference.';
