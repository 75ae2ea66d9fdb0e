/**
 * The results directory's data: the dictionary (dictionary.ts) against format.ts's columns, the files
 * writeResults writes (from the synthetic fixture and from a real state database) against datapackage.json,
 * and the reader (report-data.ts): .csv.gz, missing files, cells of the wrong type, older migrations.csv, and
 * a copy of docs/paper-1600s.
 */
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TABLES, table } from '../../src/lib/experiment/dictionary.js';
import { resultsReference } from '../../src/lib/experiment/dictionary-md.js';
import {
  CAPACITY_COLUMNS,
  CHECKPOINT_COLUMNS,
  DECISION_COLUMNS,
  type ExperimentMeta,
  HANDOVER_COLUMNS,
  HOST_STAT_COLUMNS,
  LEGACY_MIGRATION_PHASE_COLUMNS,
  LINK_COLUMNS,
  MIGRATION_COLUMNS,
  MIGRATION_PHASE_COLUMNS,
  OUTAGE_COLUMNS,
  POSITION_COLUMNS,
  RSSI_COLUMNS,
  type RunMeta,
  TASK_COLUMNS,
} from '../../src/lib/experiment/format.js';
import { parseCell, readResults } from '../../src/lib/experiment/report-data.js';
import { dataPackage, runRows, toCsv, writeResults } from '../../src/lib/experiment/results.js';
import { openState } from '../../src/lib/state/index.js';
import { writeFixture } from '../fixtures/results/generate.js';
import { repoRoot } from '../helpers/cli.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'edgectl-data-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

type Cells = Record<string, string>;
const csvOf = (text: string) => parse(text, { columns: true, bom: true }) as Cells[];
const headerOf = (text: string) => (parse(text, { to_line: 1 }) as string[][])[0] ?? [];
const readCsv = async (dir: string, name: string) => csvOf(await readFile(join(dir, name), 'utf8'));

/** A cell of the declared type, checked here without the reader's own parser. */
function isType(type: string, v: string): boolean {
  if (v === '') return true;
  switch (type) {
    case 'integer':
      return /^-?\d+$/.test(v);
    case 'number':
      return /^-?\d+(\.\d+)?(e[+-]?\d+)?$/.test(v);
    case 'boolean':
      return v === 'true' || v === 'false';
    default:
      return true;
  }
}

interface Pkg {
  profile: string;
  name: string;
  resources: {
    profile: string;
    name: string;
    path: string;
    format: string;
    mediatype: string;
    encoding: string;
    compression?: string;
    schema?: {
      fields: { name: string; type: string; description: string; unit?: string }[];
      missingValues: string[];
    };
  }[];
}

/**
 * Every file datapackage.json names exists; each CSV has exactly its declared columns, in order, every cell
 * of its declared type, and (`withRows`) at least one row. Returns the rows by resource name.
 */
async function checkAgainstPackage(dir: string, withRows: boolean): Promise<Map<string, Cells[]>> {
  const pkg = JSON.parse(await readFile(join(dir, 'datapackage.json'), 'utf8')) as Pkg;
  const out = new Map<string, Cells[]>();
  for (const r of pkg.resources) {
    const bytes = await readFile(join(dir, r.path));
    if (r.format !== 'csv') {
      expect(() => JSON.parse(bytes.toString('utf8')), r.path).not.toThrow();
      continue;
    }
    const text = (r.compression === 'gz' ? gunzipSync(bytes) : bytes).toString('utf8');
    const fields = r.schema?.fields ?? [];
    expect(headerOf(text), r.path).toEqual(fields.map((f) => f.name));
    const rows = csvOf(text);
    if (withRows) expect(rows.length, `${r.path} has rows`).toBeGreaterThan(0);
    for (const [i, row] of rows.entries())
      for (const f of fields) {
        const v = row[f.name] ?? '';
        if (!isType(f.type, v))
          expect.fail(`${r.path}:${i + 2} ${f.name} = ${JSON.stringify(v)} is not ${f.type}`);
      }
    out.set(r.name, rows);
  }
  return out;
}

