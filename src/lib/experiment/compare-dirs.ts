/**
 * `experiment compare`, pure: results directories side by side. Each directory carries a label (a codec, a
 * version, ...); directories with the same label are one condition, their runs pooled as repetitions. Per
 * service, planner and condition: total downtime per run, mean E2E per run and downtime per handover, each
 * with its 95% interval; per service and planner, each condition against the first (the baseline), with the
 * statistics of the verdict (compare.ts compareOne: Welch over runs when both sides ran at least twice, else a
 * bootstrap over handover episodes). And the settings in which the directories differ besides their label
 * (testbed, edgectl's commit, duration, velocity, hosts.yml, ...), so that a reader knows what else changed.
 */
import { basename, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { compareOne, type RunSample } from './compare.js';
import type { Comparison, ExperimentMeta } from './format.js';
import { paperOrder } from './planner-order.js';
import type { ResultsData } from './report-data.js';
import { orderServices } from './report-specs.js';
import { resultSamples } from './report-verdict.js';
import { interval } from './results.js';
import type { BootstrapOptions } from './stats.js';

/** compare.json's format; bumped on any change a reader of the file would notice. */
export const COMPARE_VERSION = 1;
/** compare.json's `kind`: how `experiment compare` knows a directory it may write into again. */
export const COMPARE_KIND = 'edgectl-experiment-compare';

/**
 * The metrics compared: total downtime per run (the union of the users' outages), mean E2E per run (the
 * answered tasks), downtime per handover (the outages charged to each handover episode, stats.ts).
 */
export const COMPARE_METRICS = ['downtimeMs', 'meanE2eMs', 'downtimePerHandoverMs'] as const;
export type CompareMetric = (typeof COMPARE_METRICS)[number];

export const METRIC_NAMES: Record<CompareMetric, string> = {
  downtimeMs: 'total downtime per run',
  meanE2eMs: 'mean E2E delay per run',
  downtimePerHandoverMs: 'downtime per handover',
};

/** One results directory and its label. */
export interface LabelledResults {
  label: string;
  data: ResultsData;
}

/** A condition: one label, the directories that carry it, their runs pooled. */
export interface CompareCondition {
  label: string;
  /** Absolute paths, in the order given. */
  dirs: string[];
  runs: number;
  incompleteRuns: number;
  services: string[];
  planners: string[];
}

/** One run as the comparison counts it; `dir` and `run` together name it (a run name may repeat across directories). */
export interface CompareRun {
  label: string;
  dir: string;
  run: string;
  service: string;
  planner: string;
  complete: boolean;
  downtimeMs: number;
  meanE2eMs: number | null;
  handovers: number;
}

/** A metric of one service, planner and condition: its mean and the 95% interval of the mean (Student t). */
export interface ConditionStat {
  service: string;
  planner: string;
  label: string;
  metric: CompareMetric;
  /** What the values are: one per run, or one per handover episode. */
  over: 'runs' | 'handovers';
  n: number;
  mean: number | null;
  /** null below two values. */
  lo: number | null;
  hi: number | null;
}

/**
 * A condition against the baseline in one metric, for one service and planner: label − baseline, with its
 * 95% interval. `method` as in summary.json's comparisons: 'repetitions' (Welch over runs) when both sides
 * ran at least twice, else 'bootstrap-handovers' (then downtimeMs and meanE2eMs are per handover); the
 * downtime per handover is always over handovers.
 */
export interface LabelDifference {
  service: string;
  planner: string;
  metric: CompareMetric;
  label: string;
  baseline: string;
  method: Comparison['method'];
  /** The means compared (per run or per handover, as the method says). */
  mean: number | null;
  baselineMean: number | null;
  /** mean − baselineMean. */
  diff: number | null;
  lo: number | null;
  hi: number | null;
  /** diff / baselineMean, and its interval. */
  relative: number | null;
  relativeLo: number | null;
  relativeHi: number | null;
  /** Runs or handovers: [this condition, the baseline]. */
  n: [number, number];
  includesZero: boolean | null;
  note?: string;
}

/** A setting (meta.json) in which the directories differ: its value in each, null where absent. */
export interface SettingDifference {
  setting: string;
  values: { label: string; dir: string; value: string | null }[];
  /** Directories of the same label (repetitions merged) differ in it too. */
  withinLabel: boolean;
}

export interface DirComparison {
  version: typeof COMPARE_VERSION;
  kind: typeof COMPARE_KIND;
  baseline: string;
  conditions: CompareCondition[];
  /** Services in the order they ran; planners in the paper's. */
  services: string[];
  planners: string[];
  runs: CompareRun[];
  stats: ConditionStat[];
  differences: LabelDifference[];
  settings: SettingDifference[];
  warnings: string[];
}

const round = (v: number, digits = 3) => Math.round(v * 10 ** digits) / 10 ** digits;

/**
 * Each directory's label: `labels` in order (one per directory), else the directory's base name. Throws a
 * UsageError (exit 2) when the counts differ or a label is empty.
 */
export function resolveLabels(dirs: readonly string[], labels: readonly string[] = []): string[] {
  if (labels.length > 0 && labels.length !== dirs.length)
    throw new UsageError(
      `${labels.length} --label for ${dirs.length} directories: give one --label per directory, in the same order, or none`,
      { hint: 'directories with the same --label are merged as repetitions of one condition' },
    );
  const out = labels.length > 0 ? [...labels] : dirs.map((d) => basename(resolve(d)));
  const empty = out.findIndex((l) => l.trim() === '');
  if (empty >= 0) throw new UsageError(`the label of ${dirs[empty]} is empty`);
  return out.map((l) => l.trim());
}

/** The settings of a results directory that can differ between conditions, flattened to `a.b[2].c`. */
export function settingsOf(meta: ExperimentMeta): Map<string, string> {
  const out = new Map<string, string>();
  const put = (key: string, v: unknown): void => {
    if (v === undefined) return;
    if (Array.isArray(v)) {
      if (v.every((x) => x === null || typeof x !== 'object')) out.set(key, JSON.stringify(v));
      else for (const [i, x] of v.entries()) put(`${key}[${i}]`, x);
    } else if (v !== null && typeof v === 'object') {
      for (const k of Object.keys(v).sort()) put(`${key}.${k}`, (v as Record<string, unknown>)[k]);
    } else out.set(key, typeof v === 'string' ? v : JSON.stringify(v));
  };
  put('testbed', meta.testbed);
  put('args', meta.args);
  put('versions', meta.versions);
  // Read as written: older results have none, and a hand-edited one may lack a part.
  const p = meta.provenance as Partial<NonNullable<ExperimentMeta['provenance']>> | undefined;
  if (p) {
    put('provenance.commit', p.commit);
    put('provenance.dirty', p.dirty);
    put('provenance.settings', p.settings);
    put('provenance.labSessionDelayMs', p.labSessionDelayMs);
    // Not the load (it differs every time) nor the command line (--out differs by design).
    put('provenance.machine', {
      hostname: p.machine?.hostname,
      cpus: p.machine?.cpus,
      memGiB: p.machine?.memGiB,
    });
  }
  put(
    'runs.velocity',
    [...new Set(meta.runs.map((r) => r.velocity))].sort((a, b) => a - b),
  );
  put(
    'links',
    Object.fromEntries(
      meta.links.map((l) => [`${l.from}->${l.to}`, { latencyMs: l.latencyMs, emulated: l.emulated }]),
    ),
  );
  put('imageBytes', meta.imageBytes);
  put('inventory', meta.inventory);
  return out;
}

/** Every setting whose value is not the same in every directory. */
export function settingDifferences(inputs: readonly LabelledResults[]): SettingDifference[] {
  const all = inputs.map((i) => ({ label: i.label, dir: i.data.dir, settings: settingsOf(i.data.meta) }));
  const keys = [...new Set(all.flatMap((a) => [...a.settings.keys()]))];
  const out: SettingDifference[] = [];
  for (const setting of keys) {
    const values = all.map((a) => ({ label: a.label, dir: a.dir, value: a.settings.get(setting) ?? null }));
    if (new Set(values.map((v) => v.value)).size <= 1) continue;
    const withinLabel = [...new Set(values.map((v) => v.label))].some(
      (label) => new Set(values.filter((v) => v.label === label).map((v) => v.value)).size > 1,
    );
    out.push({ setting, values, withinLabel });
  }
  return out;
}

function conditionStats(
  service: string,
  planner: string,
  label: string,
  samples: readonly RunSample[],
): ConditionStat[] {
  const stat = (metric: CompareMetric, over: ConditionStat['over'], values: number[]): ConditionStat => {
    const i = interval(values);
    return {
      service,
      planner,
      label,
      metric,
      over,
      n: i.n,
      mean: i.mean,
      lo: i.mean === null || i.ci95 === null ? null : round(i.mean - i.ci95),
      hi: i.mean === null || i.ci95 === null ? null : round(i.mean + i.ci95),
    };
  };
  return [
    stat(
      'downtimeMs',
      'runs',
      samples.map((s) => s.downtimeMs),
    ),
    stat(
      'meanE2eMs',
      'runs',
      samples.flatMap((s) => (s.meanE2eMs === null ? [] : [s.meanE2eMs])),
    ),
    stat(
      'downtimePerHandoverMs',
      'handovers',
      samples.flatMap((s) => s.episodes.map((e) => round(e.downtimeMs))),
    ),
  ];
}

/** Every handover episode of `samples` as one sample: compareOne, given one run a side, goes to the episodes. */
function pooled(samples: readonly RunSample[]): RunSample[] {
  const first = samples[0];
  if (!first) return [];
  return [{ ...first, episodes: samples.flatMap((s) => s.episodes) }];
}

function difference(
  service: string,
  planner: string,
  label: string,
  baseline: string,
  metric: CompareMetric,
  mine: readonly RunSample[],
  base: readonly RunSample[],
  options: BootstrapOptions,
): LabelDifference {
  const c =
    metric === 'downtimePerHandoverMs'
      ? compareOne(pooled(mine), pooled(base), 'downtimeMs', options)
      : compareOne(mine, base, metric, options);
  return {
    service,
    planner,
    metric,
    label,
    baseline,
    method: c.method,
    mean: c.meanA,
    baselineMean: c.meanB,
    diff: c.diff,
    lo: c.lo,
    hi: c.hi,
    relative: c.relative,
    relativeLo: c.relativeLo ?? null,
    relativeHi: c.relativeHi ?? null,
    n: c.n,
    includesZero: c.includesZero,
    ...(c.note !== undefined ? { note: c.note } : {}),
  };
}

/**
 * Compares results directories, each with its label (pure). Throws a UsageError (exit 2) when the labels
 * name fewer than two conditions.
 */
export function compareDirs(
  inputs: readonly LabelledResults[],
  options: BootstrapOptions = {},
): DirComparison {
  const labels = [...new Set(inputs.map((i) => i.label))];
  const baseline = labels[0];
  if (baseline === undefined || labels.length < 2)
    throw new UsageError(
      `${inputs.length === 1 ? 'one directory is' : `${inputs.length} directories with one label (${baseline ?? ''}) are`} one condition: nothing to compare`,
      {
        hint: 'give two or more results directories, with different --label (directories with the same label are merged as repetitions)',
      },
    );
  const warnings: string[] = [];
  const runs: CompareRun[] = [];
  const samples: { label: string; sample: RunSample }[] = [];
  for (const { label, data } of inputs) {
    for (const w of data.warnings) warnings.push(`${data.dir}: ${w}`);
    const mine = resultSamples(data);
    data.meta.runs.forEach((meta, i) => {
      const s = mine[i];
      if (!s) return;
      if (!meta.complete)
        warnings.push(
          `${data.dir}: run ${meta.run} is incomplete${meta.error ? ` (${meta.error})` : ''}: counted`,
        );
      samples.push({ label, sample: s });
      runs.push({
        label,
        dir: data.dir,
        run: meta.run,
        service: meta.service,
        planner: meta.planner,
        complete: meta.complete,
        downtimeMs: s.downtimeMs,
        meanE2eMs: s.meanE2eMs,
        handovers: s.episodes.length,
      });
    });
  }
  const services = orderServices(
    runs.map((r) => r.service),
    inputs.flatMap((i) => i.data.meta.runs),
  );
  const planners = paperOrder(runs.map((r) => r.planner));
  const of = (label: string, service: string, planner: string) =>
    samples
      .filter((s) => s.label === label && s.sample.service === service && s.sample.planner === planner)
      .map((s) => s.sample);

  const conditions: CompareCondition[] = labels.map((label) => {
    const mine = runs.filter((r) => r.label === label);
    return {
      label,
      dirs: inputs.filter((i) => i.label === label).map((i) => i.data.dir),
      runs: mine.length,
      incompleteRuns: mine.filter((r) => !r.complete).length,
      services: services.filter((s) => mine.some((r) => r.service === s)),
      planners: planners.filter((p) => mine.some((r) => r.planner === p)),
    };
  });
  for (const c of conditions.filter((x) => x.dirs.length > 1))
    warnings.push(
      `${c.dirs.length} directories labelled ${c.label}: their ${c.runs} runs pooled as repetitions`,
    );

  const stats: ConditionStat[] = [];
  const differences: LabelDifference[] = [];
  for (const service of services)
    for (const planner of planners) {
      const base = of(baseline, service, planner);
      for (const label of labels) {
        const mine = of(label, service, planner);
        if (mine.length === 0) continue;
        stats.push(...conditionStats(service, planner, label, mine));
        if (label === baseline) continue;
        if (base.length === 0) {
          warnings.push(
            `${planner} on ${service} ran under ${label} but not under ${baseline}: not compared`,
          );
          continue;
        }
        for (const metric of COMPARE_METRICS)
          differences.push(difference(service, planner, label, baseline, metric, mine, base, options));
      }
      if (base.length > 0)
        for (const label of labels.slice(1))
          if (of(label, service, planner).length === 0)
            warnings.push(
              `${planner} on ${service} ran under ${baseline} but not under ${label}: not compared`,
            );
    }
  return {
    version: COMPARE_VERSION,
    kind: COMPARE_KIND,
    baseline,
    conditions,
    services,
    planners,
    runs,
    stats,
    differences,
    settings: settingDifferences(inputs),
    warnings,
  };
}
