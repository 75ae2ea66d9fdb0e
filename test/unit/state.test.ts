import { fork } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openState, readState, SCHEMA_MIGRATIONS, StateError } from '../../src/lib/state/index.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const placement = {
  user: 'mu1',
  service: 'simple',
  host: 'edge1',
  container: 'edgectl-paper-fig3-mu1',
  containerId: 'abc',
  address: '198.18.1.11',
  port: 32768,
  sinceMs: 1000,
};

describe('the state database', () => {
  it('migrates a new file to the latest schema, in WAL mode, and reopens it as is', () => {
    const file = join(dir, 'a', 'state.db');
    const s = openState(file);
    expect(s.schemaVersion).toBe(SCHEMA_MIGRATIONS.length);
    expect(s.db.pragma('journal_mode', { simple: true })).toBe('wal');
    s.close();
    const again = openState(file);
    expect(again.schemaVersion).toBe(SCHEMA_MIGRATIONS.length);
    again.close();
  });

  it('draws an instance id once per database: kept on reopening, another for another file, one for an old file', () => {
    const a = openState(join(dir, 'id-a.db'));
    const id = a.instanceId;
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(a.file).toBe(join(dir, 'id-a.db'));
    a.close();
    const again = openState(join(dir, 'id-a.db'));
    expect(again.instanceId).toBe(id);
    again.close();
    const b = openState(join(dir, 'id-b.db'));
    expect(b.instanceId).not.toBe(id);
    b.close();
    // A database of the schema before the id (version 6) gets one when it is upgraded.
    const old = openState(join(dir, 'id-old.db'));
    old.db.exec('DROP TABLE meta');
    old.db.pragma('user_version = 6');
    old.close();
    const upgraded = openState(join(dir, 'id-old.db'));
    expect(upgraded.instanceId).toMatch(/^[0-9a-f]{16}$/);
    upgraded.close();
    const readonly = openState(join(dir, 'id-old.db'), { readonly: true });
    expect(readonly.instanceId).toMatch(/^[0-9a-f]{16}$/);
    readonly.close();
  });

  it('keeps an experiment and its runs: the runs under their parent, each meta saved with its end', () => {
    const file = join(dir, 'v4.db');
    // A database of the schema before experiments had parents: its run rows are kept as they were.
    const old = openState(file);
    old.db.exec(
      'DROP TABLE meta; DROP TABLE migration_journal; DROP INDEX experiments_by_parent; ALTER TABLE experiments DROP COLUMN meta; ALTER TABLE experiments DROP COLUMN parent_id',
    );
    old.db.pragma('user_version = 4');
    old.db.prepare("INSERT INTO experiments (name, started_ms) VALUES ('before', 5)").run();
    old.close();
    const s = openState(file);
    expect(s.experiments.get(1)).toMatchObject({ name: 'before', parentId: null, meta: null, config: null });
    const e = s.experiments.start({
      name: 'x',
      planner: null,
      service: null,
      startedMs: 10,
      outDir: '/r',
      config: { seed: 1 },
      meta: { id: 0 },
    });
    const run = (name: string) =>
      s.experiments.start({
        name,
        parentId: e,
        planner: 'cloud',
        service: 'simple',
        startedMs: 20,
        outDir: '/r',
        config: null,
        meta: { run: name },
      });
    const a = run('cloud-simple-1');
    const b = run('cloud-simple-2');
    s.experiments.saveMeta(a, { run: 'cloud-simple-1', t0: 25 });
    s.experiments.finish(a, 30, { run: 'cloud-simple-1', complete: true });
    expect(s.experiments.runsOf(e).map((r) => [r.id, r.finishedMs, r.meta])).toEqual([
      [a, 30, { run: 'cloud-simple-1', complete: true }],
      [b, null, { run: 'cloud-simple-2' }],
    ]);
    s.experiments.finish(e, 40);
    expect(s.experiments.get(e)).toMatchObject({
      parentId: null,
      finishedMs: 40,
      config: { seed: 1 },
      meta: { id: 0 },
    });
    s.experiments.reopen(e);
    expect(s.experiments.get(e)?.finishedMs).toBeNull();
    s.close();
  });

  it('refuses a database from a newer edgectl', () => {
    const file = join(dir, 'newer.db');
    const s = openState(file);
    s.db.pragma(`user_version = ${SCHEMA_MIGRATIONS.length + 1}`);
    s.close();
    expect(() => openState(file)).toThrow(StateError);
  });

  it('keeps placements with their history', () => {
    const s = openState(':memory:');
    s.placements.set(placement, 'deployed');
    s.placements.set({ ...placement, host: 'edge2', sinceMs: 2000 }, 'migrated');
    expect(s.placements.get('mu1')?.host).toBe('edge2');
    expect(s.placements.remove('mu1', 3000)?.host).toBe('edge2');
    expect(s.placements.get('mu1')).toBeUndefined();
    expect(s.placements.history('mu1')).toEqual([
      { host: 'edge1', sinceMs: 1000, untilMs: 2000, reason: 'migrated' },
      { host: 'edge2', sinceMs: 2000, untilMs: 3000, reason: 'undeployed' },
    ]);
    s.close();
  });

  it('records tasks, migrations with phases, checkpoints, handovers, host facts, link measurements', () => {
    const s = openState(':memory:');
    const ids = s.tasks.insert([
      {
        user: 'mu1',
        bs: 'ap1',
        host: 'edge1',
        service: 'simple',
        taskId: 1,
        counter: 1,
        sentMs: 10,
        bytes: 100,
        e2eMs: 5,
        procMs: 1,
        txMs: 4,
        reconnects: 0,
        ok: true,
        error: null,
      },
      {
        user: 'mu1',
        bs: 'ap1',
        host: 'edge1',
        service: 'simple',
        taskId: 2,
        counter: null,
        sentMs: 20,
        bytes: 100,
        e2eMs: null,
        procMs: null,
        txMs: null,
        reconnects: 3,
        ok: false,
        error: 'timeout',
      },
    ]);
    expect(ids).toHaveLength(2);
    expect(s.tasks.forUser('mu1').map((t) => [t.counter, t.ok])).toEqual([
      [1, true],
      [null, false],
    ]);
    const m = s.migrations.start({
      user: 'mu1',
      service: 'compute',
      fromHost: 'edge1',
      toHost: 'edge2',
      strategy: 'delta',
      codec: 'xdelta3',
      startedMs: 1,
    });
    s.migrations.finish(
      m,
      { finishedMs: 9, downtimeMs: 3, totalMs: 8, bytes: 1000, ok: true, rolledBack: false, error: null },
      [
        { name: 'pre-checkpoint', startMs: 0, durationMs: 2, bytes: 900 },
        { name: 'checkpoint', startMs: 4, durationMs: 1, bytes: 100 },
      ],
    );
    expect(s.migrations.phases(m).map((p) => p.name)).toEqual(['pre-checkpoint', 'checkpoint']);
    expect(s.migrations.get(m)?.['downtime_ms']).toBe(3);
    s.checkpoints.insert({
      migrationId: m,
      atMs: 2,
      host: 'edge1',
      user: 'mu1',
      kind: 'pre',
      bytes: 900,
      ms: 2,
    });
    expect(s.checkpoints.forHost('edge1')).toEqual([{ kind: 'pre', bytes: 900, ms: 2 }]);
    s.handovers.insert({ atMs: 5, user: 'mu1', fromBs: 'ap1', toBs: 'ap2', durationMs: 500 });
    expect(s.handovers.forUser('mu1')[0]?.toBs).toBe('ap2');
    s.hostFacts.setCpuScore('edge1', 3000, 7);
    s.hostFacts.setCapacity('edge1', 4, 16384, 8);
    expect(s.hostFacts.get('edge1')).toMatchObject({ cpuScore: 3000, cpus: 4, memMb: 16384 });
    expect(s.hostFacts.get('edge1')?.latencyEmulated).toBeNull();
    s.hostFacts.setLatency('edge1', true, 'nfqueue', 9);
    s.hostFacts.setLatency('cloud', false, null, 9);
    expect(s.hostFacts.get('edge1')).toMatchObject({
      cpuScore: 3000,
      latencyEmulated: true,
      latencyMethod: 'nfqueue',
      latencyMs: 9,
    });
    expect(s.hostFacts.get('cloud')).toMatchObject({
      cpuScore: null,
      latencyEmulated: false,
      latencyMethod: null,
    });
    s.links.insert({
      atMs: 1,
      fromHost: 'edge1',
      toHost: 'edge2',
      rttMs: 100,
      bandwidthBps: 1e8,
      method: 'probe',
    });
    s.links.insert({
      atMs: 2,
      fromHost: 'edge1',
      toHost: 'edge2',
      rttMs: 101,
      bandwidthBps: 1e8,
      method: 'probe',
    });
    expect(s.links.latest('edge1', 'edge2')?.rttMs).toBe(101);
    s.close();
  });

  it('records decisions with planned and actual instants, and patches them as the run goes', () => {
    const s = openState(':memory:');
    const e = s.experiments.start({
      name: 'x',
      planner: 'orchestrated',
      service: 'simple',
      startedMs: 0,
      outDir: null,
      config: null,
    });
    const other = s.experiments.start({
      name: 'y',
      planner: 'nearest',
      service: 'simple',
      startedMs: 0,
      outDir: null,
      config: null,
    });
    const late = s.decisions.insert({
      experimentId: e,
      user: 'mu1',
      planner: 'orchestrated',
      kind: 'coordinated',
      decidedMs: 2000,
      status: 'planned',
    });
    const first = s.decisions.insert({
      experimentId: e,
      user: 'mu1',
      planner: 'orchestrated',
      kind: 'coordinated',
      decidedMs: 1000,
      fromBs: 'ap1',
      toBs: 'ap2',
      plannedHandoverMs: 1500.5,
      estMigMs: 900,
      status: 'planned',
    });
    s.decisions.insert({
      experimentId: other,
      user: 'mu1',
      planner: 'nearest',
      kind: 'reactive',
      decidedMs: 10,
      status: 'done',
      handoverInside: false,
    });
    s.decisions.update(first, {
      actualHandoverMs: 1510,
      handoverInside: true,
      status: 'done',
      estMigMs: undefined,
    });
    s.decisions.update(late, { status: 'dropped', error: 'the agent was busy' });
    const rows = s.decisions.forExperiment(e);
    expect(rows.map((r) => r.id)).toEqual([first, late]);
    expect(rows[0]).toMatchObject({
      experimentId: e,
      fromBs: 'ap1',
      toHost: null,
      plannedHandoverMs: 1500.5,
      actualHandoverMs: 1510,
      estMigMs: 900,
      handoverInside: true,
      status: 'done',
      error: null,
    });
    expect(rows[1]).toMatchObject({ status: 'dropped', error: 'the agent was busy', handoverInside: null });
    expect(s.decisions.forExperiment(other)[0]?.handoverInside).toBe(false);
    expect(s.decisions.get(first)?.kind).toBe('coordinated');
    s.close();
  });

  it('takes writes from two processes at once without losing any', async () => {
    const file = join(dir, 'shared.db');
    openState(file).close();
    const worker = join(dir, 'writer.mjs');
    const stateModule = new URL('../../node_modules/better-sqlite3/lib/index.js', import.meta.url).pathname;
    writeFileSync(
      worker,
      `import { createRequire } from 'node:module';
const Database = createRequire(import.meta.url)(${JSON.stringify(stateModule)});
const db = new Database(process.argv[2]);
db.pragma('busy_timeout = 10000');
const insert = db.prepare("INSERT INTO tasks (user, sent_ms, bytes, ok) VALUES (?, ?, 0, 1)");
for (let i = 0; i < 300; i++) db.transaction(() => insert.run(process.argv[3], i)).immediate();
db.close();
`,
    );
    const run = (user: string) =>
      new Promise<number>((resolve) =>
        fork(worker, [file, user], { stdio: 'inherit' }).on('exit', (code) => resolve(code ?? -1)),
      );
    expect(await Promise.all([run('a'), run('b')])).toEqual([0, 0]);
    const s = openState(file);
    expect(s.tasks.count()).toBe(600);
    s.close();
  });
});

