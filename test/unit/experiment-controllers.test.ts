import { describe, expect, it } from 'vitest';
import {
  type AgentPort,
  type Controller,
  type ControllerContext,
  handoverInside,
  trackReport,
  type UserRun,
} from '../../src/lib/experiment/controllers/controller.js';
import {
  HANDOVER_REPORT_TIMEOUT_MS,
  OrchestratedController,
} from '../../src/lib/experiment/controllers/orchestrated.js';
import { ReactiveController } from '../../src/lib/experiment/controllers/reactive.js';
import { type MoveOutcome, type MoveRequest, prePhases } from '../../src/lib/experiment/move.js';
import { drain } from '../../src/lib/experiment/window.js';
import type {
  AgentCommand,
  AgentReport,
  HandoverReport,
  HandoverStartReport,
} from '../../src/lib/mu/agent-protocol.js';
import { PlannerError } from '../../src/lib/planner/custom.js';
import type { Decision, PlanResult } from '../../src/lib/planner/plan.js';
import { openState, type StateDb } from '../../src/lib/state/index.js';

const T = 1_000_000;

/** An agent that keeps what it was told. */
class FakeAgent implements AgentPort {
  readonly sent: AgentCommand[] = [];
  readonly handovers: { to: string; atMs: number | undefined; id: number | undefined }[] = [];
  send(cmd: AgentCommand): void {
    this.sent.push(cmd);
  }
  handover(to: string, atMs?: number, id?: number): void {
    this.handovers.push({ to, atMs, id });
  }
}

/** Moves that end when the test says. */
class FakeMoves {
  readonly requests: MoveRequest[] = [];
  private readonly ends: ((o: MoveOutcome) => void)[] = [];
  readonly move = (req: MoveRequest): Promise<MoveOutcome> => {
    this.requests.push(req);
    return new Promise((resolve) => this.ends.push(resolve));
  };
  /** Ends the oldest move still running. */
  end(over: Partial<MoveOutcome> = {}): void {
    const req = this.requests[this.requests.length - this.ends.length];
    const resolve = this.ends.shift();
    if (!req || !resolve) throw new Error('no move under way');
    const ok = over.ok ?? true;
    resolve({
      ok,
      interrupted: false,
      from: req.user.host,
      to: req.to,
      host: ok ? req.to : req.user.host,
      migrationId: null,
      preStartMs: null,
      checkpointStartMs: null,
      preMs: null,
      preBytes: null,
      preTransferMs: null,
      outage: null,
      error: ok ? null : 'failed at restore',
      ...over,
    });
  }
}

function setup(planner: string) {
  const state: StateDb = openState(':memory:');
  const experimentId = state.experiments.start({
    name: planner,
    planner,
    service: 'simple',
    startedMs: T,
    outDir: null,
    config: null,
  });
  const agent = new FakeAgent();
  const user: UserRun = {
    name: 'mu1',
    start: 'ap1',
    agent,
    bs: 'ap1',
    host: 'edge1',
    demand: { cpus: 0, memMB: 0 },
    migrations: 0,
    clockOffsetMs: 0,
    rssi: { ap1: -70, ap2: -75, ap3: -90 },
  };
  const moves = new FakeMoves();
  const clock = { t: T };
  const warnings: string[] = [];
  const ctx: ControllerContext = {
    planner,
    experimentId,
    users: [user],
    decisions: state.decisions,
    move: moves.move,
    now: () => clock.t,
    linkBps: (a, b) => (a.startsWith('edge') && b.startsWith('edge') ? 100e6 : 75e6),
    warn: (m) => warnings.push(m),
    note: () => {},
  };
  const rows = () => state.decisions.forExperiment(experimentId);
  const migration = () =>
    state.migrations.start({
      experimentId,
      user: 'mu1',
      service: 'simple',
      fromHost: 'edge1',
      toHost: 'edge2',
      strategy: 'delta',
      codec: 'pages',
      startedMs: T,
    });
  return { state, ctx, agent, user, moves, clock, warnings, rows, migration };
}