describe('the data dictionary', () => {
  it("names the columns of format.ts's lists, in their order", () => {
    const lists: Record<string, readonly string[]> = {
      tasks: TASK_COLUMNS,
      migrations: MIGRATION_COLUMNS,
      migration_phases: MIGRATION_PHASE_COLUMNS,
      handovers: HANDOVER_COLUMNS,
      outages: OUTAGE_COLUMNS,
      checkpoints: CHECKPOINT_COLUMNS,
      decisions: DECISION_COLUMNS,
      positions: POSITION_COLUMNS,
      rssi: RSSI_COLUMNS,
      host_stats: HOST_STAT_COLUMNS,
      links: LINK_COLUMNS,
      capacity: CAPACITY_COLUMNS,
    };
    expect(TABLES.map((t) => t.name).sort()).toEqual(Object.keys(lists).sort());
    for (const t of TABLES)
      expect(
        t.columns.map((c) => c.name),
        t.name,
      ).toEqual([...(lists[t.name] ?? [])]);
  });

  it('gives every column a type, a description, and every number its decimals', () => {
    for (const t of TABLES)
      for (const c of t.columns) {
        expect(c.description.length, `${t.name}.${c.name}`).toBeGreaterThan(3);
        if (c.type === 'number' || c.type === 'integer')
          expect(c.decimals, `${t.name}.${c.name}`).toBeTypeOf('number');
        if (c.name.endsWith('_ms')) expect(c.unit, `${t.name}.${c.name}`).toBe('ms');
        if (c.name.endsWith('bytes')) expect(c.unit, `${t.name}.${c.name}`).toBe('bytes');
      }
    // The files of the first results version are required; those added later are not.
    expect(TABLES.filter((t) => t.required).map((t) => t.name)).toEqual([
      'tasks',
      'migrations',
      'handovers',
      'outages',
      'checkpoints',
    ]);
  });
});

describe('a cell by its declared type', () => {
  it('parses what the writer, pandas and R write, and nothing else', () => {
    expect(parseCell('integer', '42')).toBe(42);
    expect(parseCell('integer', '-3')).toBe(-3);
    expect(parseCell('integer', '4.0')).toBeUndefined();
    expect(parseCell('number', '0.125')).toBe(0.125);
    expect(parseCell('number', '1e-3')).toBe(0.001);
    expect(parseCell('number', '.5')).toBe(0.5);
    for (const bad of ['0x10', 'NaN', 'Infinity', '12 ms', '1,5'])
      expect(parseCell('number', bad), bad).toBeUndefined();
    expect(parseCell('boolean', 'true')).toBe(true);
    expect(parseCell('boolean', 'FALSE')).toBe(false);
    expect(parseCell('boolean', 'yes')).toBeUndefined();
    expect(parseCell('string', 'a,b')).toBe('a,b');
    for (const t of ['string', 'integer', 'number', 'boolean'] as const) expect(parseCell(t, '')).toBeNull();
  });
});

