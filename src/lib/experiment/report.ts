/**
 * `edgectl experiment report DIR`: the paper's figures drawn from a results directory's data (format.ts),
 * each as SVG and PNG, and report.md beside them.
 *
 *   fig4-delay     Fig. 4: mean processing + transmission delay per planner (tasks.csv)
 *   fig5-downtime  Fig. 5: total downtime per run per planner (summary.json downtimeMs)
 *   fig6-handover  Fig. 6: E2E delay over a 50 s window around a handover, outages shaded
 *   report.md      the verdict (each pair of planners: the difference with its 95% interval), the headline
 *                  ratios, the figures, the per-planner summary, coordination, prediction errors and
 *                  migration speed (decisions.csv), Table I (checkpoints.csv), what was and was not
 *                  emulated (meta.json links and caveats)
 *
 * Tolerates empty CSV files (no migration, no handover) and incomplete runs (marked in report.md).
 */
import { basename, join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { UsageError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { type ResultsData, readResults } from './report-data.js';
import { checkpointTable, reportMarkdown } from './report-md.js';
import { render } from './report-render.js';
import {
  delayBars,
  downtimeBars,
  emptySpec,
  FIG4_CAPTION,
  FIG5_CAPTION,
  fig4Spec,
  fig5Spec,
  fig6Caption,
  fig6Spec,
  type HandoverWindow,
  handoverWindows,
  orderPlanners,
  orderServices,
  type WindowOptions,
} from './report-specs.js';
import { completeSummary } from './report-verdict.js';

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
export { render, renderSvg, svgToPng } from './report-render.js';
export * from './report-specs.js';
export { comparisonSentence, completeSummary, resultSamples, verdictSection } from './report-verdict.js';

export interface ReportOptions extends WindowOptions {
  /** The service of Fig. 6 (default: openface as in the paper when it ran, else the first with a handover). */
  handoverService?: string;
}

export interface ReportFigure {
  id: 'fig4' | 'fig5' | 'fig6';
  title: string;
  caption: string;
  /** Absolute paths of the figure's files. */
  svg: string;
  png: string;
  /** false when there was nothing to draw (the file says why). */
  drawn: boolean;
}

export interface ReportResult {
  dir: string;
  /** Every file written (absolute paths): the figures' SVG and PNG, then report.md. */
  files: string[];
  figures: ReportFigure[];
  warnings: string[];
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
  return { service: candidates[0] ?? null, windows: [] };
}

/** The figures' specs and captions from the data (pure apart from the warnings it collects). */
export function reportFigures(
  data: ResultsData,
  options: ReportOptions = {},
  warnings: string[] = [],
): {
  id: ReportFigure['id'];
  name: string;
  title: string;
  caption: string;
  spec: TopLevelSpec;
  drawn: boolean;
}[] {
  const services = orderServices(
    [...data.meta.runs.map((r) => r.service), ...data.summary.planners.map((p) => p.service)],
    data.meta.runs,
  );
  const bars = delayBars(data.tasks);
  const downtime = downtimeBars(data.summary.planners);
  const { service, windows } = pickHandoverService(data, services, options);
  if (service !== null) {
    const planners = orderPlanners(data.meta.runs.filter((r) => r.service === service).map((r) => r.planner));
    const missing = planners.filter((p) => !windows.some((w) => w.planner === p));
    if (missing.length > 0)
      warnings.push(
        `Fig. 6 (${service}) has no panel for ${missing.join(', ')}: no handover with tasks on both sides of it`,
      );
  }
  const fig6Title = 'Fig. 6: E2E delay around a handover';
  /** A figure, or when there is nothing to draw, a figure that says why (and a caption that says so). */
  const figure = (
    id: ReportFigure['id'],
    name: string,
    title: string,
    caption: string,
    spec: TopLevelSpec | null,
    empty: { title: string; reason: string },
  ) =>
    spec
      ? { id, name, title, caption, spec, drawn: true }
      : {
          id,
          name,
          title,
          caption: `${title}: not drawn, ${empty.reason}.`,
          spec: emptySpec(empty.title, `Not drawn: ${empty.reason}`),
          drawn: false,
        };
  return [
    figure(
      'fig4',
      'fig4-delay',
      'Fig. 4: E2E delay breakdown',
      FIG4_CAPTION,
      bars.length > 0
        ? fig4Spec(bars, { services: services.filter((s) => bars.some((b) => b.service === s)) })
        : null,
      { title: 'E2E delay: processing + transmission', reason: 'no answered task in tasks.csv' },
    ),
    figure(
      'fig5',
      'fig5-downtime',
      'Fig. 5: total service downtime',
      FIG5_CAPTION,
      downtime.length > 0
        ? fig5Spec(downtime, { services: services.filter((s) => downtime.some((b) => b.service === s)) })
        : null,
      { title: 'Total service downtime per run', reason: 'no planner has a downtime in summary.json' },
    ),
    figure(
      'fig6',
      'fig6-handover',
      service ? `${fig6Title} (${service})` : fig6Title,
      fig6Caption(service ?? 'its service', options),
      windows.length > 0 ? fig6Spec(windows) : null,
      { title: 'E2E delay around a handover', reason: 'no handover with tasks on both sides of it' },
    ),
  ];
}

/**
 * Draws the figures of the results directory `dir` (SVG and PNG) and writes report.md there. Throws a
 * UsageError (exit 2) when `dir` is missing or is not a results directory.
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
  for (const f of reportFigures(data, options, warnings)) {
    const { svg, png } = await render(f.spec);
    const svgPath = join(data.dir, `${f.name}.svg`);
    const pngPath = join(data.dir, `${f.name}.png`);
    await writeFileAtomic(svgPath, svg);
    await writeFileAtomic(pngPath, png);
    files.push(svgPath, pngPath);
    figures.push({
      id: f.id,
      title: f.title,
      caption: f.caption,
      svg: svgPath,
      png: pngPath,
      drawn: f.drawn,
    });
    if (!f.drawn) warnings.push(f.caption);
  }
  const { summary, computed } = completeSummary(data);
  const md = reportMarkdown({
    meta: data.meta,
    summary,
    comparisonsComputed: computed,
    decisions: data.decisions,
    figures: figures.map((f) => ({
      title: f.title,
      caption: f.caption,
      png: basename(f.png),
      svg: basename(f.svg),
    })),
    checkpoints: checkpointTable(data.meta, data.checkpoints),
    notes: warnings,
  });
  const mdPath = join(data.dir, 'report.md');
  await writeFileAtomic(mdPath, md);
  files.push(mdPath);
  return { dir: data.dir, files, figures, warnings };
}
