/**
 * Ownership before removal, locks before action, on the lab. mu1's `simple` service runs on edge1,
 * deployed from state database A; next to it:
 * - a second state database deploys mu1 on edge1: refused (NOT_OWNED), the running container, its
 *   counter and A's record untouched; on edge2 it runs beside it, and its migration onto edge1 is refused
 *   at prepare;
 * - testbed `paper` with a user `fig3-mu1` (the pair whose container name was `edgectl-paper-fig3-mu1`,
 *   mu1's own, before the separator became "."): its deploy no longer meets mu1's container (at mu1's
 *   host port it fails on the port, at a port of its own it runs beside it), and its undeploy removes
 *   only its own. The lab's hosts keep their testbed's name (`lab up` names namespaces after it): the
 *   second testbed is a hosts file with the same hosts under another testbed name, as a second testbed
 *   sharing a rack would be;
 * - two `migrate` of mu1 at once from one database: one runs, the other is refused on this machine;
 *   from a copy of the database in another directory: refused on the source server.
 * Each ends with the service answering on exactly one server, its counter continuous, the database
 * agreeing, and no staging of this database left.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerFor } from '../../src/lib/docker/client.js';
import { containerName, LABEL } from '../../src/lib/docker/owner.js';
import { getHost, type Inventory } from '../../src/lib/inventory/index.js';
import type { MigrationResult } from '../../src/lib/migration/pipeline.js';
import type { OffloadResult } from '../../src/lib/mu/offload.js';
import { SshPool } from '../../src/lib/remote/index.js';
import { openState, type Placement } from '../../src/lib/state/index.js';
import { edgectl } from '../helpers/cli.js';
import { hostsFile, labInventory, writeVariantInventory } from '../helpers/lab.js';

const pool = new SshPool();
const dir = mkdtempSync(join(tmpdir(), 'edgectl-owner-'));
const stateA = join(dir, 'a', 'state.db');
const stateB = join(dir, 'b', 'state.db');
const stateC = join(dir, 'c', 'state.db');
const stateP = join(dir, 'p', 'state.db');
/** Testbed `paper` on the same hosts, its user `fig3-mu1` at mu1's host port, and at one of its own. */
const paperAtMu1sPort = join(dir, 'paper-clash.yml');
const paperOwnPort = join(dir, 'paper.yml');
const SERVERS = ['cloud', 'edge1', 'edge2', 'edge3'];
let inv: Inventory;
let idA = '';
let counter = 0;

function cli<T>(args: string[], state = stateA, hosts = hostsFile) {
  return edgectl<T>([...args, '-f', hosts, '--state', state, '--json'], { timeoutMs: 300_000 });
}

function placement(state: string): Placement | undefined {
  const s = openState(state);
  try {
    return s.placements.get('mu1');
  } finally {
    s.close();
  }
}

/** The containers of a testbed's user on every server, with their owner labels. */
async function containersOf(testbed: string, user: string) {
  const found = await Promise.all(
    SERVERS.map(async (host) => {
      const list = await dockerFor(pool, getHost(inv, host)).listContainers({
        all: true,
        filters: { label: [`${LABEL.testbed}=${testbed}`, `${LABEL.user}=${user}`] },
      });
      return list.map((c) => ({
        host,
        id: c.Id,
        name: (c.Names[0] ?? '').replace(/^\//, ''),
        running: c.State === 'running',
        database: c.Labels[LABEL.database],
      }));
    }),
  );
  return found.flat();
}

/** mu1's service answers through the state database that records it, its counter where it was. */
async function answersContinuing(state: string, count = 2): Promise<void> {
  const r = await cli<OffloadResult>(['offload', '--user', 'mu1', '--count', String(count)], state);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.json?.result?.host).toBe(placement(state)?.host);
  expect(r.json?.result?.tasks.map((t) => t.counter)).toEqual(
    Array.from({ length: count }, (_, i) => counter + 1 + i),
  );
  counter += count;
}

/** Exactly one mu1 container, running where `state` records it, with that id. */
async function exactlyOne(state: string): Promise<void> {
  const p = placement(state);
  expect(await containersOf(inv.testbed, 'mu1')).toEqual([
    {
      host: p?.host,
      id: p?.containerId,
      name: containerName(inv, 'mu1'),
      running: true,
      database: idA,
    },
  ]);
}

