/**
 * The agent's handovers against a fake user machine (its commands recorded and timed, nothing run) and a
 * fake service on loopback: a handover planned at an instant has its link go down at that instant
 * whatever else the agent is doing, and one that cannot happen is reported as dropped.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Inventory, loadInventory } from '../../src/lib/inventory/index.js';
import { MuAgent } from '../../src/lib/mu/agent.js';
import type { AgentReport, GapReport, HandoverReport } from '../../src/lib/mu/agent-protocol.js';
import { type AgentSpec, agentSpec, type Endpoint } from '../../src/lib/mu/agent-spec.js';
import { closeFakeServices, type FakeService, fakeService } from '../helpers/fake-service.js';
import { type FakeUserHost, fakeUserHost } from '../helpers/fake-user-host.js';
import { hostsFile } from '../helpers/lab.js';

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Timers on a CI machine with 2 busy cores fire late by tens of ms; the old agent was seconds late. */
const TOLERANCE_MS = 100;

let inv: Inventory;
let dir: string;
beforeAll(async () => {
  inv = await loadInventory(hostsFile);
});

const running: { agent: MuAgent; done: Promise<unknown> }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    r.agent.stop('test over');
    await r.done;
  }
  closeFakeServices();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const endpointOf = (s: FakeService): Endpoint => ({ address: '127.0.0.1', port: s.port });

interface Harness {
  agent: MuAgent;
  host: FakeUserHost;
  reports: AgentReport[];
  spec: AgentSpec;
  /** Clock requests the controller holds instead of answering at once (while holdClock). */
  holdClock: boolean;
  heldClock: number[];
  /** The first report `match` accepts, waited for at most timeoutMs. */
  report(match: (r: AgentReport) => boolean, timeoutMs: number): Promise<AgentReport>;
  handoverReport(id: number, timeoutMs: number): Promise<HandoverReport>;
}

/** An agent of mu1 (on ap1, told what to do by a controller) offloading to `endpoint`. */
async function startAgent(
  endpoint: Endpoint | null,
  opts: { radios?: boolean; blackoutMs?: number; rateCapMs?: number } = {},
): Promise<Harness> {
  dir = await mkdtemp(join(tmpdir(), 'edgectl-agent-'));
  const base = agentSpec(inv, 'mu1', undefined, {
    handover: 'controller',
    blackoutMs: opts.blackoutMs ?? 200,
  });
  // Loopback: the fake service is reached from the user's "own address".
  const spec: AgentSpec = { ...base, testbed: 'unit', address: '127.0.0.1', endpoint };
  const table = (bs: string) => spec.basestations.find((b) => b.name === bs)?.table ?? 0;
  const host = fakeUserHost({
    address: spec.address,
    table: table('ap1'),
    ...(opts.radios ? { radios: [{ dev: 'r-ap1', address: '198.18.11.2' }] } : {}),
  });
  host.rateCapMs = opts.rateCapMs ?? 0;
  const reports: AgentReport[] = [];
  // The controller answers the agent's clock requests at once (the same clock: the offset comes out 0).
  const emit = (r: AgentReport) => {
    reports.push(r);
    if (r.type !== 'clock?') return;
    if (h.holdClock) h.heldClock.push(r.seq);
    else setImmediate(() => agent.command({ cmd: 'clock', seq: r.seq, t: now() }));
  };
  const agent = new MuAgent(spec, { emit, exec: host, pidFile: join(dir, 'pid') });
  const report = async (match: (r: AgentReport) => boolean, timeoutMs: number) => {
    const until = now() + timeoutMs;
    for (;;) {
      const r = reports.find(match);
      if (r) return r;
      if (now() > until)
        throw new Error(
          `no such report within ${timeoutMs} ms: ${JSON.stringify(reports.filter((x) => x.type !== 'position' && x.type !== 'task'))}`,
        );
      await sleep(5);
    }
  };
  const h: Harness = {
    agent,
    host,
    reports,
    spec,
    holdClock: false,
    heldClock: [],
    report,
    handoverReport: (id, timeoutMs) =>
      report((r) => r.type === 'handover' && r.id === id, timeoutMs) as Promise<HandoverReport>,
  };
  running.push({ agent, done: agent.run() });
  await report((r) => r.type === 'hello', 5000);
  return h;
}

