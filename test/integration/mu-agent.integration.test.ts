/**
 * The virtual mobile user on the lab: its agent (`edgectl mu run`, started on the mu host over SSH) walks
 * from ap1 towards ap2, hands over by itself where the hysteresis rule says, and its tasks then travel
 * through ap2; the gap it measures is the 500 ms blackout, as `edgectl handover` measures it; and when
 * its SSH session is killed, even in the middle of a blackout, it leaves the user's path, rules and rate
 * caps as provision made them.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getHost, type Inventory } from '../../src/lib/inventory/index.js';
import { predictNextHandover } from '../../src/lib/mobility/index.js';
import type { AgentReport, HandoverReport } from '../../src/lib/mu/agent-protocol.js';
import { type AgentSession, type HandoverResult, startAgent } from '../../src/lib/mu/controller.js';
import { blackoutTag } from '../../src/lib/netem/iptables.js';
import type { ProvisionResult } from '../../src/lib/provision/provision.js';
import { ShellExecutor, SshPool } from '../../src/lib/remote/index.js';
import { openState, type StateDb } from '../../src/lib/state/index.js';
import { edgectl } from '../helpers/cli.js';
import { hostsFile, labInventory } from '../helpers/lab.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-agent-'));
const stateFile = join(dir, 'state.db');
const pool = new SshPool();
let inv: Inventory;
let state: StateDb;
const sessions: AgentSession[] = [];

/** From x = 20 m towards ap2 (x = 60 m) at 2 m/s, along the street. */
const walk = {
  type: 'roundtrip' as const,
  from: [20, 0] as [number, number],
  to: [60, 0] as [number, number],
  speed: 2,
};

function cli<T>(args: string[]) {
  return edgectl<T>([...args, '-f', hostsFile, '--state', stateFile, '--json'], { timeoutMs: 300_000 });
}

/**
 * One long-lived shell per host for the test's own reads: with the lab's 2 s session start, a new session
 * per poll would let a 4 s blackout end between two looks at it.
 */
const shells = new Map<string, ShellExecutor>();
function shell(name: string): ShellExecutor {
  let s = shells.get(name);
  if (!s) {
    s = new ShellExecutor(pool, getHost(inv, name));
    shells.set(name, s);
  }
  return s;
}
const mu = () => shell('mu');

async function mangle(): Promise<string> {
  return (await mu().run(['iptables', '-w', '-t', 'mangle', '-S'])).stdout;
}

/** The rate (bit/s) of mu1's HTB class (ec00:10) on each radio interface of the mu host. */
async function rateCaps(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const dev of ['r-ap1', 'r-ap2', 'r-ap3']) {
    const text = (await mu().run(['tc', 'class', 'show', 'dev', dev, 'classid', 'ec00:10'])).stdout;
    const m = /rate (\d+)([KMG]?)bit/.exec(text);
    out[dev] = m ? Number(m[1]) * ({ K: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1) : Number.NaN;
  }
  return out;
}

/** The rate of mu1's class on each AP's radio interface (its downlink cap, set by the controller). */
async function downlinkCaps(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const ap of ['ap1', 'ap2', 'ap3']) {
    const r = await shell(ap).run(['tc', 'class', 'show', 'dev', 'radio0', 'classid', 'ec00:10']);
    const m = /rate (\d+)([KMG]?)bit/.exec(r.stdout);
    out[ap] = m ? Number(m[1]) * ({ K: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1) : Number.NaN;
  }
  return out;
}

async function start(options: Parameters<typeof startAgent>[3]): Promise<AgentSession> {
  const s = await startAgent(inv, pool, state, options);
  sessions.push(s);
  return s;
}

const isHandover = (r: AgentReport): r is HandoverReport => r.type === 'handover';

/** Puts mu1 on `bs` (no blackout) unless it is there. */
async function putOn(bs: string): Promise<void> {
  const r = await cli<HandoverResult>(['handover', '--user', 'mu1', '--to', bs, '--blackout', '0']);
  expect(r.exitCode, r.stderr).toBe(0);
}

beforeAll(async () => {
  ({ inv } = await labInventory());
  state = openState(stateFile);
  expect((await cli<ProvisionResult>(['provision'])).exitCode).toBe(0);
  const d = await cli(['deploy', '--user', 'mu1', '--service', 'simple', '--host', 'edge1']);
  expect(d.exitCode, d.stderr).toBe(0);
}, 600_000);

