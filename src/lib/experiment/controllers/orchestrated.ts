/**
 * The orchestrated planner's controller. Every tick it plans from the monitor data (the snapshot, the
 * models, the MIP: `plan` is given), and for a user whose schedule is about to start it carries the decision
 * out: pre-migration at once, the migration's final checkpoint held until its instant, and the handover
 * command sent to the agent for its own instant, so that the two outages fall into one. Each decision is a
 * `coordinated` row: planned instants and the planner's estimates when it acts, then what happened (the
 * migration's phases and outage, the handover's link-down instant and gap, whether the handover fell inside
 * the outage) as it comes.
 *
 * The agent reports every handover it was told to make, with the decision's id: done, failed, or `dropped`
 * when it could not be carried out; a dropped one is recorded so, and the user is planned for again (and
 * handed over at once if it is on a base station it cannot decode). Only handovers predicted within the
 * run's duration are planned for, as the baselines react only to those within it: the same walk, the same
 * handovers. After the duration no new decision is taken; the idle controller is one whose moves and
 * handovers have all ended.
 *
 * An outside planner (planner/custom.ts) runs through this controller too. A round it fails (time limit,
 * crash, an answer that breaks a constraint) is dropped: every user stays where it is, one `rejected` row
 * per user records why, a warning says so (once per distinct failure), and the next tick plans again.
 */
import { errorMessage } from '../../errors.js';
import { decideHandover, type RadioSite } from '../../mobility/index.js';
import type { AgentReport, HandoverReport } from '../../mu/agent-protocol.js';
import { PlannerError } from '../../planner/custom.js';
import type { Decision, PlanResult } from '../../planner/plan.js';
import type { MoveOutcome } from '../move.js';
import {
  type Controller,
  type ControllerContext,
  type DecisionPatch,
  handoverInside,
  movePatch,
  recordDecision,
  type UserRun,
} from './controller.js';

/** Two decisions for predicted handovers closer than this are for the same handover (the prediction moves a little). */
export const SAME_HANDOVER_MS = 5000;
/** A handover the agent has not reported this long after its instant is taken as dropped (its gap is measured within 10 s). */
export const HANDOVER_REPORT_TIMEOUT_MS = 20_000;

export interface OrchestratedOptions {
  /** Plans now (from the state database, in the run). */
  plan: () => Promise<PlanResult>;
  /** How often tick is called (ms): a decision is acted on when its schedule starts before the next one. */
  planEveryMs: number;
  /** The end of the run's duration (epoch ms, known once it starts): handovers predicted after it are not planned for. */
  untilMs: () => number;
  /** The base stations, for the rule that keeps a user on one it can decode. */
  basestations: readonly RadioSite[];
  /** Whether a server has room for the user's service now (absent: every move is carried out as planned). */
  hasRoom?: (user: UserRun, host: string) => boolean;
}

/** One coordinated decision as it is carried out: its row is finished when its migration and handover have ended. */
class Carried {
  private move: MoveOutcome | null = null;
  private handover: HandoverReport | null = null;
  private moveEnded: boolean;
  private handoverEnded: boolean;
  private failure: string | null = null;
  private drop: string | null = null;

  constructor(
    private readonly ctx: ControllerContext,
    readonly id: number,
    migrate: boolean,
    handover: boolean,
    private readonly linkBps: number | null,
  ) {
    this.moveEnded = !migrate;
    this.handoverEnded = !handover;
  }

  moved(o: MoveOutcome): void {
    this.move = o;
    this.moveEnded = true;
    if (!o.ok) this.failure ??= `migration: ${o.error ?? 'failed'}`;
    this.update(movePatch(o, this.linkBps));
  }

  handedOver(h: HandoverReport): void {
    this.handover = h;
    this.handoverEnded = true;
    // A handover with an error but a link that went down did happen (e.g. its blackout leaked): its instant counts.
    const happened = !h.error || h.linkDownMs > 0;
    if (h.error) this.failure ??= `handover: ${h.error}`;
    // T_ho as the planner means it: the handover's own radio outage (its gap as the user saw it also holds
    // the migration's outage around it).
    this.update(happened ? { actualHandoverMs: h.t, measHoMs: h.linkDownMs } : {});
  }

  dropped(why: string): void {
    this.handoverEnded = true;
    this.drop = why;
    this.update({});
  }

  private update(patch: DecisionPatch): void {
    if (!this.moveEnded || !this.handoverEnded) {
      this.ctx.decisions.update(this.id, patch);
      return;
    }
    const happened = this.handover && (!this.handover.error || this.handover.linkDownMs > 0);
    this.ctx.decisions.update(this.id, {
      ...patch,
      handoverInside: handoverInside(
        happened && this.handover ? { downMs: this.handover.t, linkDownMs: this.handover.linkDownMs } : null,
        this.move?.outage ?? null,
      ),
      status: this.drop ? 'dropped' : this.failure ? 'failed' : 'done',
      error: this.drop ?? this.failure,
    });
  }
}

