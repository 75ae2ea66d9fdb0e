/**
 * `experiment compare`'s tables, pure: compare.md (the conditions, the settings that differ besides the
 * label, the differences said as the report's verdict says them, each condition's numbers, the figures) and
 * compare.csv (tidy: one row per service, planner, condition and metric, its difference to the baseline on
 * the same row).
 */
import {
  COMPARE_METRICS,
  type CompareMetric,
  type ConditionStat,
  type DirComparison,
  type LabelDifference,
  METRIC_NAMES,
  type SettingDifference,
} from './compare-dirs.js';
import { differenceName, distinctDifferences } from './compare-specs.js';
import type { Comparison } from './format.js';
import { duration, pct, signedDuration, table } from './report-text.js';
import { comparisonSentence } from './report-verdict.js';
import { toCsv } from './results.js';

/** A difference as summary.json's comparisons hold one (a = the condition, b = the baseline), for the verdict's words. */
export function asComparison(d: LabelDifference): Comparison {
  return {
    a: d.label,
    b: d.baseline,
    service: d.service,
    // Downtime per handover is downtimeMs over handovers: the verdict says it so.
    metric: d.metric === 'meanE2eMs' ? 'meanE2eMs' : 'downtimeMs',
    method: d.metric === 'downtimePerHandoverMs' ? 'bootstrap-handovers' : d.method,
    meanA: d.mean,
    meanB: d.baselineMean,
    diff: d.diff,
    lo: d.lo,
    hi: d.hi,
    n: d.n,
    includesZero: d.includesZero,
    relative: d.relative,
    relativeLo: d.relativeLo,
    relativeHi: d.relativeHi,
    ...(d.note !== undefined ? { note: d.note } : {}),
  };
}

function value(metric: CompareMetric, v: number | null): string {
  if (v === null) return '–';
  // An interval's lower end can be below zero: a true minus, as in the differences.
  if (v < 0) return `−${value(metric, -v)}`;
  return metric === 'meanE2eMs' ? `${v.toFixed(1)} ms` : duration(v);
}

function signed(metric: CompareMetric, v: number | null): string {
  if (v === null) return '–';
  return metric === 'meanE2eMs' ? `${v < 0 ? '−' : '+'}${Math.abs(v).toFixed(1)} ms` : signedDuration(v);
}

function statCell(s: ConditionStat | undefined): string {
  if (!s || s.mean === null) return '–';
  const unit = s.over === 'runs' ? (s.n === 1 ? 'run' : 'runs') : s.n === 1 ? 'handover' : 'handovers';
  const range =
    s.lo === null || s.hi === null ? '' : ` (${value(s.metric, s.lo)} to ${value(s.metric, s.hi)})`;
  return `${value(s.metric, s.mean)}${range}, ${s.n} ${unit}`;
}

const short = (v: string | null, max = 60) =>
  v === null ? '(absent)' : v.length > max ? `${v.slice(0, max - 1)}…` : v;

/** A setting's values: one per label when its directories agree, else one per directory. */
function settingValues(s: SettingDifference): string {
  const labels = [...new Set(s.values.map((v) => v.label))];
  return labels
    .map((label) => {
      const mine = s.values.filter((v) => v.label === label);
      const distinct = [...new Set(mine.map((v) => v.value))];
      if (distinct.length === 1) return `${label}: ${short(distinct[0] ?? null)}`;
      return mine.map((v) => `${label} (${v.dir}): ${short(v.value)}`).join('; ');
    })
    .join('; ');
}

const MAX_SETTINGS = 40;

/**
 * Neighbouring settings of one parent with the same values, as one row: `versions.kernel.{ap1, edge1}` (a
 * kernel upgraded on every host is one change, not eight).
 */