/** No staging of this file's databases on the servers (the lab's hosts share one filesystem). */
function noStagingLeft(): void {
  const root = `/var/lib/edgectl/migrations/${inv.testbed}`;
  const ids = [idA, idOf(stateB)];
  const left = existsSync(root)
    ? readdirSync(root).filter((d) => ids.some((id) => d.startsWith(`${id}-`)))
    : [];
  expect(left).toEqual([]);
}

function idOf(state: string): string {
  const s = openState(state);
  try {
    return s.instanceId;
  } finally {
    s.close();
  }
}

beforeAll(async () => {
  ({ inv } = await labInventory());
  for (const [file, port] of [
    [paperAtMu1sPort, undefined],
    [paperOwnPort, 21078],
  ] as const)
    writeVariantInventory(file, (doc) => {
      doc.set('testbed', 'paper');
      doc.setIn(['users', 0, 'name'], 'fig3-mu1');
      if (port) doc.setIn(['users', 0, 'port'], port);
    });
  for (const d of ['a', 'b', 'c', 'p']) mkdirSync(join(dir, d));
  for (const args of [
    ['provision'],
    ['undeploy', '--user', 'mu1'],
    ['deploy', '--user', 'mu1', '--service', 'simple', '--host', 'edge1'],
    ['handover', '--user', 'mu1', '--to', 'ap1', '--blackout', '0'],
  ]) {
    const r = await cli(args);
    expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  }
  idA = idOf(stateA);
  counter = 0;
  await answersContinuing(stateA);
}, 300_000);

afterAll(async () => {
  for (const state of [stateC, stateB, stateA])
    await cli(['undeploy', '--user', 'mu1', '--forget'], state).catch(() => {});
  await cli(['undeploy', '--user', 'fig3-mu1', '--forget'], stateP, paperOwnPort).catch(() => {});
  await pool.closeAll();
  rmSync(dir, { recursive: true, force: true });
}, 300_000);

describe('a second state database next to a running service', () => {
  it('its deploy on the same server is refused, naming the owner; the running service, its counter and record untouched', async () => {
    const before = await containersOf(inv.testbed, 'mu1');
    expect(before).toHaveLength(1);
    const r = await cli(['deploy', '--user', 'mu1', '--service', 'simple', '--host', 'edge1'], stateB);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.json?.error?.code).toBe('NOT_OWNED');
    expect(r.json?.error?.message).toContain(`state database ${idA}`);
    expect(r.json?.error?.hint).toMatch(/another state database.*--state/);
    expect(await containersOf(inv.testbed, 'mu1')).toEqual(before);
    expect(placement(stateB)).toBeUndefined();
    await exactlyOne(stateA);
    await answersContinuing(stateA);
  });

  it('on another server it runs beside it; its migration onto the first one’s server is refused before anything changes', async () => {
    const d = await cli(['deploy', '--user', 'mu1', '--service', 'simple', '--host', 'edge2'], stateB);
    expect(d.exitCode, d.stderr).toBe(0);
    const both = await containersOf(inv.testbed, 'mu1');
    expect(both.map((c) => [c.host, c.running, c.database === idA]).sort()).toEqual([
      ['edge1', true, true],
      ['edge2', true, false],
    ]);
    const m = await cli(['migrate', '--user', 'mu1', '--to', 'edge1', '--no-probe'], stateB);
    expect(m.exitCode, m.stderr).toBe(5);
    expect(m.json?.error?.message).toMatch(
      /failed at prepare: the container .* on edge1 belongs to .*state database/,
    );
    expect(await containersOf(inv.testbed, 'mu1')).toEqual(both);
    expect(placement(stateB)?.host).toBe('edge2');
    expect((await cli(['undeploy', '--user', 'mu1'], stateB)).exitCode).toBe(0);
    await exactlyOne(stateA);
    await answersContinuing(stateA);
    noStagingLeft();
  }, 300_000);
});

