/**
 * The planners. Every planner gets the same PlanInput and returns one decision per user: the base station
 * and server it should be on, when to start pre-migration, migration and handover, and the estimates
 * behind them. cloud, random (seeded) and nearest choose by a fixed rule and react to the handover that
 * the user's RSSI makes (two outages); orchestrated chooses every user's pair together by the placement MIP
 * (delay gain minus downtime, under server capacities and base-station limits) and schedules each move to
 * finish, as one outage, before the user must leave its base station.
 */
import { EdgectlError, ExitCode, UsageError } from '../errors.js';
import { dataRateBps, decideHandover, positionAt, predictNextHandover, rssiMap } from '../mobility/index.js';
import { seededRandom } from '../util/random.js';
import { baselineServer, isBaseline, usedBy } from './baselines.js';
import { checkAnswer, type GivenTriggers } from './check.js';
import { isOutside, type PlannerAnswer, PlannerError, type PlannerSpec, plannerName } from './custom.js';
import { runExecPlanner, runFunctionPlanner } from './exec.js';
import type { PlanBasestation, PlanInput, PlanServer, PlanUser } from './input.js';
import { measuredMigration, withMeasured } from './measured.js';
import { solve } from './mip/index.js';
import type { AssignmentProblem, SolveResult } from './mip/problem.js';
import {
  downtimeMs,
  type E2eEstimate,
  e2eEstimate,
  type MigrationEstimate,
  migrationEstimate,
  NOMINAL_SCORE,
} from './models.js';
import { orchestratedTriggers, reactiveTriggers, type Triggers } from './triggers.js';

export const PLANNERS = ['orchestrated', 'nearest', 'cloud', 'random'] as const;
export type PlannerName = (typeof PLANNERS)[number];

/** How far past the next handover the planner looks to value a base station: the middle of the stay, at most this. */
export const MAX_LOOKAHEAD_S = 60;

export interface PlanOptions {
  /** A built-in planner, or an outside one (custom.ts): a program (exec) or a function. */
  planner: PlannerSpec;
  /** 'auto', or a solver of src/lib/planner/mip (orchestrated only). */
  solver?: string;
  timeLimitMs?: number;
  /** The random planner's seed. */
  seed?: number;
  nowMs?: number;
  /** Ends an outside planner's call (its process group is killed). */
  signal?: AbortSignal;
}

/** Where and when one user's radio link and service will be, by the user's predicted walk. */
export interface UserOutlook {
  user: PlanUser;
  /** The next handover the RSSI rule predicts on its walk (the instant it must leave its base station). */
  handover: { atMs: number; to: string } | null;
  /** The instant its candidates are valued at (t'), and the RSSI there. */
  evalAtMs: number;
  rssi: Record<string, number>;
  /** The base station it would be on at t' if nobody intervened (the reference of the gains). */
  refBs: string | null;
}

export interface Candidate {
  bs: string;
  server: string;
  e2e: E2eEstimate;
  migration: MigrationEstimate | null;
  downtimeMs: number;
  /** (d_ref - d) * n_u: the delay saved over the window's tasks (ms). */
  gainMs: number;
  /** gainMs - downtimeMs: the objective coefficient. */
  value: number;
}

export interface Decision {
  user: string;
  from: { bs: string | null; host: string | null };
  bs: string;
  host: string;
  migrate: boolean;
  handover: boolean;
  triggers: Omit<Triggers, 'outages' | 'lateMs'>;
  outages: Triggers['outages'];
  /** How much earlier than now the schedule should have started (0: on time). */
  lateMs: number;
  predictedHandover: { atMs: number; to: string } | null;
  estimates: {
    e2eMs: number;
    procMs: number;
    txMs: number;
    propMs: number;
    /** The reference: staying on its server at the base station it would be on anyway. */
    refE2eMs: number | null;
    tasks: number;
    gainMs: number;
    downtimeMs: number;
    preMigMs: number | null;
    /** The part of preMigMs spent before the pre-checkpoint (prepare) and waiting after the pre-transfer. */
    setupMs: number | null;
    migMs: number | null;
    chkptMs: number | null;
    restoreMs: number | null;
    /** Where migMs and preMigMs come from: measured migrations (which) or the model. */
    migSource: string | null;
    preSource: string | null;
    hoMs: number;
    value: number;
  };
}

export interface PlanResult {
  /** The built-in planner's name, or the outside planner's. */
  planner: string;
  solver: string | null;
  status: string;
  objective: number;
  bound: number | null;
  gap: number | null;
  solveMs: number;
  atMs: number;
  decisions: Decision[];
  warnings: string[];
}

