/**
 * `edgectl experiment report DIR`: the figures drawn from a results directory's data (format.ts), each as
 * NAME.svg, NAME.png, NAME.pdf and its vega-lite spec NAME.vl.json (data inlined: restyle it in the vega
 * editor or with vl2svg), and report.md beside them. In report.md's order:
 *
 *   fig4          fig4-delay          Fig. 4: mean processing + transmission delay per planner (tasks.csv)
 *   fig5          fig5-downtime       Fig. 5: total downtime per run per planner (summary.json downtimeMs)
 *   fig6          fig6-handover       Fig. 6: E2E delay over a 50 s window around a handover, outages shaded
 *                                     by cause (fig6-handover-N with --handover N: the N-th handover)
 *   fig6-aligned  fig6-aligned        every handover aligned at 0: median and interquartile band of E2E
 *   ecdf          e2e-ecdf            the E2E delay's ECDF per planner (log x)
 *   outages       outages-by-cause    time out per handover (or run) by cause: handover, migration, both, other
 *   phases        migration-phases    median duration of each migration phase per planner
 *   timeline      timeline            a run's position / base station, server, E2E, outages, handovers and
 *                                     migrations (one run per planner; timeline-RUN with --run RUN)
 *   per-user      per-user            each user's downtime and mean E2E per planner (more than one user only)
 *   capacity      capacity            each server's reserved CPUs over a run against its capacity
 *                                     (capacity.csv; more than one user only)
 *   report.md     the verdict, the headline ratios, the figures (or why one was not drawn), the per-planner
 *                 summary, coordination, prediction errors and migration speed (decisions.csv), Table I
 *                 (checkpoints.csv), what was and was not emulated (meta.json links and caveats)
 *
 * A figure without data is not written (an earlier report's file stays as it was) and report.md says why.
 * When a figure that was asked for cannot be drawn (--figure, --handover, --run, or its file is there from
 * an earlier report) the other figures are drawn, report.md and report.html are left as they were (they
 * would no longer show a figure whose file is still there), and FigureNotDrawnError is thrown.
 *
 *   report.html   report.md as one self-contained page, the figures interactive (report-html.ts)
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { EdgectlError, ExitCode, UsageError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import {
  capacityCaption,
  capacitySeries,
  capacitySpec,
  perUserBars,
  perUserCaption,
  perUserSpec,
} from './figures/users.js';
import { paperOrder } from './planner-order.js';
import { type ResultsData, readResults } from './report-data.js';
import { type HtmlFigure, reportHtml } from './report-html.js';
import { checkpointTable, reportMarkdown } from './report-md.js';
import { writeFigureFiles } from './report-render.js';
import {
  alignedCaption,
  alignedHandovers,
  alignedSpec,
  causesCaption,
  causesSpec,
  defaultTimelineRuns,
  delayBars,
  downtimeBars,
  e2eEcdf,
  ecdfCaption,
  ecdfSpec,
  fig4Caption,
  fig4Spec,
  fig5Caption,
  fig5Spec,
  fig6Caption,
  fig6Spec,
  type HandoverWindow,
  handoverWindows,
  orderServices,
  outageCauses,
  phaseBars,
  phasesCaption,
  phasesSpec,
  type TimelineRun,
  timelineCaption,
  timelineRun,
  timelineSpec,
  type WindowOptions,
} from './report-specs.js';
import { completeSummary } from './report-verdict.js';
import { syncDataPackage } from './results.js';

export type { ResultsData } from './report-data.js';
export { readResults } from './report-data.js';
export {
  type CoordinationRow,
  coordinationTable,
  decisionSections,
  type MigrationSpeedRow,
  migrationSpeedTable,
  type PredictionRow,
  predictionTable,
} from './report-decisions.js';
export { checkpointTable, formatBytes, headlines, ratioSentence, reportMarkdown } from './report-md.js';
export { render, renderSvg, svgToPdf, svgToPng } from './report-render.js';
export * from './report-specs.js';
export { comparisonSentence, completeSummary, resultSamples, verdictSection } from './report-verdict.js';

/** The figures, in report.md's order. */
export const FIGURE_IDS = [
  'fig4',
  'fig5',
  'fig6',
  'fig6-aligned',
  'ecdf',
  'outages',
  'phases',
  'timeline',
  'per-user',
  'capacity',
] as const;
export type FigureId = (typeof FIGURE_IDS)[number];
/** The figures of many users: drawn only when a run had more than one (or asked for by --figure). */
export const MANY_USER_FIGURES: readonly FigureId[] = ['per-user', 'capacity'];

