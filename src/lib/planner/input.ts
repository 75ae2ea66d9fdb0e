/**
 * What the planner reads: one self-contained document (PlanInput), built from hosts.yml, the monitor's
 * snapshot and the state database's history, or loaded from a file (`plan --snapshot FILE`, which needs no
 * testbed at all). Everything the models need is in it, so a plan is reproducible from its input.
 */
import { z } from 'zod';
import { UsageError } from '../errors.js';
import type { Inventory, Trajectory } from '../inventory/index.js';
import { route, serverHosts } from '../inventory/index.js';
import { walkTimeAt } from '../mobility/index.js';
import { pathLossWireSchema, trajectoryWireSchema } from '../mobility/wire.js';
import type { MonitorSnapshot } from '../monitor/snapshot.js';
import type { StateDb } from '../state/index.js';
import { median } from '../util/stats.js';
import { fitMigrationModel, type MigrationFit, type MigrationSample } from './models.js';

const point = z.tuple([z.number(), z.number()]);

export const planInputSchema = z.object({
  v: z.literal(1),
  atMs: z.number(),
  testbed: z.string(),
  /** The handover's outage T_ho (ms): measured from recent handovers, else the agent's blackout. */
  handoverMs: z.number().nonnegative(),
  handoverSource: z.string().default('given'),
  /** A migration's set-up before its final checkpoint (ms), beyond eq. 5: measured, else a prior. */
  migrationSetupMs: z.number().nonnegative().default(0),
  migrationSetupSource: z.string().default('given'),
  /** Round trips of the source-destination link a pre-migration transfer costs beyond its bytes. */
  transferRtts: z.number().nonnegative().default(0),
  windowS: z.number().positive(),
  /**
   * Recent delta migrations as measured (measured.ts): T_mig and T_pre of a move come from those of the
   * same service between the same or similar servers, eq. 5 where there are none.
   */
  measuredMigrations: z
    .array(
      z.object({
        service: z.string(),
        from: z.string(),
        to: z.string(),
        atMs: z.number(),
        downtimeMs: z.number().nonnegative().nullable(),
        preMs: z.number().nonnegative().nullable(),
        imageBytes: z.number().nonnegative().nullable(),
      }),
    )
    .default([]),
  basestations: z.array(
    z.object({
      name: z.string(),
      host: z.string(),
      server: z.string().nullable(),
      position: point,
      maxUsers: z.number().int().nonnegative(),
      pathLoss: pathLossWireSchema,
    }),
  ),
  servers: z.array(
    z.object({
      name: z.string(),
      role: z.string(),
      /** C_s; null: not measured (the planner then takes the servers as equal). */
      cpuScore: z.number().positive().nullable(),
      capacity: z.object({ cpus: z.number().nonnegative(), memMB: z.number().nonnegative() }),
      /** psi_s, rho_s (eq. 5) and where they come from. */
      psi: z.number().nonnegative(),
      rho: z.number().nonnegative(),
      fit: z.string(),
    }),
  ),
  /** Between base station hosts and servers, and between servers; either direction. */
  links: z.array(
    z.object({
      a: z.string(),
      b: z.string(),
      rttMs: z.number().nonnegative(),
      bandwidthBps: z.number().positive(),
      rttSource: z.string(),
    }),
  ),
  users: z.array(
    z.object({
      name: z.string(),
      service: z.string(),
      bs: z.string().nullable(),
      server: z.string().nullable(),
      /** The measured RSSI (dBm) to every base station now. */
      rssi: z.record(z.string(), z.number()),
      position: point.nullable(),
      /** Where the user goes, when known, and where it is on it (seconds since its walk began). */
      trajectory: trajectoryWireSchema.nullable(),
      walkS: z.number().nonnegative().nullable(),
      taskBytes: z.number().nonnegative(),
      /** n_u: tasks in the last window. */
      tasks: z.number().int().nonnegative(),
      /** Median processing time at its server (ms), null when unknown. */
      procMs: z.number().nonnegative().nullable(),
      demand: z.object({ cpus: z.number().nonnegative(), memMB: z.number().nonnegative() }),
      /** S_D, S_pre (S_lambda), S_delta (S_delta-lambda) of eq. 5, bytes, and where they come from. */
      migration: z.object({
        imageBytes: z.number().nonnegative(),
        preBytes: z.number().nonnegative(),
        deltaBytes: z.number().nonnegative(),
        source: z.string(),
      }),
    }),
  ),
});