const score = (s: PlanServer | undefined) => s?.cpuScore ?? NOMINAL_SCORE;

/** The RTT and bandwidth between two hosts, either way round; undefined when no route joins them. */
function link(input: PlanInput, a: string, b: string): PlanInput['links'][number] | undefined {
  if (a === b) return { a, b, rttMs: 0, bandwidthBps: 10e9, rttSource: 'same host' };
  return input.links.find((l) => (l.a === a && l.b === b) || (l.a === b && l.b === a));
}

function decodable(bs: PlanBasestation, rssi: Record<string, number>): boolean {
  const v = rssi[bs.name];
  return v !== undefined && v >= bs.pathLoss.minRssiDbm;
}

/** The user's predicted handover and the instant (and RSSI) its candidates are valued at. */
export function outlook(input: PlanInput, user: PlanUser, nowMs: number): UserOutlook {
  const sites = input.basestations;
  if (user.trajectory && user.walkS !== null) {
    const ho = predictNextHandover(user.trajectory, sites, user.bs, user.walkS);
    if (ho) {
      const after = predictNextHandover(user.trajectory, sites, ho.to, ho.atS + 0.5);
      const stayS = after ? after.atS - ho.atS : Number.POSITIVE_INFINITY;
      const evalS = ho.atS + Math.min(stayS / 2, MAX_LOOKAHEAD_S);
      return {
        user,
        handover: { atMs: nowMs + (ho.atS - user.walkS) * 1000, to: ho.to },
        evalAtMs: nowMs + (evalS - user.walkS) * 1000,
        rssi: rssiMap(sites, positionAt(user.trajectory, evalS)),
        refBs: ho.to,
      };
    }
  }
  const rssi = user.rssi;
  const refBs = decideHandover(user.bs, rssi, sites) ?? user.bs;
  return { user, handover: null, evalAtMs: nowMs, rssi, refBs };
}

/** Every (base station, server) pair the user can use at t' (3d: decodable there), valued. */
export function candidates(input: PlanInput, o: UserOutlook): Candidate[] {
  const u = o.user;
  const from = input.servers.find((s) => s.name === u.server);
  const estimate = (bs: PlanBasestation, server: PlanServer): E2eEstimate | undefined => {
    const l = link(input, bs.host, server.name);
    if (!l) return undefined;
    return e2eEstimate({
      procMs: u.procMs,
      scoreNow: score(from),
      scoreThere: score(server),
      taskBytes: u.taskBytes,
      radioBps: dataRateBps(o.rssi[bs.name] ?? Number.NEGATIVE_INFINITY),
      wiredBps: l.bandwidthBps,
      rttMs: l.rttMs,
    });
  };
  const roleOf = (name: string) => input.servers.find((s) => s.name === name)?.role;
  const refBs = input.basestations.find((b) => b.name === o.refBs);
  const ref = refBs && from && decodable(refBs, o.rssi) ? estimate(refBs, from) : undefined;
  const out: Candidate[] = [];
  for (const bs of input.basestations) {
    if (!decodable(bs, o.rssi)) continue;
    for (const server of input.servers) {
      const e2e = estimate(bs, server);
      if (!e2e || !Number.isFinite(e2e.totalMs)) continue;
      const moves = from !== undefined && server.name !== from.name;
      let migration: MigrationEstimate | null = null;
      if (moves) {
        const l = link(input, from.name, server.name);
        if (!l) continue;
        const model = migrationEstimate({
          setupMs: input.migrationSetupMs,
          imageBytes: u.migration.imageBytes,
          preBytes: u.migration.preBytes,
          deltaBytes: u.migration.deltaBytes,
          psi: from.psi,
          scoreFrom: score(from),
          rho: server.rho,
          scoreTo: score(server),
          bandwidthBps: l.bandwidthBps,
          rttMs: l.rttMs,
          transferRtts: input.transferRtts,
        });
        // What migrations like this one took, where some were measured (measured.ts), else eq. 5.
        migration = withMeasured(
          model,
          measuredMigration(input.measuredMigrations, {
            service: u.service,
            from: from.name,
            to: server.name,
            imageBytes: u.migration.source === 'prior' ? null : u.migration.imageBytes,
            roleOf,
          }),
        );
      }
      const dt = downtimeMs(moves, bs.name !== u.bs, migration?.migMs ?? 0, input.handoverMs);
      // With no service yet (a first placement) the gain is the delay itself, saved against nothing.
      const gainMs = ((ref?.totalMs ?? 0) - e2e.totalMs) * u.tasks;
      out.push({
        bs: bs.name,
        server: server.name,
        e2e,
        migration,
        downtimeMs: dt,
        gainMs,
        value: gainMs - dt,
      });
    }
  }
  return out;
}