export interface ReportOptions extends WindowOptions {
  /** The service of Fig. 6, its aligned view and the timeline (default: openface as in the paper when it ran, else the first with a handover). */
  handoverService?: string;
  /** Fig. 6 at the N-th handover (1-based) of each planner's first run, as fig6-handover-N; asks for fig6. */
  handover?: number;
  /** The timeline of this run alone, as timeline-RUN; asks for timeline. */
  run?: string;
  /** Figures asked for: the command fails when one of them cannot be drawn. */
  figures?: readonly FigureId[];
}

/** One figure of the report, drawn or not. */
export interface ReportFigure {
  id: FigureId;
  /** The files' name without extension (fig4-delay, ...). */
  name: string;
  title: string;
  caption: string;
  /** false: nothing was written (an earlier file of the name is left as it was); `reason` says why. */
  drawn: boolean;
  reason: string | null;
  /** It was asked for (--figure, --handover, --run, or its file was there from an earlier report). */
  asked: boolean;
  /** Absolute paths of the figure's files (written only when drawn). */
  svg: string;
  png: string;
  pdf: string;
  /** The vega-lite spec, data inlined. */
  spec: string;
}

export interface ReportResult {
  dir: string;
  /** Every file written (absolute paths): each drawn figure's SVG, PNG, PDF and .vl.json, then report.md and report.html. */
  files: string[];
  figures: ReportFigure[];
  warnings: string[];
}

/** A figure that was asked for could not be drawn; everything else was written. Exit 6 (notReady). */
export class FigureNotDrawnError extends EdgectlError {
  constructor(
    readonly figures: readonly ReportFigure[],
    readonly result: ReportResult,
  ) {
    const missing = figures.filter((f) => f.asked && !f.drawn);
    super(
      'FIGURE_NOT_DRAWN',
      ExitCode.notReady,
      `could not draw ${missing.map((f) => `${f.name} (${f.reason})`).join('; ')}`,
      {
        hint: `the other figures were drawn again in ${result.dir}; report.md, report.html and an earlier file of a figure not drawn are left as they were`,
        details: { figures: result.figures, files: result.files },
      },
    );
    this.name = 'FigureNotDrawnError';
  }
}

/** A figure to draw (`spec`), or the reason it cannot be. */
export interface FigurePlan {
  id: FigureId;
  name: string;
  title: string;
  caption: string;
  spec: TopLevelSpec | null;
  reason: string | null;
}

/** Fig. 6's service: the one asked for, else openface (the paper's), else the first that has a window. */
function pickHandoverService(
  data: ResultsData,
  services: readonly string[],
  options: ReportOptions,
): { service: string | null; windows: HandoverWindow[] } {
  const input = { runs: data.meta.runs, tasks: data.tasks, handovers: data.handovers, outages: data.outages };
  if (options.handoverService !== undefined) {
    if (!services.includes(options.handoverService))
      throw new UsageError(`no run of service ${options.handoverService} in ${data.dir}`, {
        hint: `services in these results: ${services.join(', ') || '(none)'}`,
      });
    return {
      service: options.handoverService,
      windows: handoverWindows(input, options.handoverService, options),
    };
  }
  const candidates = [...services].sort((a, b) => Number(b === 'openface') - Number(a === 'openface'));
  for (const service of candidates) {
    const windows = handoverWindows(input, service, options);
    if (windows.length > 0) return { service, windows };
  }
  const withHandover = candidates.find((s) =>
    data.handovers.some((h) => data.meta.runs.some((r) => r.run === h.run && r.service === s)),
  );
  return { service: withHandover ?? candidates[0] ?? null, windows: [] };
}

