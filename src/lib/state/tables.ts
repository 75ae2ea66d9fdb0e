/** One class per table family of the state database; rows come back as plain typed objects. */
import type Database from 'better-sqlite3';

export interface Placement {
  user: string;
  service: string;
  host: string;
  container: string;
  containerId: string;
  address: string;
  port: number;
  sinceMs: number;
}

interface PlacementRow {
  user: string;
  service: string;
  host: string;
  container: string;
  container_id: string;
  address: string;
  port: number;
  since_ms: number;
}

const toPlacement = (r: PlacementRow): Placement => ({
  user: r.user,
  service: r.service,
  host: r.host,
  container: r.container,
  containerId: r.container_id,
  address: r.address,
  port: r.port,
  sinceMs: r.since_ms,
});

export class Placements {
  constructor(private readonly db: Database.Database) {}

  get(user: string): Placement | undefined {
    const r = this.db.prepare('SELECT * FROM placements WHERE user = ?').get(user) as
      | PlacementRow
      | undefined;
    return r ? toPlacement(r) : undefined;
  }

  list(): Placement[] {
    return (this.db.prepare('SELECT * FROM placements ORDER BY user').all() as PlacementRow[]).map(
      toPlacement,
    );
  }

  /** Records where a user's service runs now; the placement it replaces goes to the history. */
  set(p: Placement, reason = 'moved'): void {
    this.db.transaction(() => {
      const old = this.get(p.user);
      if (old) this.archive(old, p.sinceMs, reason);
      this.db
        .prepare(
          `INSERT INTO placements (user, service, host, container, container_id, address, port, since_ms)
           VALUES (@user, @service, @host, @container, @containerId, @address, @port, @sinceMs)
           ON CONFLICT(user) DO UPDATE SET service = excluded.service, host = excluded.host,
             container = excluded.container, container_id = excluded.container_id, address = excluded.address,
             port = excluded.port, since_ms = excluded.since_ms`,
        )
        .run(p);
    })();
  }

  remove(user: string, atMs: number, reason = 'undeployed'): Placement | undefined {
    return this.db.transaction(() => {
      const old = this.get(user);
      if (!old) return undefined;
      this.archive(old, atMs, reason);
      this.db.prepare('DELETE FROM placements WHERE user = ?').run(user);
      return old;
    })();
  }

  /** Forgets every placement on one of `hosts` (their containers are gone), each kept in the history. */
  removeOn(hosts: readonly string[], atMs: number, reason: string): Placement[] {
    const on = new Set(hosts);
    return this.db.transaction(() =>
      this.list()
        .filter((p) => on.has(p.host))
        .map((p) => this.remove(p.user, atMs, reason))
        .filter((p): p is Placement => p !== undefined),
    )();
  }

  history(user: string): { host: string; sinceMs: number; untilMs: number; reason: string }[] {
    return this.db
      .prepare(
        'SELECT host, since_ms AS sinceMs, until_ms AS untilMs, reason FROM placement_history WHERE user = ? ORDER BY id',
      )
      .all(user) as { host: string; sinceMs: number; untilMs: number; reason: string }[];
  }

