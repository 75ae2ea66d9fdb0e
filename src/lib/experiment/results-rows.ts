/**
 * One run's rows read back from the state database, as the CSV files hold them (format.ts, dictionary.ts):
 * every task, gap, handover, migration and agent report carries the experiment id of the run it belongs
 * to; host statistics and link measurements carry none, and belong to the run whose window they lie in.
 */
import type { DecisionRecord, StateDb } from '../state/index.js';
import { capacityTimeline } from './capacity.js';
import { roundRows } from './dictionary.js';
import type { RunMeta } from './format.js';

export type Row = Record<string, string | number | boolean | null | undefined>;

/** The rows of one run, as the CSV files hold them. */
export interface RunRows {
  tasks: Row[];
  /** One row per migration. */
  migrations: Row[];
  migrationPhases: Row[];
  handovers: Row[];
  outages: Row[];
  checkpoints: Row[];
  decisions: Row[];
  positions: Row[];
  rssi: Row[];
  hostStats: Row[];
  links: Row[];
  /** Each server's load at the start and at every change (capacity.ts); none without meta users/servers. */
  capacity: Row[];
}

/** A run with no rows. */
export function emptyRunRows(): RunRows {
  return {
    tasks: [],
    migrations: [],
    migrationPhases: [],
    handovers: [],
    outages: [],
    checkpoints: [],
    decisions: [],
    positions: [],
    rssi: [],
    hostStats: [],
    links: [],
    capacity: [],
  };
}

/**
 * Reads one run's rows from the state database: those that started within the run's window (from its
 * start for `run.windowS`, its duration plus the drain, else for `durationS`); what happened while it was
 * torn down is not part of it. Decisions count by the instant they were taken; a migration's phases and
 * checkpoints go with it.
 */
export function runRows(state: StateDb, run: RunMeta, durationS?: number): RunRows {
  const windowS = run.windowS ?? durationS;
  const untilMs = windowS === undefined ? run.endedEpochMs : run.startedEpochMs + windowS * 1000;
  const rows = allRunRows(state, run, untilMs);
  if (windowS === undefined) return rows;
  const within = (t: unknown) => typeof t !== 'number' || (t >= 0 && t <= windowS * 1000);
  const inside = (r: Row) => within(r['t_ms']);
  const migrations = new Set(rows.migrations.filter(inside).map((m) => m['migration']));
  const ofMigration = (r: Row) => migrations.has(r['migration']);
  return {
    tasks: rows.tasks.filter(inside),
    migrations: rows.migrations.filter(ofMigration),
    migrationPhases: rows.migrationPhases.filter(ofMigration),
    handovers: rows.handovers.filter(inside),
    outages: rows.outages.filter(inside),
    checkpoints: rows.checkpoints.filter(ofMigration),
    decisions: rows.decisions.filter((d) => within(d['decided_t_ms'])),
    positions: rows.positions.filter(inside),
    rssi: rows.rssi.filter(inside),
    hostStats: rows.hostStats,
    links: rows.links,
    capacity: rows.capacity,
  };
}

/** One decision as decisions.csv holds it: instants from the run's start `t0`, lateness, throughputs. */
export function decisionRow(d: DecisionRecord, t0: number): Row {
  const rel = (v: number | null) => (v === null ? null : v - t0);
  const late = (actual: number | null, planned: number | null) =>
    actual === null || planned === null ? null : actual - planned;
  // bytes * 8 / ms / 1000 = Mbit/s
  const preMbps =
    d.preBytes === null || d.preTransferMs === null || d.preTransferMs <= 0
      ? null
      : (d.preBytes * 8) / d.preTransferMs / 1000;
  return {
    user: d.user,
    kind: d.kind,
    status: d.status,
    error: d.error,
    from_bs: d.fromBs,
    to_bs: d.toBs,
    from_host: d.fromHost,
    to_host: d.toHost,
    decided_t_ms: rel(d.decidedMs),
    predicted_ho_t_ms: rel(d.predictedHoMs),
    planned_pre_t_ms: rel(d.plannedPreMs),
    planned_checkpoint_t_ms: rel(d.plannedCheckpointMs),
    planned_handover_t_ms: rel(d.plannedHandoverMs),
    actual_pre_t_ms: rel(d.actualPreMs),
    actual_checkpoint_t_ms: rel(d.actualCheckpointMs),
    actual_handover_t_ms: rel(d.actualHandoverMs),
    outage_start_t_ms: rel(d.outageStartMs),
    outage_end_t_ms: rel(d.outageEndMs),
    handover_late_ms: late(d.actualHandoverMs, d.plannedHandoverMs),
    checkpoint_late_ms: late(d.actualCheckpointMs, d.plannedCheckpointMs),
    est_pre_ms: d.estPreMs,
    est_mig_ms: d.estMigMs,
    est_ho_ms: d.estHoMs,
    meas_pre_ms: d.measPreMs,
    meas_mig_ms: d.measMigMs,
    meas_ho_ms: d.measHoMs,
    handover_inside: d.handoverInside,
    reaction_ms: d.reactionMs,
    pre_bytes: d.preBytes,
    pre_transfer_ms: d.preTransferMs,
    pre_mbps: preMbps,
    link_mbps: d.linkBps === null ? null : d.linkBps / 1e6,
    migration: d.migrationId,
  };
}

