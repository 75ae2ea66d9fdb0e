/**
 * `edgectl plan` on the lab: mu1 walks from ap1 towards ap2 (hosts.yml's walk, from 5 m on) with its
 * service on edge1, its agent reporting into the state database; the orchestrated planner chooses ap2 and
 * edge2 and times pre-migration, migration and handover before the handover its walk makes due.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Inventory } from '../../src/lib/inventory/index.js';
import { predictNextHandover } from '../../src/lib/mobility/index.js';
import type { MonitorResult } from '../../src/lib/monitor/monitor.js';
import { type AgentSession, startAgent } from '../../src/lib/mu/controller.js';
import type { PlanInput } from '../../src/lib/planner/input.js';
import type { PlanResult } from '../../src/lib/planner/plan.js';
import { SshPool } from '../../src/lib/remote/index.js';
import { openState, type StateDb } from '../../src/lib/state/index.js';
import { edgectl } from '../helpers/cli.js';
import { hostsFile, labInventory, placeMu1OnEdge1 } from '../helpers/lab.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-plan-'));
const stateFile = join(dir, 'state.db');
const pool = new SshPool();
let inv: Inventory;
let state: StateDb;
let agent: AgentSession | undefined;

function cli<T>(args: string[]) {
  return edgectl<T>([...args, '-f', hostsFile, '--state', stateFile, '--json'], { timeoutMs: 300_000 });
}

beforeAll(async () => {
  ({ inv } = await labInventory());
  state = openState(stateFile);
  await placeMu1OnEdge1(cli);
}, 600_000);

afterAll(async () => {
  await agent?.stop(10_000).catch(() => {});
  await cli(['undeploy', '--user', 'mu1']).catch(() => {});
  state.close();
  await pool.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('edgectl plan', () => {
  it('orchestrated: mu1 walking from ap1 to ap2 with its service on edge1 goes to ap2 and edge2, every trigger before the predicted handover', async () => {
    const startAtS = 5;
    // The controller decides its handovers (the planner's schedule is not carried out here).
    agent = await startAgent(inv, pool, state, { user: 'mu1', startAtS, handover: 'controller' });
    const startedMs = agent.hello!.t;
    // A few seconds of reports and tasks in the state database.
    await agent.waitFor((r) => r.type === 'task' && r.t > startedMs + 5000, 30_000);
    // One round, and the paper's two probe checkpoints of the running container (S_pre, S_delta).
    const m = await cli<MonitorResult>(['monitor', '--once', '--checkpoints']);
    expect(m.exitCode, m.stderr).toBe(0);
    const probe = m.json!.result!.probes[0];
    expect(probe).toMatchObject({ user: 'mu1', host: 'edge1' });
    expect(probe!.preBytes).toBeGreaterThan(1e6);
    expect(probe!.deltaBytes).toBeGreaterThan(0);
    expect(probe!.deltaBytes).toBeLessThan(probe!.preBytes / 2);
    // The service kept running through both (leave-running): its agent's tasks still get answers.
    const after = Date.now();
    await agent.waitFor((r) => r.type === 'task' && r.ok && r.t > after, 20_000);

    const r = await cli<PlanResult>(['plan', '--planner', 'orchestrated', '--window', '10']);
    expect(r.exitCode, r.stderr).toBe(0);
    const plan = r.json!.result!;
    expect(plan).toMatchObject({ planner: 'orchestrated', status: 'optimal' });
    const d = plan.decisions.find((x) => x.user === 'mu1');
    expect(d, JSON.stringify(plan)).toMatchObject({
      from: { bs: 'ap1', host: 'edge1' },
      bs: 'ap2',
      host: 'edge2',
      migrate: true,
      handover: true,
      lateMs: 0,
    });
    // The handover its walk makes due, as the mobility model predicts it from where the agent started.
    const predicted = predictNextHandover(inv.users[0]!.trajectory, inv.basestations, 'ap1', startAtS);
    expect(d!.predictedHandover?.to).toBe('ap2');
    const expectedAt = startedMs + ((predicted?.atS ?? 0) - startAtS) * 1000;
    expect(Math.abs(d!.predictedHandover!.atMs - expectedAt)).toBeLessThan(1500);
    const { preMigrationAt, migrationAt, handoverAt } = d!.triggers;
    expect(preMigrationAt).not.toBeNull();
    expect(preMigrationAt!).toBeLessThan(migrationAt!);
    expect(migrationAt!).toBeLessThan(d!.predictedHandover!.atMs);
    expect(handoverAt!).toBeLessThan(d!.predictedHandover!.atMs);
    expect(preMigrationAt!).toBeGreaterThanOrEqual(plan.atMs);
    // One outage, max(T_mig, T_ho), over before the user must leave ap1.
    expect(d!.outages).toHaveLength(1);
    expect(d!.outages[0]!.endMs).toBeLessThanOrEqual(d!.predictedHandover!.atMs);
    expect(d!.estimates.downtimeMs).toBeCloseTo(Math.max(d!.estimates.migMs!, d!.estimates.hoMs), 0);
    // The measured inputs: the processing time of its recent tasks, the RTTs the monitor probed.
    expect(d!.estimates.procMs).toBeGreaterThanOrEqual(0);
    expect(d!.estimates.refE2eMs!).toBeGreaterThan(100); // edge1 through ap2: one 50 ms link each way
    expect(d!.estimates.e2eMs).toBeLessThan(20);

    // The same decision from the saved input, with no testbed at all.
    const file = join(dir, 'input.json');
    const saved = await cli<PlanResult>(['plan', '--save-input', file]);
    expect(saved.exitCode, saved.stderr).toBe(0);
    const input = JSON.parse(readFileSync(file, 'utf8')) as PlanInput;
    expect(input.users[0]?.migration).toMatchObject({
      source: 'its probe checkpoints',
      preBytes: probe!.preBytes,
      deltaBytes: probe!.deltaBytes,
    });
    expect(input.servers.find((x) => x.name === 'edge1')?.fit).toMatch(/psi from 2 checkpoints/);
    const offline = await edgectl<PlanResult>([
      'plan',
      '--snapshot',
      file,
      '--json',
      '-f',
      join(dir, 'no-such.yml'),
    ]);
    expect(offline.exitCode, offline.stderr).toBe(0);
    expect(offline.json?.result?.decisions[0]).toMatchObject({ bs: 'ap2', host: 'edge2' });
  }, 180_000);
});