/** The MIP of the orchestrated planner (3b-3e), with the candidates behind each option. */
export function buildProblem(
  input: PlanInput,
  valued: readonly { outlook: UserOutlook; candidates: Candidate[] }[],
): AssignmentProblem {
  const bsIndex = new Map(input.basestations.map((b, i) => [b.name, i]));
  const serverIndex = new Map(input.servers.map((s, i) => [s.name, i]));
  // The users outside this plan (nothing to choose from) stay where they are: what they take on their
  // server, and their place on their base station, is not the problem's to give.
  const planned = new Set(valued.map((v) => v.outlook.user.name));
  const kept = input.users.filter((u) => !planned.has(u.name));
  return {
    resources: ['cpus', 'memMB'],
    servers: input.servers.map((s) => {
      const taken = kept.filter((u) => u.server === s.name);
      const used = (r: 'cpus' | 'memMB') => taken.reduce((sum, u) => sum + u.demand[r], 0);
      return {
        id: s.name,
        capacity: [
          Math.max(0, s.capacity.cpus - used('cpus')),
          Math.max(0, s.capacity.memMB - used('memMB')),
        ],
      };
    }),
    basestations: input.basestations.map((b) => ({
      id: b.name,
      maxUsers: Math.max(0, b.maxUsers - kept.filter((u) => u.bs === b.name).length),
    })),
    users: valued.map((v) => ({
      id: v.outlook.user.name,
      demand: [v.outlook.user.demand.cpus, v.outlook.user.demand.memMB],
      options: v.candidates.map((c) => ({
        bs: bsIndex.get(c.bs) as number,
        server: serverIndex.get(c.server) as number,
        value: c.value,
      })),
    })),
  };
}

/** The decision for one user from its chosen candidate (given trigger times, from an outside planner, replace edgectl's). */
function decide(
  input: PlanInput,
  o: UserOutlook,
  c: Candidate,
  reactive: boolean,
  nowMs: number,
  all: readonly Candidate[],
  given: GivenTriggers = {},
): Decision {
  const u = o.user;
  const migrate = u.server !== null && c.server !== u.server;
  const handover = c.bs !== u.bs;
  const inputs = {
    nowMs,
    tHoMs: o.handover?.atMs ?? null,
    migrate,
    handover,
    preMigMs: c.migration?.preMigMs ?? 0,
    migMs: c.migration?.migMs ?? 0,
    hoMs: input.handoverMs,
  };
  const t = withGiven(reactive ? reactiveTriggers(inputs) : orchestratedTriggers(inputs), given, inputs);
  // The baselines pay both outages; the orchestrated schedule one.
  const downtime = reactive ? t.outages.reduce((sum, w) => sum + (w.endMs - w.startMs), 0) : c.downtimeMs;
  const ref = all.find((x) => x.bs === o.refBs && x.server === u.server);
  const r1 = (v: number) => Math.round(v * 10) / 10;
  const r1n = (v: number | null | undefined) => (v === null || v === undefined ? null : r1(v));
  const at = (v: number | null) => (v === null ? null : Math.round(v));
  return {
    user: u.name,
    from: { bs: u.bs, host: u.server },
    bs: c.bs,
    host: c.server,
    migrate,
    handover,
    triggers: {
      preMigrationAt: at(t.preMigrationAt),
      migrationAt: at(t.migrationAt),
      handoverAt: at(t.handoverAt),
    },
    outages: t.outages.map((w) => ({ ...w, startMs: Math.round(w.startMs), endMs: Math.round(w.endMs) })),
    lateMs: Math.round(t.lateMs),
    predictedHandover: o.handover ? { atMs: Math.round(o.handover.atMs), to: o.handover.to } : null,
    estimates: {
      e2eMs: r1(c.e2e.totalMs),
      procMs: r1(c.e2e.procMs),
      txMs: r1(c.e2e.txMs),
      propMs: r1(c.e2e.propMs),
      refE2eMs: r1n(ref?.e2e.totalMs),
      tasks: u.tasks,
      gainMs: r1(c.gainMs),
      downtimeMs: r1(downtime),
      preMigMs: r1n(c.migration?.preMigMs),
      setupMs: r1n(c.migration?.setupMs),
      migMs: r1n(c.migration?.migMs),
      chkptMs: r1n(c.migration?.chkptMs),
      restoreMs: r1n(c.migration?.restoreMs),
      migSource: c.migration?.migSource ?? null,
      preSource: c.migration?.preSource ?? null,
      hoMs: r1(input.handoverMs),
      value: r1(c.value),
    },
  };
}