interface Awaited {
  /** The decision's id, sent with the command and reported back. */
  id: number;
  to: string;
  atMs: number;
  carried: Carried;
}

export class OrchestratedController implements Controller {
  private closed = false;
  private readonly moving = new Map<string, Promise<void>>();
  /** The handover each user was told to make, until its report comes. */
  private readonly awaited = new Map<string, Awaited>();
  /** The predicted handover each user's last decision was for. */
  private readonly scheduledFor = new Map<string, number>();
  /** The outside planner's failures warned about (each distinct message once). */
  private readonly warned = new Set<string>();
  /** Moves held back for room (user, server, predicted handover), each said once. */
  private readonly waitedForRoom = new Set<string>();

  constructor(
    private readonly ctx: ControllerContext,
    private readonly o: OrchestratedOptions,
  ) {}

  onReport(u: UserRun, r: AgentReport): void {
    if (r.type === 'position') this.safety(u);
    if (r.type !== 'handover') return;
    const h = r;
    const a = this.awaited.get(u.name);
    // Only the report of the handover it was told to make (one without an id: the next commanded one).
    if (!a || (h.id != null ? h.id !== a.id : h.trigger !== 'command')) return;
    this.awaited.delete(u.name);
    if (h.dropped) {
      a.carried.dropped(`the agent dropped the handover to ${a.to}: ${h.error ?? 'no reason given'}`);
      this.ctx.warn(
        `${u.name}'s handover to ${a.to} was dropped by its agent (${h.error ?? '-'}): planning again`,
      );
      // Planned again at the next tick; a user left on a base station it cannot decode moves now.
      this.scheduledFor.delete(u.name);
      this.safety(u);
      return;
    }
    a.carried.handedOver(h);
  }

  async tick(nowMs: number): Promise<void> {
    if (this.closed || this.ctx.signal?.aborted) return;
    this.expire(nowMs);
    // A user is planned for once its agent has reported where it is in this run: until then the newest
    // report in the state database is the previous run's (its end of the walk), and a plan from it moved
    // the service away at the run's first tick (measured on the lab: a planner run after another).
    const free = this.ctx.users.filter(
      (u) =>
        u.agent && !this.moving.has(u.name) && !this.awaited.has(u.name) && Object.keys(u.rssi).length > 0,
    );
    if (free.length === 0) return;
    let r: PlanResult;
    try {
      r = await this.o.plan();
    } catch (err) {
      if (!(err instanceof PlannerError) || this.closed || this.ctx.signal?.aborted) throw err;
      this.rejected(free, err);
      return;
    }
    // The plan took its time: the duration may be over, or the run stopped, meanwhile.
    if (this.closed || this.ctx.signal?.aborted) return;
    for (const d of r.decisions) {
      const u = free.find((x) => x.name === d.user);
      if (!u || (!d.migrate && !d.handover)) continue;
      // The same handovers as the baselines': those inside the run's duration.
      if (d.predictedHandover && d.predictedHandover.atMs > this.o.untilMs()) continue;
      // Acts once per predicted handover, when its schedule is about to start.
      const due = d.triggers.preMigrationAt ?? d.triggers.handoverAt ?? d.triggers.migrationAt ?? 0;
      const key = d.predictedHandover?.atMs ?? 0;
      const before = this.scheduledFor.get(u.name);
      if (before !== undefined && Math.abs(before - key) < SAME_HANDOVER_MS) continue;
      if (due > this.ctx.now() + this.o.planEveryMs) continue;
      // Capacity binds at every instant, not only in the plan's end state: a move whose destination is still
      // full (a user the plan moves out of it has not left yet) waits for a later round.
      if (d.migrate && this.o.hasRoom && !this.o.hasRoom(u, d.host)) {
        const waitKey = `${u.name} ${d.host} ${key}`;
        if (!this.waitedForRoom.has(waitKey))
          this.ctx.note(`${u.name}: ${d.host} has no room for it yet; planning again`);
        this.waitedForRoom.add(waitKey);
        continue;
      }
      this.act(u, d, key);
    }
  }

  close(): void {
    this.closed = true;
  }

  idle(nowMs: number): boolean {
    this.expire(nowMs);
    return this.moving.size === 0 && this.awaited.size === 0;
  }

  pending(nowMs: number): string[] {
    const out: string[] = [];
    for (const u of this.ctx.users) {
      if (this.moving.has(u.name)) out.push(`${u.name}: its migration from ${u.host} was under way`);
      const a = this.awaited.get(u.name);
      if (a)
        out.push(
          `${u.name}: its handover to ${a.to} (planned ${((a.atMs - nowMs) / 1000).toFixed(1)} s from then) had not been reported`,
        );
    }
    return out;
  }

  async settled(): Promise<void> {
    while (this.moving.size > 0) await Promise.all([...this.moving.values()]);
  }