afterAll(async () => {
  for (const s of sessions) await s.stop(10_000).catch(() => {});
  await cli(['undeploy', '--user', 'mu1']).catch(() => {});
  await putOn('ap1').catch(() => {});
  state.close();
  for (const sh of shells.values()) await sh.close().catch(() => {});
  await pool.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('the agent walks from ap1 towards ap2 with its service on edge1', () => {
  it('hands over to ap2 by itself near the predicted instant; its tasks then go through ap2; the gap is 500 +- 100 ms', async () => {
    await putOn('ap1');
    const s = await start({ user: 'mu1', trajectory: walk });
    expect(s.hello).toMatchObject({ user: 'mu1', bs: 'ap1', handover: 'auto' });
    const startedMs = s.hello!.t;
    const ho = await s.waitFor(isHandover, 60_000);
    expect(ho).toMatchObject({ from: 'ap1', to: 'ap2', trigger: 'rssi', leaked: 0 });
    expect(ho.error).toBeUndefined();
    expect(ho.gapMs).toBeGreaterThanOrEqual(400);
    expect(ho.gapMs).toBeLessThanOrEqual(600);
    // Where the mobility model says the rule fires on this walk (the agent decides every 100 ms).
    const predicted = predictNextHandover(walk, inv.basestations, 'ap1', 0);
    expect(predicted?.to).toBe('ap2');
    expect(Math.abs((ho.t - startedMs) / 1000 - (predicted?.atS ?? 0))).toBeLessThan(1);
    // Some tasks after the handover.
    const after = ho.t + (ho.gapMs ?? 0) + 1500;
    await s.waitFor((r) => r.type === 'task' && r.t > after, 10_000);
    const bye = (await s.stop()).bye;
    expect(bye).toMatchObject({ reason: 'stop command', handovers: 1, bs: 'ap2' });

    // The records: tasks before went through ap1 (NAT address of ap1), those after through ap2.
    const tasks = state.tasks.forUser('mu1', startedMs);
    const ap1 = getHost(inv, 'ap1').dataAddress;
    const ap2 = getHost(inv, 'ap2').dataAddress;
    const before = tasks.filter((t) => t.sentMs + (t.e2eMs ?? 0) < ho.t && t.ok);
    const later = tasks.filter((t) => t.sentMs > ho.t + (ho.gapMs ?? 0) && t.ok);
    expect(before.length).toBeGreaterThan(3);
    expect(later.length).toBeGreaterThan(1);
    expect(before.every((t) => t.bs === 'ap1' && t.peer === ap1 && t.host === 'edge1')).toBe(true);
    expect(later.every((t) => t.bs === 'ap2' && t.peer === ap2 && t.host === 'edge1')).toBe(true);
    // Through ap2 the service on edge1 is one 50 ms link farther each way.
    expect(Math.min(...later.map((t) => t.e2eMs ?? 0))).toBeGreaterThan(95);
    const recorded = state.handovers.forUser('mu1', startedMs);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ fromBs: 'ap1', toBs: 'ap2', trigger: 'rssi' });
    expect(state.gaps.forUser('mu1', startedMs).filter((g) => g.cause === 'handover')).toHaveLength(1);
    const reports = state.userReports.forUser('mu1', startedMs);
    expect(reports.length).toBeGreaterThan(5);
    expect(Object.keys(reports[0]!.rssi).sort()).toEqual(['ap1', 'ap2', 'ap3']);
  }, 180_000);

  it('edgectl handover measures the same gap, records it, and refuses while an agent owns the link', async () => {
    const r = await cli<HandoverResult>(['handover', '--user', 'mu1', '--to', 'ap1']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json?.result).toMatchObject({ user: 'mu1', from: 'ap2', to: 'ap1', measured: true });
    expect(r.json?.result?.durationMs).toBeGreaterThanOrEqual(400);
    expect(r.json?.result?.durationMs).toBeLessThanOrEqual(600);
    const last = state.handovers.forUser('mu1').at(-1);
    expect(last).toMatchObject({ fromBs: 'ap2', toBs: 'ap1', trigger: 'cli' });

    const s = await start({ user: 'mu1', trajectory: walk, handover: 'controller' });
    const refused = await cli(['handover', '--user', 'mu1', '--to', 'ap2']);
    expect(refused.exitCode).toBe(2);
    expect(refused.json?.error?.message).toMatch(/agent runs/);
    // Told by the controller, the agent hands over (and measures the same kind of gap).
    s.handover('ap2');
    const ho = await s.waitFor(isHandover, 20_000);
    expect(ho).toMatchObject({ from: 'ap1', to: 'ap2', trigger: 'command' });
    expect(ho.gapMs).toBeGreaterThanOrEqual(400);
    expect(ho.gapMs).toBeLessThanOrEqual(600);
    await s.stop();
  }, 180_000);
});