/**
 * Trigger times an outside planner gave, in place of edgectl's: the ones it left out stay edgectl's (a
 * pre-migration no later than the migration), and the planned outages follow the instants.
 */
function withGiven(t: Triggers, g: GivenTriggers, x: { migMs: number; hoMs: number }): Triggers {
  if (g.preMigrationAt === undefined && g.migrationAt === undefined && g.handoverAt === undefined) return t;
  const migrationAt = g.migrationAt ?? t.migrationAt;
  let preMigrationAt = g.preMigrationAt ?? t.preMigrationAt;
  if (preMigrationAt !== null && migrationAt !== null && preMigrationAt > migrationAt)
    preMigrationAt = migrationAt;
  const handoverAt = g.handoverAt ?? t.handoverAt;
  const windows: Triggers['outages'] = [];
  if (migrationAt !== null)
    windows.push({ startMs: migrationAt, endMs: migrationAt + x.migMs, cause: 'migration' });
  if (handoverAt !== null)
    windows.push({ startMs: handoverAt, endMs: handoverAt + x.hoMs, cause: 'handover' });
  windows.sort((a, b) => a.startMs - b.startMs);
  const outages: Triggers['outages'] = [];
  for (const w of windows) {
    const last = outages[outages.length - 1];
    if (last && w.startMs <= last.endMs) {
      last.endMs = Math.max(last.endMs, w.endMs);
      last.cause = 'both';
    } else outages.push({ ...w });
  }
  return { preMigrationAt, migrationAt, handoverAt, outages, lateMs: 0 };
}

/**
 * An outside planner's plan: the request to it, its answer checked (check.ts), and each chosen pair made a
 * decision as orchestrated's are (the same estimates; edgectl's coordinated timing where it gave none).
 * Any failure is a PlannerError naming what.
 */