  private archive(p: Placement, untilMs: number, reason: string): void {
    this.db
      .prepare(
        `INSERT INTO placement_history (user, service, host, container, since_ms, until_ms, reason)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(p.user, p.service, p.host, p.container, p.sinceMs, untilMs, reason);
  }
}

export interface TaskRecord {
  experimentId?: number | null;
  user: string;
  bs: string | null;
  host: string | null;
  service: string | null;
  taskId: number | null;
  counter: number | null;
  sentMs: number;
  bytes: number;
  e2eMs: number | null;
  procMs: number | null;
  txMs: number | null;
  reconnects: number;
  ok: boolean;
  error: string | null;
  /** The user's address as the service saw it (the NAT address of the AP the task went through). */
  peer?: string | null;
}

export class Tasks {
  constructor(private readonly db: Database.Database) {}

  /** Inserts many tasks in one transaction; returns their row ids. */
  insert(tasks: readonly TaskRecord[]): number[] {
    const stmt = this.db.prepare(
      `INSERT INTO tasks (experiment_id, user, bs, host, service, task_id, counter, sent_ms, bytes, e2e_ms, proc_ms, tx_ms, reconnects, ok, error, peer)
       VALUES (@experimentId, @user, @bs, @host, @service, @taskId, @counter, @sentMs, @bytes, @e2eMs, @procMs, @txMs, @reconnects, @ok, @error, @peer)`,
    );
    return this.db.transaction(() =>
      tasks.map((t) =>
        Number(
          stmt.run({ ...t, experimentId: t.experimentId ?? null, ok: t.ok ? 1 : 0, peer: t.peer ?? null })
            .lastInsertRowid,
        ),
      ),
    )();
  }

  forUser(user: string, sinceMs = 0): TaskRecord[] {
    const rows = this.db
      .prepare(
        `SELECT experiment_id AS experimentId, user, bs, host, service, task_id AS taskId, counter, sent_ms AS sentMs, bytes,
                e2e_ms AS e2eMs, proc_ms AS procMs, tx_ms AS txMs, reconnects, ok, error, peer
         FROM tasks WHERE user = ? AND sent_ms >= ? ORDER BY sent_ms, id`,
      )
      .all(user, sinceMs) as (Omit<TaskRecord, 'ok'> & { ok: number })[];
    return rows.map((r) => ({ ...r, ok: r.ok === 1 }));
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM tasks').get() as { n: number }).n;
  }

  /** When the user's newest task was sent (epoch ms), or null when it never sent one. */
  lastSentMs(user: string): number | null {
    return (
      this.db.prepare('SELECT max(sent_ms) AS t FROM tasks WHERE user = ?').get(user) as { t: number | null }
    ).t;
  }
}

export interface HostFact {
  host: string;
  cpuScore: number | null;
  cpuScoreMs: number | null;
  cpus: number | null;
  memMb: number | null;
  /** Whether the latency of the links into this host was emulated when last provisioned or checked. */
  latencyEmulated: boolean | null;
  /** netem or nfqueue (edgectl-delay); null where not emulated. */
  latencyMethod: string | null;
  /** When latencyEmulated was recorded. */
  latencyMs: number | null;
  updatedMs: number;
}

export class HostFacts {
  constructor(private readonly db: Database.Database) {}

  get(host: string): HostFact | undefined {
    const r = this.db
      .prepare(
        `SELECT host, cpu_score AS cpuScore, cpu_score_ms AS cpuScoreMs, cpus, mem_mb AS memMb,
                latency_emulated AS latencyEmulated, latency_method AS latencyMethod, latency_ms AS latencyMs,
                updated_ms AS updatedMs
         FROM host_facts WHERE host = ?`,
      )
      .get(host) as (Omit<HostFact, 'latencyEmulated'> & { latencyEmulated: number | null }) | undefined;
    return r
      ? { ...r, latencyEmulated: r.latencyEmulated === null ? null : r.latencyEmulated === 1 }
      : undefined;
  }

  /** What provision applied (or hosts check saw) for the latency of the links into `host`. */
  setLatency(host: string, emulated: boolean | null, method: string | null, atMs: number): void {
    this.db
      .prepare(
        `INSERT INTO host_facts (host, latency_emulated, latency_method, latency_ms, updated_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(host) DO UPDATE SET latency_emulated = excluded.latency_emulated,
           latency_method = excluded.latency_method, latency_ms = excluded.latency_ms, updated_ms = excluded.updated_ms`,
      )
      .run(host, emulated === null ? null : emulated ? 1 : 0, method, atMs, atMs);
  }

  setCpuScore(host: string, score: number, atMs: number): void {
    this.db
      .prepare(
        `INSERT INTO host_facts (host, cpu_score, cpu_score_ms, updated_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT(host) DO UPDATE SET cpu_score = excluded.cpu_score, cpu_score_ms = excluded.cpu_score_ms, updated_ms = excluded.updated_ms`,
      )
      .run(host, score, atMs, atMs);
  }

  setCapacity(host: string, cpus: number, memMb: number, atMs: number): void {
    this.db
      .prepare(
        `INSERT INTO host_facts (host, cpus, mem_mb, updated_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT(host) DO UPDATE SET cpus = excluded.cpus, mem_mb = excluded.mem_mb, updated_ms = excluded.updated_ms`,
      )
      .run(host, cpus, memMb, atMs);
  }
}

export interface LinkMeasurement {
  atMs: number;
  fromHost: string;
  toHost: string;
  rttMs: number | null;
  bandwidthBps: number | null;
  method: string;
}

export class Links {
  constructor(private readonly db: Database.Database) {}

  insert(m: LinkMeasurement): void {
    this.db
      .prepare(
        'INSERT INTO link_measurements (at_ms, from_host, to_host, rtt_ms, bandwidth_bps, method) VALUES (@atMs, @fromHost, @toHost, @rttMs, @bandwidthBps, @method)',
      )
      .run(m);
  }

  latest(fromHost: string, toHost: string): LinkMeasurement | undefined {
    return this.db
      .prepare(
        `SELECT at_ms AS atMs, from_host AS fromHost, to_host AS toHost, rtt_ms AS rttMs, bandwidth_bps AS bandwidthBps, method
         FROM link_measurements WHERE from_host = ? AND to_host = ? ORDER BY at_ms DESC, id DESC LIMIT 1`,
      )
      .get(fromHost, toHost) as LinkMeasurement | undefined;
  }

  /** Every measurement taken from `fromMs` to `toMs` (epoch ms, both included), oldest first. */
  between(fromMs: number, toMs: number): LinkMeasurement[] {
    return this.db
      .prepare(
        `SELECT at_ms AS atMs, from_host AS fromHost, to_host AS toHost, rtt_ms AS rttMs, bandwidth_bps AS bandwidthBps, method
         FROM link_measurements WHERE at_ms >= ? AND at_ms <= ? ORDER BY at_ms, id`,
      )
      .all(fromMs, toMs) as LinkMeasurement[];
  }
}

export interface MigrationRecord {
  experimentId?: number | null;
  user: string;
  service: string;
  fromHost: string;
  toHost: string;
  strategy: string;
  codec: string | null;
  startedMs: number;
}

export interface PhaseRecord {
  name: string;
  startMs: number;
  durationMs: number;
  bytes: number | null;
}

export class Migrations {
  constructor(private readonly db: Database.Database) {}

  start(m: MigrationRecord): number {
    return Number(
      this.db
        .prepare(
          `INSERT INTO migrations (experiment_id, user, service, from_host, to_host, strategy, codec, started_ms)
           VALUES (@experimentId, @user, @service, @fromHost, @toHost, @strategy, @codec, @startedMs)`,
        )
        .run({ ...m, experimentId: m.experimentId ?? null }).lastInsertRowid,
    );
  }

  finish(
    id: number,
    r: {
      finishedMs: number;
      downtimeMs: number | null;
      totalMs: number;
      bytes: number;
      ok: boolean;
      rolledBack: boolean;
      error: string | null;
    },
    phases: readonly PhaseRecord[],
  ): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `UPDATE migrations SET finished_ms = @finishedMs, downtime_ms = @downtimeMs, total_ms = @totalMs, bytes = @bytes,
             ok = @ok, rolled_back = @rolledBack, error = @error WHERE id = @id`,
        )
        .run({ ...r, id, ok: r.ok ? 1 : 0, rolledBack: r.rolledBack ? 1 : 0 });
      const stmt = this.db.prepare(
        'INSERT INTO migration_phases (migration_id, seq, name, start_ms, duration_ms, bytes) VALUES (?, ?, ?, ?, ?, ?)',
      );
      for (const [i, p] of phases.entries()) stmt.run(id, i, p.name, p.startMs, p.durationMs, p.bytes);
    })();
  }

  phases(id: number): PhaseRecord[] {
    return this.db
      .prepare(
        'SELECT name, start_ms AS startMs, duration_ms AS durationMs, bytes FROM migration_phases WHERE migration_id = ? ORDER BY seq',
      )
      .all(id) as PhaseRecord[];
  }

  /** The phases of every migration of an experiment, by migration then in order. */
  phasesForExperiment(experimentId: number): (PhaseRecord & { migrationId: number; seq: number })[] {
    return this.db
      .prepare(
        `SELECT p.migration_id AS migrationId, p.seq, p.name, p.start_ms AS startMs, p.duration_ms AS durationMs, p.bytes
         FROM migration_phases p JOIN migrations m ON m.id = p.migration_id
         WHERE m.experiment_id = ? ORDER BY p.migration_id, p.seq`,
      )
      .all(experimentId) as (PhaseRecord & { migrationId: number; seq: number })[];
  }

  get(id: number): Record<string, unknown> | undefined {
    return this.db.prepare('SELECT * FROM migrations WHERE id = ?').get(id) as
      | Record<string, unknown>
      | undefined;
  }
}

export class Checkpoints {
  constructor(private readonly db: Database.Database) {}

  insert(c: {
    migrationId: number | null;
    atMs: number;
    host: string;
    user: string;
    kind: string;
    bytes: number;
    ms: number;
  }): void {
    this.db
      .prepare(
        'INSERT INTO checkpoints (migration_id, at_ms, host, user, kind, bytes, ms) VALUES (@migrationId, @atMs, @host, @user, @kind, @bytes, @ms)',
      )
      .run(c);
  }

  forHost(host: string): { kind: string; bytes: number; ms: number }[] {
    return this.db
      .prepare('SELECT kind, bytes, ms FROM checkpoints WHERE host = ? ORDER BY at_ms')
      .all(host) as {
      kind: string;
      bytes: number;
      ms: number;
    }[];
  }
}

export interface HandoverRecord {
  experimentId?: number | null;
  /** When the link went down (epoch ms, the controller's time base). */
  atMs: number;
  user: string;
  fromBs: string | null;
  toBs: string;
  /** The gap in service the user saw: last answer before it to the first request answered after it. */
  durationMs: number | null;
  /** The radio blackout as applied: link down to path switched. */
  linkDownMs?: number | null;
  /** Last answer before the gap to the first answer after it (one round trip more than durationMs). */
  answerGapMs?: number | null;
  /** What started it: `rssi` (the agent's hysteresis rule), `command` (the controller), `cli` (edgectl handover). */
  trigger?: string | null;
}

export class Handovers {
  constructor(private readonly db: Database.Database) {}

  insert(h: HandoverRecord): number {
    return Number(
      this.db
        .prepare(
          `INSERT INTO handovers (experiment_id, at_ms, user, from_bs, to_bs, duration_ms, link_down_ms, answer_gap_ms, trigger)
           VALUES (@experimentId, @atMs, @user, @fromBs, @toBs, @durationMs, @linkDownMs, @answerGapMs, @trigger)`,
        )
        .run({
          ...h,
          experimentId: h.experimentId ?? null,
          linkDownMs: h.linkDownMs ?? null,
          answerGapMs: h.answerGapMs ?? null,
          trigger: h.trigger ?? null,
        }).lastInsertRowid,
    );
  }

  forUser(user: string, sinceMs = 0): HandoverRecord[] {
    return this.db
      .prepare(
        `SELECT experiment_id AS experimentId, at_ms AS atMs, user, from_bs AS fromBs, to_bs AS toBs, duration_ms AS durationMs,
                link_down_ms AS linkDownMs, answer_gap_ms AS answerGapMs, trigger
         FROM handovers WHERE user = ? AND at_ms >= ? ORDER BY at_ms, id`,
      )
      .all(user, sinceMs) as HandoverRecord[];
  }
}

/** What a user's agent reported at one instant: where it is, what it hears, where it is attached. */
export interface UserReport {
  experimentId?: number | null;
  atMs: number;
  user: string;
  position: [x: number, y: number];
  bs: string | null;
  /** RSSI (dBm) to every base station. */
  rssi: Record<string, number>;
  /** The radio rate its RSSI to its base station gives (and its rate cap is set to). */
  rateBps: number | null;
}

export class UserReports {
  constructor(private readonly db: Database.Database) {}

  insert(reports: readonly UserReport[]): void {
    const stmt = this.db.prepare(
      `INSERT INTO user_reports (experiment_id, at_ms, user, x, y, bs, rssi, rate_bps)
       VALUES (@experimentId, @atMs, @user, @x, @y, @bs, @rssi, @rateBps)`,
    );
    this.db.transaction(() => {
      for (const r of reports)
        stmt.run({
          experimentId: r.experimentId ?? null,
          atMs: r.atMs,
          user: r.user,
          x: r.position[0],
          y: r.position[1],
          bs: r.bs,
          rssi: JSON.stringify(r.rssi),
          rateBps: r.rateBps,
        });
    })();
  }

  latest(user: string): UserReport | undefined {
    return this.forUser(user, 0, 1)[0];
  }

  /** The newest first. */
  forUser(user: string, sinceMs = 0, limit = 1_000_000): UserReport[] {
    return fromReportRows(
      this.db
        .prepare(
          `SELECT experiment_id AS experimentId, at_ms AS atMs, user, x, y, bs, rssi, rate_bps AS rateBps
           FROM user_reports WHERE user = ? AND at_ms >= ? ORDER BY at_ms DESC, id DESC LIMIT ?`,
        )
        .all(user, sinceMs, limit) as ReportRow[],
    );
  }

  /** Every report of an experiment's agents, oldest first. */
  forExperiment(experimentId: number): UserReport[] {
    return fromReportRows(
      this.db
        .prepare(
          `SELECT experiment_id AS experimentId, at_ms AS atMs, user, x, y, bs, rssi, rate_bps AS rateBps
           FROM user_reports WHERE experiment_id = ? ORDER BY at_ms, id`,
        )
        .all(experimentId) as ReportRow[],
    );
  }
}

interface ReportRow {
  experimentId: number | null;
  atMs: number;
  user: string;
  x: number;
  y: number;
  bs: string | null;
  rssi: string;
  rateBps: number | null;
}

function fromReportRows(rows: readonly ReportRow[]): UserReport[] {
  return rows.map(({ x, y, rssi, ...r }) => ({
    ...r,
    position: [x, y],
    rssi: JSON.parse(rssi) as Record<string, number>,
  }));
}

/** A time in which a user got no service, and why (`handover`, `migration`, `outage`). */
export interface GapRecord {
  experimentId?: number | null;
  user: string;
  startMs: number;
  endMs: number | null;
  cause: string;
  detail?: string | null;
}

export class Gaps {
  constructor(private readonly db: Database.Database) {}

  insert(g: GapRecord): void {
    this.db
      .prepare(
        `INSERT INTO gaps (experiment_id, user, start_ms, end_ms, cause, detail)
         VALUES (@experimentId, @user, @startMs, @endMs, @cause, @detail)`,
      )
      .run({ ...g, experimentId: g.experimentId ?? null, detail: g.detail ?? null });
  }

  forUser(user: string, sinceMs = 0): GapRecord[] {
    return this.db
      .prepare(
        `SELECT experiment_id AS experimentId, user, start_ms AS startMs, end_ms AS endMs, cause, detail
         FROM gaps WHERE user = ? AND start_ms >= ? ORDER BY start_ms, id`,
      )
      .all(user, sinceMs) as GapRecord[];
  }
}

/** CPU and memory of a host (container null) or of one container on it, at one instant. */
export interface HostStat {
  atMs: number;
  host: string;
  container: string | null;
  /** Percent of one CPU (a container) or of the whole host (the host: 100 = every core busy). */
  cpuPct: number | null;
  memBytes: number | null;
  memLimitBytes: number | null;
  /** The host's 1-minute load average (null for a container). */
  load1: number | null;
  /** CPUs the host has (null for a container). */
  cpus: number | null;
}

export class HostStats {
  constructor(private readonly db: Database.Database) {}

  insert(stats: readonly HostStat[]): void {
    const stmt = this.db.prepare(
      `INSERT INTO host_stats (at_ms, host, container, cpu_pct, mem_bytes, mem_limit_bytes, load1, cpus)
       VALUES (@atMs, @host, @container, @cpuPct, @memBytes, @memLimitBytes, @load1, @cpus)`,
    );
    this.db.transaction(() => {
      for (const s of stats) stmt.run(s);
    })();
  }

  /** The newest sample of the host itself (container null). */
  latestHost(host: string): HostStat | undefined {
    return this.db
      .prepare(
        `SELECT at_ms AS atMs, host, container, cpu_pct AS cpuPct, mem_bytes AS memBytes, mem_limit_bytes AS memLimitBytes, load1, cpus
         FROM host_stats WHERE host = ? AND container IS NULL ORDER BY at_ms DESC, id DESC LIMIT 1`,
      )
      .get(host) as HostStat | undefined;
  }

  /** The containers' samples taken at the host's newest sampling instant. */
  latestContainers(host: string): HostStat[] {
    return this.db
      .prepare(
        `SELECT at_ms AS atMs, host, container, cpu_pct AS cpuPct, mem_bytes AS memBytes, mem_limit_bytes AS memLimitBytes, load1, cpus
         FROM host_stats WHERE host = ? AND container IS NOT NULL
           AND at_ms = (SELECT max(at_ms) FROM host_stats WHERE host = ? AND container IS NOT NULL)
         ORDER BY container`,
      )
      .all(host, host) as HostStat[];
  }

  /** Every sample taken from `fromMs` to `toMs` (epoch ms, both included), oldest first. */
  between(fromMs: number, toMs: number): HostStat[] {
    return this.db
      .prepare(
        `SELECT at_ms AS atMs, host, container, cpu_pct AS cpuPct, mem_bytes AS memBytes, mem_limit_bytes AS memLimitBytes, load1, cpus
         FROM host_stats WHERE at_ms >= ? AND at_ms <= ? ORDER BY at_ms, host, container, id`,
      )
      .all(fromMs, toMs) as HostStat[];
  }
}