/** A file name from a run's name: what a results directory's run names hold, nothing else. */
const fileSafe = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '_');

/** The figures' specs and captions from the data, in report.md's order (pure apart from the warnings it collects). */
export function reportFigures(
  data: ResultsData,
  options: ReportOptions = {},
  warnings: string[] = [],
): FigurePlan[] {
  const services = orderServices(
    [...data.meta.runs.map((r) => r.service), ...data.summary.planners.map((p) => p.service)],
    data.meta.runs,
  );
  const plan = (
    id: FigureId,
    name: string,
    title: string,
    built: { spec: TopLevelSpec; caption: string } | { reason: string },
  ): FigurePlan =>
    'spec' in built
      ? { id, name, title, caption: built.caption, spec: built.spec, reason: null }
      : {
          id,
          name,
          title,
          caption: `${title}: not drawn, ${built.reason}.`,
          spec: null,
          reason: built.reason,
        };

  const bars = delayBars(data.tasks);
  const downtime = downtimeBars(data.summary.planners);
  const { service, windows } = pickHandoverService(data, services, options);
  if (service !== null && windows.length > 0) {
    const planners = paperOrder(data.meta.runs.filter((r) => r.service === service).map((r) => r.planner));
    const missing = planners.filter((p) => !windows.some((w) => w.planner === p));
    if (missing.length > 0)
      warnings.push(
        `Fig. 6 (${service}) has no panel for ${missing.join(', ')}: ${options.handover === undefined ? 'no handover with tasks on both sides of it' : `no handover no. ${options.handover} with tasks on both sides of it in its first run`}`,
      );
  }
  const input = { runs: data.meta.runs, tasks: data.tasks, handovers: data.handovers, outages: data.outages };
  const of = (s: string | null) => (s ? ` (${s})` : '');

  const aligned = service === null ? null : alignedHandovers(input, service, options);
  const curves = e2eEcdf(data.tasks, undefined, data.meta.runs);
  const causes = outageCauses(input);
  const phases = phaseBars(data.migrationPhases);

  let timeline: { spec: TopLevelSpec; caption: string } | { reason: string };
  if (options.run !== undefined) {
    const r = data.meta.runs.some((x) => x.run === options.run)
      ? timelineRun({ ...input, migrations: data.migrations, positions: data.positions }, options.run)
      : null;
    timeline = r
      ? { spec: timelineSpec([r]), caption: timelineCaption([r]) }
      : {
          reason: data.meta.runs.some((x) => x.run === options.run)
            ? `run ${options.run} has no task`
            : `no run ${options.run} in these results (runs: ${data.meta.runs.map((x) => x.run).join(', ') || 'none'})`,
        };
  } else {
    const runs = service === null ? [] : defaultTimelineRuns(data.meta.runs, service);
    const drawn = runs
      .map((name) => timelineRun({ ...input, migrations: data.migrations, positions: data.positions }, name))
      .filter((r): r is TimelineRun => r !== null);
    timeline =
      drawn.length > 0
        ? { spec: timelineSpec(drawn), caption: timelineCaption(drawn) }
        : { reason: 'no run with tasks' };
  }

  return [
    plan(
      'fig4',
      'fig4-delay',
      'Fig. 4: E2E delay breakdown',
      bars.length > 0
        ? {
            spec: fig4Spec(bars, { services: services.filter((s) => bars.some((b) => b.service === s)) }),
            caption: fig4Caption(bars),
          }
        : { reason: 'no answered task in tasks.csv' },
    ),
    plan(
      'fig5',
      'fig5-downtime',
      'Fig. 5: total service downtime',
      downtime.length > 0
        ? {
            spec: fig5Spec(downtime, {
              services: services.filter((s) => downtime.some((b) => b.service === s)),
            }),
            caption: fig5Caption(downtime),
          }
        : { reason: 'no planner has a downtime in summary.json' },
    ),
    plan(
      'fig6',
      options.handover === undefined ? 'fig6-handover' : `fig6-handover-${options.handover}`,
      `Fig. 6: E2E delay around a handover${of(service)}`,
      windows.length > 0
        ? { spec: fig6Spec(windows), caption: fig6Caption(service ?? 'its service', options) }
        : {
            reason:
              options.handover === undefined
                ? 'no handover with tasks on both sides of it'
                : `no planner's first run has a handover no. ${options.handover} with tasks on both sides of it`,
          },
    ),
    plan(
      'fig6-aligned',
      'fig6-aligned',
      `Fig. 6, every handover: E2E delay around all handovers${of(service)}`,
      aligned && aligned.bins.length > 0
        ? { spec: alignedSpec(aligned), caption: alignedCaption(aligned) }
        : { reason: 'no handover with answered tasks around it' },
    ),
    plan(
      'ecdf',
      'e2e-ecdf',
      'E2E delay ECDF',
      curves.length > 0
        ? { spec: ecdfSpec(curves), caption: ecdfCaption(curves) }
        : { reason: 'no answered task with an E2E delay in tasks.csv' },
    ),
    plan(
      'outages',
      'outages-by-cause',
      'Outages by cause',
      causes.bars.length > 0
        ? { spec: causesSpec(causes), caption: causesCaption(causes) }
        : { reason: 'no outage in outages.csv' },
    ),
    plan(
      'phases',
      'migration-phases',
      'Migration phases',
      phases.length > 0
        ? { spec: phasesSpec(phases), caption: phasesCaption(phases) }
        : {
            reason:
              data.migrations.length > 0
                ? 'no migration phase recorded (migration_phases.csv empty or missing)'
                : 'no migration in these results',
          },
    ),
    plan(
      'timeline',
      options.run === undefined ? 'timeline' : `timeline-${fileSafe(options.run)}`,
      options.run === undefined ? 'Run timeline' : `Run timeline: ${options.run}`,
      timeline,
    ),
    ...manyUserFigures(data, options, plan),
  ];
}

