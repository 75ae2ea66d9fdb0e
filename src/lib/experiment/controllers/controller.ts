/**
 * What an experiment's controller is: the part of a run that decides when a user's service moves and when
 * its radio link does. The run's lifecycle (run.ts) starts the users, feeds every agent report to
 * `onReport`, calls `tick` every planning interval while the run lasts, `close` when its duration is over,
 * and waits until the controller is `idle` (every reaction and decision in flight ended) before tearing the
 * run down. Two implementations: reactive.ts (the baselines, which react to the handovers the users' RSSI
 * makes) and orchestrated.ts (which plans ahead and moves service and link together).
 *
 * Controllers talk to the world only through the ports here (an agent, a move, the decision log), so that
 * their decisions are tested with fakes.
 */
import type { AgentCommand, AgentReport } from '../../mu/agent-protocol.js';
import type { Resources } from '../../planner/baselines.js';
import type { DecisionRecord, NewDecision } from '../../state/index.js';
import type { MoveOutcome, MoveRequest } from '../move.js';

/** What a controller needs of a user's agent. */
export interface AgentPort {
  send(cmd: AgentCommand): void;
  /** Hand over to `to`, now or at controller time `atMs`; `id` comes back in the handover's report. */
  handover(to: string, atMs?: number, id?: number): void;
}

/** One user in a run, shared by the lifecycle (which keeps bs and the clock offset from the reports) and its controller. */
export interface UserRun {
  name: string;
  /** Its start base station, where it is put back at the end. */
  start: string;
  agent?: AgentPort;
  /** The base station its agent last said it is on. */
  bs: string | null;
  /** The server its service runs on. */
  host: string;
  /** The server a move under way takes its service to: its room is taken from the move's start. */
  movingTo?: string;
  /** What its service takes of a server (hosts.yml's limits; 0 when none are given). */
  demand: Resources;
  migrations: number;
  /** Added to the user's machine's clock to get the controller's (its agent measures it). */
  clockOffsetMs: number;
  /** The RSSI (dBm) to every base station at its newest position report. */
  rssi: Record<string, number>;
}

export type DecisionPatch = Partial<Omit<DecisionRecord, 'id'>>;

/** Where decisions are recorded (state.decisions). */
export interface DecisionLog {
  insert(r: NewDecision): number;
  update(id: number, patch: DecisionPatch): void;
}

export type MoveFn = (req: MoveRequest) => Promise<MoveOutcome>;

/** What every controller is given. */
export interface ControllerContext {
  planner: string;
  experimentId: number | null;
  users: readonly UserRun[];
  decisions: DecisionLog;
  /** Migrates a user's service (move.ts); never rejects. */
  move: MoveFn;
  /** Controller time (epoch ms). */
  now: () => number;
  /** The bandwidth of the route between two servers (bit/s), null when unknown or unlimited. */
  linkBps: (from: string, to: string) => number | null;
  signal?: AbortSignal;
  warn: (message: string) => void;
  note: (message: string) => void;
}

export interface Controller {
  /** Every report of a user's agent, after the lifecycle has taken its bs and clock offset. */
  onReport(user: UserRun, report: AgentReport): void;
  /** Called every planning interval while the run's duration lasts. */
  tick(nowMs: number): Promise<void>;
  /** The run's duration is over: no new handover starts from now on. */
  close(nowMs: number): void;
  /** Nothing this controller started is still under way (moves, queued reactions, handovers planned). */
  idle(nowMs: number): boolean;
  /** What is still under way, one line each (RunMeta.truncated when the drain runs out of time). */
  pending(nowMs: number): string[];
  /**
   * Resolves once every move under way has ended (finished or rolled back). From its call on (the run's
   * teardown) the controller starts no new move: the users' containers are about to be removed.
   */
  settled(): Promise<void>;
}

/**
 * Records a decision of this run's controller about a user, taken now: the run's, the planner's and the
 * user's fields filled in; `fields` the rest (status `planned` unless given).
 */
export function recordDecision(
  ctx: ControllerContext,
  user: string,
  kind: DecisionRecord['kind'],
  fields: Omit<NewDecision, 'experimentId' | 'user' | 'planner' | 'kind' | 'decidedMs' | 'status'> &
    Partial<Pick<NewDecision, 'status'>>,
): number {
  return ctx.decisions.insert({
    experimentId: ctx.experimentId,
    user,
    planner: ctx.planner,
    kind,
    decidedMs: ctx.now(),
    status: 'planned',
    ...fields,
  });
}

/** What the run keeps of every report before its controller's turn: where the user is, its RSSI, its clock. */
export function trackReport(u: UserRun, r: AgentReport): void {
  if (r.type === 'handover' && !r.error) u.bs = r.to;
  if (r.type === 'position') {
    u.bs = r.bs;
    u.rssi = r.rssi;
  }
  if (r.type === 'clock') u.clockOffsetMs = r.offsetMs;
}

/** The decision's fields a move's outcome gives: its instants, the probe's outage, the pre phases. */
export function movePatch(o: MoveOutcome, linkBps: number | null): DecisionPatch {
  return {
    migrationId: o.migrationId,
    actualPreMs: o.preStartMs,
    actualCheckpointMs: o.checkpointStartMs,
    measPreMs: o.preMs,
    preBytes: o.preBytes,
    preTransferMs: o.preTransferMs,
    linkBps,
    measMigMs: o.outage ? o.outage.endMs - o.outage.startMs : null,
    outageStartMs: o.outage?.startMs ?? null,
    outageEndMs: o.outage?.endMs ?? null,
  };
}

/**
 * How far the handover's radio outage may stick out of the migration's outage and still count as inside
 * it (ms): the probe sees the migration's outage at 10 ms intervals, and the handover's link-down instant
 * is taken just before its blackout rule is in place (a few ms later), so an answer already on its way can
 * arrive after it. orchestrated starts both outages at the same instant: measured by its knife edge alone,
 * half of them came out "outside" by 1-20 ms.
 */
export const INSIDE_TOLERANCE_MS = 50;

/**
 * Whether the handover's radio outage (link down to link up) lay inside the migration's outage as the
 * probe saw it, within INSIDE_TOLERANCE_MS at either end (null: either unknown). Inside, the two cost the
 * user one outage: the migration's.
 */
export function handoverInside(
  handover: { downMs: number; linkDownMs: number } | null,
  outage: { startMs: number; endMs: number } | null,
): boolean | null {
  if (!handover || !outage) return null;
  return (
    handover.downMs >= outage.startMs - INSIDE_TOLERANCE_MS &&
    handover.downMs + handover.linkDownMs <= outage.endMs + INSIDE_TOLERANCE_MS
  );
}
