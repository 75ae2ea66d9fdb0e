/**
 * report.md of a results directory, pure: the verdict (report-verdict.ts), when and where the experiment
 * ran, the headline ratios, the figures, a per-planner summary, the decisions' sections
 * (report-decisions.ts), Table I (checkpoint sizes), and what was and was not emulated.
 */
import type { ExperimentMeta, ExperimentSummary, PlannerSummary } from './format.js';
import { paperOrder } from './planner-order.js';
import type { CapacityCsvRow, CheckpointRow, DecisionRow } from './report-data.js';
import { decisionSections } from './report-decisions.js';
import { orderServices } from './report-specs.js';
import { duration, ms, pct, table } from './report-text.js';
import { capacitySection, userSections } from './report-users.js';
import { verdictSection } from './report-verdict.js';

/** One row of Table I. */
export interface CheckpointSizes {
  service: string;
  imageBytes: number | null;
  /** Mean size of the pre-migration checkpoints (kind 'pre'), and how many. */
  preBytes: number | null;
  preN: number;
  /** Mean size of the migration's delta (kind 'delta'), and how many. */
  deltaBytes: number | null;
  deltaN: number;
  /** 1 - delta / pre, in [0, 1] when the delta is smaller; null without both. */
  reduction: number | null;
}

/** Table I from meta.imageBytes and checkpoints.csv: per service, over every planner's migrations. */
export function checkpointTable(
  meta: Pick<ExperimentMeta, 'imageBytes' | 'runs'>,
  checkpoints: readonly CheckpointRow[],
): CheckpointSizes[] {
  const services = orderServices(
    [
      ...meta.runs.map((r) => r.service),
      ...checkpoints.map((c) => c.service),
      ...Object.keys(meta.imageBytes),
    ],
    meta.runs,
  );
  const meanOf = (rows: readonly CheckpointRow[]) => {
    const v = rows.map((r) => r.bytes).filter((b): b is number => b !== null);
    return { mean: v.length === 0 ? null : v.reduce((a, b) => a + b, 0) / v.length, n: v.length };
  };
  return services.map((service) => {
    const mine = checkpoints.filter((c) => c.service === service);
    const pre = meanOf(mine.filter((c) => c.kind === 'pre'));
    const delta = meanOf(mine.filter((c) => c.kind === 'delta'));
    return {
      service,
      imageBytes: meta.imageBytes[service] ?? null,
      preBytes: pre.mean,
      preN: pre.n,
      deltaBytes: delta.mean,
      deltaN: delta.n,
      reduction: pre.mean !== null && delta.mean !== null && pre.mean > 0 ? 1 - delta.mean / pre.mean : null,
    };
  });
}