describe('a state database opened read-only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgectl-state-ro-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is read when its schema is this edgectl’s', () => {
    const file = join(dir, 'current.db');
    openState(file).close();
    const ro = openState(file, { readonly: true });
    expect(ro.schemaVersion).toBe(SCHEMA_MIGRATIONS.length);
    ro.close();
  });

  it('of an older schema is refused with what to do, and left as it was', () => {
    const file = join(dir, 'older.db');
    const rw = openState(file);
    rw.db.pragma(`user_version = ${SCHEMA_MIGRATIONS.length - 1}`);
    rw.close();
    expect(() => openState(file, { readonly: true })).toThrow(StateError);
    expect(() => openState(file, { readonly: true })).toThrow(/older than this edgectl's.*monitor --once/);
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(SCHEMA_MIGRATIONS.length - 1);
    raw.close();
  });

  it('is absent, and not made, when there is no file (readState)', () => {
    const file = join(dir, 'none', 'state.db');
    expect(readState(file)).toBeUndefined();
    expect(existsSync(join(dir, 'none'))).toBe(false);
    openState(file).close();
    const ro = readState(file);
    expect(ro?.schemaVersion).toBe(SCHEMA_MIGRATIONS.length);
    ro?.close();
  });

  it('of a newer schema is refused', () => {
    const file = join(dir, 'newer.db');
    const rw = openState(file);
    rw.db.pragma(`user_version = ${SCHEMA_MIGRATIONS.length + 1}`);
    rw.close();
    expect(() => openState(file, { readonly: true })).toThrow(/newer than this edgectl knows/);
  });
});