describe('the synthetic results directory', () => {
  let dir: string;
  beforeAll(async () => {
    dir = join(tmp, 'fixture');
    await writeFixture(dir);
  });

  it('holds every file datapackage.json names, with its columns, types and rows', async () => {
    const rows = await checkAgainstPackage(dir, true);
    expect([...rows.keys()].sort()).toEqual(TABLES.map((t) => t.name).sort());
    const names = (await readdir(dir)).sort();
    for (const t of TABLES) expect(names).toContain(`${t.name}.csv`);
  });

  it('writes one row per migration in migrations.csv and its phases in migration_phases.csv', async () => {
    const migrations = await readCsv(dir, 'migrations.csv');
    const ids = migrations.map((m) => m['migration']);
    expect(new Set(ids).size).toBe(ids.length);
    // random, nearest and orchestrated migrate once per run, two repetitions; cloud never.
    expect(ids).toHaveLength(6);
    const phases = await readCsv(dir, 'migration_phases.csv');
    expect(phases).toHaveLength(6 * 5);
    expect(phases.filter((p) => p['migration'] === ids[0]).map((p) => [p['seq'], p['phase']])).toEqual([
      ['0', 'pre-checkpoint'],
      ['1', 'pre-transfer'],
      ['2', 'checkpoint'],
      ['3', 'transfer'],
      ['4', 'restore'],
    ]);
    const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as {
      planners: { planner: string; migrations: number }[];
    };
    expect(Object.fromEntries(summary.planners.map((p) => [p.planner, p.migrations]))).toEqual({
      cloud: 0,
      random: 2,
      nearest: 2,
      orchestrated: 2,
    });
  });

  it('reads every file back, typed', async () => {
    const d = await readResults(dir);
    expect(d.warnings).toEqual([]);
    expect(d.migrations).toHaveLength(6);
    expect(d.migrations[0]).toMatchObject({ strategy: 'delta', ok: true, rolledBack: false, error: null });
    expect(typeof d.migrations[0]?.migration).toBe('string');
    expect(d.migrationPhases).toHaveLength(30);
    expect(d.migrationPhases[1]).toMatchObject({
      seq: 1,
      phase: 'pre-transfer',
      startMs: 800,
      durationMs: 2600,
    });
    expect(d.positions?.length).toBeGreaterThan(0);
    expect(d.positions?.[0]).toMatchObject({ xM: 0, yM: 0, bs: 'ap1', rssiDbm: -40, rateMbps: 300 });
    expect(d.rssi?.filter((r) => r.tMs === 0 && r.run === 'cloud-simple-1').map((r) => r.bs)).toEqual([
      'ap1',
      'ap2',
    ]);
    expect(d.hostStats?.find((h) => h.container !== null)).toMatchObject({ host: 'edge1', load1: null });
    expect(d.links?.[0]).toMatchObject({ from: 'edge1', to: 'edge2', bandwidthMbps: 100, method: 'ping' });
  });

  it('reads NAME.csv.gz the same as NAME.csv', async () => {
    const gz = join(tmp, 'gz');
    await cp(dir, gz, { recursive: true });
    for (const t of TABLES) {
      const file = join(gz, `${t.name}.csv`);
      await writeFile(`${file}.gz`, gzipSync(await readFile(file)));
      await rm(file);
    }
    const plain = await readResults(dir);
    const zipped = await readResults(gz);
    expect({ ...zipped, dir: '' }).toEqual({ ...plain, dir: '' });
  });

  it.each(['tasks', 'migrations', 'handovers', 'outages', 'checkpoints'])(
    'refuses a directory without %s.csv, naming it',
    async (name) => {
      const broken = join(tmp, `no-${name}`);
      await cp(dir, broken, { recursive: true });
      await rm(join(broken, `${name}.csv`));
      await expect(readResults(broken)).rejects.toMatchObject({
        exitCode: 2,
        message: expect.stringContaining(`has no ${name}.csv`),
      });
    },
  );

  it('reads a directory without the files added later: null or no rows, no warning', async () => {
    const old = join(tmp, 'old');
    await cp(dir, old, { recursive: true });
    for (const name of ['decisions', 'positions', 'rssi', 'host_stats', 'links', 'migration_phases'])
      await rm(join(old, `${name}.csv`));
    // migration_phases.csv goes with a migrations.csv of one row per migration: without it, say so.
    await expect(readResults(old)).rejects.toThrow('has no migration_phases.csv');
    await writeFile(join(old, 'migrations.csv'), `${MIGRATION_COLUMNS.join(',')}\n`);
    const d = await readResults(old);
    expect(d).toMatchObject({ decisions: null, positions: null, rssi: null, hostStats: null, links: null });
    expect(d.migrationPhases).toEqual([]);
    expect(d.warnings).toEqual([]);
  });

  it('refuses a cell that is not of its type, naming file, line and column', async () => {
    const bad = join(tmp, 'bad-cell');
    await cp(dir, bad, { recursive: true });
    const file = join(bad, 'handovers.csv');
    const lines = (await readFile(file, 'utf8')).split('\n');
    const col = headerOf(lines[0] ?? '').indexOf('duration_ms');
    const cells = (lines[2] ?? '').split(',');
    cells[col] = '0.5s';
    lines[2] = cells.join(',');
    await writeFile(file, lines.join('\n'));
    await expect(readResults(bad)).rejects.toThrow(`${file}:3: column duration_ms: "0.5s" is not a number`);
    cells[col] = '';
    cells[headerOf(lines[0] ?? '').indexOf('t_ms')] = '';
    lines[2] = cells.join(',');
    await writeFile(file, lines.join('\n'));
    await expect(readResults(bad)).rejects.toThrow(`${file}:3: column t_ms is empty`);
  });

  it('collapses an older migrations.csv (a row per phase) to a row per migration and its phases', async () => {
    const old = join(tmp, 'legacy');
    await cp(dir, old, { recursive: true });
    const migrations = await readCsv(dir, 'migrations.csv');
    const phases = await readCsv(dir, 'migration_phases.csv');
    const columns = [...MIGRATION_COLUMNS.filter((c) => c !== 'error'), ...LEGACY_MIGRATION_PHASE_COLUMNS];
    const legacy = migrations.flatMap((m) =>
      phases
        .filter((p) => p['run'] === m['run'] && p['migration'] === m['migration'])
        .map((p) => ({
          ...m,
          phase: p['phase'],
          phase_start_ms: p['start_ms'],
          phase_duration_ms: p['duration_ms'],
          phase_bytes: p['bytes'],
        })),
    );
    expect(legacy).toHaveLength(30);
    await writeFile(join(old, 'migrations.csv'), toCsv(legacy, columns));
    await rm(join(old, 'migration_phases.csv'));
    const now = await readResults(dir);
    const then = await readResults(old);
    expect(then.warnings).toEqual([]);
    expect(then.migrations).toEqual(now.migrations);
    expect(then.migrationPhases).toEqual(now.migrationPhases);
  });
});

