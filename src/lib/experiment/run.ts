/**
 * `edgectl experiment run`: the paper's comparison of planners, end to end, on the testbed of hosts.yml.
 *
 * Each planner (and service, and repetition) runs in turn from the same clean start: the users' containers
 * removed, each user on its start base station at the start of its walk. Then its service is deployed where
 * the planner puts it, its agent walks, offloads and reports (every row carries the run's experiment id),
 * and its controller acts (controllers/):
 * - the baselines (cloud, random, nearest) react: the agent hands over by itself when its RSSI says so,
 *   and the planner's server for the new base station (planner/baselines.ts) is then migrated to (two
 *   outages);
 * - orchestrated plans ahead from the monitor data in the state database (the snapshot, the models, the
 *   MIP), and carries out each decision at its trigger times: pre-migration, the migration's final
 *   checkpoint at its instant, and the handover command to the agent at its own (one outage).
 * Every decision is recorded (state.decisions). A monitor round (server statistics, link probes) runs every
 * few seconds beside it. When the duration is over no new handover starts, and the run goes on until the
 * reactions to those inside it have ended (window.ts). Each step that changed the testbed is undone in
 * reverse at the end, however the run ended. As each run ends its rows go to the results directory
 * (series.ts, format.ts) and the report is drawn again. An experiment that did not finish (killed, Ctrl+C)
 * is resumed by its id: the runs that ended complete are kept, the others run, with the configuration it
 * was started with (runs.ts).
 */
import { basename } from 'node:path';
import { UsageError } from '../errors.js';
import { type ChecksReport, checkHosts } from '../hosts/check.js';
import { ensureCpuScores } from '../hosts/score.js';
import type { Inventory } from '../inventory/index.js';
import { getService, probeText } from '../inventory/index.js';
import { DEFAULT_CODEC } from '../migration/pipeline.js';
import { nominalSpeed } from '../mobility/index.js';
import { probePairs } from '../monitor/links.js';
import { buildSnapshot, pairLatency } from '../monitor/snapshot.js';
import { type PlannerSpec, plannerName } from '../planner/custom.js';
import type { PlannerName } from '../planner/plan.js';
import type { SshPool } from '../remote/index.js';
import type { StateDb } from '../state/index.js';
import { machineFacts, sourceRevision } from '../util/revision.js';
import type { ExperimentMeta, RunMeta } from './format.js';
import type { ReportResult } from './report.js';
import { runOne } from './run-one.js';
import {
  type Attempt,
  configConflicts,
  type ExperimentConfig,
  inventoryDigest,
  outsideOf,
  plannedRuns,
  readExperiment,
  resumePlan,
  specsOf,
} from './runs.js';
import { runSeries } from './series.js';

/** What a new experiment and a resumed one both take. */
export interface ExperimentCommon {
  /** The command line that started it, for meta.json (provenance). */
  commandLine?: string[];
  /** edgectl's own directory (its git commit goes into meta.json). */
  sourceDir?: string;
  /** The local lab's session delay (lab up --session-delay), null when the testbed is not a lab that is up. */
  labSessionDelayMs?: number | null;
  version?: string;
  /** Draw the report after each run (and at the end). */
  report?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: ExperimentProgress) => void;
  onNote?: (message: string) => void;
}

export interface ExperimentOptions extends ExperimentCommon {
  /** Built-in planners by name, and outside ones (custom.ts: a program or a function). */
  planners: PlannerSpec[];
  /** The services to run, each for every user; empty: every user its own (hosts.yml users[].service). */
  services: string[];
  durationS: number;
  /** The users' walking speed (m/s); default: each user's own from hosts.yml. */
  velocity?: number;
  seed: number;
  repeat: number;
  outDir: string;
  /** How often orchestrated plans (ms). */
  planEveryMs?: number;
  /** How often a monitor round runs (ms). */
  monitorEveryMs?: number;
  args?: Record<string, unknown>;
}

export interface ResumeOptions extends ExperimentCommon {
  /** The experiment's id (meta.json `id`). */
  id: number;
  /** What the command line asked for: each must be what the experiment ran with. */
  given?: Partial<ExperimentConfig>;
  /** Where to write the results (default: where the experiment wrote them). */
  outDir?: string;
  /** The planner functions the experiment ran with (a function is not kept in the state database). */
  planners?: PlannerSpec[];
}

export interface ExperimentProgress {
  run: string;
  planner: string;
  service: string;
  elapsedS: number;
  totalS: number;
  users: { user: string; bs: string | null; host: string | null }[];
  downtimeMs: number;
  migrations: number;
  handovers: number;
}

export interface ExperimentResult {
  /** The experiment's id in the state database (experiment export ID, experiment run --resume ID). */
  id: number;
  outDir: string;
  complete: boolean;
  runs: RunMeta[];
  files: string[];
  /** The report drawn last (when asked for and a run ended). */
  report?: ReportResult;
  warnings: string[];
}

