/**
 * What an experiment is made of, as the state database keeps it (state/experiments.ts): its configuration
 * (what makes a resumed experiment the same experiment), the runs it plans, and for each run the attempt
 * whose rows count. Pure apart from readExperiment.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { isOutside, type PlannerSpec, plannerName } from '../planner/custom.js';
import type { ExperimentRecord, StateDb } from '../state/index.js';
import { type ExperimentMeta, RESULTS_VERSION, type RunMeta } from './format.js';
import { runMetaSchema } from './report-data.js';

export const experimentConfigSchema = z.object({
  planners: z.array(z.string()).min(1),
  /**
   * The outside planners among them, as run: name, argv (absolute paths) and time limit; exec null for a
   * planner function (a library call), which a resume cannot run again.
   */
  outside: z
    .array(
      z.object({ name: z.string(), exec: z.array(z.string()).nullable(), timeoutMs: z.number().nullable() }),
    )
    .optional(),
  services: z.array(z.string()).min(1),
  /** Every user ran its own service (hosts.yml users[].service); `services` holds their label. */
  ownServices: z.boolean().optional(),
  durationS: z.number().positive(),
  /** The users' walking speed (m/s); null: each user's own from hosts.yml. */
  velocity: z.number().nullable(),
  seed: z.number().int(),
  repeat: z.number().int().min(1),
  planEveryMs: z.number().positive(),
  monitorEveryMs: z.number().positive(),
  testbed: z.string(),
  /** sha256 of hosts.yml as edgectl read it: the same walks, links and services when resumed. */
  inventorySha256: z.string(),
});
export type ExperimentConfig = z.infer<typeof experimentConfigSchema>;

/** The flag of `experiment run` that sets each field, for the messages. */
const FLAG: Record<keyof ExperimentConfig, string> = {
  planners: '--planner',
  outside: '--planner (outside planners)',
  services: '--service',
  ownServices: '--service (absent: each user its own)',
  durationS: '--duration',
  velocity: '--velocity',
  seed: '--seed',
  repeat: '--repeat',
  planEveryMs: 'the planning interval (ms)',
  monitorEveryMs: 'the monitor interval (ms)',
  testbed: 'the testbed',
  inventorySha256: 'hosts.yml',
};

/** What the configuration keeps of the outside planners among `specs`. */
export function outsideOf(specs: readonly PlannerSpec[]): NonNullable<ExperimentConfig['outside']> {
  return specs.filter(isOutside).map((s) => ({
    name: s.name,
    exec: 'exec' in s ? [...s.exec] : null,
    timeoutMs: s.timeoutMs ?? null,
  }));
}

/**
 * Each planner of the configuration by name, as `plan` takes it: a built-in's name, or the outside planner
 * it ran with (its argv); a function comes from `functions` (a resume through the library passes them again).
 */
export function specsOf(
  config: Pick<ExperimentConfig, 'planners' | 'outside'>,
  functions: readonly PlannerSpec[] = [],
): Map<string, PlannerSpec> {
  const out = new Map<string, PlannerSpec>();
  for (const name of config.planners) {
    const given = functions.find((f) => plannerName(f) === name);
    const o = config.outside?.find((x) => x.name === name);
    if (!o) out.set(name, name as PlannerSpec);
    else if (given && isOutside(given)) out.set(name, given);
    else if (o.exec)
      out.set(name, { name, exec: o.exec, ...(o.timeoutMs !== null ? { timeoutMs: o.timeoutMs } : {}) });
    else
      throw new UsageError(`planner ${name} was a function: it cannot be run again from the state database`, {
        hint: 'resume through the library, giving the same planner function',
      });
  }
  return out;
}

export function inventoryDigest(raw: unknown): string {
  return createHash('sha256').update(JSON.stringify(raw)).digest('hex');
}

/** One run of an experiment: a planner on a service in a repetition, with the seed it uses. */
export interface PlannedRun {
  /** `PLANNER-SERVICE-REPEAT`. */
  run: string;
  planner: string;
  service: string;
  repeat: number;
  seed: number;
}

/** Every run, in the order they run: repetitions, then services, then planners; repetition k has seed + k - 1. */
export function plannedRuns(
  c: Pick<ExperimentConfig, 'planners' | 'services' | 'repeat' | 'seed'>,
): PlannedRun[] {
  const runs: PlannedRun[] = [];
  for (let repeat = 1; repeat <= c.repeat; repeat++)
    for (const service of c.services)
      for (const planner of c.planners)
        runs.push({
          run: `${planner}-${service}-${repeat}`,
          planner,
          service,
          repeat,
          seed: c.seed + repeat - 1,
        });
  return runs;
}