/**
 * The figures of many users: only when a planner's runs had more than one user (or the figure was asked
 * for), so that a one-user report stays as it was.
 */
function manyUserFigures(
  data: ResultsData,
  options: ReportOptions,
  plan: (
    id: FigureId,
    name: string,
    title: string,
    built: { spec: TopLevelSpec; caption: string } | { reason: string },
  ) => FigurePlan,
): FigurePlan[] {
  const many = data.summary.planners.some((p) => (p.users?.length ?? 0) > 1);
  const asked = (id: FigureId) => many || (options.figures ?? []).includes(id);
  const out: FigurePlan[] = [];
  if (asked('per-user')) {
    const bars = perUserBars(data.summary.planners);
    out.push(
      plan(
        'per-user',
        'per-user',
        'Per user: downtime and E2E delay',
        bars.length > 0
          ? { spec: perUserSpec(bars), caption: perUserCaption(bars) }
          : { reason: 'no run had more than one user (summary.json planners[].users)' },
      ),
    );
  }
  if (asked('capacity')) {
    const points = capacitySeries(data.capacity ?? [], data.meta.runs);
    out.push(
      plan(
        'capacity',
        'capacity',
        'Server load against capacity',
        points.length > 0
          ? { spec: capacitySpec(points), caption: capacityCaption(points) }
          : { reason: 'no capacity.csv in these results (written before it was, or no run ended)' },
      ),
    );
  }
  return out;
}