/** The users' own services (hosts.yml users[].service), each once, in the users' order. */
export function userServices(inv: Pick<Inventory, 'users'>): string[] {
  return [...new Set(inv.users.map((u) => u.service))];
}

/**
 * The run label of an experiment whose users each run their own service: those services joined by "+"
 * (a testbed whose users share one service keeps that service's name, and its runs today's names).
 */
export function ownServicesLabel(inv: Pick<Inventory, 'users'>): string {
  return userServices(inv).join('+');
}

/** The agents offload on the bundled apps' task protocol: E2E, processing time and the counter come from it. */
function checkServices(inv: Inventory, services: readonly string[]): void {
  for (const s of services) {
    const service = getService(inv, s);
    if (service.offload === null)
      throw new UsageError(
        `an experiment needs to know how its users send tasks to ${s} (the image ${service.image} with probe: ${probeText(service.probe)})`,
        {
          hint: `give services[${inv.services.indexOf(service)}] (${s}) offload: http:/PATH (a POST of each task), echo (TCP echo) or edgectl (apps/PROTOCOL.md) in ${inv.file}:${service.at.line}`,
        },
      );
  }
  if (inv.users.length === 0)
    throw new UsageError('hosts.yml has no users: an experiment needs at least one');
}

/** Every host ready, and the planner's C_s: measured once per server (hosts check's own score), then kept. */
async function readyHosts(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  note: (m: string) => void,
): Promise<ChecksReport> {
  note('Checking the testbed...');
  const check = await checkHosts(inv, pool);
  const notReady = check.hosts.filter((h) => !h.ready);
  if (notReady.length > 0)
    throw new UsageError(
      `not every host is ready: ${notReady.map((h) => `${h.name} (${h.errors[0] ?? 'not ready'})`).join('; ')}`,
      { hint: 'edgectl hosts check says more; edgectl provision prepares the hosts' },
    );
  await ensureCpuScores(inv, pool, state, check.hosts, { force: false });
  return check;
}

export async function runExperiment(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  options: ExperimentOptions,
): Promise<ExperimentResult> {
  const note = (m: string) => options.onNote?.(m);
  const own = options.services.length === 0;
  checkServices(inv, own ? userServices(inv) : options.services);
  const config: ExperimentConfig = {
    planners: options.planners.map(plannerName),
    outside: outsideOf(options.planners),
    services: own ? [ownServicesLabel(inv)] : options.services,
    ...(own ? { ownServices: true } : {}),
    durationS: options.durationS,
    velocity: options.velocity ?? null,
    seed: options.seed,
    repeat: options.repeat,
    planEveryMs: options.planEveryMs ?? 1000,
    monitorEveryMs: options.monitorEveryMs ?? 5000,
    testbed: inv.testbed,
    inventorySha256: inventoryDigest(inv.raw),
  };
  const startedEpochMs = Date.now();
  const check = await readyHosts(inv, pool, state, note);
  const snap0 = buildSnapshot(inv, state, { atMs: Date.now() });
  const meta: ExperimentMeta = {
    version: 1,
    id: 0,
    args: options.args ?? {},
    testbed: inv.testbed,
    inventory: inv.raw,
    versions: {
      edgectl: options.version ?? 'unknown',
      node: process.version,
      docker: Object.fromEntries(
        check.hosts.filter((h) => h.docker).map((h) => [h.name, h.docker?.version ?? null]),
      ),
      criu: Object.fromEntries(
        check.hosts.filter((h) => h.criu).map((h) => [h.name, h.criu?.version ?? null]),
      ),
      kernel: Object.fromEntries(check.hosts.map((h) => [h.name, h.kernel ?? null])),
    },
    links: probePairs(inv).flatMap((p) => {
      const l = snap0.links.find((x) => x.from === p.from && x.to === p.to);
      const lat = l ?? pairLatency(state.hostFacts.get(p.from), state.hostFacts.get(p.to));
      const one = {
        latencyMs: p.expectedRttMs / 2,
        emulated: lat.latencyEmulated,
        method: lat.latencyMethod,
      };
      return [
        { from: p.from, to: p.to, ...one },
        { from: p.to, to: p.from, ...one },
      ];
    }),
    imageBytes: {},
    startedEpochMs,
    endedEpochMs: startedEpochMs,
    complete: false,
    finished: false,
    plannedRuns: plannedRuns(config).map((p) => p.run),
    runs: [],
    provenance: {
      ...(options.sourceDir ? sourceRevision(options.sourceDir) : { commit: null, dirty: null }),
      commandLine: options.commandLine ?? [],
      machine: machineFacts(),
      labSessionDelayMs: options.labSessionDelayMs ?? null,
      settings: {
        strategy: 'delta',
        codec: DEFAULT_CODEC,
        solver: 'auto',
        planEveryMs: config.planEveryMs,
        monitorEveryMs: config.monitorEveryMs,
      },
    },
    caveats: [
      'The mobile user is virtual: its RSSI follows the log-distance path-loss model along its walk, its radio rate the 802.11n table (an HTB cap), and a handover is a blackout of its packets followed by a path switch.',
      "Every host of the local lab shares one machine and one kernel: CPU contention between hosts is real, and /proc readings are the machine's.",
    ],
  };
  for (const l of meta.links)
    if (l.emulated !== true) {
      meta.caveats.push(
        `Link latency was ${l.emulated === false ? 'NOT' : 'not known to be'} emulated on some links (e.g. ${l.from} -> ${l.to}): provision with edgectl provision.`,
      );
      break;
    }
  meta.id = state.experiments.start({
    name: basename(options.outDir),
    planner: null,
    service: null,
    startedMs: startedEpochMs,
    outDir: options.outDir,
    config,
    meta,
  });
  note(`Experiment ${meta.id} (resume it with edgectl experiment run --resume ${meta.id} should it stop)`);
  const specs = specsOf(config, options.planners);
  return carryOut(inv, pool, state, options, { config, meta, outDir: options.outDir, kept: [], specs });
}