function collapse(settings: readonly SettingDifference[]): SettingDifference[] {
  const out: SettingDifference[] = [];
  const parent = (k: string) => k.replace(/\.[^.[\]]+$/, '');
  const leaf = (k: string) => k.slice(parent(k).length + 1);
  const same = (a: SettingDifference, b: SettingDifference) =>
    JSON.stringify(a.values.map((v) => v.value)) === JSON.stringify(b.values.map((v) => v.value));
  for (let i = 0; i < settings.length; ) {
    const first = settings[i] as SettingDifference;
    let j = i + 1;
    while (j < settings.length) {
      const next = settings[j] as SettingDifference;
      if (
        parent(next.setting) === parent(first.setting) &&
        parent(first.setting) !== first.setting &&
        same(first, next)
      )
        j++;
      else break;
    }
    const group = settings.slice(i, j);
    out.push(
      group.length === 1
        ? first
        : {
            ...first,
            setting: `${parent(first.setting)}.{${group.map((g) => leaf(g.setting)).join(', ')}}`,
            withinLabel: group.some((g) => g.withinLabel),
          },
    );
    i = j;
  }
  return out;
}

function settingsSection(settings: readonly SettingDifference[]): string[] {
  const out = ['## What else differs', ''];
  if (settings.length === 0) {
    out.push(
      'Nothing but the label: the same testbed, arguments (duration, velocity, seed, repetitions), versions, edgectl commit, settings, links and hosts.yml in every directory (meta.json).',
      '',
    );
    return out;
  }
  out.push(
    'Settings (meta.json) in which the directories differ. Those the labels stand for are expected; any other changed too, and may explain part of a difference. Rows marked * differ between directories of the same label (merged as repetitions).',
    '',
  );
  const rows = collapse(settings).map((s) => [`${s.setting}${s.withinLabel ? ' *' : ''}`, settingValues(s)]);
  out.push(table(['Setting', 'Values'], rows.slice(0, MAX_SETTINGS)), '');
  if (rows.length > MAX_SETTINGS)
    out.push(`And ${rows.length - MAX_SETTINGS} more (compare.json \`settings\`).`, '');
  return out;
}

const METHOD_NOTE =
  "Each difference is a condition − the baseline, per service and planner, with its 95% confidence interval: over runs (Welch's t on the per-run values, Welch-Satterthwaite degrees of freedom) when both ran at least twice; otherwise over handover episodes (each handover charged the outages that start between the midpoints to the user's previous and next handovers; a seeded percentile bootstrap, 10 000 resamples). The downtime per handover is always compared over handovers. Relative values are to the baseline's mean; when the interval includes zero, no difference can be claimed.";

function differenceRows(diffs: readonly LabelDifference[]): string[][] {
  return diffs.map((d) => [
    d.planner,
    d.label,
    differenceName(d),
    value(d.metric, d.mean),
    value(d.metric, d.baselineMean),
    signed(d.metric, d.diff),
    d.lo === null || d.hi === null ? '–' : `${signed(d.metric, d.lo)} to ${signed(d.metric, d.hi)}`,
    d.relative === null
      ? '–'
      : `${d.relative > 0 ? '+' : d.relative < 0 ? '−' : ''}${pct(Math.abs(d.relative))}`,
    d.method === 'repetitions' ? `runs (${d.n[0]}, ${d.n[1]})` : `handovers (${d.n[0]}, ${d.n[1]})`,
    d.includesZero === null ? 'no interval' : d.includesZero ? 'includes zero' : 'excludes zero',
  ]);
}

export interface CompareFigureRef {
  title: string;
  caption: string;
  png: string;
  svg: string;
}