describe('a copy of docs/paper-1600s (older results: tasks.csv.gz, migrations.csv a row per phase)', () => {
  it('reads its 76 migrations, their phases and every task', async () => {
    const copy = join(tmp, 'paper');
    await cp(join(repoRoot, 'docs', 'paper-1600s'), copy, { recursive: true });
    const d = await readResults(copy);
    // Counted with: zcat tasks.csv.gz | tail -n +2 | wc -l (no cell holds a line break).
    const tasks = csvOf(gunzipSync(await readFile(join(copy, 'tasks.csv.gz'))).toString('utf8'));
    expect(tasks).toHaveLength(12481);
    expect(d.tasks).toHaveLength(12481);
    expect(d.migrations).toHaveLength(76);
    const phaseRows = (await readCsv(copy, 'migrations.csv')).filter((r) => r['phase'] !== '');
    expect(d.migrationPhases).toHaveLength(phaseRows.length);
    expect(d.migrationPhases[0]).toMatchObject({ migration: '10', seq: 0, phase: 'prepare' });
    expect(d.migrationPhases[1]).toMatchObject({ migration: '10', seq: 1, phase: 'pre-checkpoint' });
    expect(d).toMatchObject({ decisions: null, positions: null, hostStats: null, links: null });
    expect(d.warnings).toEqual([]);
    expect(d.handovers.length).toBe(108);
  });
});