/**
 * One attempt at a run, as its row says: `complete`; `ended` without being complete (interrupted, failed);
 * `unfinished`: it never ended (edgectl was killed during it, or it still runs).
 */
export interface Attempt {
  id: number;
  state: 'complete' | 'ended' | 'unfinished';
  meta: RunMeta;
}

/** The attempt a run row records; undefined for a row without a readable meta (written before version 5). */
export function attemptOf(rec: ExperimentRecord): Attempt | undefined {
  const m = runMetaSchema.safeParse(rec.meta);
  if (!m.success) return undefined;
  const meta: RunMeta = { ...m.data, experimentId: rec.id };
  if (rec.finishedMs === null)
    return {
      id: rec.id,
      state: 'unfinished',
      meta: {
        ...meta,
        complete: false,
        error: 'never ended: edgectl was killed during it, or it still runs',
      },
    };
  return { id: rec.id, state: meta.complete ? 'complete' : 'ended', meta };
}

/**
 * Per planned run (in their order), the attempt whose rows the results hold: the latest complete one, else
 * the latest that ended, else (with `unfinished`) the latest that never ended. Runs without one are left out.
 */
export function chooseAttempts(
  planned: readonly PlannedRun[],
  attempts: readonly Attempt[],
  options: { unfinished?: boolean } = {},
): Attempt[] {
  const rank = { complete: 2, ended: 1, unfinished: options.unfinished ? 0 : -1 } as const;
  return planned.flatMap((p) => {
    let best: Attempt | undefined;
    for (const a of attempts)
      if (a.meta.run === p.run && rank[a.state] >= 0 && (!best || rank[a.state] >= rank[best.state]))
        best = a;
    return best ? [best] : [];
  });
}

/**
 * What resuming does: every run without a complete attempt runs (again), in the planned order; the results
 * meanwhile hold the attempts that ended (a complete one is never run again).
 */
export function resumePlan(
  planned: readonly PlannedRun[],
  attempts: readonly Attempt[],
): { kept: Attempt[]; toRun: PlannedRun[] } {
  const kept = chooseAttempts(planned, attempts);
  const done = new Set(kept.filter((a) => a.state === 'complete').map((a) => a.meta.run));
  return { kept, toRun: planned.filter((p) => !done.has(p.run)) };
}

/** How `given` differs from the experiment's own configuration, one phrase per field ([]: the same). */
export function configConflicts(experiment: ExperimentConfig, given: Partial<ExperimentConfig>): string[] {
  const out: string[] = [];
  // Written before outside planners were: none.
  const stored = { ...experiment, outside: experiment.outside ?? [] };
  for (const key of Object.keys(FLAG) as (keyof ExperimentConfig)[]) {
    const g = given[key];
    if (g === undefined || JSON.stringify(g) === JSON.stringify(stored[key])) continue;
    out.push(
      key === 'inventorySha256'
        ? 'hosts.yml is not the one it ran with (meta.json `inventory` holds that one)'
        : `${FLAG[key]} ${show(g)} (it ran with ${show(stored[key])})`,
    );
  }
  return out;
}

function show(v: unknown): string {
  if (Array.isArray(v))
    return v
      .map((x) =>
        typeof x === 'object' && x ? `${x.name}=exec:${(x.exec ?? ['(a function)']).join(' ')}` : x,
      )
      .join(',');
  return v === null ? 'the default' : String(v);
}

/** An experiment as the state database holds it. */
export interface StoredExperiment {
  id: number;
  record: ExperimentRecord;
  config: ExperimentConfig;
  /** meta.json as it was last saved, without `runs`. */
  meta: ExperimentMeta;
  attempts: Attempt[];
}

/** Reads experiment `id` back; a UsageError (exit 2) when there is no such experiment in this database. */
export function readExperiment(state: StateDb, id: number, where = 'the state database'): StoredExperiment {
  const record = state.experiments.get(id);
  const missing = (why: string) =>
    new UsageError(`${where} has no experiment ${id}${why}`, {
      hint: 'the id is meta.json `id` in the results directory, and experiment run prints it; --state selects the database',
    });
  if (!record) throw missing('');
  if (record.parentId !== null)
    throw missing(`: ${id} is the run ${record.name} of experiment ${record.parentId}`);
  const config = experimentConfigSchema.safeParse(record.config);
  const meta = record.meta as ExperimentMeta | null;
  if (!config.success || meta === null || typeof meta !== 'object' || meta.version !== RESULTS_VERSION)
    throw missing(': that row was written by an edgectl that did not record experiments whole');
  const attempts = state.experiments.runsOf(id).flatMap((r) => attemptOf(r) ?? []);
  return { id, record, config: config.data, meta: { ...meta, id, runs: [] }, attempts };
}
