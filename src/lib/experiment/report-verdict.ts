/**
 * report.md's verdict, pure: for each pair of planners the difference in total downtime and in mean E2E with
 * its 95% interval, said in a sentence; and the run's window with the handovers it cut off. For results
 * written before summary.json carried comparisons, they are computed here from the CSV files read back.
 */
import { comparePlanners, orderPlanners, type RunSample } from './compare.js';
import type { Comparison, ExperimentSummary, Interval, RunMeta } from './format.js';
import type { ResultsData } from './report-data.js';
import { duration, pct, signedDuration, table } from './report-text.js';
import { interval } from './results.js';
import { handoverEpisodes, mean, unionLength } from './stats.js';

/** Each run of the results as the comparisons see it, from the rows read back. */
export function resultSamples(
  data: Pick<ResultsData, 'meta' | 'tasks' | 'handovers' | 'outages'>,
): RunSample[] {
  return data.meta.runs.map((run) => {
    const mine = <T extends { run: string }>(rows: readonly T[]) => rows.filter((r) => r.run === run.run);
    const answered = mine(data.tasks).flatMap((t) =>
      t.ok && t.e2eMs !== null ? [{ user: t.user, atMs: t.tMs, e2eMs: t.e2eMs }] : [],
    );
    const outages = mine(data.outages).map((o) => ({ user: o.user, startMs: o.tMs, endMs: o.endTMs }));
    const episodes = handoverEpisodes({
      handovers: mine(data.handovers).map((h) => ({ user: h.user, atMs: h.tMs })),
      outages,
      tasks: answered,
    });
    // The run's total downtime as downtimeOf counts it: the union of each user's outages, summed.
    const users = [...new Set(outages.map((o) => o.user))];
    const downtimeMs = users.reduce(
      (sum, user) =>
        sum +
        unionLength(
          outages.flatMap((o) =>
            o.user === user && o.endMs !== null ? [[o.startMs, o.endMs] as const] : [],
          ),
        ),
      0,
    );
    const e2e = mean(answered.map((t) => t.e2eMs));
    return {
      planner: run.planner,
      service: run.service,
      downtimeMs: Math.round(downtimeMs * 1000) / 1000,
      meanE2eMs: e2e === null ? null : Math.round(e2e * 1000) / 1000,
      episodes,
    };
  });
}

/**
 * summary.json with the comparisons and the downtime per handover it lacks when written before they were
 * recorded, computed from the rows; `computed` says whether it was.
 */
export function completeSummary(data: ResultsData): { summary: ExperimentSummary; computed: boolean } {
  const s = data.summary;
  if (s.comparisons !== undefined && s.planners.every((p) => p.downtimePerHandoverMs !== undefined))
    return { summary: s, computed: false };
  const samples = resultSamples(data);
  const perHandover = (planner: string, service: string): Interval =>
    interval(
      samples
        .filter((x) => x.planner === planner && x.service === service)
        .flatMap((x) => x.episodes.map((e) => Math.round(e.downtimeMs * 1000) / 1000)),
    );
  return {
    summary: {
      ...s,
      planners: s.planners.map((p) => ({
        ...p,
        downtimePerHandoverMs: p.downtimePerHandoverMs ?? perHandover(p.planner, p.service),
      })),
      comparisons: s.comparisons ?? comparePlanners(samples),
    },
    computed: true,
  };
}

function what(c: Comparison): string {
  const perHandover = c.method === 'bootstrap-handovers';
  if (c.metric === 'downtimeMs') return perHandover ? 'downtime per handover' : 'total downtime';
  return perHandover ? 'mean E2E delay per handover' : 'mean E2E delay';
}

function value(c: Comparison, v: number | null): string {
  if (v === null) return '–';
  return c.metric === 'downtimeMs' ? duration(v) : `${v.toFixed(1)} ms`;
}

function signed(c: Comparison, v: number | null): string {
  if (v === null) return '–';
  return c.metric === 'downtimeMs' ? signedDuration(v) : `${v < 0 ? '−' : '+'}${Math.abs(v).toFixed(1)} ms`;
}

/**
 * The comparison in one plain sentence: "orchestrated's total downtime is 27.1% below nearest's (95% interval
 * 12.0% to 42.2%)", or "... no difference can be claimed: the 95% interval includes zero".
 */
export function comparisonSentence(c: Comparison): string {
  const w = what(c);
  if (c.diff === null || c.meanA === null || c.meanB === null)
    return `${c.a} and ${c.b} cannot be compared in ${w}: ${c.note ?? 'no values on a side'}`;
  if (c.lo === null || c.hi === null)
    return `${c.a} and ${c.b} in ${w}: no difference can be claimed without an interval, ${c.note ?? 'too few values'}; ${value(c, c.meanA)} against ${value(c, c.meanB)}`;
  const range = `${signed(c, c.lo)} to ${signed(c, c.hi)}`;
  if (c.includesZero)
    return `${c.a} and ${c.b} in ${w}: no difference can be claimed: the 95% interval includes zero (${c.a} − ${c.b} = ${signed(c, c.diff)}, 95% interval ${range})`;
  const below = c.diff < 0;
  if (c.meanB === 0 || c.relative === null)
    return `${c.a}'s ${w} is ${value(c, Math.abs(c.diff))} ${below ? 'below' : 'above'} ${c.b}'s (95% interval ${range})`;
  const relLo = c.relativeLo ?? c.lo / c.meanB;
  const relHi = c.relativeHi ?? c.hi / c.meanB;
  const [from, to] = below ? [-relHi, -relLo] : [relLo, relHi];
  return `${c.a}'s ${w} is ${pct(Math.abs(c.diff / c.meanB))} ${below ? 'below' : 'above'} ${c.b}'s (95% interval ${pct(from)} to ${pct(to)})`;
}

