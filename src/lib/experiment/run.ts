/**
 * `edgectl experiment run`: the paper's comparison of planners, end to end, on the testbed of hosts.yml.
 *
 * Each planner (and service, and repetition) runs in turn from the same clean start: the users' containers
 * removed, each user on its start base station at the start of its walk. Then its service is deployed where
 * the planner puts it, its agent walks, offloads and reports (every row carries the run's experiment id),
 * and the controller loop acts:
 * - the baselines (cloud, random, nearest) react: the agent hands over by itself when its RSSI says so,
 *   and the planner's server for the new base station is then migrated to (two outages);
 * - orchestrated plans ahead from the monitor data in the state database (the snapshot, the models, the
 *   MIP), and carries out each decision at its trigger times: pre-migration, the migration's final
 *   checkpoint at its instant, and the handover command to the agent at its own (one outage).
 * A monitor round (server statistics, link probes) runs every few seconds beside it. At the end every run's
 * rows go to the results directory (format.ts), and the report is drawn.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { deploy, reachDocker, undeploy, userHostPort } from '../docker/deploy.js';
import { errorMessage, InterruptedError, UsageError } from '../errors.js';
import { checkHosts } from '../hosts/check.js';
import { ensureCpuScores } from '../hosts/score.js';
import type { Inventory, User } from '../inventory/index.js';
import { getHost, getService, probeText, serverHosts } from '../inventory/index.js';
import { Migration } from '../migration/pipeline.js';
import { decideHandover, positionAt, rssiMap } from '../mobility/index.js';
import { probePairs } from '../monitor/links.js';
import { runMonitor } from '../monitor/monitor.js';
import { buildSnapshot, pairLatency } from '../monitor/snapshot.js';
import type { HandoverReport, PositionReport } from '../mu/agent-protocol.js';
import { type AgentSession, handoverUser, startAgent } from '../mu/controller.js';
import { planInputFrom } from '../planner/input.js';
import { type PlannerName, plan } from '../planner/plan.js';
import type { SshPool } from '../remote/index.js';
import type { StateDb } from '../state/index.js';
import { seededRandom } from '../util/random.js';
import type { ExperimentMeta, RunMeta } from './format.js';
import { downtimeOf, type RunRows, runRows, writeResults } from './results.js';

export interface ExperimentOptions {
  planners: PlannerName[];
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
  version?: string;
  signal?: AbortSignal;
  onProgress?: (p: ExperimentProgress) => void;
  onNote?: (message: string) => void;
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
  outDir: string;
  complete: boolean;
  runs: RunMeta[];
  files: string[];
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

/** The server a baseline puts a user's service on when the user is on `bs`. */
function baselineServer(inv: Inventory, planner: PlannerName, bs: string, random: () => number): string {
  const servers = serverHosts(inv);
  if (planner === 'cloud') {
    const cloud = servers.find((h) => h.role === 'cloud');
    if (!cloud) throw new UsageError('the cloud planner needs a cloud host in hosts.yml');
    return cloud.name;
  }
  if (planner === 'random') return servers[Math.floor(random() * servers.length)]?.name ?? '';
  // nearest (and orchestrated's first placement): the server next to the base station.
  const site = inv.basestations.find((b) => b.name === bs);
  return site?.server ?? servers.find((h) => h.role === 'edge')?.name ?? servers[0]?.name ?? '';
}

/** What one run keeps track of per user. */
interface UserRun {
  user: User;
  /** Where it starts, and is put back at the end. */
  start: string;
  agent?: AgentSession;
  bs: string | null;
  host: string;
  /** A migration under way (its promise), so that the loop starts no second one. */
  moving?: Promise<void>;
  /** The predicted handover the orchestrated schedule under way is for. */
  scheduledFor?: number;
  migrations: number;
  /** Added to the user's machine's clock to get the controller's (its agent measures it). */
  clockOffsetMs: number;
}

