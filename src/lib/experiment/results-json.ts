/**
 * A results directory's JSON files read back: meta.json and summary.json checked by a schema that names the
 * file and the path of what is wrong (format.ts ExperimentMeta, ExperimentSummary).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { errorMessage, UsageError } from '../errors.js';
import { RESULTS_VERSION } from './format.js';

const num = z.number();
const nullableNum = z.number().nullable();
const hostMap = z.record(z.string(), z.string().nullable());

/** One entry of meta.json `runs` (format.ts RunMeta). */
export const runMetaSchema = z.object({
  run: z.string(),
  planner: z.string(),
  service: z.string(),
  repeat: z.number().int(),
  startedEpochMs: num,
  endedEpochMs: num,
  complete: z.boolean(),
  error: z.string().optional(),
  velocity: num,
  seed: num,
  experimentId: num,
  windowS: num.optional(),
  truncated: z.array(z.string()).optional(),
  servers: z.array(z.object({ host: z.string(), cpus: num, memMB: num })).optional(),
  users: z
    .array(
      z.object({
        user: z.string(),
        service: z.string(),
        host: z.string(),
        bs: z.string(),
        cpus: num,
        memMB: num,
      }),
    )
    .optional(),
  overCapacity: num.optional(),
});

export const metaSchema = z.object({
  version: z.literal(RESULTS_VERSION),
  id: z.number().int().optional(),
  finished: z.boolean().optional(),
  plannedRuns: z.array(z.string()).optional(),
  args: z.record(z.string(), z.unknown()).default({}),
  testbed: z.string(),
  inventory: z.unknown(),
  versions: z
    .object({
      edgectl: z.string(),
      node: z.string(),
      docker: hostMap.default({}),
      criu: hostMap.default({}),
      kernel: hostMap.default({}),
    })
    .default({ edgectl: 'unknown', node: 'unknown', docker: {}, criu: {}, kernel: {} }),
  links: z
    .array(
      z.object({
        from: z.string(),
        to: z.string(),
        latencyMs: num,
        emulated: z.boolean().nullable(),
        method: z.string().nullable(),
      }),
    )
    .default([]),
  imageBytes: z.record(z.string(), nullableNum).default({}),
  startedEpochMs: num,
  endedEpochMs: num,
  complete: z.boolean(),
  runs: z.array(runMetaSchema),
  caveats: z.array(z.string()).default([]),
  // Kept as written (absent in older results): experiment compare lists where it differs.
  provenance: z.unknown().optional(),
});

const statSchema = z.object({ mean: nullableNum, std: nullableNum, n: num });
const intervalSchema = z.object({ mean: nullableNum, ci95: nullableNum, n: num });

const comparisonSchema = z.object({
  a: z.string(),
  b: z.string(),
  service: z.string(),
  metric: z.enum(['downtimeMs', 'meanE2eMs']),
  method: z.enum(['repetitions', 'bootstrap-handovers']),
  meanA: nullableNum,
  meanB: nullableNum,
  diff: nullableNum,
  lo: nullableNum,
  hi: nullableNum,
  n: z.tuple([num, num]),
  includesZero: z.boolean().nullable(),
  relative: nullableNum,
  note: z.string().optional(),
});

export const summarySchema = z.object({
  version: z.literal(RESULTS_VERSION),
  complete: z.boolean(),
  planners: z.array(
    z.object({
      planner: z.string(),
      service: z.string(),
      repeats: num,
      tasks: num,
      failedTasks: num,
      e2eMs: statSchema,
      procMs: statSchema,
      txMs: statSchema,
      downtimeMs: intervalSchema,
      meanE2eMs: intervalSchema,
      downtimePerHandoverMs: intervalSchema.optional(),
      migrations: num,
      failedMigrations: num,
      handovers: num,
      counterContinuous: z.boolean(),
      counterResets: num,
      ratioToOrchestrated: z.object({ e2e: nullableNum, downtime: nullableNum }),
      users: z
        .array(
          z.object({
            user: z.string(),
            service: z.string(),
            tasks: num,
            failedTasks: num,
            e2eMs: statSchema,
            downtimeMs: intervalSchema,
            downtimePerHandoverMs: intervalSchema,
            migrations: num,
            handovers: num,
          }),
        )
        .optional(),
    }),
  ),
  comparisons: z.array(comparisonSchema).optional(),
});

/** `runs[2].planner` from a zod issue path. */
function pathOf(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

export async function readJson<T>(dir: string, name: string, schema: z.ZodType<T>): Promise<T> {
  const file = join(dir, name);
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`${file}: not readable JSON (${errorMessage(err)})`, {
      hint: 'a results directory is written by edgectl experiment run',
    });
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 5).map((i) => `${pathOf(i.path) || '(top)'}: ${i.message}`);
    throw new UsageError(`${file} is not what edgectl experiment run writes: ${issues.join('; ')}`, {
      hint: `results format version ${RESULTS_VERSION} (src/lib/experiment/format.ts)`,
    });
  }
  return r.data;
}