/**
 * Carries on with experiment `options.id` where it stopped: its complete runs are kept, the others run (a run
 * that was under way starts again from its clean start), with the configuration it was started with. A flag
 * that asks for something else (another duration, another hosts.yml) is refused (UsageError) before the
 * testbed is touched.
 */
export async function resumeExperiment(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  options: ResumeOptions,
): Promise<ExperimentResult> {
  const note = (m: string) => options.onNote?.(m);
  const stored = readExperiment(state, options.id);
  const { config, meta } = stored;
  const conflicts = configConflicts(config, {
    ...options.given,
    testbed: inv.testbed,
    inventorySha256: inventoryDigest(inv.raw),
  });
  if (conflicts.length > 0)
    throw new UsageError(
      `experiment ${options.id} would not be the same experiment resumed like this: ${conflicts.join('; ')}`,
      { hint: 'give --resume alone (it keeps the experiment’s own settings), or start a new experiment' },
    );
  checkServices(inv, config.ownServices ? userServices(inv) : config.services);
  const specs = specsOf(config, options.planners);
  const outDir = options.outDir ?? stored.record.outDir;
  if (!outDir) throw new UsageError(`experiment ${options.id} has no results directory: give --out`);
  const planned = plannedRuns(config);
  const { kept, toRun } = resumePlan(planned, stored.attempts);
  note(
    `Resuming experiment ${options.id}: ${planned.length - toRun.length} of ${planned.length} runs kept, ${toRun.map((p) => p.run).join(', ') || 'none'} to run`,
  );
  if (toRun.length > 0) await readyHosts(inv, pool, state, note);
  const revision = options.sourceDir ? sourceRevision(options.sourceDir) : { commit: null, dirty: null };
  meta.resumed = [
    ...(meta.resumed ?? []),
    {
      atEpochMs: Date.now(),
      commandLine: options.commandLine ?? [],
      edgectl: options.version ?? 'unknown',
      commit: revision.commit,
      dirty: revision.dirty,
    },
  ];
  state.experiments.reopen(options.id);
  return carryOut(inv, pool, state, options, { config, meta, outDir, kept, specs });
}

/** The experiment's runs (series.ts), each run by runOne (run-one.ts). */
async function carryOut(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  options: ExperimentCommon,
  x: {
    config: ExperimentConfig;
    meta: ExperimentMeta;
    outDir: string;
    kept: Attempt[];
    specs: Map<string, PlannerSpec>;
  },
): Promise<ExperimentResult> {
  const warnings: string[] = [];
  const { config, meta } = x;
  const velocity = config.velocity ?? undefined;
  const r = await runSeries<ReportResult>({
    state,
    outDir: x.outDir,
    meta,
    planned: plannedRuns(config),
    kept: x.kept,
    durationS: config.durationS,
    velocity: velocity ?? (inv.users[0] ? nominalSpeed(inv.users[0].trajectory) : 0),
    runOne: (p, record) =>
      runOne(
        inv,
        pool,
        state,
        {
          ...options,
          planner: x.specs.get(p.planner) ?? (p.planner as PlannerName),
          service: p.service,
          ownServices: config.ownServices === true,
          repeat: p.repeat,
          seed: p.seed,
          durationS: config.durationS,
          ...(velocity === undefined ? {} : { velocity }),
          planEveryMs: config.planEveryMs,
          monitorEveryMs: config.monitorEveryMs,
        },
        meta,
        warnings,
        record,
      ),
    ...(options.report
      ? {
          report: async (dir: string) => {
            // Loaded only when drawn: vega and resvg cost the CLI's start-up.
            const { writeReport } = await import('./report.js');
            return writeReport(dir);
          },
        }
      : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    warn: (m) => warnings.push(m),
  });
  return {
    id: meta.id ?? 0,
    outDir: x.outDir,
    complete: r.complete,
    runs: r.runs,
    files: r.files,
    ...(r.report ? { report: r.report } : {}),
    warnings,
  };
}