  /** An outside planner's failed round: nobody moves; each user's row says why. */
  private rejected(free: readonly UserRun[], err: PlannerError): void {
    const reason = err.message;
    if (!this.warned.has(reason)) {
      this.warned.add(reason);
      this.ctx.warn(
        `${reason}: the round is dropped, every user stays (further rounds failing alike not repeated)`,
      );
    }
    for (const u of free)
      recordDecision(this.ctx, u.name, 'coordinated', {
        fromBs: u.bs,
        toBs: u.bs,
        fromHost: u.host,
        toHost: u.host,
        status: 'rejected',
        error: reason,
      });
  }

  /** Carries one decision out: its row, the handover command for its instant, the migration held for its own. */
  private act(u: UserRun, d: Decision, key: number): void {
    const ctx = this.ctx;
    this.scheduledFor.set(u.name, key);
    const rel = (at: number | null) => (at === null ? '-' : `+${((at - ctx.now()) / 1000).toFixed(1)} s`);
    ctx.note(
      `${u.name}: ${d.from.bs}/${d.from.host} -> ${d.bs}/${d.host} (migration at ${rel(d.triggers.migrationAt)}, handover at ${rel(d.triggers.handoverAt)}, t_ho ${rel(d.predictedHandover?.atMs ?? null)})`,
    );
    const id = recordDecision(ctx, u.name, 'coordinated', {
      fromBs: d.from.bs,
      toBs: d.bs,
      fromHost: d.from.host,
      toHost: d.host,
      predictedHoMs: d.predictedHandover?.atMs ?? null,
      plannedPreMs: d.triggers.preMigrationAt,
      plannedCheckpointMs: d.triggers.migrationAt,
      plannedHandoverMs: d.triggers.handoverAt,
      // T_pre as measured (pre-checkpoint + pre-transfer): the estimate without its set-up.
      estPreMs:
        d.migrate && d.estimates.preMigMs !== null ? d.estimates.preMigMs - (d.estimates.setupMs ?? 0) : null,
      estMigMs: d.migrate ? d.estimates.migMs : null,
      estHoMs: d.handover ? d.estimates.hoMs : null,
    });
    const carried = new Carried(
      ctx,
      id,
      d.migrate,
      d.handover,
      d.migrate && d.from.host ? ctx.linkBps(d.from.host, d.host) : null,
    );
    if (d.handover) {
      const at = d.triggers.handoverAt;
      this.awaited.set(u.name, { id, to: d.bs, atMs: at ?? ctx.now(), carried });
      u.agent?.handover(d.bs, at ?? undefined, id);
    }
    if (d.migrate) {
      u.movingTo = d.host;
      const moving = ctx
        .move({ user: u, to: d.host, at: d.triggers.migrationAt })
        .then((o) => {
          u.host = o.host;
          if (o.ok) u.migrations++;
          carried.moved(o);
        })
        .catch((err: unknown) => ctx.warn(`${u.name}'s move to ${d.host}: ${errorMessage(err)}`))
        .finally(() => {
          u.movingTo = undefined;
          this.moving.delete(u.name);
        });
      this.moving.set(u.name, moving);
    }
  }

  /**
   * Orchestrated never leaves a user on a base station it cannot decode, plan or no plan: handed over at once
   * to the one the RSSI rule gives (a `reactive` decision: it reacts to the signal). Not after the duration.
   */
  private safety(u: UserRun): void {
    const ctx = this.ctx;
    if (this.closed || ctx.signal?.aborted || !u.bs || !u.agent || this.awaited.has(u.name)) return;
    const site = this.o.basestations.find((b) => b.name === u.bs);
    const rssi = u.rssi[u.bs];
    if (!site || rssi === undefined || rssi >= site.pathLoss.minRssiDbm) return;
    const to = decideHandover(u.bs, u.rssi, this.o.basestations);
    if (!to || to === u.bs) return;
    ctx.warn(`${u.name} lost ${u.bs} before any plan moved it: handed over to ${to} now`);
    const id = recordDecision(ctx, u.name, 'reactive', {
      fromBs: u.bs,
      toBs: to,
      fromHost: u.host,
      toHost: u.host,
    });
    this.awaited.set(u.name, { id, to, atMs: ctx.now(), carried: new Carried(ctx, id, false, true, null) });
    u.agent.handover(to, undefined, id);
  }

  /** A handover never reported long after its instant: recorded as dropped, and planned for again. */
  private expire(nowMs: number): void {
    for (const [user, a] of this.awaited)
      if (nowMs - a.atMs > HANDOVER_REPORT_TIMEOUT_MS) {
        this.awaited.delete(user);
        this.scheduledFor.delete(user);
        a.carried.dropped(
          `no report of the handover to ${a.to} within ${HANDOVER_REPORT_TIMEOUT_MS / 1000} s of its instant`,
        );
        this.ctx.warn(`${user}'s handover to ${a.to} was never reported by its agent`);
      }
  }
}
