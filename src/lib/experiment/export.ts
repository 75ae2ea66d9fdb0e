/**
 * `edgectl experiment export ID`: an experiment's results directory written from the state database alone, the
 * same files `experiment run` writes (format.ts) for the runs that had ended, whatever became of the
 * directory or of the process that was running it. With `unfinished`, a run that never ended (edgectl killed
 * during it) is there too, marked incomplete, with the rows it had recorded.
 */
import { errorMessage, UsageError } from '../errors.js';
import type { StateDb } from '../state/index.js';
import type { ExperimentMeta, RunMeta } from './format.js';
import type { ReportResult } from './report.js';
import { runRows, writeResults } from './results.js';
import { chooseAttempts, plannedRuns, readExperiment } from './runs.js';

export interface ExportOptions {
  /** Where to write (default: the directory the experiment wrote to). */
  outDir?: string;
  /** Runs that never ended too (marked incomplete). */
  unfinished?: boolean;
  /** Draw the report too. */
  report?: boolean;
  /** How the state database is named in messages. */
  where?: string;
}

export interface ExportResult {
  id: number;
  outDir: string;
  /** The experiment ended (all its runs done or interrupted); false when it runs or edgectl was killed. */
  finished: boolean;
  complete: boolean;
  runs: RunMeta[];
  /** Planned runs with no rows in the directory (never ran, or never ended and not asked for). */
  missing: string[];
  files: string[];
  report?: ReportResult;
  warnings: string[];
}

export async function exportExperiment(
  state: StateDb,
  id: number,
  options: ExportOptions = {},
): Promise<ExportResult> {
  const stored = readExperiment(state, id, options.where);
  const outDir = options.outDir ?? stored.record.outDir;
  if (!outDir) throw new UsageError(`experiment ${id} has no results directory: give --out`);
  const planned = plannedRuns(stored.config);
  const chosen = chooseAttempts(planned, stored.attempts, { unfinished: options.unfinished === true });
  const runs = chosen.map((a) => ({ meta: a.meta, rows: runRows(state, a.meta, stored.config.durationS) }));
  const finished = stored.record.finishedMs !== null;
  const meta: ExperimentMeta = {
    ...stored.meta,
    runs: runs.map((r) => r.meta),
    finished,
    complete:
      finished && planned.every((p) => chosen.some((a) => a.meta.run === p.run && a.state === 'complete')),
  };
  const files = await writeResults(outDir, meta, runs);
  const warnings = chosen
    .filter((a) => a.state === 'unfinished')
    .map(
      (a) =>
        `run ${a.meta.run} never ended (edgectl was killed during it, or it still runs): its rows so far are included`,
    );
  let report: ReportResult | undefined;
  if (options.report && runs.length > 0) {
    const { writeReport } = await import('./report.js');
    // The results are written first: a figure that fails is a warning, not a lost export.
    report = await writeReport(outDir).catch((err: unknown) => {
      warnings.push(
        `drawing the report: ${errorMessage(err)}; the results are kept: draw it again with edgectl experiment report ${outDir}`,
      );
      return undefined;
    });
  }
  return {
    id,
    outDir,
    finished,
    complete: meta.complete,
    runs: meta.runs,
    missing: planned.filter((p) => !chosen.some((a) => a.meta.run === p.run)).map((p) => p.run),
    files,
    ...(report ? { report } : {}),
    warnings,
  };
}