export async function runExperiment(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  options: ExperimentOptions,
): Promise<ExperimentResult> {
  const warnings: string[] = [];
  const note = (m: string) => options.onNote?.(m);
  const signal = options.signal;
  for (const s of options.services) {
    const service = getService(inv, s);
    // The agents offload on the bundled apps' task protocol: E2E, processing time and the counter come from it.
    if (!service.app && service.probe.kind !== 'edgectl')
      throw new UsageError(
        `an experiment drives its users' services with edgectl's task protocol; ${s} is the image ${service.image} with probe: ${probeText(service.probe)}`,
        { hint: 'if the image speaks that protocol (apps/PROTOCOL.md), give the service probe: edgectl' },
      );
  }
  if (inv.users.length === 0)
    throw new UsageError('hosts.yml has no users: an experiment needs at least one');
  const startedEpochMs = Date.now();

  note('Checking the testbed...');
  const check = await checkHosts(inv, pool);
  const notReady = check.hosts.filter((h) => !h.ready);
  if (notReady.length > 0)
    throw new UsageError(
      `not every host is ready: ${notReady.map((h) => `${h.name} (${h.errors[0] ?? 'not ready'})`).join('; ')}`,
      { hint: 'edgectl hosts check says more; edgectl provision prepares the hosts' },
    );
  // The planner's C_s: measured once per server (hosts check's own score), then kept.
  await ensureCpuScores(inv, pool, state, check.hosts, { force: false });
  const snap0 = buildSnapshot(inv, state, { atMs: Date.now() });
  const meta: ExperimentMeta = {
    version: 1,
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
    runs: [],
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

  const runs: { meta: RunMeta; rows: RunRows }[] = [];
  let interrupted = false;
  try {
    for (let repeat = 1; repeat <= options.repeat && !interrupted; repeat++)
      for (const service of options.services)
        for (const planner of options.planners) {
          if (signal?.aborted) {
            interrupted = true;
            break;
          }
          const seed = options.seed + repeat - 1;
          const run = await runOne(
            inv,
            pool,
            state,
            { ...options, planner, service, repeat, seed },
            meta,
            warnings,
          );
          runs.push({ meta: run, rows: runRows(state, run, options.durationS) });
          if (!run.complete && signal?.aborted) interrupted = true;
        }
  } finally {
    meta.runs = runs.map((r) => r.meta);
    meta.endedEpochMs = Date.now();
    meta.complete =
      !interrupted &&
      runs.length === options.repeat * options.services.length * options.planners.length &&
      runs.every((r) => r.meta.complete);
  }
  const files = await writeResults(options.outDir, meta, runs);
  return { outDir: options.outDir, complete: meta.complete, runs: meta.runs, files, warnings };
}

interface OneOptions extends ExperimentOptions {
  planner: PlannerName;
  service: string;
  repeat: number;
}

async function runOne(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  o: OneOptions,
  meta: ExperimentMeta,
  warnings: string[],
): Promise<RunMeta> {
  const name = `${o.planner}-${o.service}-${o.repeat}`;
  const signal = o.signal;
  const note = (m: string) => o.onNote?.(`[${name}] ${m}`);
  const random = seededRandom(o.seed);
  const users: UserRun[] = inv.users.map((u) => ({
    user: u,
    start: startBs(inv, u),
    bs: startBs(inv, u),
    host: '',
    migrations: 0,
    clockOffsetMs: 0,
  }));
  // The walks the agents are given (the experiment's speed), which the planner predicts handovers on.
  const trajectories = Object.fromEntries(
    inv.users.map((u) => [u.name, o.velocity ? { ...u.trajectory, speed: o.velocity } : u.trajectory]),
  );
  const startedEpochMs = Date.now();
  const experimentId = state.experiments.start({
    name,
    planner: o.planner,
    service: o.service,
    startedMs: startedEpochMs,
    outDir: o.outDir,
    config: {
      planner: o.planner,
      service: o.service,
      repeat: o.repeat,
      seed: o.seed,
      velocity: o.velocity ?? null,
    },
  });
  const runMeta: RunMeta = {
    run: name,
    planner: o.planner,
    service: o.service,
    repeat: o.repeat,
    startedEpochMs,
    endedEpochMs: startedEpochMs,
    complete: false,
    velocity: o.velocity ?? inv.users[0]?.trajectory.speed ?? 0,
    seed: o.seed,
    experimentId,
  };
  let t0 = now();
  let monitoring: Promise<void> | undefined;
  let stopMonitor = () => {};
  try {
    // The clean start: no container, every user on its start base station.
    note('clean start: undeploying, putting each user on its start base station');
    for (const u of users) {
      await undeploy(inv, pool, state, u.user.name, { forget: true });
      await handoverUser(inv, pool, state, { user: u.user.name, to: u.start, blackoutMs: 0 });
    }
    // The initial placement.
    for (const u of users) {
      u.host = baselineServer(inv, o.planner, u.bs ?? '', random);
      note(`deploying ${u.user.name}'s ${o.service} on ${u.host}`);
      const d = await deploy(inv, pool, state, { user: u.user.name, service: o.service, host: u.host });
      if (meta.imageBytes[o.service] === undefined)
        meta.imageBytes[o.service] = await imageSize(inv, pool, d.host, d.containerId);
    }
    // The agents: the baselines' hand over by RSSI, orchestrated's on command.
    for (const u of users) {
      const trajectory = trajectories[u.user.name] ?? u.user.trajectory;
      u.agent = await startAgent(inv, pool, state, {
        user: u.user.name,
        experimentId,
        trajectory,
        startAtS: 0,
        handover: o.planner === 'orchestrated' ? 'controller' : 'auto',
        onReport: (r) => onReport(u, r),
      });
    }
    t0 = now();
    runMeta.startedEpochMs = Math.round(t0);
    note(`running for ${o.durationS} s`);

    const untilMs = t0 + o.durationS * 1000;
    const planEvery = o.planEveryMs ?? 1000;
    // Server statistics and link probes beside the run, through long-lived shells (no agents: they run here).
    const monitorStop = new AbortController();
    signal?.addEventListener('abort', () => monitorStop.abort(signal.reason), { once: true });
    monitoring = runMonitor(inv, pool, state, {
      users: [],
      durationMs: o.durationS * 1000,
      intervalMs: o.monitorEveryMs ?? 5000,
      experimentId,
      signal: monitorStop.signal,
    })
      .then(() => {})
      .catch((err: unknown) => {
        warnings.push(`[${name}] monitor: ${errorMessage(err)}`);
      });
    stopMonitor = () => monitorStop.abort();
    while (!signal?.aborted && now() < untilMs) {
      const tick = now();
      if (o.planner === 'orchestrated')
        await orchestrate().catch((err: unknown) =>
          warnings.push(`[${name}] planning: ${errorMessage(err)}`),
        );
      o.onProgress?.({
        run: name,
        planner: o.planner,
        service: o.service,
        elapsedS: Math.round((tick - t0) / 1000),
        totalS: o.durationS,
        users: users.map((u) => ({ user: u.user.name, bs: u.bs, host: u.host })),
        downtimeMs: downtimeSoFar(),
        migrations: users.reduce((a, u) => a + u.migrations, 0),
        handovers: users.reduce((a, u) => a + (u.agent?.handovers.length ?? 0), 0),
      });
      await sleep(
        Math.max(0, Math.min(planEvery - (now() - tick), untilMs - now())),
        undefined,
        signal ? { signal } : {},
      ).catch(() => {});
    }
    runMeta.complete = !signal?.aborted;
    if (signal?.aborted) runMeta.error = 'interrupted';
  } catch (err) {
    runMeta.error = errorMessage(err);
    warnings.push(`[${name}] ${runMeta.error}`);
  } finally {
    // However the run ends: the moves under way finish (or roll back), the agents stop, the services go.
    stopMonitor();
    await monitoring;
    await Promise.all(users.map((u) => u.moving?.catch(() => {})));
    await Promise.all(users.map((u) => u.agent?.stop(30_000).catch(() => {})));
    for (const u of users) await undeploy(inv, pool, state, u.user.name, { forget: true }).catch(() => {});
    // The testbed as provisioned: every user back on its start base station (no blackout).
    for (const u of users)
      await handoverUser(inv, pool, state, { user: u.user.name, to: u.start, blackoutMs: 0 }).catch(
        (err: unknown) => {
          warnings.push(`[${name}] putting ${u.user.name} back on ${u.start}: ${errorMessage(err)}`);
        },
      );
    runMeta.endedEpochMs = Date.now();
    state.experiments.finish(experimentId, runMeta.endedEpochMs);
  }
  return runMeta;

  /** As the summary counts it: the union of the outages so far (a handover inside a migration's counts once). */
  function downtimeSoFar(): number {
    const rows = state.db
      .prepare('SELECT user, start_ms, end_ms FROM gaps WHERE experiment_id = ? AND end_ms IS NOT NULL')
      .all(experimentId) as { user: string; start_ms: number; end_ms: number }[];
    return Math.round(downtimeOf(rows.map((g) => ({ user: g.user, t_ms: g.start_ms, end_t_ms: g.end_ms }))));
  }

  function onReport(u: UserRun, r: import('../mu/agent-protocol.js').AgentReport): void {
    if (r.type === 'handover' && !r.error) {
      u.bs = r.to;
      if (o.planner !== 'orchestrated') react(u, r);
    }
    if (r.type === 'position') {
      u.bs = r.bs;
      safety(u, r);
    }
    if (r.type === 'clock') u.clockOffsetMs = r.offsetMs;
  }

  /** A baseline: after the handover the RSSI made, its server for the new base station. */
  function react(u: UserRun, r: HandoverReport): void {
    if (u.moving || signal?.aborted) return;
    const to = baselineServer(inv, o.planner, r.to, random);
    if (to === u.host) return;
    u.moving = move(u, to).finally(() => {
      u.moving = undefined;
    });
  }

  /** Orchestrated never leaves a user on a base station it cannot decode, plan or no plan. */
  function safety(u: UserRun, r: PositionReport): void {
    if (o.planner !== 'orchestrated' || !u.bs || !u.agent) return;
    const site = inv.basestations.find((b) => b.name === u.bs);
    const rssi = r.rssi[u.bs];
    if (site && rssi !== undefined && rssi < site.pathLoss.minRssiDbm && u.scheduledFor === undefined) {
      const to = decideHandover(u.bs, r.rssi, inv.basestations);
      if (to) {
        warnings.push(
          `[${name}] ${u.user.name} lost ${u.bs} before any plan moved it: handed over to ${to} now`,
        );
        u.agent.handover(to);
        u.scheduledFor = Date.now();
      }
    }
  }

  async function orchestrate(): Promise<void> {
    const idle = users.filter((u) => !u.moving && u.agent);
    if (idle.length === 0) return;
    const snap = buildSnapshot(inv, state, { atMs: Date.now(), windowS: 10 });
    const input = planInputFrom(inv, state, snap, { trajectories });
    const r = await plan(input, { planner: 'orchestrated', timeLimitMs: 2000, nowMs: input.atMs });
    for (const d of r.decisions) {
      const u = idle.find((x) => x.user.name === d.user);
      if (!u || (!d.migrate && !d.handover)) continue;
      // Acts once per predicted handover, when its schedule is about to start.
      const due = d.triggers.preMigrationAt ?? d.triggers.handoverAt ?? d.triggers.migrationAt ?? 0;
      const key = d.predictedHandover?.atMs ?? 0;
      if (u.scheduledFor !== undefined && Math.abs(u.scheduledFor - key) < 5000) continue;
      if (due > Date.now() + (o.planEveryMs ?? 1000)) continue;
      u.scheduledFor = key;
      note(
        `${u.user.name}: ${d.from.bs}/${d.from.host} -> ${d.bs}/${d.host} (migration at ${rel(d.triggers.migrationAt)}, handover at ${rel(d.triggers.handoverAt)}, t_ho ${rel(d.predictedHandover?.atMs ?? null)})`,
      );
      if (d.handover) u.agent?.handover(d.bs, d.triggers.handoverAt ?? undefined);
      if (d.migrate) {
        const at = d.triggers.migrationAt;
        u.moving = move(u, d.host, at).finally(() => {
          u.moving = undefined;
        });
      }
    }
  }

  function rel(at: number | null): string {
    return at === null ? '-' : `+${((at - Date.now()) / 1000).toFixed(1)} s`;
  }

  /** Migrates a user's service (delta), the final checkpoint at `at` when given; tells its agent the new endpoint. */
  async function move(u: UserRun, to: string, at?: number | null): Promise<void> {
    const from = u.host;
    const endpoint = { address: getHost(inv, to).dataAddress, port: userHostPort(inv, u.user.name) };
    try {
      const m = new Migration(inv, pool, state, {
        user: u.user.name,
        to,
        experimentId,
        // The probe on the user's machine measures the migration's gap as the user sees it (the agent's
        // tasks only see it at their own rate, and switch endpoints when told).
        probe: true,
        ...(signal ? { signal } : {}),
        ...(at
          ? {
              beforeCheckpoint: async () => {
                const wait = at - Date.now();
                if (wait > 0) await sleep(wait, undefined, signal ? { signal } : {});
              },
            }
          : {}),
        onPhase: (e) => {
          // The service answers on the destination: the agent goes there at once.
          if (e.name === 'restore' && e.status === 'end') u.agent?.send({ cmd: 'endpoint', endpoint });
        },
      });
      const r = await m.migrate();
      const p = r.probe;
      if (p?.lastOkBeforeMs != null && p.firstOkAfterMs != null)
        state.gaps.insert({
          experimentId,
          user: u.user.name,
          startMs: p.lastOkBeforeMs + u.clockOffsetMs,
          endMs: p.firstOkAfterMs + u.clockOffsetMs,
          cause: 'migration',
          detail: `${from} -> ${to}`,
        });
      else
        warnings.push(`[${name}] ${u.user.name}'s migration ${from} -> ${to}: its downtime was not measured`);
      u.host = to;
      u.migrations++;
      u.agent?.send({ cmd: 'endpoint', endpoint });
    } catch (err) {
      if (err instanceof InterruptedError || signal?.aborted) return;
      warnings.push(`[${name}] migrating ${u.user.name} ${from} -> ${to}: ${errorMessage(err)}`);
      const back = state.placements.get(u.user.name);
      if (back) {
        u.host = back.host;
        u.agent?.send({ cmd: 'endpoint', endpoint: { address: back.address, port: back.port } });
      }
    }
  }
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
