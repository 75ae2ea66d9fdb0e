/**
 * The baselines' controller (cloud, random, nearest): the paper's planners "triggered when BS handover is
 * triggered". Each user's agent hands over by itself when its RSSI says so; as its link goes down (its
 * `handover-start` report, not the `handover` report that follows the gap's measurement) the baseline's
 * server for the new base station (planner/baselines.ts) is migrated to. One move per user at a time: a
 * handover begun while the user's service is moving waits until that move ends and is reacted to then (only
 * the newest waits; one it replaces is recorded as dropped). Every move is a `reactive` decision with its
 * reaction delay (link down to final checkpoint) and pre-transfer throughput; the handover's own report
 * adds the gap it made, or says that it failed.
 *
 * When the run's duration is over (`close`) the agents stop handing over by themselves; the handovers that
 * happened inside it are still reacted to, and the controller is idle only once those moves have ended.
 */
import { errorMessage } from '../../errors.js';
import type { AgentReport, HandoverStartReport } from '../../mu/agent-protocol.js';
import {
  type BaselineChoice,
  type BaselineName,
  type BaselineTopology,
  baselineServer,
  type Resources,
  usedBy,
} from '../../planner/baselines.js';
import type { MoveOutcome } from '../move.js';
import {
  type Controller,
  type ControllerContext,
  movePatch,
  recordDecision,
  type UserRun,
} from './controller.js';

/**
 * The experiment's side of the baselines' rule: the server for `user` on `bs`, counting what the other
 * users' services take where they run now (plan.ts counts the users placed before it in the same way).
 */
export function baselinePlacement(
  topology: BaselineTopology,
  planner: BaselineName,
  random: () => number,
  users: readonly Pick<UserRun, 'name' | 'host' | 'demand' | 'movingTo'>[],
  user: Pick<UserRun, 'name' | 'demand'>,
  bs: string,
): BaselineChoice | null {
  // A service on the move holds room on both ends: two users reacting at once must not both take the last
  // room of a server (capacity is a hard limit at every instant, capacity.csv).
  const used = usedByOthers(users, user.name);
  return baselineServer(topology, { planner, bs, demand: user.demand, used, random });
}

/**
 * What the users other than `name` take of each server now: where their services run, and where a move under
 * way takes one (its room is held from the move's start until it ends).
 */
export function usedByOthers(
  users: readonly Pick<UserRun, 'name' | 'host' | 'demand' | 'movingTo'>[],
  name: string,
): Map<string, Resources> {
  return usedBy(
    users
      .filter((x) => x.name !== name)
      .flatMap((x) => [
        { host: x.host, demand: x.demand },
        ...(x.movingTo && x.movingTo !== x.host ? [{ host: x.movingTo, demand: x.demand }] : []),
      ]),
  );
}

interface Waiting {
  report: HandoverStartReport;
}

export class ReactiveController implements Controller {
  private closedAt: number | null = null;
  private readonly moving = new Map<string, Promise<void>>();
  private readonly waiting = new Map<string, Waiting>();
  /** The base station of each user's newest handover report (its start one before any). */
  private readonly reported = new Map<string, string | null>();
  /** The run is being torn down (settled() was called): no move starts any more. */
  private ending = false;
  /** Each user's newest reaction (its decision row) and the base station it reacted to, until the handover's report comes. */
  private readonly reaction = new Map<string, number>();
  private readonly reactedTo = new Map<string, string>();

  constructor(
    private readonly ctx: ControllerContext,
    /** The baseline's server for a user on a base station (baselinePlacement), null: none. */
    private readonly place: (user: UserRun, bs: string) => string | null,
  ) {
    for (const u of ctx.users) this.reported.set(u.name, u.bs);
  }