export type PlanInput = z.infer<typeof planInputSchema>;
export type PlanUser = PlanInput['users'][number];
export type PlanServer = PlanInput['servers'][number];
export type PlanBasestation = PlanInput['basestations'][number];

/** Validates a plan input read from a file; every problem names its path. */
export function parsePlanInput(data: unknown, file: string): PlanInput {
  const r = planInputSchema.safeParse(data);
  if (r.success) return r.data;
  const first = r.error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`)
    .join('; ');
  throw new UsageError(`${file} is not a plan input: ${first}`, {
    hint: 'write one with edgectl plan --save-input FILE, or npm run bench:plan',
  });
}

/** The memory a container's checkpoint is taken to hold when nothing was measured yet (bytes). */
export const PRIOR_IMAGE_BYTES = 64 * 2 ** 20;
/** The delta of a checkpoint against the one before it, as a share of it, before any was measured. */
export const PRIOR_DELTA_SHARE = 0.02;
/** A recorded handover counts towards T_ho when its link was down at least this long (ms). */
export const MIN_HANDOVER_LINK_DOWN_MS = 100;
/** A migration's set-up (connections, data channel, probe) before any was measured (ms). */
export const PRIOR_SETUP_MS = 1500;
/** Round trips a pre-migration transfer costs beyond its bytes, before any was measured (ssh, rsync, TCP). */
export const PRIOR_TRANSFER_RTTS = 20;
/** The agent's blackout (ms): T_ho before any handover was measured. */
export const PRIOR_HANDOVER_MS = 500;

/** Builds the plan input from hosts.yml, a monitor snapshot and the state database's history. */
export function planInputFrom(
  inv: Inventory,
  state: StateDb,
  snap: MonitorSnapshot,
  options: {
    trajectories?: Record<string, Trajectory>;
    /**
     * When each user's walk time was 0, in the snapshot's clock (ms): where a walk passes the same place
     * more than once (a random waypoint walk, a path crossing itself), its reported position is placed on
     * the pass nearest to the walk time this implies (walkTimeAt's nearS).
     */
    walkStartsMs?: Record<string, number>;
  } = {},
): PlanInput {
  const servers = serverHosts(inv);
  // Handovers that really cut the link (a 0 ms blackout, used to put a user somewhere, is not one).
  const handovers = inv.users.flatMap((u) =>
    state.handovers
      .forUser(u.name)
      .filter((h) => (h.linkDownMs ?? 0) >= MIN_HANDOVER_LINK_DOWN_MS && h.durationMs !== null)
      .slice(-20)
      .map((h) => h.durationMs as number),
  );
  const measuredHo = median(handovers);
  const fits = new Map<string, MigrationFit>(
    servers.map((h) => [
      h.name,
      fitMigrationModel(
        migrationSamples(state, h.name),
        snap.servers.find((s) => s.host === h.name)?.cpuScore ?? null,
      ),
    ]),
  );
  const links: PlanInput['links'] = [];
  const bsHosts = [...new Set(inv.basestations.map((b) => b.host))];
  for (const a of [...bsHosts, ...servers.map((s) => s.name)])
    for (const s of servers) {
      if (a === s.name || links.some((l) => l.a === s.name && l.b === a)) continue;
      const r = route(inv, a, s.name);
      if (!r) continue;
      const m = snap.links.find(
        (l) => (l.from === a && l.to === s.name) || (l.from === s.name && l.to === a),
      );
      links.push({
        a,
        b: s.name,
        rttMs: m?.rttMs ?? r.rttMs,
        bandwidthBps: Number.isFinite(r.bandwidthBps) ? r.bandwidthBps : 10e9,
        rttSource: m?.rttMs != null ? 'measured' : 'hosts.yml',
      });
    }
  const history = migrationSetups(inv, state);
  const setups = history.map((h) => h.setupMs);
  const setup = median(setups);
  const rtts = median(history.map((h) => h.transferRtts).filter((k): k is number => k !== null));
  return {
    v: 1,
    atMs: snap.atMs,
    testbed: inv.testbed,
    handoverMs: measuredHo ?? PRIOR_HANDOVER_MS,
    handoverSource: measuredHo === null ? 'prior' : `median of ${handovers.length} handovers`,
    migrationSetupMs: setup ?? PRIOR_SETUP_MS,
    migrationSetupSource: setup === null ? 'prior' : `median of ${setups.length} migrations`,
    transferRtts: rtts ?? PRIOR_TRANSFER_RTTS,
    windowS: snap.windowS,
    measuredMigrations: measuredMigrations(state),
    basestations: inv.basestations.map((b) => ({
      name: b.name,
      host: b.host,
      server: b.server ?? null,
      position: b.position,
      maxUsers: b.maxUsers,
      pathLoss: b.pathLoss,
    })),
    servers: servers.map((h) => {
      const fit = fits.get(h.name) as MigrationFit;
      return {
        name: h.name,
        role: h.role,
        cpuScore: snap.servers.find((s) => s.host === h.name)?.cpuScore ?? null,
        capacity: { cpus: h.capacity?.cpus ?? 0, memMB: h.capacity?.memMB ?? 0 },
        psi: fit.psi,
        rho: fit.rho,
        fit: fit.source,
      };
    }),
    links,
    users: snap.users.map((u) => {
      const found = inv.users.find((x) => x.name === u.user);
      // The walk its agent was given (an experiment may change its speed), else hosts.yml's.
      const user = found && { ...found, trajectory: options.trajectories?.[found.name] ?? found.trajectory };
      const service = inv.services.find((s) => s.name === u.service);
      const recent = state.userReports.forUser(u.user, 0, 2);
      const heading: [number, number] | undefined =
        recent.length === 2 && recent[0] && recent[1]
          ? [recent[0].position[0] - recent[1].position[0], recent[0].position[1] - recent[1].position[1]]
          : undefined;
      // By the name its placement recorded (containers deployed before the name's separator changed keep theirs).
      const container = snap.servers
        .find((s) => s.host === u.placement?.host)
        ?.containers.find((c) => c.name === u.placement?.container);
      const sizes = migrationSizes(state, u.user, container?.memBytes ?? null);
      const startMs = options.walkStartsMs?.[u.user];
      const nearS =
        startMs === undefined || u.report === null
          ? undefined
          : Math.max(0, (u.report.atMs - startMs) / 1000);
      return {
        name: u.user,
        service: u.service,
        bs: u.report?.bs ?? null,
        server: u.placement?.host ?? null,
        rssi: u.report?.rssi ?? {},
        position: u.report?.position ?? null,
        trajectory: user?.trajectory ?? null,
        // Where it is on its walk now: at its newest report, plus the time walked since.
        walkS:
          user && u.report
            ? walkTimeAt(user.trajectory, u.report.position, heading, nearS) +
              Math.max(0, snap.atMs - u.report.atMs) / 1000
            : null,
        taskBytes: user?.task.sizeBytes ?? 0,
        tasks: u.tasks.count,
        procMs: u.tasks.procMs.median,
        demand: service?.limits
          ? { cpus: service.limits.cpus, memMB: service.limits.memMB }
          : {
              cpus: Math.round((container?.cpuPct ?? 0) * 10) / 1000,
              memMB: Math.round((container?.memBytes ?? 0) / 2 ** 20),
            },
        migration: sizes,
      };
    }),
  };
}

/**
 * What each recorded delta migration spent beyond eq. 5 before its final checkpoint: its prepare phase
 * and the wait between pre-migration and the checkpoint (probe, data channel), and how many round trips
 * of its link its pre-transfer took beyond its bytes at the link's bandwidth. An orchestrated experiment's
 * migrations also wait before the checkpoint on purpose, so they do not count.
 */
function migrationSetups(inv: Inventory, state: StateDb): { setupMs: number; transferRtts: number | null }[] {
  const rows = state.db
    .prepare(
      `SELECT m.from_host AS fromHost, m.to_host AS toHost,
              (SELECT duration_ms FROM migration_phases p WHERE p.migration_id = m.id AND p.name = 'prepare') AS prep,
              (SELECT duration_ms FROM migration_phases p WHERE p.migration_id = m.id AND p.name = 'pre-transfer') AS xferMs,
              (SELECT bytes FROM migration_phases p WHERE p.migration_id = m.id AND p.name = 'pre-transfer') AS xferBytes,
              (SELECT start_ms + duration_ms FROM migration_phases p WHERE p.migration_id = m.id AND p.name = 'pre-transfer') AS preEnd,
              (SELECT start_ms FROM migration_phases p WHERE p.migration_id = m.id AND p.name = 'checkpoint') AS ckpt
       FROM migrations m WHERE m.ok = 1 AND m.strategy = 'delta'
         AND coalesce((SELECT planner FROM experiments e WHERE e.id = m.experiment_id), '') != 'orchestrated'
       ORDER BY m.id DESC LIMIT 30`,
    )
    .all() as {
    fromHost: string;
    toHost: string;
    prep: number | null;
    xferMs: number | null;
    xferBytes: number | null;
    preEnd: number | null;
    ckpt: number | null;
  }[];
  const out: { setupMs: number; transferRtts: number | null }[] = [];
  for (const r of rows) {
    if (r.prep === null || r.preEnd === null || r.ckpt === null) continue;
    const path =
      inv.hosts.some((h) => h.name === r.fromHost) && inv.hosts.some((h) => h.name === r.toHost)
        ? route(inv, r.fromHost, r.toHost)
        : undefined;
    let k: number | null = null;
    if (
      path &&
      path.rttMs > 0 &&
      r.xferMs !== null &&
      r.xferBytes !== null &&
      Number.isFinite(path.bandwidthBps)
    )
      k = Math.max(0, r.xferMs - ((r.xferBytes * 8) / path.bandwidthBps) * 1000) / path.rttMs;
    out.push({ setupMs: r.prep + Math.max(0, r.ckpt - r.preEnd), transferRtts: k });
  }
  return out;
}

/** How many recorded migrations the plan input carries for measured.ts (the newest). */
const MEASURED_HISTORY = 100;

/**
 * The newest delta migrations that ended well, with their outage, pre phases and image size. An
 * orchestrated experiment's do not count: their probe saw the handover's blackout inside the migration's
 * outage, so their downtime is the union of the two, not T_mig.
 */
function measuredMigrations(state: StateDb): PlanInput['measuredMigrations'] {
  const rows = state.db
    .prepare(
      `SELECT m.service, m.from_host AS "from", m.to_host AS "to", m.started_ms AS atMs, m.downtime_ms AS downtimeMs,
              (SELECT CASE WHEN count(*) = 2 THEN sum(duration_ms) END FROM migration_phases p
                WHERE p.migration_id = m.id AND p.name IN ('pre-checkpoint', 'pre-transfer')) AS preMs,
              (SELECT bytes FROM checkpoints c WHERE c.migration_id = m.id AND c.kind = 'final') AS imageBytes
       FROM migrations m WHERE m.ok = 1 AND m.strategy = 'delta'
         AND coalesce((SELECT planner FROM experiments e WHERE e.id = m.experiment_id), '') != 'orchestrated'
       ORDER BY m.id DESC LIMIT ${MEASURED_HISTORY}`,
    )
    .all() as PlanInput['measuredMigrations'];
  return rows.filter((r) => r.downtimeMs !== null || r.preMs !== null);
}

/** Each recorded migration out of (checkpoint) and into (restore) a server, for the psi and rho fits. */
function migrationSamples(state: StateDb, host: string): MigrationSample[] {
  const rows = state.db
    .prepare(
      `SELECT m.id, m.from_host AS fromHost, m.to_host AS toHost,
              (SELECT bytes FROM checkpoints c WHERE c.migration_id = m.id AND c.kind = 'final') AS finalBytes,
              (SELECT ms FROM checkpoints c WHERE c.migration_id = m.id AND c.kind = 'final') AS finalMs,
              (SELECT bytes FROM checkpoints c WHERE c.migration_id = m.id AND c.kind = 'pre') AS preBytes,
              (SELECT ms FROM checkpoints c WHERE c.migration_id = m.id AND c.kind = 'pre') AS preMs,
              (SELECT bytes FROM checkpoints c WHERE c.migration_id = m.id AND c.kind = 'delta') AS deltaBytes,
              (SELECT duration_ms FROM migration_phases p WHERE p.migration_id = m.id AND p.name = 'restore') AS restoreMs,
              (SELECT cpu_score FROM host_facts f WHERE f.host = m.from_host) AS fromScore,
              (SELECT cpu_score FROM host_facts f WHERE f.host = m.to_host) AS toScore
       FROM migrations m WHERE m.ok = 1 AND (m.from_host = ? OR m.to_host = ?) ORDER BY m.id DESC LIMIT 50`,
    )
    .all(host, host) as {
    fromHost: string;
    toHost: string;
    finalBytes: number | null;
    finalMs: number | null;
    preBytes: number | null;
    preMs: number | null;
    deltaBytes: number | null;
    restoreMs: number | null;
    fromScore: number | null;
    toScore: number | null;
  }[];
  const out: MigrationSample[] = [];
  // Probe checkpoints (leave-running) taken on this host count as checkpoint samples too.
  const probes = state.db
    .prepare(
      `SELECT c.bytes, c.ms, f.cpu_score AS score FROM checkpoints c JOIN host_facts f ON f.host = c.host
       WHERE c.host = ? AND c.kind IN ('probe-pre', 'probe-final') AND f.cpu_score IS NOT NULL
       ORDER BY c.at_ms DESC LIMIT 50`,
    )
    .all(host) as { bytes: number; ms: number; score: number }[];
  for (const p of probes) out.push({ kind: 'checkpoint', bytes: p.bytes, ms: p.ms, score: p.score });
  for (const r of rows) {
    if (r.fromHost === host && r.finalBytes && r.finalMs && r.fromScore)
      out.push({ kind: 'checkpoint', bytes: r.finalBytes, ms: r.finalMs, score: r.fromScore });
    if (r.fromHost === host && r.preBytes && r.preMs && r.fromScore)
      out.push({ kind: 'checkpoint', bytes: r.preBytes, ms: r.preMs, score: r.fromScore });
    if (r.toHost === host && r.restoreMs && r.toScore && r.finalBytes)
      out.push({
        kind: 'restore',
        bytes: r.finalBytes + (r.preBytes ?? 0) + (r.deltaBytes ?? 0),
        ms: r.restoreMs,
        score: r.toScore,
      });
  }
  return out;
}

/** S_D, S_pre, S_delta of a user's container: its newest probe or delta migration, else its memory, else priors. */
function migrationSizes(state: StateDb, user: string, memBytes: number | null): PlanUser['migration'] {
  const newest = (kinds: string[]) =>
    state.db
      .prepare(
        `SELECT kind, bytes, at_ms AS atMs FROM checkpoints WHERE user = ? AND kind IN (${kinds.map(() => '?').join(', ')})
         ORDER BY at_ms DESC, id DESC LIMIT 1`,
      )
      .get(user, ...kinds) as { kind: string; bytes: number; atMs: number } | undefined;
  const probe = newest(['probe-delta']);
  const migration = newest(['delta']);
  const useProbe = probe !== undefined && (migration === undefined || probe.atMs >= migration.atMs);
  const [pre, fin, delta] = useProbe
    ? [newest(['probe-pre']), newest(['probe-final']), probe]
    : [newest(['pre']), newest(['final']), migration];
  if (pre && delta)
    return {
      imageBytes: fin?.bytes ?? pre.bytes,
      preBytes: pre.bytes,
      deltaBytes: delta.bytes,
      source: useProbe ? 'its probe checkpoints' : 'its last delta migration',
    };
  const last = newest(['final', 'pre', 'probe-final', 'probe-pre']);
  const image = last?.bytes ?? (memBytes && memBytes > 0 ? memBytes : null);
  if (image !== null)
    return {
      imageBytes: image,
      preBytes: image,
      deltaBytes: Math.round(image * PRIOR_DELTA_SHARE),
      source: last ? 'its last checkpoint, delta prior' : 'its container memory, delta prior',
    };
  return {
    imageBytes: PRIOR_IMAGE_BYTES,
    preBytes: PRIOR_IMAGE_BYTES,
    deltaBytes: Math.round(PRIOR_IMAGE_BYTES * PRIOR_DELTA_SHARE),
    source: 'prior',
  };
}
