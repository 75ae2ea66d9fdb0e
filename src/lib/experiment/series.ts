/**
 * An experiment's runs one after the other, each kept as soon as it ends: its meta goes to its row of the
 * state database (with its rows already there), and the results directory is rewritten whole (results.ts:
 * every file replaced by rename, meta.json last), its report drawn again. A crash, a SIGKILL or a closed
 * terminal between runs or during one leaves the directory complete for every run that had ended, and the
 * database with what the run under way had measured (`experiment export`, `experiment run --resume`).
 */
import { errorMessage } from '../errors.js';
import type { StateDb } from '../state/index.js';
import type { ExperimentMeta, RunMeta } from './format.js';
import { type RunRows, runRows, writeResults } from './results.js';
import type { Attempt, PlannedRun } from './runs.js';

/** A run under way: its meta (the run fills it in) and how to save it as it is now. */
export interface RunRecord {
  meta: RunMeta;
  /** Saves `meta` to the run's row (the run calls it once it knows its start instant). */
  save(): void;
}

export interface SeriesOptions<R> {
  state: StateDb;
  outDir: string;
  /** The experiment's meta: `id` set, its row in the database; `runs` is filled in here. */
  meta: ExperimentMeta;
  /** Every run of the experiment, in order. */
  planned: readonly PlannedRun[];
  /** Attempts already made (a resumed experiment): a complete one is not run again. */
  kept?: readonly Attempt[];
  /** Seconds a run lasts, for the runs whose window is not known (results.ts runRows). */
  durationS: number;
  /** The users' speed each run's meta gives. */
  velocity: number;
  /** Runs one; what it throws is the run's error (the series goes on with the next). */
  runOne: (run: PlannedRun, record: RunRecord) => Promise<void>;
  /** Draws the report of the directory (after each run that ended and at the end); its failures are warnings. */
  report?: (dir: string) => Promise<R>;
  signal?: AbortSignal;
  warn: (message: string) => void;
}

export interface SeriesResult<R> {
  complete: boolean;
  runs: RunMeta[];
  files: string[];
  report?: R;
}

export async function runSeries<R>(o: SeriesOptions<R>): Promise<SeriesResult<R>> {
  const { state, meta, signal } = o;
  const id = meta.id;
  if (id === undefined) throw new Error('runSeries: the experiment has no id');
  const ended = new Map<string, { meta: RunMeta; rows: RunRows }>();
  for (const a of o.kept ?? [])
    ended.set(a.meta.run, { meta: a.meta, rows: runRows(state, a.meta, o.durationS) });
  const todo = o.planned.filter((p) => !ended.get(p.run)?.meta.complete);
  let files: string[] = [];
  let report: R | undefined;
  /** The directory as it is now (and the experiment's row: imageBytes and the end move on). */
  const write = async (withReport: boolean) => {
    const runs = o.planned.flatMap((p) => ended.get(p.run) ?? []);
    meta.runs = runs.map((r) => r.meta);
    state.experiments.saveMeta(id, { ...meta, runs: [] });
    files = await writeResults(o.outDir, meta, runs);
    if (withReport && o.report && runs.length > 0)
      report = await o.report(o.outDir).catch((err: unknown) => {
        // The data is written before the report: a figure that fails loses nothing.
        o.warn(
          `drawing the report: ${errorMessage(err)}; the results are kept: draw it again with edgectl experiment report ${o.outDir}`,
        );
        return undefined;
      });
  };

  meta.finished = false;
  meta.complete = false;
  await write(false);
  let interrupted = false;
  for (const [i, p] of todo.entries()) {
    if (signal?.aborted) {
      interrupted = true;
      break;
    }
    const startedEpochMs = Date.now();
    const run: RunMeta = {
      run: p.run,
      planner: p.planner,
      service: p.service,
      repeat: p.repeat,
      startedEpochMs,
      endedEpochMs: startedEpochMs,
      complete: false,
      velocity: o.velocity,
      seed: p.seed,
      experimentId: 0,
    };
    run.experimentId = state.experiments.start({
      name: p.run,
      parentId: id,
      planner: p.planner,
      service: p.service,
      startedMs: startedEpochMs,
      outDir: o.outDir,
      config: {
        planner: p.planner,
        service: p.service,
        repeat: p.repeat,
        seed: p.seed,
        velocity: o.velocity,
      },
      meta: run,
    });
    try {
      await o.runOne(p, { meta: run, save: () => state.experiments.saveMeta(run.experimentId, run) });
    } catch (err) {
      run.complete = false;
      run.error = errorMessage(err);
      o.warn(`[${p.run}] ${run.error}`);
    }
    run.endedEpochMs = Date.now();
    state.experiments.finish(run.experimentId, run.endedEpochMs, run);
    meta.endedEpochMs = run.endedEpochMs;
    ended.set(p.run, { meta: run, rows: runRows(state, run, o.durationS) });
    if (!run.complete && signal?.aborted) interrupted = true;
    // The last one's files are written once, below, with the experiment marked finished.
    if (interrupted || i === todo.length - 1) break;
    // A full disk must not cost the runs still to come: the rows are in the database (experiment export).
    await write(true).catch((err: unknown) => o.warn(`writing ${o.outDir}: ${errorMessage(err)}`));
  }
  meta.finished = true;
  meta.complete = !interrupted && o.planned.every((p) => ended.get(p.run)?.meta.complete === true);
  meta.endedEpochMs = Date.now();
  // The database first: should the disk fail now, export still finds the experiment ended.
  state.experiments.finish(id, meta.endedEpochMs, { ...meta, runs: [] });
  await write(true);
  return { complete: meta.complete, runs: meta.runs, files, ...(report === undefined ? {} : { report }) };
}