describe('writeResults from a state database', () => {
  it('writes every file from the tables, inside the run window, rounded to what was measured', async () => {
    const state = openState(':memory:');
    const t0 = 1_700_000_000_000;
    const id = state.experiments.start({
      name: 'r',
      planner: 'nearest',
      service: 'simple',
      startedMs: t0,
      outDir: null,
      config: null,
    });
    const other = state.experiments.start({
      name: 'other',
      planner: 'nearest',
      service: 'simple',
      startedMs: t0,
      outDir: null,
      config: null,
    });
    const task = {
      experimentId: id,
      user: 'mu1',
      bs: 'ap1',
      host: 'edge1',
      service: 'simple',
      taskId: 1,
      counter: 1,
      bytes: 100,
      e2eMs: 12.3456789,
      procMs: 0.1234567,
      txMs: 12.2222222,
      reconnects: 0,
      ok: true,
      error: null,
    };
    state.tasks.insert([
      { ...task, sentMs: t0 + 1000.04 },
      { ...task, counter: 2, sentMs: t0 + 1500.06 },
    ]);
    const m = state.migrations.start({
      experimentId: id,
      user: 'mu1',
      service: 'simple',
      fromHost: 'edge1',
      toHost: 'edge2',
      strategy: 'delta',
      codec: 'zstd',
      startedMs: t0 + 5000,
    });
    state.migrations.finish(
      m,
      {
        finishedMs: t0 + 7000,
        downtimeMs: 812.34567,
        totalMs: 2000.1234567,
        bytes: 12345,
        ok: true,
        rolledBack: false,
        error: null,
      },
      [
        { name: 'pre-checkpoint', startMs: 0.9876543, durationMs: 700.1111111, bytes: 1000 },
        { name: 'checkpoint', startMs: 1200.5, durationMs: 300.25, bytes: null },
      ],
    );
    state.checkpoints.insert({
      migrationId: m,
      atMs: t0 + 5001,
      host: 'edge1',
      user: 'mu1',
      kind: 'pre',
      bytes: 1000,
      ms: 699.87,
    });
    state.handovers.insert({
      experimentId: id,
      atMs: t0 + 6000,
      user: 'mu1',
      fromBs: 'ap1',
      toBs: 'ap2',
      durationMs: 540.1234,
      linkDownMs: 500.9876,
      trigger: 'rssi',
    });
    state.gaps.insert({
      experimentId: id,
      user: 'mu1',
      startMs: t0 + 6000,
      endMs: t0 + 6540.12,
      cause: 'handover',
      detail: 'ap1 -> ap2',
    });
    state.userReports.insert([
      {
        experimentId: id,
        atMs: t0 + 2000,
        user: 'mu1',
        position: [1.23456, 0],
        bs: 'ap1',
        rssi: { ap2: -70.5, ap1: -50.25 },
        rateBps: 300e6,
      },
      {
        experimentId: id,
        atMs: t0 + 3000,
        user: 'mu1',
        position: [2.5, 0],
        bs: null,
        rssi: { ap1: -51 },
        rateBps: null,
      },
      {
        experimentId: other,
        atMs: t0 + 3000,
        user: 'mu2',
        position: [9, 9],
        bs: 'ap1',
        rssi: { ap1: -51 },
        rateBps: 1,
      },
    ]);
    const stat = {
      container: null,
      cpuPct: 12.345,
      memBytes: 1e9,
      memLimitBytes: 8e9,
      load1: 0.123,
      cpus: 2,
    };
    state.hostStats.insert([
      { ...stat, atMs: t0 - 1000, host: 'edge1' }, // before the run
      { ...stat, atMs: t0 + 2000, host: 'edge1' },
      { ...stat, atMs: t0 + 2000, host: 'edge1', container: 'svc', load1: null, cpus: null },
      { ...stat, atMs: t0 + 61_000, host: 'edge1' }, // after its window
    ]);
    state.links.insert({
      atMs: t0 + 2500,
      fromHost: 'edge1',
      toHost: 'edge2',
      rttMs: 50.1234,
      bandwidthBps: 100e6,
      method: 'ping',
    });
    state.links.insert({
      atMs: t0 + 90_000,
      fromHost: 'edge1',
      toHost: 'edge2',
      rttMs: 1,
      bandwidthBps: 100e6,
      method: 'ping',
    });
    state.decisions.insert({
      experimentId: id,
      user: 'mu1',
      planner: 'nearest',
      kind: 'reactive',
      decidedMs: t0 + 6050.04,
      actualHandoverMs: t0 + 6000,
      actualCheckpointMs: t0 + 6100.5,
      reactionMs: 100.56789,
      preBytes: 1000,
      preTransferMs: 3,
      linkBps: 100e6,
      migrationId: m,
      status: 'done',
    });
    const run: RunMeta = {
      run: 'nearest-simple-1',
      planner: 'nearest',
      service: 'simple',
      repeat: 1,
      startedEpochMs: t0,
      endedEpochMs: t0 + 60_000,
      complete: true,
      velocity: 1,
      seed: 1,
      experimentId: id,
      windowS: 60,
      servers: [
        { host: 'edge1', cpus: 2, memMB: 1024 },
        { host: 'edge2', cpus: 2, memMB: 1024 },
      ],
      users: [{ user: 'mu1', service: 'simple', host: 'edge1', bs: 'ap1', cpus: 1.5, memMB: 256.3 }],
    };
    const meta: ExperimentMeta = {
      version: 1,
      id,
      args: {},
      testbed: 't',
      inventory: {},
      versions: { edgectl: '0', node: 'v20', docker: {}, criu: {}, kernel: {} },
      links: [],
      imageBytes: {},
      startedEpochMs: t0,
      endedEpochMs: t0 + 60_000,
      complete: true,
      runs: [run],
      caveats: [],
    };
    const dir = join(tmp, 'from-state');
    const files = await writeResults(dir, meta, [{ meta: run, rows: runRows(state, run) }]);
    // A live run adds its keys as it goes (its window last); export reads them back through the schema:
    // meta.json comes out the same either way.
    const { windowS, ...early } = run;
    const live: RunMeta = { ...early, windowS };
    const liveDir = join(tmp, 'from-state-live');
    await writeResults(liveDir, { ...meta, runs: [live] }, [{ meta: live, rows: runRows(state, live) }]);
    expect(Object.keys(live).at(-1)).toBe('windowS');
    expect(await readFile(join(liveDir, 'meta.json'), 'utf8')).toBe(
      await readFile(join(dir, 'meta.json'), 'utf8'),
    );
    state.close();
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual(
      expect.arrayContaining([
        'meta.json',
        'summary.json',
        'datapackage.json',
        'migration_phases.csv',
        'links.csv',
      ]),
    );
    const rows = await checkAgainstPackage(dir, true);
    expect(rows.get('tasks')?.map((t) => [t['t_ms'], t['sent_epoch_ms'], t['e2e_ms'], t['proc_ms']])).toEqual(
      [
        ['1000', String(t0 + 1000), '12.346', '0.123'],
        ['1500.1', String(t0 + 1500), '12.346', '0.123'],
      ],
    );
    // mu1 leaves edge1 as the final checkpoint ends (5000 + 1200.5 + 300.25) and reaches edge2 at the
    // migration's end (no restore phase recorded: its total, 2000.12).
    expect(
      rows
        .get('capacity')
        ?.map((r) => [r['t_ms'], r['host'], r['users'], r['cpus'], r['mem_mb'], r['cap_cpus']]),
    ).toEqual([
      ['0', 'edge1', '1', '1.5', '256', '2'],
      ['0', 'edge2', '0', '0', '0', '2'],
      ['6500.8', 'edge1', '0', '0', '0', '2'],
      ['7000.1', 'edge2', '1', '1.5', '256', '2'],
    ]);
    expect(rows.get('migrations')).toEqual([
      expect.objectContaining({
        migration: String(m),
        t_ms: '5000',
        downtime_ms: '812.346',
        total_ms: '2000.123',
        ok: 'true',
        error: '',
      }),
    ]);
    expect(
      rows
        .get('migration_phases')
        ?.map((p) => [p['user'], p['seq'], p['phase'], p['start_ms'], p['duration_ms'], p['bytes']]),
    ).toEqual([
      ['mu1', '0', 'pre-checkpoint', '0.988', '700.111', '1000'],
      ['mu1', '1', 'checkpoint', '1200.5', '300.25', ''],
    ]);
    expect(rows.get('handovers')?.[0]).toMatchObject({ duration_ms: '540.123', link_down_ms: '500.988' });
    expect(rows.get('outages')?.[0]).toMatchObject({
      t_ms: '6000',
      end_t_ms: '6540.1',
      duration_ms: '540.1',
    });
    expect(rows.get('decisions')?.[0]).toMatchObject({
      decided_t_ms: '6050',
      reaction_ms: '100.568',
      pre_mbps: '2.667',
      link_mbps: '100',
      migration: String(m),
    });
    expect(rows.get('checkpoints')?.[0]).toMatchObject({ bytes: '1000', ms: '699.9' });
    // positions.csv: the attached station's RSSI; none when attached to none. Other experiments' reports left out.
    expect(
      rows.get('positions')?.map((p) => [p['t_ms'], p['x_m'], p['bs'], p['rssi_dbm'], p['rate_mbps']]),
    ).toEqual([
      ['2000', '1.235', 'ap1', '-50.25', '300'],
      ['3000', '2.5', '', '', ''],
    ]);
    expect(rows.get('rssi')?.map((r) => [r['t_ms'], r['bs'], r['rssi_dbm']])).toEqual([
      ['2000', 'ap1', '-50.25'],
      ['2000', 'ap2', '-70.5'],
      ['3000', 'ap1', '-51'],
    ]);
    // host_stats.csv and links.csv: only what lies in the run's window, from its start.
    expect(
      rows.get('host_stats')?.map((h) => [h['t_ms'], h['container'], h['cpu_pct'], h['load1'], h['cpus']]),
    ).toEqual([
      ['2000', '', '12.3', '0.12', '2'],
      ['2000', 'svc', '12.3', '', ''],
    ]);
    expect(rows.get('links')?.map((l) => [l['t_ms'], l['rtt_ms'], l['bandwidth_mbps']])).toEqual([
      ['2500', '50.123', '100'],
    ]);
    const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as {
      planners: { migrations: number; handovers: number }[];
    };
    expect(summary.planners[0]).toMatchObject({ migrations: 1, handovers: 1 });
    const d = await readResults(dir);
    expect(d.migrations).toHaveLength(1);
    expect(d.migrationPhases.map((p) => p.phase)).toEqual(['pre-checkpoint', 'checkpoint']);
  });
});