function comparisonRows(comparisons: readonly Comparison[]): string[][] {
  return comparisons.map((c) => [
    c.service,
    `${c.a} − ${c.b}`,
    what(c),
    value(c, c.meanA),
    value(c, c.meanB),
    signed(c, c.diff),
    c.lo === null || c.hi === null ? '–' : `${signed(c, c.lo)} to ${signed(c, c.hi)}`,
    c.relative === null
      ? '–'
      : `${c.relative > 0 ? '+' : c.relative < 0 ? '−' : ''}${pct(Math.abs(c.relative))}`,
    c.method === 'repetitions'
      ? `repetitions (${c.n[0]}, ${c.n[1]} runs)`
      : `handovers (${c.n[0]}, ${c.n[1]})`,
    c.includesZero === null ? 'no interval' : c.includesZero ? 'includes zero' : 'excludes zero',
  ]);
}

const HEADER = [
  'Service',
  'a − b',
  'Metric',
  'a',
  'b',
  'Difference',
  '95% interval',
  'Relative to b',
  'Over',
  'Zero',
];
const ALIGN = ['---', '---', '---', '---:', '---:', '---:', '---:', '---:', '---', '---'];

export const METHOD_NOTE =
  "Each difference is a − b with its 95% confidence interval. Over repetitions (Welch's t on the per-run values, with the Welch-Satterthwaite degrees of freedom) when both planners ran at least twice; otherwise over handovers: each handover of a user is charged the outages that start between the midpoints to the user's previous and next handovers (its episode; the first and last episodes open-ended), overlapping outages count once, and a percentile bootstrap (10 000 resamples within each planner's episodes, seeded, so the same data give the same interval) gives the interval of the difference of the mean downtime, and of the mean E2E delay, per handover. Relative values are to b's mean; when the interval includes zero, no difference can be claimed.";

/** The verdict section's lines: orchestrated's pairs first (sentences and a table), then every other pair. */
export function verdictSection(input: {
  comparisons: readonly Comparison[];
  services: readonly string[];
  /** The comparisons were computed by the report (summary.json predates them). */
  computed: boolean;
  runs: readonly RunMeta[];
}): string[] {
  const out: string[] = ['## Verdict', '', METHOD_NOTE, ''];
  if (input.computed)
    out.push(
      'summary.json of these results has no comparisons (written by an older edgectl): the report computed them from the CSV files.',
      '',
    );
  const ordered = input.services.flatMap((s) => {
    const mine = input.comparisons.filter((c) => c.service === s);
    const order = orderPlanners(mine.flatMap((c) => [c.a, c.b]));
    const rank = (p: string) => order.indexOf(p);
    return [...mine].sort(
      (x, y) => rank(x.a) - rank(y.a) || rank(x.b) - rank(y.b) || x.metric.localeCompare(y.metric),
    );
  });
  if (ordered.length === 0) {
    out.push('Only one planner ran per service: there is nothing to compare.', '');
    return [...out, ...windowSection(input.runs)];
  }
  const withOrchestrated = ordered.filter((c) => c.a === 'orchestrated' || c.b === 'orchestrated');
  const others = ordered.filter((c) => !withOrchestrated.includes(c));
  if (withOrchestrated.length === 0) out.push('No orchestrated run: no verdict on coordination.', '');
  else {
    for (const c of withOrchestrated) out.push(`- ${c.service}: ${comparisonSentence(c)}.`);
    out.push('', table(HEADER, comparisonRows(withOrchestrated), ALIGN), '');
  }
  if (others.length > 0) {
    out.push(withOrchestrated.length === 0 ? 'Every pair:' : 'Every other pair:', '');
    out.push(table(HEADER, comparisonRows(others), ALIGN), '');
  }
  return [...out, ...windowSection(input.runs)];
}

/** How much of each run counted, and the handovers whose consequences it cut off. */
export function windowSection(runs: readonly RunMeta[]): string[] {
  const out = ['### The window of each run', ''];
  const windows = runs.map((r) => r.windowS).filter((w): w is number => w !== undefined);
  if (windows.length === 0)
    out.push(
      "Rows count from each run's start for its duration: these runs recorded no drain, so a reaction to a handover near the end of a run (a baseline's migration) may fall outside it and go uncounted.",
      '',
    );
  else {
    const lo = Math.min(...windows);
    const hi = Math.max(...windows);
    out.push(
      `Rows count from each run's start to the end of its window: its duration, then a drain until the reactions to the handovers inside it had ended (${lo === hi ? `${lo} s` : `${lo}-${hi} s`}${windows.length < runs.length ? `; ${runs.length - windows.length} runs without a drain` : ''}).`,
      '',
    );
  }
  const notes = runs.flatMap((r) => (r.truncated ?? []).map((n) => `- ${r.run}: ${n}`));
  if (notes.length > 0) out.push('Handovers whose consequences the end of a run cut off:', '', ...notes, '');
  else if (windows.length > 0) out.push('No handover had its consequences cut off.', '');
  return out;
}