/** Bytes as the paper writes them (SI units, three significant digits): 74.2 MB, 47.7 KB, 1.86 GB. */
export function formatBytes(bytes: number | null): string {
  if (bytes === null) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${Number(v.toPrecision(3))} ${units[u]}`;
}

function iso(epochMs: number): string {
  return new Date(epochMs).toISOString().replace('.000Z', 'Z');
}

/** "orchestrated's total downtime is 40.0% below nearest's" from ratio = other / orchestrated. */
export function ratioSentence(what: string, other: string, ratio: number): string {
  if (ratio === 1) return `orchestrated's ${what} equals ${other}'s`;
  if (ratio <= 0) return `${other}'s ${what} is zero, orchestrated's is not`;
  return ratio > 1
    ? `orchestrated's ${what} is ${pct(1 - 1 / ratio)} below ${other}'s`
    : `orchestrated's ${what} is ${pct(1 / ratio - 1)} above ${other}'s`;
}

/** The headline ratios from summary.json's ratioToOrchestrated, one line per service and planner. */
export function headlines(
  summary: Pick<ExperimentSummary, 'planners'>,
  services: readonly string[],
): string[] {
  const lines: string[] = [];
  for (const service of services) {
    const mine = summary.planners.filter((p) => p.service === service);
    const o = mine.find((p) => p.planner === 'orchestrated');
    if (!o) {
      lines.push(`${service}: no orchestrated run, so no ratio to it.`);
      continue;
    }
    for (const planner of paperOrder(mine.map((p) => p.planner))) {
      const p = mine.find((x) => x.planner === planner);
      if (!p || p.planner === 'orchestrated') continue;
      const parts: string[] = [];
      const d = p.ratioToOrchestrated.downtime;
      if (d !== null)
        parts.push(
          `${ratioSentence('total downtime', p.planner, d)} (${duration(o.downtimeMs.mean)} vs ${duration(p.downtimeMs.mean)} per run)`,
        );
      else
        parts.push(
          `the downtime ratio to ${p.planner} is not defined (orchestrated ${duration(o.downtimeMs.mean)}, ${p.planner} ${duration(p.downtimeMs.mean)})`,
        );
      const e = p.ratioToOrchestrated.e2e;
      if (e !== null)
        parts.push(
          `${ratioSentence('mean E2E delay', p.planner, e)} (${ms(o.e2eMs.mean)} ms vs ${ms(p.e2eMs.mean)} ms)`,
        );
      lines.push(`${service}: ${parts.join('; ')}.`);
    }
  }
  return lines;
}

export interface ReportFigureRef {
  title: string;
  caption: string;
  /** false: the figure was not drawn (`reason`), and report.md says so instead of showing it. */
  drawn?: boolean;
  reason?: string | null;
  /** File names, relative to the results directory. */
  png: string;
  svg: string;
  pdf?: string;
  /** The vega-lite spec (.vl.json). */
  spec?: string;
}

export interface ReportMarkdownInput {
  meta: ExperimentMeta;
  /** With its comparisons and downtime per handover (report-verdict.ts completeSummary). */
  summary: ExperimentSummary;
  /** The comparisons were computed by the report, not read from summary.json. */
  comparisonsComputed: boolean;
  /** decisions.csv; null when the results have none. */
  decisions: readonly DecisionRow[] | null;
  figures: readonly ReportFigureRef[];
  checkpoints: readonly CheckpointSizes[];
  /** What the report noticed (missing files, planners without a handover window, ...). */
  notes: readonly string[];
  /** capacity.csv; null or absent when the results have none. */
  capacity?: readonly CapacityCsvRow[] | null;
}

/** "27.1.1 on edge1, edge2; 26.0 on cloud" from per-host versions. */
function byValue(perHost: Record<string, string | null>): string {
  const groups = new Map<string, string[]>();
  for (const [host, v] of Object.entries(perHost)) {
    const key = v ?? 'unknown';
    groups.set(key, [...(groups.get(key) ?? []), host]);
  }
  if (groups.size === 0) return 'not recorded';
  return [...groups].map(([v, hosts]) => `${v} on ${hosts.join(', ')}`).join('; ');
}

function summaryRows(
  planners: readonly PlannerSummary[],
  services: readonly string[],
  incomplete: ReadonlySet<string>,
): string[][] {
  const rows: string[][] = [];
  for (const service of services) {
    const mine = planners.filter((p) => p.service === service);
    for (const planner of paperOrder(mine.map((p) => p.planner))) {
      const p = mine.find((x) => x.planner === planner);
      if (!p) continue;
      const dt = p.downtimeMs;
      const ph = p.downtimePerHandoverMs;
      rows.push([
        service,
        `${p.planner}${incomplete.has(`${p.planner}\u0000${service}`) ? ' *' : ''}`,
        String(p.repeats),
        `${p.tasks}${p.failedTasks > 0 ? ` (${p.failedTasks} failed)` : ''}`,
        p.e2eMs.mean === null ? '–' : `${ms(p.e2eMs.mean)} ± ${ms(p.e2eMs.std)}`,
        ms(p.procMs.mean),
        ms(p.txMs.mean),
        dt.mean === null ? '–' : `${duration(dt.mean)}${dt.ci95 !== null ? ` ± ${duration(dt.ci95)}` : ''}`,
        ph === undefined || ph.mean === null
          ? '–'
          : `${duration(ph.mean)}${ph.ci95 !== null ? ` ± ${duration(ph.ci95)}` : ''} (n=${ph.n})`,
        `${p.migrations}${p.failedMigrations > 0 ? ` (${p.failedMigrations} failed)` : ''}`,
        String(p.handovers),
        p.counterContinuous ? 'yes' : `no (${p.counterResets} resets)`,
      ]);
    }
  }
  return rows;
}

/** Links in both directions with the same values are one row (a ↔ b). */
function linkRows(links: ExperimentMeta['links']): string[][] {
  const rows: string[][] = [];
  const done = new Set<number>();
  links.forEach((l, i) => {
    if (done.has(i)) return;
    done.add(i);
    const back = links.findIndex(
      (m, j) =>
        !done.has(j) &&
        m.from === l.to &&
        m.to === l.from &&
        m.latencyMs === l.latencyMs &&
        m.emulated === l.emulated &&
        m.method === l.method,
    );
    if (back >= 0) done.add(back);
    rows.push([
      `${l.from} ${back >= 0 ? '↔' : '→'} ${l.to}`,
      String(l.latencyMs),
      l.emulated === true ? 'yes' : l.emulated === false ? 'no' : 'unknown',
      l.method ?? '–',
    ]);
  });
  return rows;
}

export function reportMarkdown(input: ReportMarkdownInput): string {
  const { meta, summary } = input;
  const services = orderServices(
    [...meta.runs.map((r) => r.service), ...summary.planners.map((p) => p.service)],
    meta.runs,
  );
  const planners = paperOrder([
    ...meta.runs.map((r) => r.planner),
    ...summary.planners.map((p) => p.planner),
  ]);
  const repeats = Math.max(0, ...meta.runs.map((r) => r.repeat));
  const incompleteRuns = meta.runs.filter((r) => !r.complete);
  const incomplete = new Set(incompleteRuns.map((r) => `${r.planner}\u0000${r.service}`));
  const out: string[] = [];
  const minutes = (meta.endedEpochMs - meta.startedEpochMs) / 60_000;

  out.push(`# Experiment report: ${meta.testbed}`, '');
  out.push(
    `Planners ${planners.join(', ')} on ${services.join(', ') || 'no service'}, ${repeats} repetition${repeats === 1 ? '' : 's'}: ${meta.runs.length} run${meta.runs.length === 1 ? '' : 's'} on the testbed ${meta.testbed} (${minutes.toFixed(1)} min in all).`,
  );
  out.push('');
  if (!meta.complete || !summary.complete || incompleteRuns.length > 0) {
    const planned = meta.plannedRuns?.length ?? meta.runs.length;
    const resume = `edgectl experiment run --resume ${meta.id ?? 'ID'}`;
    const when =
      meta.finished === false
        ? ` when this was drawn (it ran still, or edgectl was killed: \`${resume}\` finishes it)`
        : '';
    out.push(
      `**This experiment is incomplete.** ${meta.runs.length} of its ${planned} runs had ended${when}; ${incompleteRuns.length} of them did not finish, their rows kept and counted in the figures and tables (marked * below).`,
    );
    for (const r of incompleteRuns) out.push(`- ${r.run}: ${r.error ?? 'not complete'}`);
    out.push('');
  }
  out.push(
    ...verdictSection({
      comparisons: summary.comparisons ?? [],
      services,
      computed: input.comparisonsComputed,
      runs: meta.runs,
    }),
  );
  out.push('## When and where', '');
  out.push(
    `- Testbed ${meta.testbed}; started ${iso(meta.startedEpochMs)}, ended ${iso(meta.endedEpochMs)}.`,
  );
  out.push(
    `- Walking speed: ${[...new Set(meta.runs.map((r) => `${r.velocity} m/s`))].join(', ') || 'not recorded'}; seeds ${[...new Set(meta.runs.map((r) => r.seed))].join(', ') || '–'}.`,
  );
  out.push(`- Arguments: \`${JSON.stringify(meta.args)}\`.`);
  out.push(`- edgectl ${meta.versions.edgectl}, Node.js ${meta.versions.node}.`);
  out.push(`- Docker: ${byValue(meta.versions.docker)}.`);
  out.push(`- CRIU: ${byValue(meta.versions.criu)}.`);
  out.push(`- Kernel: ${byValue(meta.versions.kernel)}.`);
  out.push('');

  out.push('## Headline', '');
  out.push(
    'From summary.json (ratios to orchestrated on the same service; total downtime is per run, averaged over repetitions; E2E is the mean over all answered tasks):',
    '',
  );
  for (const line of headlines(summary, services)) out.push(`- ${line}`);
  out.push('');

  out.push('## Figures', '');
  for (const f of input.figures) {
    out.push(`### ${f.title}`, '');
    if (f.drawn === false) {
      out.push(`Not drawn: ${f.reason ?? 'nothing to draw'}.`, '');
      continue;
    }
    const links = [
      `[SVG](${f.svg})`,
      ...(f.pdf ? [`[PDF](${f.pdf})`] : []),
      ...(f.spec ? [`[vega-lite](${f.spec})`] : []),
    ];
    out.push(`![${f.title}](${f.png})`, '');
    out.push(`${f.caption} (${links.join(', ')})`, '');
  }

  out.push('## Table I: checkpoint sizes', '');
  out.push(
    'Image size from the servers (docker image inspect); the pre-migration checkpoint (kind `pre` in checkpoints.csv) and the migration delta (kind `delta`) as the mean over every migration of the service, all planners; reduction = 1 − delta / pre. Sizes in SI units (1 MB = 10^6 bytes).',
    '',
  );
  out.push(
    table(
      [
        'Service',
        'Image size',
        'Checkpoint of pre-migration',
        'Checkpoint of migration (delta)',
        'Reduction ratio',
      ],
      input.checkpoints.map((c) => [
        c.service,
        formatBytes(c.imageBytes),
        c.preN > 0 ? `${formatBytes(c.preBytes)} (n=${c.preN})` : '–',
        c.deltaN > 0 ? `${formatBytes(c.deltaBytes)} (n=${c.deltaN})` : '–',
        c.reduction === null ? '–' : pct(c.reduction),
      ]),
      ['---', '---:', '---:', '---:', '---:'],
    ),
  );
  if (input.checkpoints.some((c) => c.preN === 0 && c.deltaN === 0))
    out.push('', 'A dash: no such checkpoint was recorded (no migration of that service in these runs).');
  out.push('');

  out.push('## Per planner', '');
  out.push(
    "E2E, processing and transmission delay over the answered tasks (ms, mean ± std); downtime: the union of the outages the user saw per run, mean over repetitions ± the 95% confidence interval where there are two or more; downtime per handover: the union of the outages charged to each handover (its episode, see the verdict), mean over every handover ± its 95% interval, n handovers; counter continuous: the service's counter went up from task to task in every run (its state survived every move).",
    '',
  );
  out.push(
    table(
      [
        'Service',
        'Planner',
        'Runs',
        'Tasks',
        'E2E (ms)',
        'Processing (ms)',
        'Transmission (ms)',
        'Downtime per run',
        'Downtime per handover',
        'Migrations',
        'Handovers',
        'Counter continuous',
      ],
      summaryRows(summary.planners, services, incomplete),
      ['---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---'],
    ),
  );
  if (incomplete.size > 0) out.push('', '\\* includes an incomplete run.');
  out.push('');
  out.push(...userSections(summary));
  // With one user capacity never binds: a one-user report stays as it was.
  if (summary.planners.some((p) => (p.users?.length ?? 0) > 1)) out.push(...capacitySection(input.capacity));
  out.push(...decisionSections(input.decisions));

  out.push('## What was and was not emulated', '');
  const links = meta.links;
  if (links.length === 0) out.push('meta.json records no links: whether latency was emulated is not known.');
  else {
    const emulated = links.filter((l) => l.emulated === true).length;
    const methods = [
      ...new Set(links.filter((l) => l.emulated === true).map((l) => l.method ?? 'unknown method')),
    ];
    out.push(
      `Latency was emulated on ${emulated} of ${links.length} directed links${methods.length > 0 ? ` (${methods.join(', ')})` : ''}${emulated < links.length ? `; on ${links.length - emulated} it was not, or it is not known` : ''}. The latency column is the one-way latency the planner assumes (ms).`,
      '',
    );
    out.push(
      table(['Link', 'Latency (ms)', 'Emulated', 'Method'], linkRows(links), ['---', '---:', '---', '---']),
    );
  }
  out.push('');
  if (meta.caveats.length > 0) {
    out.push('Caveats recorded by the run:', '');
    for (const c of meta.caveats) out.push(`- ${c}`);
    out.push('');
  }
  if (input.notes.length > 0) {
    out.push('## Notes from the report', '');
    for (const n of input.notes) out.push(`- ${n}`);
    out.push('');
  }
  out.push(
    '## Data',
    '',
    `meta.json, summary.json, tasks.csv, migrations.csv, handovers.csv, outages.csv${input.decisions === null ? ' and checkpoints.csv' : ', checkpoints.csv and decisions.csv'} in this directory (format: src/lib/experiment/format.ts). Times in ms; \`t_ms\` from the start of each run.`,
    '',
  );
  return out.join('\n');
}