const answered = (h: Harness) => h.report((r) => r.type === 'task' && r.ok, 5000);

describe('a handover planned at an instant', () => {
  it('happens at that instant while the previous handover’s gap is still being measured', async () => {
    const service = await fakeService(true);
    const h = await startAgent(endpointOf(service));
    await answered(h);
    // The service goes silent (a migration's frozen source): the first handover's gap measurement runs
    // on, up to its 10 s give-up, and tasks wait in flight.
    service.answering = false;
    h.agent.command({ cmd: 'handover', to: 'ap2', id: 1 });
    while (h.host.ups.length < 1) await sleep(5);
    // It answers again once the second handover is under way (its report comes once its gap is measured).
    h.host.onDown = () => {
      service.answering = true;
    };
    const plannedAt = now() + 1200;
    h.agent.command({ cmd: 'handover', to: 'ap3', at: plannedAt, id: 2 });

    const r = await h.handoverReport(2, 5000);
    const down = h.host.downs[1] ?? Number.NaN;
    expect(down).toBeGreaterThanOrEqual(plannedAt - 5);
    expect(down - plannedAt).toBeLessThan(TOLERANCE_MS);
    expect(r).toMatchObject({ id: 2, plannedAt, from: 'ap2', to: 'ap3', trigger: 'command' });
    expect(r.dropped).toBeUndefined();
    expect(r.lateMs).not.toBeNull();
    expect(Math.abs((r.lateMs ?? Number.NaN) - (down - plannedAt))).toBeLessThan(5);
    // The first one's measurement gave up when the second cut the link, and says so.
    const first = await h.handoverReport(1, 1000);
    expect(first).toMatchObject({ id: 1, plannedAt: null, lateMs: null, gapMs: null, to: 'ap2' });
    expect(first.unmeasured).toMatch(/next handover/);
    expect(h.host.table).toBe(h.spec.basestations[2]?.table);
  });

  it('happens at that instant while an endpoint change restarts the tasks, a clock exchange and a slow rate cap are under way', async () => {
    const source = await fakeService(true);
    const destination = await fakeService(true);
    const h = await startAgent(endpointOf(source), { radios: true, rateCapMs: 3000 });
    // The last of the agent's first clock requests is answered only just before the instant.
    while (h.reports.filter((r) => r.type === 'clock').length < 3) await sleep(5);
    h.holdClock = true;
    await answered(h);
    // A first handover, then its service migrates: the source freezes and is never heard again, the
    // agent is told where the service is now.
    h.host.onDown = () => {
      source.answering = false;
    };
    h.agent.command({ cmd: 'handover', to: 'ap2', id: 1 });
    while (h.host.ups.length < 1) await sleep(5);
    // The first rate cap (at the start) takes 3 s: it is still under way at the second one's instant.
    let rateCapsAtDown = 0;
    h.host.onDown = () => {
      rateCapsAtDown = h.host.rateCapsRunning;
    };
    const plannedAt = now() + 1500;
    h.agent.command({ cmd: 'handover', to: 'ap3', at: plannedAt, id: 2 });
    await sleep(300);
    h.agent.command({ cmd: 'endpoint', endpoint: endpointOf(destination) });
    // Just before the instant: the tasks restart, the clock is exchanged.
    await sleep(plannedAt - now() - 60);
    h.agent.command({ cmd: 'endpoint', endpoint: endpointOf(destination) });
    for (const seq of h.heldClock.splice(0)) h.agent.command({ cmd: 'clock', seq, t: now() });

    const r = await h.handoverReport(2, 5000);
    const down = h.host.downs[1] ?? Number.NaN;
    expect(down).toBeGreaterThanOrEqual(plannedAt - 5);
    expect(down - plannedAt).toBeLessThan(TOLERANCE_MS);
    expect(r).toMatchObject({ id: 2, plannedAt, from: 'ap2', to: 'ap3' });
    expect(Math.abs(r.lateMs ?? Number.NaN)).toBeLessThan(TOLERANCE_MS);
    expect(rateCapsAtDown).toBe(1);
  });
});