const handover = (
  over: Partial<Omit<HandoverReport, 'id'>> & { id?: number | null | undefined },
): HandoverReport => ({
  type: 'handover',
  t: T,
  from: 'ap1',
  to: 'ap2',
  trigger: 'rssi',
  plannedAt: null,
  lateMs: null,
  linkDownMs: 500,
  gapMs: 560,
  answerGapMs: 600,
  leaked: 0,
  ...over,
  id: over.id ?? null,
});

const start = (over: Partial<HandoverStartReport> = {}): HandoverStartReport => ({
  type: 'handover-start',
  t: T,
  from: 'ap1',
  to: 'ap2',
  trigger: 'rssi',
  id: null,
  ...over,
});

/** A report as the run gives it to its controller: the user's whereabouts taken first. */
function feed(c: Controller, u: UserRun, r: AgentReport): void {
  trackReport(u, r);
  c.onReport(u, r);
}

/** Lets the promise callbacks of an ended move run. */
const settle = () => new Promise((r) => setTimeout(r, 0));

const NEAREST: Record<string, string> = { ap1: 'edge1', ap2: 'edge2', ap3: 'edge3' };

describe('the reactive controller (the baselines)', () => {
  it("answers a handover as its link goes down with one move to the baseline's server, recorded with its reaction delay", async () => {
    const s = setup('nearest');
    const c = new ReactiveController(s.ctx, (_u, bs) => NEAREST[bs] ?? null);
    s.clock.t = T + 5;
    feed(c, s.user, start({ t: T }));
    expect(s.moves.requests.map((r) => r.to)).toEqual(['edge2']);
    expect(s.moves.requests[0]?.at).toBeUndefined();
    expect(s.rows()).toMatchObject([
      {
        kind: 'reactive',
        planner: 'nearest',
        decidedMs: T + 5,
        fromBs: 'ap1',
        toBs: 'ap2',
        fromHost: 'edge1',
        toHost: 'edge2',
        actualHandoverMs: T,
        measHoMs: null,
        plannedHandoverMs: null,
        status: 'planned',
      },
    ]);
    // The handover's own report (after its gap was measured) adds that gap; nothing moves again.
    feed(c, s.user, handover({ t: T + 1, gapMs: 560 }));
    expect(s.moves.requests).toHaveLength(1);
    expect(s.rows()[0]).toMatchObject({ actualHandoverMs: T + 1, measHoMs: 500 });
    expect(c.idle()).toBe(false);
    const migrationId = s.migration();
    s.moves.end({
      migrationId,
      preStartMs: T + 900,
      checkpointStartMs: T + 4200,
      preMs: 3100,
      preBytes: 8e6,
      preTransferMs: 2800,
      outage: { startMs: T + 4150, endMs: T + 5350 },
    });
    await settle();
    expect(s.rows()[0]).toMatchObject({
      status: 'done',
      error: null,
      migrationId,
      actualPreMs: T + 900,
      actualCheckpointMs: T + 4200,
      reactionMs: 4200,
      measPreMs: 3100,
      preBytes: 8e6,
      preTransferMs: 2800,
      linkBps: 100e6,
      measMigMs: 1200,
      outageStartMs: T + 4150,
      outageEndMs: T + 5350,
    });
    expect(s.user).toMatchObject({ host: 'edge2', migrations: 1 });
    expect(c.idle()).toBe(true);
    // On the server the rule gives already: nothing moves. A handover report alone moves nothing either.
    feed(c, s.user, start({ t: T + 9000, from: 'ap2', to: 'ap2' }));
    feed(c, s.user, handover({ t: T + 9000, from: 'ap2', to: 'ap3', error: 'switch failed', linkDownMs: 0 }));
    expect(s.moves.requests).toHaveLength(1);
  });

  it('does not lose a handover made while a move is under way: reacted to when it ends; one replaced is dropped', async () => {
    const s = setup('nearest');
    const c = new ReactiveController(s.ctx, (_u, bs) => NEAREST[bs] ?? null);
    feed(c, s.user, start({ t: T, from: 'ap1', to: 'ap2' }));
    feed(c, s.user, start({ t: T + 2000, from: 'ap2', to: 'ap3' }));
    expect(s.moves.requests).toHaveLength(1);
    expect(c.pending()).toContain('mu1: its reaction to the handover to ap3 had not started');
    s.moves.end();
    await settle();
    // The second, once the first move ended: from where the service is now.
    expect(s.moves.requests.map((r) => r.to)).toEqual(['edge2', 'edge3']);
    expect(s.rows()[1]).toMatchObject({ fromHost: 'edge2', toHost: 'edge3', actualHandoverMs: T + 2000 });
    // Two more while it runs: the newest waits, the one it replaced is recorded as dropped.
    feed(c, s.user, start({ t: T + 4000, from: 'ap3', to: 'ap2' }));
    feed(c, s.user, start({ t: T + 5000, from: 'ap2', to: 'ap1' }));
    s.moves.end({ ok: false });
    await settle();
    expect(s.moves.requests.map((r) => r.to)).toEqual(['edge2', 'edge3', 'edge1']);
    expect(s.rows().map((r) => [r.toBs, r.status])).toEqual([
      ['ap2', 'done'],
      ['ap3', 'failed'],
      ['ap2', 'dropped'],
      ['ap1', 'planned'],
    ]);
    expect(s.rows()[1]?.error).toBe('failed at restore');
    expect(s.rows()[2]?.error).toMatch(/the handover to ap1 came before a migration under way ended/);
    // The failed move left the service on edge2: the third moves from there.
    expect(s.rows()[3]).toMatchObject({ fromHost: 'edge2', toHost: 'edge1' });
  });

  it('starts no move once the run is being torn down (a move then found its container gone: 404 at prepare)', async () => {
    const s = setup('random');
    const c = new ReactiveController(s.ctx, (_u, bs) => NEAREST[bs] ?? null);
    feed(c, s.user, start({ t: T, from: 'ap1', to: 'ap2' }));
    // A second handover while the first move runs: it waits for that move.
    feed(c, s.user, start({ t: T + 500, from: 'ap2', to: 'ap3' }));
    expect(s.moves.requests).toHaveLength(1);
    // The teardown begins (settled), then the first move ends: the waiting one does not start, nor does a
    // handover reported now.
    const settling = c.settled();
    s.moves.end();
    await settle();
    await settling;
    feed(c, s.user, start({ t: T + 900, from: 'ap3', to: 'ap2' }));
    expect(s.moves.requests).toHaveLength(1);
    expect(s.warnings.join('\n')).toMatch(/came as the run was ending: not reacted to/);
    expect(c.idle()).toBe(true);
  });

  it('after the duration: the agents stop handing over, what happened inside is still reacted to, idle only then', async () => {
    const s = setup('random');
    const c = new ReactiveController(s.ctx, (_u, bs) => NEAREST[bs] ?? null);
    c.close(T + 10_000);
    expect(s.agent.sent).toEqual([{ cmd: 'auto', on: false }]);
    // The agent switched before the close (its position says so) and has not reported the handover yet.
    s.user.bs = 'ap2';
    expect(c.idle()).toBe(false);
    expect(c.pending()).toEqual(['mu1: its handover to ap2 had not been reported']);
    feed(c, s.user, start({ t: T + 9_800, to: 'ap2' }));
    expect(s.moves.requests).toHaveLength(1);
    feed(c, s.user, handover({ t: T + 9_800, to: 'ap2' }));
    expect(c.idle()).toBe(false);
    s.moves.end();
    await settle();
    expect(c.idle()).toBe(true);
    // A handover whose link went down after the close: not this run's.
    s.user.bs = 'ap3';
    feed(c, s.user, start({ t: T + 10_300, from: 'ap2', to: 'ap3' }));
    feed(c, s.user, handover({ t: T + 10_300, from: 'ap2', to: 'ap3' }));
    expect(s.moves.requests).toHaveLength(1);
    expect(s.warnings.join()).toMatch(/came after the run's end: not reacted to/);
    expect(c.idle()).toBe(true);
  });
});

function decision(over: Partial<Decision> = {}): Decision {
  return {
    user: 'mu1',
    from: { bs: 'ap1', host: 'edge1' },
    bs: 'ap2',
    host: 'edge2',
    migrate: true,
    handover: true,
    triggers: { preMigrationAt: T + 500, migrationAt: T + 3000, handoverAt: T + 3700 },
    outages: [{ startMs: T + 3000, endMs: T + 4200, cause: 'both' }],
    lateMs: 0,
    predictedHandover: { atMs: T + 4500, to: 'ap2' },
    estimates: {
      e2eMs: 4,
      procMs: 1,
      txMs: 1,
      propMs: 2,
      refE2eMs: 104,
      tasks: 20,
      gainMs: 2000,
      downtimeMs: 1200,
      preMigMs: 2000,
      setupMs: 500,
      migMs: 1200,
      chkptMs: 100,
      restoreMs: 400,
      migSource: 'model (eq. 5)',
      preSource: 'model (eq. 5)',
      hoMs: 500,
      value: 800,
    },
    ...over,
  };
}

function planning(decisions: () => Decision[]): () => Promise<PlanResult> {
  return async () => ({
    planner: 'orchestrated',
    solver: 'test',
    status: 'optimal',
    objective: 0,
    bound: null,
    gap: null,
    solveMs: 1,
    atMs: T,
    decisions: decisions(),
    warnings: [],
  });
}

const SITES = ['ap1', 'ap2', 'ap3'].map((name, i) => ({
  name,
  position: [60 * i, 5] as [number, number],
  pathLoss: { exponent: 3, referenceLossDb: 30, minRssiDbm: -82 },
}));

function orchestrated(s: ReturnType<typeof setup>, decisions: () => Decision[], untilMs = T + 60_000) {
  return new OrchestratedController(s.ctx, {
    plan: planning(decisions),
    planEveryMs: 1000,
    untilMs: () => untilMs,
    basestations: SITES,
  });
}

describe('the orchestrated controller', () => {
  it('carries a decision out at its instants and records it: planned, estimated, then what happened', async () => {
    const s = setup('orchestrated');
    const c = orchestrated(s, () => [decision()]);
    await c.tick(T);
    expect(s.agent.handovers).toEqual([{ to: 'ap2', atMs: T + 3700, id: expect.any(Number) }]);
    expect(s.moves.requests.map((r) => [r.to, r.at])).toEqual([['edge2', T + 3000]]);
    const id = s.agent.handovers[0]?.id;
    expect(s.rows()).toMatchObject([
      {
        id,
        kind: 'coordinated',
        decidedMs: T,
        fromBs: 'ap1',
        toBs: 'ap2',
        fromHost: 'edge1',
        toHost: 'edge2',
        predictedHoMs: T + 4500,
        plannedPreMs: T + 500,
        plannedCheckpointMs: T + 3000,
        plannedHandoverMs: T + 3700,
        estPreMs: 1500,
        estMigMs: 1200,
        estHoMs: 500,
        status: 'planned',
      },
    ]);
    // Busy: no second decision for the same user meanwhile.
    await c.tick(T + 1000);
    expect(s.moves.requests).toHaveLength(1);
    expect(c.idle(T + 1000)).toBe(false);
    // Another user's handover report, or one without this id, is not this decision's.
    feed(c, s.user, handover({ id: 999, trigger: 'command', t: T + 1 }));
    feed(c, s.user, handover({ id, trigger: 'command', t: T + 3710, gapMs: 540, linkDownMs: 505 }));
    expect(s.rows()[0]).toMatchObject({ actualHandoverMs: T + 3710, measHoMs: 505, status: 'planned' });
    s.moves.end({
      checkpointStartMs: T + 3002,
      preStartMs: T + 10,
      outage: { startMs: T + 3020, endMs: T + 4250 },
      preMs: 2100,
    });
    await settle();
    expect(s.rows()[0]).toMatchObject({
      status: 'done',
      error: null,
      actualPreMs: T + 10,
      actualCheckpointMs: T + 3002,
      measMigMs: 1230,
      measPreMs: 2100,
      handoverInside: true,
      linkBps: 100e6,
    });
    expect(c.idle(T + 5000)).toBe(true);
    // The same predicted handover is not acted on twice.
    await c.tick(T + 5000);
    expect(s.moves.requests).toHaveLength(1);
  });

  it('plans only for handovers predicted within the duration, and acts only when a schedule is due', async () => {
    const s = setup('orchestrated');
    await orchestrated(s, () => [decision()], T + 4000).tick(T);
    const late = decision({
      triggers: { preMigrationAt: T + 5000, migrationAt: T + 7000, handoverAt: T + 7700 },
    });
    await orchestrated(s, () => [late]).tick(T);
    expect(s.moves.requests).toHaveLength(0);
    expect(s.agent.handovers).toHaveLength(0);
    expect(s.rows()).toHaveLength(0);
    // Closed: no new decision at all.
    const c = orchestrated(s, () => [decision()]);
    c.close();
    await c.tick(T);
    expect(s.rows()).toHaveLength(0);
  });

  it('plans for no user before its agent has reported a position in this run', async () => {
    const s = setup('orchestrated');
    s.user.rssi = {};
    let planned = 0;
    const c = orchestrated(s, () => {
      planned++;
      return [decision()];
    });
    await c.tick(T);
    expect(planned).toBe(0);
    expect(s.moves.requests).toHaveLength(0);
    feed(c, s.user, { type: 'position', t: T, x: 1, y: 0, bs: 'ap1', rssi: { ap1: -50 }, rateBps: 0 });
    await c.tick(T + 1000);
    expect(planned).toBe(1);
  });

  it('carries a migration out only when its destination has room now, and holds that room while it moves', async () => {
    const s = setup('orchestrated');
    let room = false;
    const c = new OrchestratedController(s.ctx, {
      plan: planning(() => [decision()]),
      planEveryMs: 1000,
      untilMs: () => T + 60_000,
      basestations: SITES,
      hasRoom: () => room,
    });
    await c.tick(T);
    // edge2 is still full (a user the plan moves out of it has not left): nothing done, no row.
    expect(s.moves.requests).toHaveLength(0);
    expect(s.agent.handovers).toHaveLength(0);
    expect(s.rows()).toHaveLength(0);
    room = true;
    await c.tick(T + 1000);
    expect(s.moves.requests.map((r) => r.to)).toEqual(['edge2']);
    expect(s.user.movingTo).toBe('edge2');
    s.moves.end({ checkpointStartMs: T + 3002, outage: { startMs: T + 3020, endMs: T + 4250 } });
    await settle();
    expect(s.user.movingTo).toBeUndefined();
  });

  it('records a handover its agent dropped, and plans for the user again', async () => {
    const s = setup('orchestrated');
    let next = [decision()];
    const c = orchestrated(s, () => next);
    await c.tick(T);
    const id = s.agent.handovers[0]?.id;
    feed(
      c,
      s.user,
      handover({ id, trigger: 'command', dropped: true, error: 'a handover was under way', linkDownMs: 0 }),
    );
    s.moves.end({ outage: { startMs: T + 3020, endMs: T + 4250 } });
    await settle();
    expect(s.rows()[0]).toMatchObject({
      status: 'dropped',
      error: 'the agent dropped the handover to ap2: a handover was under way',
      actualHandoverMs: null,
      handoverInside: null,
    });
    // Planned again for the same predicted handover: the next plan (the service on edge2 now) hands it over alone.
    expect(s.user.host).toBe('edge2');
    next = [
      decision({
        from: { bs: 'ap1', host: 'edge2' },
        migrate: false,
        triggers: { preMigrationAt: null, migrationAt: null, handoverAt: T + 4000 },
      }),
    ];
    s.clock.t = T + 3500;
    await c.tick(T + 3500);
    expect(s.agent.handovers.map((h) => h.to)).toEqual(['ap2', 'ap2']);
    expect(s.rows()[1]).toMatchObject({
      kind: 'coordinated',
      estMigMs: null,
      estHoMs: 500,
      status: 'planned',
    });
    // A command's report without an id (an older agent) still ends it.
    feed(c, s.user, handover({ trigger: 'command', t: T + 4001 }));
    expect(s.rows()[1]).toMatchObject({ status: 'done', actualHandoverMs: T + 4001 });
  });

  it('hands a user over at once when it cannot decode its base station, and after a drop', async () => {
    const s = setup('orchestrated');
    const c = orchestrated(s, () => []);
    s.user.rssi = { ap1: -85, ap2: -75, ap3: -90 };
    feed(c, s.user, { type: 'position', t: T, x: 30, y: 0, bs: 'ap1', rssi: s.user.rssi, rateBps: 0 });
    expect(s.agent.handovers).toEqual([{ to: 'ap2', atMs: undefined, id: expect.any(Number) }]);
    expect(s.rows()).toMatchObject([{ kind: 'reactive', fromBs: 'ap1', toBs: 'ap2', status: 'planned' }]);
    // Once: while its report is awaited, no second one.
    feed(c, s.user, {
      type: 'position',
      t: T + 500,
      x: 30,
      y: 0,
      bs: 'ap1',
      rssi: s.user.rssi,
      rateBps: 0,
    });
    expect(s.agent.handovers).toHaveLength(1);
    // Dropped: tried again at once, since the user still cannot decode ap1.
    const id = s.agent.handovers[0]?.id;
    feed(c, s.user, handover({ id, trigger: 'command', dropped: true, error: 'busy', linkDownMs: 0 }));
    expect(s.agent.handovers).toHaveLength(2);
    expect(s.rows().map((r) => r.status)).toEqual(['dropped', 'planned']);
    expect(c.idle(T + 1000)).toBe(false);
  });

  it('takes a handover never reported as dropped some time after its instant', async () => {
    const s = setup('orchestrated');
    const c = orchestrated(s, () => [
      decision({
        migrate: false,
        triggers: { preMigrationAt: null, migrationAt: null, handoverAt: T + 500 },
      }),
    ]);
    await c.tick(T);
    expect(c.idle(T + 500 + HANDOVER_REPORT_TIMEOUT_MS)).toBe(false);
    expect(c.pending(T + 1000)).toEqual([
      'mu1: its handover to ap2 (planned -0.5 s from then) had not been reported',
    ]);
    expect(c.idle(T + 501 + HANDOVER_REPORT_TIMEOUT_MS)).toBe(true);
    expect(s.rows()[0]).toMatchObject({
      status: 'dropped',
      error: expect.stringMatching(/no report of the handover/),
    });
  });
});

describe("the run's window", () => {
  /** A controller idle after `busyMs` from its close, on a clock the drain's sleeps move. */
  function fake(busyMs: number) {
    const clock = { t: T };
    let closedAt: number | null = null;
    const c: Controller = {
      onReport: () => {},
      tick: async () => {},
      close: (t) => {
        closedAt = t;
      },
      idle: (t) => closedAt !== null && t - closedAt >= busyMs,
      pending: () => ['mu1: its migration from edge1 was under way'],
      settled: async () => {},
    };
    const opts = {
      now: () => clock.t,
      sleep: async (ms: number) => {
        clock.t += ms;
      },
    };
    return { c, clock, opts, closed: () => closedAt };
  }

  it('closes the controller and waits until it is idle, at least the settle time', async () => {
    const f = fake(3000);
    const d = await drain(f.c, { ...f.opts, settleMs: 1500 });
    expect(f.closed()).toBe(T);
    expect(d).toEqual({ endedMs: T + 3000, truncated: [] });
    const quick = fake(0);
    expect((await drain(quick.c, { ...quick.opts, settleMs: 1500 })).endedMs).toBe(T + 1500);
  });

  it('gives up at the cap and says what was still under way', async () => {
    const f = fake(Number.POSITIVE_INFINITY);
    const d = await drain(f.c, { ...f.opts, settleMs: 1500, capMs: 60_000 });
    expect(d).toEqual({
      endedMs: T + 60_000,
      truncated: [
        "mu1: its migration from edge1 was under way 60 s after the run's duration (not waited for)",
      ],
    });
    const stop = new AbortController();
    stop.abort();
    expect(await drain(fake(5000).c, { ...f.opts, settleMs: 1500, signal: stop.signal })).toMatchObject({
      truncated: [],
    });
  });
});

describe('what a move and a decision are made of', () => {
  it('takes the pre phases from the phases, and the handover inside the outage by its link-down instant', () => {
    expect(
      prePhases([
        { name: 'prepare', startMs: 0, durationMs: 900, bytes: null },
        { name: 'pre-checkpoint', startMs: 900, durationMs: 300, bytes: 9e6 },
        { name: 'pre-transfer', startMs: 1200, durationMs: 1700, bytes: 8.5e6 },
      ]),
    ).toEqual({ preMs: 2000, preBytes: 8.5e6, preTransferMs: 1700 });
    // With its parts: the throughput counts the send alone, not the wait for the channel or the checksums.
    expect(
      prePhases([
        { name: 'pre-checkpoint', startMs: 900, durationMs: 300, bytes: 9e6 },
        {
          name: 'pre-transfer',
          startMs: 1200,
          durationMs: 2700,
          bytes: 8.5e6,
          parts: { channel: 1200, send: 1300, verify: 200 },
        },
      ]),
    ).toEqual({ preMs: 3000, preBytes: 8.5e6, preTransferMs: 1300 });
    expect(prePhases([{ name: 'prepare', startMs: 0, durationMs: 900, bytes: null }])).toEqual({
      preMs: null,
      preBytes: null,
      preTransferMs: null,
    });
    // The handover's radio outage inside the migration's, within 50 ms at either end.
    const outage = { startMs: 1000, endMs: 2000 };
    const ho = (downMs: number, linkDownMs = 500) => handoverInside({ downMs, linkDownMs }, outage);
    expect([949, 950, 1000, 1500, 1550, 1551].map((t) => ho(t))).toEqual([
      false,
      true,
      true,
      true,
      true,
      false,
    ]);
    // Started together with the migration, a few ms before the probe's last answer: inside.
    expect(ho(1000 - 12)).toBe(true);
    // A radio outage longer than the migration's cannot lie inside it.
    expect(ho(1000, 1100)).toBe(false);
    expect(handoverInside(null, outage)).toBeNull();
    expect(handoverInside({ downMs: 1500, linkDownMs: 500 }, null)).toBeNull();
  });
});

describe('the orchestrated controller with an outside planner', () => {
  it('drops a failed round (every user stays), records it rejected, warns once, and plans again', async () => {
    const s = setup('greedy');
    let calls = 0;
    const c = new OrchestratedController(s.ctx, {
      plan: async () => {
        calls++;
        if (calls <= 2) throw new PlannerError('greedy', 'timeout', 'timed out after 2000 ms (killed)');
        return planning(() => [decision()])();
      },
      planEveryMs: 1000,
      untilMs: () => T + 60_000,
      basestations: SITES,
    });
    await c.tick(T);
    s.clock.t = T + 1000;
    await c.tick(T + 1000);
    expect(s.agent.handovers).toEqual([]);
    expect(s.moves.requests).toEqual([]);
    expect(s.rows()).toMatchObject([
      {
        planner: 'greedy',
        kind: 'coordinated',
        status: 'rejected',
        fromBs: 'ap1',
        toBs: 'ap1',
        fromHost: 'edge1',
        toHost: 'edge1',
        error: 'planner greedy: timed out after 2000 ms (killed)',
      },
      { status: 'rejected' },
    ]);
    expect(s.warnings).toEqual([
      'planner greedy: timed out after 2000 ms (killed): the round is dropped, every user stays (further rounds failing alike not repeated)',
    ]);
    // The next round answers: carried out as orchestrated's.
    s.clock.t = T + 2000;
    await c.tick(T + 2000);
    expect(s.moves.requests.map((r) => r.to)).toEqual(['edge2']);
    expect(s.rows().map((r) => r.status)).toEqual(['rejected', 'rejected', 'planned']);
  });

  it('plans for a user only once its agent has reported in this run (older reports are the last run’s)', async () => {
    const s = setup('greedy');
    s.user.rssi = {};
    let calls = 0;
    const c = new OrchestratedController(s.ctx, {
      plan: async () => {
        calls++;
        return planning(() => [decision()])();
      },
      planEveryMs: 1000,
      untilMs: () => T + 60_000,
      basestations: SITES,
    });
    await c.tick(T);
    expect(calls).toBe(0);
    expect(s.moves.requests).toEqual([]);
    s.user.rssi = { ap1: -70, ap2: -75, ap3: -90 };
    await c.tick(T);
    expect(calls).toBe(1);
    expect(s.moves.requests.map((r) => r.to)).toEqual(['edge2']);
  });

  it('lets any other failure of planning through (the run warns, as before)', async () => {
    const s = setup('orchestrated');
    const c = new OrchestratedController(s.ctx, {
      plan: async () => {
        throw new Error('solver crashed');
      },
      planEveryMs: 1000,
      untilMs: () => T + 60_000,
      basestations: SITES,
    });
    await expect(c.tick(T)).rejects.toThrow('solver crashed');
    expect(s.rows()).toEqual([]);
  });
});