describe('datapackage.json', () => {
  it('is a Frictionless tabular data package: a resource per file, the schema from the dictionary', () => {
    const pkg = dataPackage({ name: 'Edgectl Experiment 3', gzipped: new Set(['tasks']) }) as unknown as Pkg;
    expect(pkg.profile).toBe('tabular-data-package');
    expect(pkg.name).toBe('edgectl-experiment-3');
    const tasks = pkg.resources.find((r) => r.name === 'tasks');
    expect(tasks).toMatchObject({
      profile: 'tabular-data-resource',
      path: 'tasks.csv.gz',
      compression: 'gz',
      format: 'csv',
      mediatype: 'text/csv',
      encoding: 'utf-8',
    });
    expect(tasks?.schema?.missingValues).toEqual(['']);
    expect(tasks?.schema?.fields.find((f) => f.name === 'e2e_ms')).toMatchObject({
      type: 'number',
      unit: 'ms',
    });
    const phases = pkg.resources.find((r) => r.name === 'migration_phases');
    expect(phases).toMatchObject({ path: 'migration_phases.csv' });
    expect(phases).not.toHaveProperty('compression');
    expect(phases?.schema?.fields.map((f) => f.name)).toEqual(
      table('migration_phases').columns.map((c) => c.name),
    );
    expect(pkg.resources.filter((r) => r.format === 'json').map((r) => r.path)).toEqual([
      'meta.json',
      'summary.json',
    ]);
    // Resource names: unique, lower case, as the spec wants them.
    const names = pkg.resources.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^[a-z0-9._-]+$/);
  });
});

describe('the results reference page', () => {
  it('docs/reference/results.md is up to date (npm run results-reference)', async () => {
    expect(await readFile(join(repoRoot, 'docs', 'reference', 'results.md'), 'utf8')).toBe(
      resultsReference(),
    );
  });
});
