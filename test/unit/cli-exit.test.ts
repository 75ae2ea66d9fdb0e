/**
 * Exit codes against the table (src/lib/errors.ts, docs/guide/scripting.md): `hosts check` with fake host
 * reports (the SSH probes mocked, the command and its envelope real), `plan` on a state database with no
 * monitor data, none at all, and a plan input with no users' readings.
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ExitCode } from '../../src/lib/errors.js';
import type { ChecksReport, HostReport } from '../../src/lib/hosts/check.js';
import { loadInventory } from '../../src/lib/inventory/index.js';
import { buildSnapshot } from '../../src/lib/monitor/snapshot.js';
import { planInputFrom } from '../../src/lib/planner/input.js';
import { openState } from '../../src/lib/state/index.js';
import { runJson } from '../helpers/run-json.js';

const fake = vi.hoisted(() => ({ hosts: [] as Partial<HostReport>[] }));
vi.mock('../../src/lib/hosts/check.js', () => ({
  checkHosts: async (): Promise<Partial<ChecksReport>> => ({
    testbed: 'paper-fig3',
    ready: fake.hosts.every((h) => h.ready),
    hosts: fake.hosts as HostReport[],
  }),
}));
vi.mock('../../src/lib/hosts/score.js', () => ({ ensureCpuScores: async () => {} }));

const { default: HostsCheck, checkExitCode } = await import('../../src/commands/hosts/check.js');
const { default: Plan } = await import('../../src/commands/plan.js');

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const hostsFile = join(ROOT, 'hosts.yml');
const dir = mkdtempSync(join(tmpdir(), 'edgectl-cli-exit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Envelope = { status: number; error?: { code: string; message: string; hint?: string } };

/** Runs a command class under --json; returns its envelope and exit code. */
async function run(
  cmd: Parameters<typeof runJson>[0],
  argv: string[],
): Promise<Envelope & { exitCode: number }> {
  const r = await runJson<Envelope>(cmd, argv);
  return { ...r.envelope, exitCode: r.exitCode };
}

const host = (name: string, reachable: boolean, ready: boolean): Partial<HostReport> => ({
  name,
  role: 'edge',
  ssh: reachable ? { ok: true, ms: 3 } : { ok: false, reason: 'refused' as HostReport['ssh']['reason'] },
  ready,
  errors: ready ? [] : ['not ready'],
  warnings: [],
  latency: null,
});

describe('hosts check exit codes', () => {
  it.each([
    ['every host ready', ExitCode.ok, [host('edge1', true, true), host('edge2', true, true)]],
    [
      'all reachable, one not ready',
      ExitCode.notReady,
      [host('edge1', true, true), host('edge2', true, false)],
    ],
    ['one unreachable', ExitCode.unreachable, [host('edge1', true, true), host('edge2', false, false)]],
    [
      'one unreachable, another not ready',
      ExitCode.unreachable,
      [host('edge1', true, false), host('edge2', false, false)],
    ],
  ])('%s: exit %i', async (_what, code, hosts) => {
    fake.hosts = hosts;
    expect(checkExitCode({ hosts: hosts as HostReport[] })).toBe(code);
    const r = await run(HostsCheck, ['-f', hostsFile, '--state', join(dir, 'check.db')]);
    expect(r.status).toBe(code);
    expect(r.exitCode).toBe(code);
  });
});

describe('plan with nothing to plan', () => {
  it('no state database: exit 6, naming it, and none is created', async () => {
    const state = join(dir, 'absent', 'state.db');
    const r = await run(Plan, ['-f', hostsFile, '--state', state]);
    expect(r.status).toBe(ExitCode.notReady);
    expect(r.exitCode).toBe(ExitCode.notReady);
    expect(r.error).toMatchObject({ code: 'NOTHING_TO_PLAN' });
    expect(r.error?.message).toContain(state);
    expect(r.error?.hint).toMatch(/edgectl monitor/);
    expect(existsSync(state)).toBe(false);
    expect(existsSync(join(dir, 'absent'))).toBe(false);
  });

  it('a state database without monitor data: exit 6, and the database is not changed', async () => {
    const state = join(dir, 'empty.db');
    openState(state).close();
    const before = statSync(state);
    const r = await run(Plan, ['-f', hostsFile, '--state', state]);
    expect(statSync(state).mtimeMs).toBe(before.mtimeMs);
    expect(r.status).toBe(ExitCode.notReady);
    expect(r.error?.code).toBe('NOTHING_TO_PLAN');
    expect(r.error?.message).toMatch(/no monitor data for any user \(mu1/);
  });

  it('a saved plan input whose users have no readings: exit 6', async () => {
    const state = openState(join(dir, 'empty.db'));
    const inv = await loadInventory(hostsFile);
    const input = planInputFrom(inv, state, buildSnapshot(inv, state, { atMs: Date.now() }));
    state.close();
    expect(input.users.length).toBeGreaterThan(0);
    const file = join(dir, 'input.json');
    writeFileSync(file, JSON.stringify(input));
    const r = await run(Plan, ['--snapshot', file]);
    expect(r.status).toBe(ExitCode.notReady);
    expect(r.error?.code).toBe('NOTHING_TO_PLAN');
    expect(r.error?.hint).toMatch(/--save-input/);
  });
});