  onReport(u: UserRun, r: AgentReport): void {
    if (r.type === 'handover') {
      // A failed handover leaves the user where its reports say it is.
      this.reported.set(u.name, r.error ? u.bs : r.to);
      const id = this.reaction.get(u.name);
      if (id !== undefined && this.reactedTo.get(u.name) === r.to) {
        this.reaction.delete(u.name);
        this.ctx.decisions.update(id, { actualHandoverMs: r.t, measHoMs: r.linkDownMs });
        if (r.dropped)
          this.ctx.warn(
            `${u.name}'s handover to ${r.to} failed after its migration had begun: ${r.error ?? 'dropped'}`,
          );
      }
      return;
    }
    if (r.type !== 'handover-start') return;
    const h = r;
    if (this.closedAt !== null && h.t > this.closedAt) {
      this.ctx.warn(
        `${u.name}'s handover ${h.from ?? '-'} -> ${h.to} came after the run's end: not reacted to`,
      );
      return;
    }
    if (this.ctx.signal?.aborted) return;
    if (this.moving.has(u.name)) {
      const before = this.waiting.get(u.name);
      if (before) this.dropped(u, before.report, h);
      this.waiting.set(u.name, { report: h });
      return;
    }
    this.react(u, h);
  }

  async tick(): Promise<void> {}

  close(nowMs: number): void {
    this.closedAt = nowMs;
    for (const u of this.ctx.users) u.agent?.send({ cmd: 'auto', on: false });
  }

  idle(): boolean {
    return this.pending().length === 0;
  }

  pending(): string[] {
    const out: string[] = [];
    for (const u of this.ctx.users) {
      if (this.moving.has(u.name)) out.push(`${u.name}: its migration from ${u.host} was under way`);
      const w = this.waiting.get(u.name);
      if (w) out.push(`${u.name}: its reaction to the handover to ${w.report.to} had not started`);
      // The agent says it is on another base station, and its handover's report has not come yet.
      if (u.bs !== null && u.bs !== this.reported.get(u.name))
        out.push(`${u.name}: its handover to ${u.bs} had not been reported`);
    }
    return out;
  }

  async settled(): Promise<void> {
    this.ending = true;
    while (this.moving.size > 0) await Promise.all([...this.moving.values()]);
  }

  /** The baseline's server for the base station the user handed over to, moved to when it is another. */
  private react(u: UserRun, h: HandoverStartReport): void {
    const to = this.place(u, h.to);
    if (!to || to === u.host) return;
    // The run is being torn down (its containers removed next): a move started now would look for a
    // container that is gone. The old runner did start one for a handover reported during its teardown,
    // and its migration failed at prepare with Docker's 404 "no such container".
    if (this.ending) {
      this.ctx.warn(`${u.name}'s handover to ${h.to} came as the run was ending: not reacted to`);
      return;
    }
    const ctx = this.ctx;
    const from = u.host;
    const id = recordDecision(ctx, u.name, 'reactive', {
      fromBs: h.from,
      toBs: h.to,
      fromHost: from,
      toHost: to,
      actualHandoverMs: h.t,
    });
    this.reaction.set(u.name, id);
    this.reactedTo.set(u.name, h.to);
    u.movingTo = to;
    const done = (o: MoveOutcome) => {
      u.host = o.host;
      if (o.ok) u.migrations++;
      ctx.decisions.update(id, {
        ...movePatch(o, ctx.linkBps(from, to)),
        reactionMs: o.checkpointStartMs === null ? null : o.checkpointStartMs - h.t,
        status: o.ok ? 'done' : 'failed',
        error: o.error,
      });
    };
    const moving = ctx
      .move({ user: u, to })
      .then(done)
      .catch((err: unknown) => ctx.warn(`${u.name}'s move to ${to}: ${errorMessage(err)}`))
      .finally(() => {
        u.movingTo = undefined;
        this.moving.delete(u.name);
        const next = this.waiting.get(u.name);
        this.waiting.delete(u.name);
        if (next && !ctx.signal?.aborted) this.react(u, next.report);
      });
    this.moving.set(u.name, moving);
  }

  /** A waiting reaction replaced by a newer handover before it could start. */
  private dropped(u: UserRun, old: HandoverStartReport, by: HandoverStartReport): void {
    const ctx = this.ctx;
    recordDecision(ctx, u.name, 'reactive', {
      fromBs: old.from,
      toBs: old.to,
      fromHost: u.host,
      toHost: null,
      actualHandoverMs: old.t,
      status: 'dropped',
      error: `the handover to ${by.to} came before a migration under way ended: reacted to that one instead`,
    });
  }
}
