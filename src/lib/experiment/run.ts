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
import { setTimeout as sleep } from 'node:timers/promises';
import { deploy, reachDocker, undeploy } from '../docker/deploy.js';
import { errorMessage, UsageError } from '../errors.js';
import { type ChecksReport, checkHosts } from '../hosts/check.js';
import { ensureCpuScores } from '../hosts/score.js';
import type { Inventory, User } from '../inventory/index.js';
import { getHost, getService, getUser, probeText, route } from '../inventory/index.js';
import { DEFAULT_CODEC } from '../migration/pipeline.js';
import { decideHandover, nominalSpeed, positionAt, rssiMap, withSpeed } from '../mobility/index.js';
import { probePairs } from '../monitor/links.js';
import { runMonitor } from '../monitor/monitor.js';
import { buildSnapshot, pairLatency } from '../monitor/snapshot.js';
import type { AgentReport } from '../mu/agent-protocol.js';
import { agentSpec } from '../mu/agent-spec.js';
import { type AgentSession, handoverUser, startAgent } from '../mu/controller.js';
import { baselineTopology, hasRoom, isBaseline } from '../planner/baselines.js';
import { isOutside, type PlannerSpec, plannerName } from '../planner/custom.js';
import { planInputFrom } from '../planner/input.js';
import { type PlannerName, plan } from '../planner/plan.js';
import type { SshPool } from '../remote/index.js';
import type { StateDb } from '../state/index.js';
import { seededRandom } from '../util/random.js';
import { machineFacts, sourceRevision } from '../util/revision.js';
import {
  type Controller,
  type ControllerContext,
  trackReport,
  type UserRun,
} from './controllers/controller.js';
import { OrchestratedController } from './controllers/orchestrated.js';
import { baselinePlacement, ReactiveController, usedByOthers } from './controllers/reactive.js';
import type { ExperimentMeta, RunMeta } from './format.js';
import { moveService } from './move.js';
import type { ReportResult } from './report.js';
import { downtimeOf } from './results.js';
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
import { type RunRecord, runSeries } from './series.js';
import { DRAIN_CAP_MS, drain } from './window.js';

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

const now = () => performance.timeOrigin + performance.now();

