import { setTimeout as sleep } from 'node:timers/promises';
import { deploy, reachDocker, undeploy } from '../docker/deploy.js';
import { errorMessage, UsageError } from '../errors.js';
import type { Inventory, User } from '../inventory/index.js';
import { getHost, getService, getUser, route } from '../inventory/index.js';
import { decideHandover, positionAt, rssiMap, withSpeed } from '../mobility/index.js';
import { runMonitor } from '../monitor/monitor.js';
import { buildSnapshot } from '../monitor/snapshot.js';
import type { AgentReport } from '../mu/agent-protocol.js';
import { agentSpec } from '../mu/agent-spec.js';
import { type AgentSession, handoverUser, startAgent } from '../mu/controller.js';
import { baselineTopology, hasRoom, isBaseline } from '../planner/baselines.js';
import { isOutside, type PlannerSpec, plannerName } from '../planner/custom.js';
import { planInputFrom } from '../planner/input.js';
import { plan } from '../planner/plan.js';
import type { SshPool } from '../remote/index.js';
import type { StateDb } from '../state/index.js';
import { seededRandom } from '../util/random.js';
import {
  type Controller,
  type ControllerContext,
  trackReport,
  type UserRun,
} from './controllers/controller.js';
import { OrchestratedController } from './controllers/orchestrated.js';
import { baselinePlacement, ReactiveController, usedByOthers } from './controllers/reactive.js';
import type { ExperimentMeta } from './format.js';
import { moveService } from './move.js';
import { downtimeOf } from './results.js';
import type { ExperimentCommon } from './run.js';
import type { RunRecord } from './series.js';
import { DRAIN_CAP_MS, drain } from './window.js';

const now = () => performance.timeOrigin + performance.now();

/** Where a user starts: its start base station, else the strongest at the start of its walk. */
function startBs(inv: Inventory, user: User): string {
  if (user.startBasestation) return user.startBasestation;
  const rssi = rssiMap(inv.basestations, positionAt(user.trajectory, 0));
  const bs = decideHandover(null, rssi, inv.basestations);
  if (!bs) throw new UsageError(`${user.name} can decode no base station at the start of its walk`);
  return bs;
}

export interface OneOptions extends ExperimentCommon {
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
export async function runOne(
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
