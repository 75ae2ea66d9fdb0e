/**
 * `edgectl experiment run` on the provisioned lab (latency emulated): a short run of all four planners with
 * a brisk user (2 m/s: a handover every 30 s). Every planner records tasks, the non-cloud ones migrate,
 * nearest's handovers each leave two separate outages (the handover, then the migration) and
 * orchestrated's one, no run loses the service's counter, the cloud is the slowest by its emulated
 * latency, every file of the data dictionary is written, and the report's figures are drawn in every format
 * with report.html beside them.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentMeta, ExperimentSummary } from '../../src/lib/experiment/format.js';
import { readResults } from '../../src/lib/experiment/report-data.js';
import type { ExperimentResult } from '../../src/lib/experiment/run.js';
import { edgectl } from '../helpers/cli.js';
import { hostsFile } from '../helpers/lab.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-experiment-'));
const stateFile = join(dir, 'state.db');
const out = join(dir, 'results');

function cli<T>(args: string[], timeoutMs = 300_000) {
  return edgectl<T>([...args, '-f', hostsFile, '--state', stateFile, '--json'], { timeoutMs });
}

type Row = Record<string, string>;
const csv = (name: string): Row[] => parse(readFileSync(join(out, name)), { columns: true }) as Row[];

let result: ExperimentResult;

beforeAll(async () => {
  const p = await cli(['provision']);
  expect(p.exitCode, p.stderr).toBe(0);
  const c = await cli(['hosts', 'check']);
  expect(c.exitCode, c.stderr).toBe(0);
  const r = await cli<ExperimentResult>(
    [
      'experiment',
      'run',
      '--planner',
      'all',
      '--service',
      'simple',
      '--duration',
      '60',
      '--velocity',
      '2',
      '--out',
      out,
    ],
    1_200_000,
  );
  expect(r.exitCode, r.stderr).toBe(0);
  result = r.json!.result!;
}, 1_500_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('experiment run: all four planners, simple, a brisk user', () => {
  it('completes every run, records tasks for every planner, and the non-cloud planners migrate', () => {
    expect(result.complete).toBe(true);
    expect(result.runs.map((r) => r.planner)).toEqual(['cloud', 'random', 'nearest', 'orchestrated']);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as ExperimentSummary;
    const by = (p: string) => summary.planners.find((x) => x.planner === p)!;
    for (const p of ['cloud', 'random', 'nearest', 'orchestrated']) {
      expect(by(p).tasks, p).toBeGreaterThan(40);
      expect(by(p).handovers, p).toBeGreaterThanOrEqual(2);
      // The counter never resets: the service's state survived every move.
      expect(by(p).counterContinuous, p).toBe(true);
    }
    expect(by('cloud').migrations).toBe(0);
    for (const p of ['random', 'nearest', 'orchestrated']) expect(by(p).migrations, p).toBeGreaterThan(0);
    // The cloud is 150 ms (one way) farther than any edge: its mean E2E is the highest.
    const cloud = by('cloud').e2eMs.mean!;
    for (const p of ['random', 'nearest', 'orchestrated']) expect(by(p).e2eMs.mean!, p).toBeLessThan(cloud);
    expect(cloud).toBeGreaterThan(300);
    // Every CSV is there, one row per task.
    expect(csv('tasks.csv').length).toBe(summary.planners.reduce((a, p) => a + p.tasks, 0));
    const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8'));
    expect(meta.links.every((l: { emulated: boolean }) => l.emulated === true)).toBe(true);
  });

  it('nearest: each handover, then a separate migration outage; orchestrated: each handover inside its migration’s outage', () => {
    const outages = csv('outages.csv');
    const spans = (run: string, cause: string) =>
      outages
        .filter((o) => o['run'] === run && o['cause'] === cause)
        .map((o) => [Number(o['t_ms']), Number(o['end_t_ms'])] as const);
    const handoverSpans = spans('nearest-simple-1', 'handover');
    const migrationSpans = spans('nearest-simple-1', 'migration');
    const all = JSON.stringify(outages.map((o) => [o['run'], o['cause'], o['t_ms'], o['end_t_ms']]));
    expect(migrationSpans.length).toBeGreaterThan(0);
    for (const [a, b] of migrationSpans) {
      // The migration outage starts after a handover ended (it reacts to it), overlapping none.
      expect(
        handoverSpans.some(([ha, hb]) => hb <= a && ha < b),
        all,
      ).toBe(true);
      expect(
        handoverSpans.some(([ha, hb]) => ha < b && a < hb),
        all,
      ).toBe(false);
    }
    const oh = spans('orchestrated-simple-1', 'handover');
    const om = spans('orchestrated-simple-1', 'migration');
    expect(om.length).toBeGreaterThan(0);
    // Every migration of orchestrated has a handover inside its outage: one window for both.
    for (const [a, b] of om)
      expect(
        oh.some(([ha, hb]) => ha >= a - 50 && hb <= b + 50),
        all,
      ).toBe(true);
  });

  it('orchestrated: every handover within 100 ms of its planned instant, each decision in decisions.csv with its estimates and measurements', () => {
    const decisions = csv('decisions.csv');
    const coordinated = decisions.filter(
      (d) => d['planner'] === 'orchestrated' && d['kind'] === 'coordinated',
    );
    const all = JSON.stringify(coordinated);
    expect(coordinated.length, all).toBeGreaterThan(0);
    // A decision may keep the service where it is (the planner found the move not worth it): a handover
    // alone, with no migration to pair it with.
    const moves = coordinated.filter((d) => d['from_host'] !== d['to_host']);
    expect(moves.length, all).toBeGreaterThan(0);
    for (const d of coordinated) {
      expect(d['status'], all).toBe('done');
      expect(Math.abs(Number(d['handover_late_ms'])), all).toBeLessThanOrEqual(100);
      for (const c of ['est_ho_ms', 'meas_ho_ms', 'planned_handover_t_ms'])
        expect(Number.isFinite(Number(d[c])) && d[c] !== '', `${c}: ${all}`).toBe(true);
    }
    for (const d of moves) {
      expect(d['handover_inside'], all).toBe('true');
      for (const c of ['est_mig_ms', 'meas_mig_ms'])
        expect(Number.isFinite(Number(d[c])) && d[c] !== '', `${c}: ${all}`).toBe(true);
    }
    // The baselines' reactions: each with its delay (link down to final checkpoint) and pre-transfer speed.
    const reactive = decisions.filter((d) => d['planner'] === 'nearest' && d['status'] === 'done');
    expect(reactive.length).toBeGreaterThan(0);
    for (const d of reactive) {
      expect(Number(d['reaction_ms'])).toBeGreaterThan(0);
      expect(Number(d['pre_mbps'])).toBeGreaterThan(0);
      expect(Number(d['link_mbps'])).toBe(100);
    }
    // The verdict's comparisons, and what ran.
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as ExperimentSummary;
    expect(summary.comparisons?.some((c) => c.a === 'orchestrated' && c.b === 'nearest')).toBe(true);
    const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')) as ExperimentMeta;
    expect(meta.provenance?.settings.codec).toBe('pages');
    expect(meta.provenance?.commandLine.slice(0, 3)).toEqual(['edgectl', 'experiment', 'run']);
    for (const r of meta.runs) expect(r.windowS ?? 0, r.run).toBeGreaterThanOrEqual(60);
  });

  it('writes what was measured: a row per migration and its phases, positions, RSSI, host statistics, links', async () => {
    const migrations = csv('migrations.csv');
    const ids = migrations.map((m) => `${m['run']}/${m['migration']}`);
    expect(new Set(ids).size).toBe(ids.length);
    const phases = csv('migration_phases.csv');
    for (const id of ids)
      expect(phases.filter((p) => `${p['run']}/${p['migration']}` === id).length, id).toBeGreaterThan(2);
    // Every run's agent reported, attached to a station whose RSSI rssi.csv repeats at the same instant.
    const positions = csv('positions.csv');
    const rssi = csv('rssi.csv');
    for (const run of result.runs.map((r) => r.run)) {
      const mine = positions.filter((p) => p['run'] === run);
      expect(mine.length, run).toBeGreaterThan(20);
      const p = mine.find((x) => x['bs'] !== '');
      expect(
        rssi.some(
          (r) =>
            r['run'] === run &&
            r['t_ms'] === p?.['t_ms'] &&
            r['bs'] === p?.['bs'] &&
            r['rssi_dbm'] === p?.['rssi_dbm'],
        ),
        run,
      ).toBe(true);
    }
    // The monitor sampled the servers and probed the links during every run, inside its window.
    const stats = csv('host_stats.csv');
    const links = csv('links.csv');
    for (const r of result.runs) {
      const windowMs = 1000 * (r.windowS ?? 60);
      for (const rows of [stats, links]) {
        const mine = rows.filter((x) => x['run'] === r.run);
        expect(mine.length, r.run).toBeGreaterThan(0);
        for (const x of mine) expect(Number(x['t_ms'])).toBeLessThanOrEqual(windowMs);
      }
    }
    expect(links.some((l) => Number(l['rtt_ms']) > 0)).toBe(true);
    // The dictionary is there, and the reader takes the directory whole.
    const pkg = JSON.parse(readFileSync(join(out, 'datapackage.json'), 'utf8')) as {
      resources: { path: string }[];
    };
    for (const r of pkg.resources) expect(statSync(join(out, r.path)).isFile(), r.path).toBe(true);
    const data = await readResults(out);
    expect(data.migrations).toHaveLength(migrations.length);
    expect(data.warnings).toEqual([]);
  });

  it('leaves the testbed as provisioned: no container of the user, the user back on its start base station', async () => {
    const h = await cli<{ from: string | null }>([
      'handover',
      '--user',
      'mu1',
      '--to',
      'ap1',
      '--blackout',
      '0',
    ]);
    expect(h.exitCode, h.stderr).toBe(0);
    expect(h.json?.result?.from).toBe('ap1');
    const dry = await cli<{ hosts: { name: string; changed: boolean }[] }>(['provision', '--dry-run']);
    expect(dry.json?.result?.hosts.find((x) => x.name === 'mu')?.changed).toBe(false);
  });

  it('draws the report: every figure as SVG, PNG, PDF and vega-lite spec, report.md and report.html', () => {
    const figures = [
      'fig4-delay',
      'fig5-downtime',
      'fig6-handover',
      'fig6-aligned',
      'e2e-ecdf',
      'outages-by-cause',
      'migration-phases',
      'timeline',
    ];
    for (const f of figures) {
      const svg = readFileSync(join(out, `${f}.svg`), 'utf8');
      expect(svg.startsWith('<svg'), f).toBe(true);
      expect(svg, f).not.toMatch(/Not drawn/);
      const png = readFileSync(join(out, `${f}.png`));
      expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
      expect(statSync(join(out, `${f}.png`)).size).toBeGreaterThan(5000);
      expect(
        readFileSync(join(out, `${f}.pdf`))
          .subarray(0, 5)
          .toString(),
        f,
      ).toBe('%PDF-');
      const spec = JSON.parse(readFileSync(join(out, `${f}.vl.json`), 'utf8')) as { $schema?: string };
      expect(spec.$schema, f).toMatch(/vega-lite/);
    }
    // One page, its figures' specs inside, nothing loaded from elsewhere.
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    for (const f of figures) expect(html, f).toContain(`"${f}"`);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=["']?https?:/i);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/orchestrated/);
    expect(md).toMatch(/fig4-delay\.png/);
  });
});