describe('a testbed whose name is a prefix of the other’s', () => {
  it('its user’s container has a name of its own: at mu1’s port it fails on the port, at its own it runs beside mu1; its undeploy removes only its own', async () => {
    expect(containerName({ testbed: 'paper' }, 'fig3-mu1')).not.toBe(containerName(inv, 'mu1'));
    const clash = await cli(
      ['deploy', '--user', 'fig3-mu1', '--service', 'simple', '--host', 'edge1'],
      stateP,
      paperAtMu1sPort,
    );
    expect(clash.exitCode, clash.stderr).toBe(5);
    expect(clash.json?.error?.message).toMatch(/port is already allocated|address already in use/);
    expect(await containersOf('paper', 'fig3-mu1')).toEqual([]);
    await exactlyOne(stateA);

    const own = await cli(
      ['deploy', '--user', 'fig3-mu1', '--service', 'simple', '--host', 'edge1'],
      stateP,
      paperOwnPort,
    );
    expect(own.exitCode, own.stderr).toBe(0);
    const paper = await containersOf('paper', 'fig3-mu1');
    expect(paper.map((c) => [c.host, c.name, c.running])).toEqual([
      ['edge1', 'edgectl.paper.fig3-mu1', true],
    ]);
    await exactlyOne(stateA);
    await answersContinuing(stateA);
    const gone = await cli(['undeploy', '--user', 'fig3-mu1'], stateP, paperOwnPort);
    expect(gone.exitCode, gone.stderr).toBe(0);
    expect(await containersOf('paper', 'fig3-mu1')).toEqual([]);
    await exactlyOne(stateA);
    await answersContinuing(stateA);
  }, 300_000);
});

describe('two migrations of one user at once', () => {
  it('from one state database: one runs, the other is refused on this machine at once', async () => {
    const from = placement(stateA)?.host;
    expect(from).toBe('edge1');
    const runs = await Promise.all([
      cli<MigrationResult>(['migrate', '--user', 'mu1', '--to', 'edge2']),
      cli<MigrationResult>(['migrate', '--user', 'mu1', '--to', 'edge3']),
    ]);
    const won = runs.filter((r) => r.exitCode === 0);
    const lost = runs.filter((r) => r.exitCode !== 0);
    expect(won, runs.map((r) => r.stderr).join('\n')).toHaveLength(1);
    expect(lost[0]?.exitCode).toBe(2);
    expect(lost[0]?.json?.error?.code).toBe('LOCKED');
    expect(lost[0]?.json?.error?.message).toMatch(/mu1's service .* is busy: .* on this machine/);
    expect(placement(stateA)?.host).toBe(won[0]?.json?.result?.to);
    await exactlyOne(stateA);
    await answersContinuing(stateA);
    noStagingLeft();
  }, 360_000);

  it('from a copy of the database in another directory: refused on the source server', async () => {
    const s = openState(stateA);
    await s.db.backup(stateC);
    s.close();
    const from = placement(stateA)!.host;
    const [to1, to2] = ['edge1', 'edge2', 'edge3'].filter((h) => h !== from) as [string, string];
    const runs = await Promise.all([
      cli<MigrationResult>(['migrate', '--user', 'mu1', '--to', to1], stateA),
      cli<MigrationResult>(['migrate', '--user', 'mu1', '--to', to2], stateC),
    ]);
    const winner = runs.findIndex((r) => r.exitCode === 0);
    expect(winner, runs.map((r) => r.stderr).join('\n')).toBeGreaterThanOrEqual(0);
    const loser = runs[1 - winner]!;
    expect(loser.exitCode, loser.stderr).toBe(2);
    expect(loser.json?.error?.code).toBe('LOCKED');
    expect(loser.json?.error?.message).toContain(`on ${from}`);
    const winnerState = winner === 0 ? stateA : stateC;
    expect(placement(winnerState)?.host).toBe(winner === 0 ? to1 : to2);
    await exactlyOne(winnerState);
    await answersContinuing(winnerState);
    noStagingLeft();
    // The loser's database still says `from`; the one that won is the one to go on with.
    if (winner === 1) {
      const back = await cli(['undeploy', '--user', 'mu1', '--forget'], stateA);
      expect(back.exitCode, back.stderr).toBe(0);
    }
  }, 360_000);
});