/** Where a user starts: its start base station, else the strongest at the start of its walk. */
function startBs(inv: Inventory, user: User): string {
  if (user.startBasestation) return user.startBasestation;
  const rssi = rssiMap(inv.basestations, positionAt(user.trajectory, 0));
  const bs = decideHandover(null, rssi, inv.basestations);
  if (!bs) throw new UsageError(`${user.name} can decode no base station at the start of its walk`);
  return bs;
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

/** The experiment's runs (series.ts), each run by runOne below. */
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

interface OneOptions extends ExperimentCommon {
  planner: PlannerSpec;
  /** The run's service, or (ownServices) the label of the users' own services. */
  service: string;
  /** Every user runs its own service (hosts.yml users[].service), not `service`. */
  ownServices: boolean;
  repeat: number;
  seed: number;
  durationS: number;
  velocity?: number;
  planEveryMs: number;
  monitorEveryMs: number;
}

/** A step of a run that changed the testbed, and how to put it back (run in reverse when the run ends). */
interface Undo {
  what: string;
  run: () => Promise<unknown>;
}

/**
 * One run: the clean start, the initial placement, the controller and the agents, the monitor, the loop for
 * the duration, the drain, then every step undone in reverse (the moves under way end first).
 */
async function runOne(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  o: OneOptions,
  meta: ExperimentMeta,
  warnings: string[],
  record: RunRecord,
): Promise<void> {
  const planner = plannerName(o.planner);
  const name = `${planner}-${o.service}-${o.repeat}`;
  // orchestrated and the outside planners plan ahead (the orchestrated controller); the baselines react.
  const ahead = planner === 'orchestrated' || isOutside(o.planner);
  const signal = o.signal;
  const note = (m: string) => o.onNote?.(`[${name}] ${m}`);
  const warn = (m: string) => warnings.push(`[${name}] ${m}`);
  const random = seededRandom(o.seed);
  const topology = baselineTopology(inv);
  /** Each user's service in this run, and what it takes (its service's limits; none: nothing reserved). */
  const serviceOf = new Map(inv.users.map((u) => [u.name, o.ownServices ? u.service : o.service]));
  const users: UserRun[] = inv.users.map((u) => {
    const limits = getService(inv, serviceOf.get(u.name) ?? o.service).limits;
    return {
      name: u.name,
      start: startBs(inv, u),
      bs: startBs(inv, u),
      host: '',
      demand: limits ? { cpus: limits.cpus, memMB: limits.memMB } : { cpus: 0, memMB: 0 },
      migrations: 0,
      clockOffsetMs: 0,
      rssi: {},
    };
  });
  const sessions = new Map<string, AgentSession>();
  // The walks the agents are given (the experiment's speed), which the planner predicts handovers on.
  const trajectories = Object.fromEntries(
    inv.users.map((u) => [u.name, o.velocity ? withSpeed(u.trajectory, o.velocity) : u.trajectory]),
  );
  // The run's row and meta (series.ts): filled in here, saved once the run knows its start instant.
  const runMeta = record.meta;
  const experimentId = runMeta.experimentId;
  const startedEpochMs = runMeta.startedEpochMs;
  /** The baselines' rule for a user on a base station (orchestrated starts where nearest would). */
  const placeBy = (planner: string, u: UserRun, bs: string): string | null => {
    const c = baselinePlacement(topology, isBaseline(planner) ? planner : 'nearest', random, users, u, bs);
    if (c?.full) {
      // Capacity is a hard limit: this is the rule's least-bad choice (baselines.ts), counted in the run's meta.
      runMeta.overCapacity = (runMeta.overCapacity ?? 0) + 1;
      warn(
        `no server reachable from ${bs} has room for ${u.name} (${u.demand.cpus} cpus, ${u.demand.memMB} MB): ${planner} puts it on ${c.server} anyway, over its capacity`,
      );
    }
    return c?.server ?? null;
  };
  const ctx: ControllerContext = {
    planner,
    experimentId,
    users,
    decisions: state.decisions,
    move: (req) =>
      moveService({ inv, pool, state, experimentId, now, warn, ...(signal ? { signal } : {}) }, req),
    now,
    linkBps: (a, b) => {
      const bps = a === b ? undefined : route(inv, a, b)?.bandwidthBps;
      return bps !== undefined && Number.isFinite(bps) ? bps : null;
    },
    ...(signal ? { signal } : {}),
    warn,
    note,
  };
  const planEveryMs = o.planEveryMs;
  const undo: Undo[] = [];
  let t0 = now();
  try {
    // The clean start: no container, every user on its start base station (and put back there at the end).
    note('clean start: undeploying, putting each user on its start base station');
    undo.push({ what: 'putting the users back on their start base stations', run: () => putBack(users) });
    undo.push({
      what: 'removing the services',
      run: () =>
        Promise.all(
          users.map((u) =>
            undeploy(inv, pool, state, u.name, { forget: true }).catch((err: unknown) =>
              warn(`removing ${u.name}'s service: ${errorMessage(err)}`),
            ),
          ),
        ),
    });
    // Each user's removal holds its own lock: all at once. With the handovers, the deploys per server and the
    // agents side by side too, six users' two 45 s runs took 177 s instead of 345 s (the many-users lab test,
    // 2 cores).
    await Promise.all(users.map((u) => undeploy(inv, pool, state, u.name, { forget: true })));
    // Each user's path is its own (the agents hand over side by side all run long): all at once.
    await Promise.all(
      users.map((u) => handoverUser(inv, pool, state, { user: u.name, to: u.start, blackoutMs: 0 })),
    );
    // The initial placement: decided user by user (each counts those placed before it), then deployed on
    // the servers at once, one user after the other on each server (an image is loaded there only once).
    for (const u of users) {
      const host = placeBy(planner, u, u.start);
      if (!host)
        throw new UsageError(`${planner} finds no server for ${u.name} on ${u.start}`, {
          hint: planner === 'cloud' ? 'the cloud planner needs a cloud host in hosts.yml' : undefined,
        });
      u.host = host;
    }
    await Promise.all(
      [...new Set(users.map((u) => u.host))].map(async (host) => {
        for (const u of users.filter((x) => x.host === host)) {
          const service = serviceOf.get(u.name) ?? o.service;
          note(`deploying ${u.name}'s ${service} on ${u.host}`);
          const d = await deploy(inv, pool, state, { user: u.name, service, host: u.host });
          if (!(service in meta.imageBytes)) {
            meta.imageBytes[service] = null;
            meta.imageBytes[service] = await imageSize(inv, pool, d.host, d.containerId);
          }
        }
      }),
    );
    // What capacity.csv and the per-user results are computed from (results-rows.ts, capacity.ts).
    runMeta.servers = topology.servers.map((s) => ({
      host: s.name,
      cpus: s.capacity.cpus,
      memMB: s.capacity.memMB,
    }));
    runMeta.users = users.map((u) => ({
      user: u.name,
      service: serviceOf.get(u.name) ?? o.service,
      host: u.host,
      bs: u.start,
      cpus: u.demand.cpus,
      memMB: u.demand.memMB,
    }));
    const until = { ms: Number.POSITIVE_INFINITY };
    const c: Controller = ahead
      ? new OrchestratedController(ctx, {
          plan: async () => {
            const snap = buildSnapshot(inv, state, { atMs: Date.now(), windowS: 10 });
            // Each walk's time 0 (startAtS is 0) on the reports' clock, as its agent said in its hello: a walk
            // that passes a place twice (random waypoint) is then located on the right pass.
            const walkStartsMs = Object.fromEntries(
              users.flatMap((u) => {
                const hello = sessions.get(u.name)?.hello;
                return hello ? [[u.name, hello.walkT ?? hello.t]] : [];
              }),
            );
            const input = planInputFrom(inv, state, snap, { trajectories, walkStartsMs });
            return plan(input, {
              planner: o.planner,
              timeLimitMs: 2000,
              nowMs: input.atMs,
              ...(signal ? { signal } : {}),
            });
          },
          planEveryMs,
          untilMs: () => until.ms,
          basestations: inv.basestations,
          hasRoom: (u, host) => hasRoom(topology, host, u.demand, usedByOthers(users, u.name)),
        })
      : new ReactiveController(ctx, (u, bs) => placeBy(planner, u, bs));
    // The agents: the baselines' hand over by RSSI, orchestrated's on command.
    undo.push({ what: 'stopping the agents', run: () => stopAgents() });
    // All at once, so that the users start walking together (one by one, each waits for its own session);
    // each one started is stopped by the undo above, whichever failed.
    const started = await Promise.allSettled(
      users.map(async (u) => {
        const session = await startAgent(inv, pool, state, {
          user: u.name,
          experimentId,
          trajectory: trajectories[u.name] ?? getUser(inv, u.name).trajectory,
          startAtS: 0,
          handover: ahead ? 'controller' : 'auto',
          onReport: (r) => onReport(c, u, r),
        });
        sessions.set(u.name, session);
        u.agent = session;
      }),
    );
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    t0 = now();
    until.ms = t0 + o.durationS * 1000;
    runMeta.startedEpochMs = Math.round(t0);
    // Should edgectl be killed from here on, export and resume know this run's rows from its start instant.
    record.save();
    note(`running for ${o.durationS} s`);
    const settleMs = settleTime(inv);
    // Server statistics and link probes beside the run, through long-lived shells (no agents: they run here).
    const monitorStop = new AbortController();
    signal?.addEventListener('abort', () => monitorStop.abort(signal.reason), { once: true });
    const monitoring = runMonitor(inv, pool, state, {
      users: [],
      durationMs: o.durationS * 1000 + settleMs + DRAIN_CAP_MS,
      intervalMs: o.monitorEveryMs,
      experimentId,
      signal: monitorStop.signal,
    }).catch((err: unknown) => warn(`monitor: ${errorMessage(err)}`));
    undo.push({
      what: 'stopping the monitor',
      run: async () => {
        monitorStop.abort();
        await monitoring;
      },
    });
    // However the run ends, the moves under way finish (or roll back) before anything else is undone.
    undo.push({ what: 'ending the moves under way', run: () => c.settled() });

    while (!signal?.aborted && now() < until.ms) {
      const tick = now();
      await c.tick(tick).catch((err: unknown) => warn(`planning: ${errorMessage(err)}`));
      progress(tick);
      await sleep(
        Math.max(0, Math.min(planEveryMs - (now() - tick), until.ms - now())),
        undefined,
        signal ? { signal } : {},
      ).catch(() => {});
    }
    if (!signal?.aborted) {
      note('the duration is over: no new handovers; waiting for the reactions under way');
      const d = await drain(c, {
        settleMs,
        now,
        sleep: (ms) => sleep(ms, undefined, signal ? { signal } : {}).catch(() => {}),
        ...(signal ? { signal } : {}),
      });
      if (d.truncated.length > 0) {
        runMeta.truncated = d.truncated;
        for (const t of d.truncated) warn(t);
      }
      runMeta.windowS = Math.ceil(d.endedMs - t0) / 1000;
    } else runMeta.windowS = Math.ceil(now() - t0) / 1000;
    runMeta.complete = !signal?.aborted;
    if (signal?.aborted) runMeta.error = 'interrupted';
  } catch (err) {
    runMeta.error = errorMessage(err);
    warn(runMeta.error);
  } finally {
    for (const step of undo.reverse())
      await step.run().catch((err: unknown) => warn(`${step.what}: ${errorMessage(err)}`));
  }

  /** What the lifecycle keeps of a report (where the user is, its clock), then the controller's turn. */
  function onReport(c: Controller, u: UserRun, r: AgentReport): void {
    trackReport(u, r);
    try {
      c.onReport(u, r);
    } catch (err) {
      warn(`acting on ${u.name}'s ${r.type} report: ${errorMessage(err)}`);
    }
  }

  function progress(tick: number): void {
    o.onProgress?.({
      run: name,
      planner,
      service: o.service,
      elapsedS: Math.round((tick - t0) / 1000),
      totalS: o.durationS,
      users: users.map((u) => ({ user: u.name, bs: u.bs, host: u.host })),
      downtimeMs: downtimeSoFar(),
      migrations: users.reduce((a, u) => a + u.migrations, 0),
      handovers: users.reduce((a, u) => a + (sessions.get(u.name)?.handovers.length ?? 0), 0),
    });
  }

  /** As the summary counts it: the union of the outages so far (a handover inside a migration's counts once). */
  function downtimeSoFar(): number {
    const gaps = users.flatMap((u) =>
      state.gaps
        .forUser(u.name, startedEpochMs)
        .filter((g) => g.experimentId === experimentId && g.endMs !== null),
    );
    return Math.round(
      downtimeOf(gaps.map((g) => ({ user: g.user, t_ms: g.startMs, end_t_ms: g.endMs as number }))),
    );
  }

  async function stopAgents(): Promise<void> {
    await Promise.all([...sessions.values()].map((s) => s.stop(30_000)));
  }

  /** The testbed as provisioned: every user back on its start base station (no blackout). */
  async function putBack(us: readonly UserRun[]): Promise<void> {
    await Promise.all(
      us.map((u) =>
        handoverUser(inv, pool, state, { user: u.name, to: u.start, blackoutMs: 0 }).catch((err: unknown) =>
          warn(`putting ${u.name} back on ${u.start}: ${errorMessage(err)}`),
        ),
      ),
    );
  }
}

/**
 * The least a drain waits (ms): a handover whose link went down just before the duration ended shows as a
 * switch only after its first ping, its blackout and the next position report.
 */
function settleTime(inv: Inventory): number {
  return Math.max(
    0,
    ...inv.users.map((u) => {
      const s = agentSpec(inv, u.name, undefined);
      return s.attemptTimeoutMs + s.blackoutMs + s.reportEveryMs;
    }),
  );
}

/** The size of the image a container runs (bytes), or null. */
async function imageSize(
  inv: Inventory,
  pool: SshPool,
  host: string,
  containerId: string,
): Promise<number | null> {
  try {
    const docker = await reachDocker(pool, getHost(inv, host));
    const info = await docker.getContainer(containerId).inspect();
    const image = await docker.getImage(info.Image).inspect();
    return image.Size ?? null;
  } catch {
    return null;
  }
}