describe('killing the agent’s SSH session', () => {
  it('mid-blackout: the agent ends and leaves no rule or rate cap changed behind what provision made', async () => {
    const s = await start({ user: 'mu1', trajectory: walk, handover: 'controller', blackoutMs: 4000 });
    const pid = s.hello!.pid;
    const from = s.hello!.bs;
    // The agent sets its rate caps from its RSSI at once: 20 m from ap1 is well below 300 Mbit/s.
    await s.waitFor((r) => r.type === 'position', 10_000);
    const caps = await rateCaps();
    expect(Object.values(caps).some((v) => v < 300e6)).toBe(true);
    // The downlink half, on the AP of its base station, follows (set by the controller).
    let down = await downlinkCaps();
    for (let i = 0; i < 50 && !((down[from ?? ''] ?? 300e6) < 300e6); i++) {
      await new Promise((r) => setTimeout(r, 200));
      down = await downlinkCaps();
    }
    expect(down[from ?? '']).toBeLessThan(300e6);
    s.handover(from === 'ap1' ? 'ap2' : 'ap1');
    let dump = '';
    for (let i = 0; i < 50 && !dump.includes(blackoutTag('mu1')); i++) {
      await new Promise((r) => setTimeout(r, 100));
      dump = await mangle();
    }
    expect(dump).toContain(blackoutTag('mu1'));

    // The controller has a cap to put back where it was below provision's rate when the session died.
    const capped = Object.entries(await downlinkCaps())
      .filter(([, rate]) => rate < 300e6)
      .map(([ap]) => `downlink rate cap on ${ap}`);
    // The sshd process serving the agent's session: the first sshd above the agent. Killed by its pid.
    const sshd = sessionProcess(pid);
    process.kill(sshd, 'SIGKILL');
    const gone = await waitGone(pid, 15_000);
    expect(gone).toBe(true);
    const ended = await s.done;
    expect(ended.bye).toBeUndefined();
    expect(s.errors).toEqual([]);
    // Mid-blackout the user is still on `from`, 25-35 m from it: below the full rate.
    expect(capped).toEqual([`downlink rate cap on ${from}`]);
    expect(s.restored).toEqual(capped);
    expect(Object.values(await downlinkCaps())).toEqual([300e6, 300e6, 300e6]);

    expect(await mangle()).not.toContain(blackoutTag('mu1'));
    expect(Object.values(await rateCaps())).toEqual([300e6, 300e6, 300e6]);
    const lock = `/run/edgectl/mu/${inv.testbed}/mu1.pid`;
    expect(() => readFileSync(lock)).toThrow();
    // Provision finds the mu host as it left it (the user on the base station it was on).
    const dry = await cli<ProvisionResult>(['provision', '--dry-run']);
    const muHost = dry.json?.result?.hosts.find((h) => h.name === 'mu');
    expect(muHost?.changed, JSON.stringify(muHost)).toBe(false);
    const rule = (await mangle())
      .split('\n')
      .find((l) => l.includes('198.18.10.10/32') && l.includes('MARK'));
    expect(rule).toContain(from === 'ap1' ? '0x1bbd' : '0x1bbe');
  }, 180_000);
});

/** The pid of the sshd process above `pid` (its SSH session), read from /proc. */
function sessionProcess(pid: number): number {
  let p = pid;
  for (let i = 0; i < 10; i++) {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (comm === 'sshd' || comm === 'sshd-session') return p;
    p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  }
  throw new Error(`no sshd above pid ${pid}`);
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return true;
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