/** The drawn figures as report.html embeds them (their specs; those without data are not on the page). */
export function htmlFigures(plans: readonly FigurePlan[]): HtmlFigure[] {
  return plans.flatMap((f) =>
    f.spec ? [{ name: f.name, title: f.title, caption: f.caption, spec: f.spec }] : [],
  );
}

/** A figure file an earlier report drew (not the "not drawn" placeholder that reports once wrote). */
async function drawnBefore(svgPath: string): Promise<boolean> {
  try {
    return !(await readFile(svgPath, 'utf8')).includes('Not drawn: ');
  } catch {
    return false;
  }
}

/**
 * Draws the figures of the results directory `dir` (SVG, PNG, PDF and the vega-lite spec) and writes
 * report.md there. Throws a UsageError (exit 2) when `dir` is missing or is not a results directory, and
 * FigureNotDrawnError (exit 6) after writing everything else when a figure asked for could not be drawn.
 */
export async function writeReport(dir: string, options: ReportOptions = {}): Promise<ReportResult> {
  const data = await readResults(dir);
  const warnings = [...data.warnings];
  const planned = data.meta.plannedRuns;
  if (data.meta.finished === false && planned)
    warnings.push(
      `drawn before the experiment ended (it runs, or edgectl was killed): ${data.meta.runs.length} of its ${planned.length} runs had ended`,
    );
  for (const r of data.meta.runs.filter((x) => !x.complete))
    warnings.push(`run ${r.run} is incomplete${r.error ? ` (${r.error})` : ''}: its rows are included`);
  const files: string[] = [];
  const figures: ReportFigure[] = [];
  const askedIds = new Set<FigureId>(options.figures ?? []);
  if (options.handover !== undefined) askedIds.add('fig6');
  if (options.run !== undefined) askedIds.add('timeline');
  const plans = reportFigures(data, options, warnings);
  for (const f of plans) {
    const path = (ext: string) => join(data.dir, `${f.name}.${ext}`);
    const out: ReportFigure = {
      id: f.id,
      name: f.name,
      title: f.title,
      caption: f.caption,
      drawn: f.spec !== null,
      reason: f.reason,
      asked: askedIds.has(f.id) || (await drawnBefore(path('svg'))),
      svg: path('svg'),
      png: path('png'),
      pdf: path('pdf'),
      spec: path('vl.json'),
    };
    if (f.spec) files.push(...(await writeFigureFiles(data.dir, f.name, f.spec)));
    figures.push(out);
  }
  const result = { dir: data.dir, files, figures, warnings };
  // A report that lacks a figure asked for would no longer show a figure file that is still there: report.md
  // and report.html stay as the earlier report wrote them, and the figures that could be drawn are new.
  if (figures.some((f) => f.asked && !f.drawn)) throw new FigureNotDrawnError(figures, result);
  const { summary, computed } = completeSummary(data);
  const md = reportMarkdown({
    meta: data.meta,
    summary,
    comparisonsComputed: computed,
    decisions: data.decisions,
    figures: figures.map((f) => ({
      title: f.title,
      caption: f.caption,
      drawn: f.drawn,
      reason: f.reason,
      png: basename(f.png),
      svg: basename(f.svg),
      pdf: basename(f.pdf),
      spec: basename(f.spec),
    })),
    checkpoints: checkpointTable(data.meta, data.checkpoints),
    notes: warnings,
    capacity: data.capacity ?? null,
  });
  // A table gzipped since it was written (to publish the directory): the dictionary names it so.
  const pkg = await syncDataPackage(data.dir);
  if (pkg) files.push(pkg);
  const mdPath = join(data.dir, 'report.md');
  await writeFileAtomic(mdPath, md);
  const htmlPath = join(data.dir, 'report.html');
  await writeFileAtomic(
    htmlPath,
    reportHtml({
      title: `edgectl experiment report: ${data.meta.testbed}`,
      markdown: md,
      figures: htmlFigures(plans),
    }),
  );
  files.push(mdPath, htmlPath);
  return result;
}