async function planOutside(input: PlanInput, options: PlanOptions, nowMs: number): Promise<PlanResult> {
  const spec = options.planner;
  if (!isOutside(spec)) throw new UsageError('not an outside planner');
  const name = plannerName(spec);
  const warnings: string[] = [];
  const request = { v: 1 as const, nowMs, input };
  const started = performance.now();
  const timeoutMs = spec.timeoutMs;
  const answer: PlannerAnswer =
    'exec' in spec
      ? await runExecPlanner(spec.exec, request, {
          name,
          ...(timeoutMs !== undefined ? { timeoutMs } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        })
      : await runFunctionPlanner(spec.fn, request, {
          name,
          ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        });
  const solveMs = performance.now() - started;
  const valued = input.users.map((u) => {
    const o = outlook(input, u, nowMs);
    return { outlook: o, candidates: candidates(input, o) };
  });
  const check = checkAnswer(input, answer, { nowMs, valued });
  if (!check.ok)
    throw new PlannerError(
      name,
      'constraint',
      `its answer breaks ${check.violations.length === 1 ? 'a constraint' : `${check.violations.length} constraints`}: ${check.violations.slice(0, 5).join('; ')}`,
      { details: { violations: check.violations } },
    );
  const decisions = check.chosen
    .sort((a, b) => a.index - b.index)
    .map((c) =>
      decide(input, c.outlook, c.candidate, false, nowMs, valued[c.index]?.candidates ?? [], c.triggers),
    );
  for (const d of decisions)
    if (d.lateMs > 0)
      warnings.push(
        `${d.user}: its schedule should have started ${(d.lateMs / 1000).toFixed(1)} s ago; it starts now`,
      );
  return {
    planner: name,
    solver: 'exec' in spec ? 'exec' : 'function',
    status: 'answered',
    bound: null,
    gap: null,
    objective: Math.round(decisions.reduce((s, d) => s + d.estimates.value, 0) * 10) / 10,
    solveMs: Math.round(solveMs * 100) / 100,
    atMs: Math.round(nowMs),
    decisions,
    warnings,
  };
}

/** Runs one planner over the input: a built-in one, or an outside one (a program or a function). */
export async function plan(input: PlanInput, options: PlanOptions): Promise<PlanResult> {
  if (isOutside(options.planner)) return planOutside(input, options, options.nowMs ?? input.atMs);
  if (!PLANNERS.includes(options.planner))
    throw new UsageError(`unknown planner ${options.planner}`, { hint: `one of ${PLANNERS.join(', ')}` });
  const nowMs = options.nowMs ?? input.atMs;
  const warnings: string[] = [];
  const valued = input.users.map((u) => {
    const o = outlook(input, u, nowMs);
    return { outlook: o, candidates: candidates(input, o) };
  });
  for (const v of valued) {
    const u = v.outlook.user;
    if (v.candidates.length === 0)
      warnings.push(
        `${u.name}: no base station is decodable where it will be, so nothing can be planned for it`,
      );
    if (u.procMs === null && u.server !== null)
      warnings.push(
        `${u.name}: no processing time measured (no recent task): its processing delay counts as 0`,
      );
    if (!u.trajectory || u.walkS === null)
      warnings.push(`${u.name}: its walk is not known, so no handover is predicted: planned for now`);
  }
  const started = performance.now();
  let chosen: (Candidate | undefined)[];
  let result: Pick<PlanResult, 'solver' | 'status' | 'bound' | 'gap'>;
  if (options.planner === 'orchestrated') {
    const planned = valued.filter((v) => v.candidates.length > 0);
    const problem = buildProblem(input, planned);
    const r: SolveResult = await solve(problem, {
      solver: options.solver ?? 'auto',
      ...(options.timeLimitMs !== undefined ? { timeLimitMs: options.timeLimitMs } : {}),
    });
    if (!r.choice)
      throw new PlanError(
        `the placement problem has no answer (${r.solver}: ${r.status})${r.message ? `: ${r.message}` : ''}`,
      );
    const byUser = new Map(planned.map((v, i) => [v.outlook.user.name, v.candidates[r.choice?.[i] ?? -1]]));
    chosen = valued.map((v) => byUser.get(v.outlook.user.name));
    result = { solver: r.solver, status: r.status, bound: r.bound, gap: r.gap };
  } else {
    chosen = baseline(input, valued, options, warnings);
    result = { solver: null, status: 'rule', bound: null, gap: null };
  }
  const solveMs = performance.now() - started;
  const decisions: Decision[] = [];
  valued.forEach((v, i) => {
    const c = chosen[i];
    if (c)
      decisions.push(decide(input, v.outlook, c, options.planner !== 'orchestrated', nowMs, v.candidates));
  });
  for (const d of decisions)
    if (d.lateMs > 0)
      warnings.push(
        `${d.user}: its schedule should have started ${(d.lateMs / 1000).toFixed(1)} s ago; it starts now`,
      );
  return {
    planner: options.planner,
    ...result,
    objective: Math.round(decisions.reduce((s, d) => s + d.estimates.value, 0) * 10) / 10,
    solveMs: Math.round(solveMs * 100) / 100,
    atMs: Math.round(nowMs),
    decisions,
    warnings,
  };
}

/**
 * cloud, random and nearest: the base station the RSSI rule puts the user on, and the server of the
 * baselines' rule (baselines.ts, the same as `experiment run`'s), the users placed in turn, each counting
 * what the ones before it took.
 */
function baseline(
  input: PlanInput,
  valued: readonly { outlook: UserOutlook; candidates: Candidate[] }[],
  options: PlanOptions,
  warnings: string[],
): (Candidate | undefined)[] {
  const planner = plannerName(options.planner);
  if (!isBaseline(planner)) throw new UsageError(`${planner} is not a baseline`);
  const random = seededRandom(options.seed ?? 1);
  const placed: { host: string; demand: PlanUser['demand'] }[] = [];
  return valued.map(({ outlook: o, candidates: cs }) => {
    const u = o.user;
    // Where the RSSI rule puts it (baselines never choose the base station; the nearest planner's
    // strongest-RSSI choice is the same rule without hysteresis).
    const bs = planner === 'nearest' ? strongestOf(input, o.rssi) : (o.refBs ?? strongestOf(input, o.rssi));
    if (bs === null) return undefined;
    const choice = baselineServer(input, { planner, bs, demand: u.demand, used: usedBy(placed), random });
    const pick = choice ? cs.find((c) => c.bs === bs && c.server === choice.server) : undefined;
    if (!pick) return undefined;
    if (choice?.full)
      warnings.push(`${u.name}: ${pick.server} has no room left for it (${planner} puts it there anyway)`);
    placed.push({ host: pick.server, demand: u.demand });
    return pick;
  });
}

function strongestOf(input: PlanInput, rssi: Record<string, number>): string | null {
  let best: PlanBasestation | undefined;
  for (const b of input.basestations)
    if (decodable(b, rssi) && (!best || (rssi[b.name] ?? -Infinity) > (rssi[best.name] ?? -Infinity)))
      best = b;
  return best?.name ?? null;
}

/** No plan could be made (an infeasible problem, a solver failure). */
export class PlanError extends EdgectlError {
  constructor(message: string, hint?: string) {
    super('PLAN', ExitCode.remote, message, hint ? { hint } : {});
  }
}