/** compare.md. */
export function compareMarkdown(c: DirComparison, figures: readonly CompareFigureRef[] = []): string {
  const out: string[] = ['# Results compared', ''];
  out.push(
    `Baseline: **${c.baseline}**. Every other condition is compared with it, per service and planner. Directories with the same label are one condition, their runs pooled as repetitions.`,
    '',
    '## Conditions',
    '',
    table(
      ['Label', 'Directories', 'Runs', 'Services', 'Planners'],
      c.conditions.map((x) => [
        x.label === c.baseline ? `${x.label} (baseline)` : x.label,
        x.dirs.join(', '),
        `${x.runs}${x.incompleteRuns > 0 ? ` (${x.incompleteRuns} incomplete)` : ''}`,
        x.services.join(', '),
        x.planners.join(', '),
      ]),
      ['---', '---', '---:', '---', '---'],
    ),
    '',
  );
  out.push(...settingsSection(c.settings));
  out.push('## Differences', '', METHOD_NOTE, '');
  const diffs = distinctDifferences(c.differences);
  if (diffs.length === 0)
    out.push('No planner of any service ran under both the baseline and another condition.', '');
  for (const service of c.services) {
    const mine = diffs.filter((d) => d.service === service);
    if (mine.length === 0) continue;
    out.push(`### ${service}`, '');
    for (const d of mine) out.push(`- ${d.planner}: ${comparisonSentence(asComparison(d))}.`);
    out.push(
      '',
      table(
        [
          'Planner',
          'Condition',
          'Metric',
          'Mean',
          `Baseline (${c.baseline})`,
          'Difference',
          '95% interval',
          'Relative',
          'Over',
          'Zero',
        ],
        differenceRows(mine),
        ['---', '---', '---', '---:', '---:', '---:', '---:', '---:', '---', '---'],
      ),
      '',
    );
  }
  out.push(
    '## Each condition',
    '',
    'The mean, its 95% confidence interval (Student t, with two values or more) and how many values.',
    '',
  );
  for (const service of c.services) {
    out.push(`### ${service}`, '');
    const rows: string[][] = [];
    for (const planner of c.planners)
      for (const cond of c.conditions) {
        const pick = (m: CompareMetric) =>
          c.stats.find(
            (s) => s.service === service && s.planner === planner && s.label === cond.label && s.metric === m,
          );
        if (!pick('downtimeMs')) continue;
        rows.push([planner, cond.label, ...COMPARE_METRICS.map((m) => statCell(pick(m)))]);
      }
    out.push(table(['Planner', 'Condition', ...COMPARE_METRICS.map((m) => METRIC_NAMES[m])], rows), '');
  }
  if (figures.length > 0) {
    out.push('## Figures', '');
    for (const f of figures)
      out.push(`### ${f.title}`, '', `![${f.title}](${f.png})`, '', `${f.caption} ([SVG](${f.svg}))`, '');
  }
  if (c.warnings.length > 0) out.push('## Notes', '', ...c.warnings.map((w) => `- ${w}`), '');
  return `${out.join('\n').trimEnd()}\n`;
}

export const COMPARE_CSV_COLUMNS = [
  'service',
  'planner',
  'label',
  'baseline',
  'metric',
  'over',
  'n',
  'mean',
  'ci95_lo',
  'ci95_hi',
  'diff_per',
  'diff_method',
  'diff_n',
  'diff_n_baseline',
  'baseline_mean',
  'diff',
  'diff_lo',
  'diff_hi',
  'relative',
  'relative_lo',
  'relative_hi',
  'includes_zero',
] as const;

/**
 * compare.csv: one row per service, planner, condition and metric; the baseline's rows have no difference.
 * `diff_per` says what the difference compares (run or handover), which differs from `over` when a side had
 * fewer than two runs.
 */
export function compareCsv(c: DirComparison): string {
  const rows = c.stats.map((s) => {
    const d = c.differences.find(
      (x) =>
        x.service === s.service && x.planner === s.planner && x.label === s.label && x.metric === s.metric,
    );
    return {
      service: s.service,
      planner: s.planner,
      label: s.label,
      baseline: s.label === c.baseline,
      metric: s.metric,
      over: s.over,
      n: s.n,
      mean: s.mean,
      ci95_lo: s.lo,
      ci95_hi: s.hi,
      diff_per: d ? (d.method === 'repetitions' ? 'run' : 'handover') : null,
      diff_method: d?.method ?? null,
      diff_n: d?.n[0] ?? null,
      diff_n_baseline: d?.n[1] ?? null,
      baseline_mean: d?.baselineMean ?? null,
      diff: d?.diff ?? null,
      diff_lo: d?.lo ?? null,
      diff_hi: d?.hi ?? null,
      relative: d?.relative ?? null,
      relative_lo: d?.relativeLo ?? null,
      relative_hi: d?.relativeHi ?? null,
      includes_zero: d?.includesZero ?? null,
    };
  });
  return toCsv(rows, COMPARE_CSV_COLUMNS);
}