describe('a handover the agent cannot make', () => {
  it('is reported as dropped, with the reason, never skipped in silence', async () => {
    const service = await fakeService(true);
    const h = await startAgent(endpointOf(service), { blackoutMs: 500 });
    // An unknown base station: at once.
    h.agent.command({ cmd: 'handover', to: 'ap9', at: now() + 5000, id: 11 });
    expect(await h.handoverReport(11, 10)).toMatchObject({
      dropped: true,
      id: 11,
      to: 'ap9',
      linkDownMs: 0,
      lateMs: null,
      error: expect.stringMatching(/unknown base station/),
    });
    // Where the user is already, at its instant.
    const already = now() + 300;
    h.agent.command({ cmd: 'handover', to: 'ap1', at: already, id: 12 });
    const r12 = await h.handoverReport(12, 2000);
    expect(r12).toMatchObject({ dropped: true, plannedAt: already, error: expect.stringMatching(/already/) });
    expect(r12.t - already).toBeLessThan(TOLERANCE_MS);
    // While another handover's blackout still holds the link at its instant.
    const first = now() + 1200;
    h.agent.command({ cmd: 'handover', to: 'ap2', at: first, id: 13 });
    h.agent.command({ cmd: 'handover', to: 'ap3', at: first + 200, id: 14 });
    const r14 = await h.handoverReport(14, 3000);
    expect(r14).toMatchObject({ dropped: true, id: 14, error: expect.stringMatching(/link/) });
    expect(r14.t - (first + 200)).toBeLessThan(TOLERANCE_MS);
    expect((await h.handoverReport(13, 3000)).dropped).toBeUndefined();
    expect(h.host.downs).toHaveLength(1);
    // Still waiting for its instant when the agent stops: reported before the agent's bye.
    h.agent.command({ cmd: 'handover', to: 'ap3', at: now() + 10_000, id: 15 });
    h.agent.stop('test over');
    const r15 = await h.handoverReport(15, 2000);
    expect(r15).toMatchObject({ dropped: true, error: expect.stringMatching(/stop/) });
    const types = h.reports.map((r) => r.type);
    expect(types.indexOf('bye')).toBeGreaterThan(h.reports.indexOf(r15));
  });
});

describe('the gap of a handover', () => {
  it('is measured against where the service is now: an endpoint change during the measurement is followed', async () => {
    const source = await fakeService(true);
    const destination = await fakeService(true);
    const h = await startAgent(endpointOf(source));
    await answered(h);
    // The source freezes as the link goes down, and is never heard again; the service answers on the
    // destination, and the agent is told so 300 ms after the link came back.
    h.host.onDown = () => {
      source.answering = false;
    };
    h.agent.command({ cmd: 'handover', to: 'ap2', id: 21 });
    while (h.host.ups.length < 1) await sleep(5);
    await sleep(300);
    const moved = now();
    h.agent.command({ cmd: 'endpoint', endpoint: endpointOf(destination) });
    const r = await h.handoverReport(21, 3000);
    expect(r.unmeasured).toBeUndefined();
    expect(r.gapMs).not.toBeNull();
    // From the last answer before the link went down to the first request answered after the move.
    const down = h.host.downs[0] ?? Number.NaN;
    expect(r.t + (r.gapMs ?? 0)).toBeGreaterThanOrEqual(moved - 5);
    expect(r.gapMs ?? 0).toBeGreaterThan(moved - down);
    expect(r.gapMs ?? 0).toBeLessThan(moved - down + 1000);
    // The outage it adds to the run starts as the link went down (not at the user's last answer, which
    // may lie well before) and ends with the first request answered after the move.
    const gap = (await h.report((x) => x.type === 'gap' && x.cause === 'handover', 1000)) as GapReport;
    expect(gap.start).toBe(r.t);
    expect(gap.end).toBeGreaterThanOrEqual(moved - 5);
    expect(gap.end - gap.start).toBeLessThanOrEqual(r.gapMs ?? 0);
  });
});