/**
 * Every row of the run (numbers as stored: the writer rounds them by the dictionary). Host statistics and
 * link measurements have no experiment id: those taken from the run's start to `untilMs`.
 */
function allRunRows(state: StateDb, run: RunMeta, untilMs: number): RunRows {
  const id = run.experimentId;
  const t0 = run.startedEpochMs;
  const base = { run: run.run, planner: run.planner, repeat: run.repeat, service: run.service };
  const rel = (v: number | null) => (v === null ? null : v - t0);
  const q = <T>(sql: string): T[] => state.db.prepare(sql).all(id) as T[];
  const tasks = q<{
    user: string;
    sent_ms: number;
    bs: string | null;
    host: string | null;
    counter: number | null;
    bytes: number;
    e2e_ms: number | null;
    proc_ms: number | null;
    tx_ms: number | null;
    ok: number;
    reconnects: number;
    error: string | null;
  }>('SELECT * FROM tasks WHERE experiment_id = ? ORDER BY sent_ms, id').map((t) => ({
    ...base,
    user: t.user,
    t_ms: rel(t.sent_ms),
    sent_epoch_ms: t.sent_ms,
    bs: t.bs,
    host: t.host,
    counter: t.counter,
    bytes: t.bytes,
    e2e_ms: t.e2e_ms,
    proc_ms: t.proc_ms,
    tx_ms: t.tx_ms,
    ok: t.ok === 1,
    reconnects: t.reconnects,
    error: t.error,
  }));
  const migrationRecords = q<{
    id: number;
    user: string;
    from_host: string;
    to_host: string;
    strategy: string;
    codec: string | null;
    started_ms: number;
    downtime_ms: number | null;
    total_ms: number | null;
    bytes: number | null;
    ok: number | null;
    rolled_back: number;
    error: string | null;
  }>('SELECT * FROM migrations WHERE experiment_id = ? ORDER BY id');
  const migrations = migrationRecords.map((m) => ({
    ...base,
    user: m.user,
    migration: m.id,
    from: m.from_host,
    to: m.to_host,
    strategy: m.strategy,
    codec: m.codec,
    t_ms: rel(m.started_ms),
    downtime_ms: m.downtime_ms,
    total_ms: m.total_ms,
    bytes: m.bytes,
    // null: the migration had not ended (no finish recorded), as migrations.csv says.
    ok: m.ok === null ? null : m.ok === 1,
    rolled_back: m.rolled_back === 1,
    error: m.error,
  }));
  const userOf = new Map(migrationRecords.map((m) => [m.id, m.user]));
  const phases = state.migrations.phasesForExperiment(id);
  const migrationPhases = phases.map((p) => ({
    ...base,
    user: userOf.get(p.migrationId) ?? null,
    migration: p.migrationId,
    seq: p.seq,
    phase: p.name,
    start_ms: p.startMs,
    duration_ms: p.durationMs,
    bytes: p.bytes,
  }));
  const handovers = q<{
    user: string;
    at_ms: number;
    from_bs: string | null;
    to_bs: string;
    duration_ms: number | null;
    link_down_ms: number | null;
    trigger: string | null;
  }>('SELECT * FROM handovers WHERE experiment_id = ? ORDER BY at_ms, id').map((h) => ({
    ...base,
    user: h.user,
    t_ms: rel(h.at_ms),
    from_bs: h.from_bs,
    to_bs: h.to_bs,
    duration_ms: h.duration_ms,
    link_down_ms: h.link_down_ms,
    trigger: h.trigger,
  }));
  const outages = q<{
    user: string;
    start_ms: number;
    end_ms: number | null;
    cause: string;
    detail: string | null;
  }>('SELECT * FROM gaps WHERE experiment_id = ? ORDER BY start_ms, id').map((g) => ({
    ...base,
    user: g.user,
    t_ms: rel(g.start_ms),
    end_t_ms: rel(g.end_ms),
    duration_ms: g.end_ms === null ? null : g.end_ms - g.start_ms,
    cause: g.cause,
    detail: g.detail,
  }));
  const checkpoints = q<{
    migration_id: number;
    user: string;
    host: string;
    kind: string;
    bytes: number;
    ms: number;
  }>(
    `SELECT c.* FROM checkpoints c JOIN migrations m ON m.id = c.migration_id
     WHERE m.experiment_id = ? ORDER BY c.at_ms, c.id`,
  ).map((c) => ({
    ...base,
    user: c.user,
    migration: c.migration_id,
    host: c.host,
    kind: c.kind,
    bytes: c.bytes,
    ms: c.ms,
  }));
  const decisions = state.decisions.forExperiment(id).map((d) => ({ ...base, ...decisionRow(d, t0) }));
  const reports = state.userReports.forExperiment(id);
  const positions = reports.map((r) => ({
    ...base,
    user: r.user,
    t_ms: rel(r.atMs),
    x_m: r.position[0],
    y_m: r.position[1],
    bs: r.bs,
    rssi_dbm: r.bs === null ? null : (r.rssi[r.bs] ?? null),
    rate_mbps: r.rateBps === null ? null : r.rateBps / 1e6,
  }));
  const rssi = reports.flatMap((r) =>
    Object.entries(r.rssi)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([bs, dbm]) => ({ ...base, user: r.user, t_ms: rel(r.atMs), bs, rssi_dbm: dbm })),
  );
  const hostStats = state.hostStats.between(t0, untilMs).map((s) => ({
    ...base,
    t_ms: rel(s.atMs),
    host: s.host,
    container: s.container,
    cpu_pct: s.cpuPct,
    mem_bytes: s.memBytes,
    mem_limit_bytes: s.memLimitBytes,
    load1: s.load1,
    cpus: s.cpus,
  }));
  const links = state.links.between(t0, untilMs).map((l) => ({
    ...base,
    t_ms: rel(l.atMs),
    from: l.fromHost,
    to: l.toHost,
    rtt_ms: l.rttMs,
    bandwidth_mbps: l.bandwidthBps === null ? null : l.bandwidthBps / 1e6,
    method: l.method,
  }));
  const capacity =
    run.servers && run.users
      ? capacityTimeline(
          run.servers,
          run.users,
          migrationRecords.map((m) => ({
            user: m.user,
            from: m.from_host,
            to: m.to_host,
            startedMs: m.started_ms,
            ok: m.ok === null ? null : m.ok === 1,
            rolledBack: m.rolled_back === 1,
            totalMs: m.total_ms,
            phases: phases.filter((p) => p.migrationId === m.id),
          })),
          t0,
        ).map((r) => ({ ...base, ...r }))
      : [];
  // Rounded here, to what was measured, so that summary.json is computed from the numbers the files hold.
  return {
    tasks: roundRows('tasks', tasks),
    migrations: roundRows('migrations', migrations),
    migrationPhases: roundRows('migration_phases', migrationPhases),
    handovers: roundRows('handovers', handovers),
    outages: roundRows('outages', outages),
    checkpoints: roundRows('checkpoints', checkpoints),
    decisions: roundRows('decisions', decisions),
    positions: roundRows('positions', positions),
    rssi: roundRows('rssi', rssi),
    hostStats: roundRows('host_stats', hostStats),
    links: roundRows('links', links),
    capacity: roundRows('capacity', capacity),
  };
}
