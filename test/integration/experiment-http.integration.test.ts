/**
 * `edgectl experiment run` driving a researcher's own service with the http task mode: the test image
 * (test/fixtures/http-counter, no edgectl protocol in it) with `offload: http:/count`, one planner
 * (nearest) and a brisk user (2 m/s: a handover, then a migration, every 30 s). Every task is a POST from
 * the user's own address through its base station; the service's JSON counter comes back in tasks.csv,
 * and it goes on by exactly one from task to task across every migration: the service's memory moved.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentResult } from '../../src/lib/experiment/run.js';
import { edgectl } from '../helpers/cli.js';
import { buildHttpCounterImage, HTTP_COUNTER_PORT } from '../helpers/http-image.js';
import { writeVariantInventory } from '../helpers/lab.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-experiment-http-'));
const stateFile = join(dir, 'state.db');
const file = join(dir, 'hosts.yml');
const out = join(dir, 'results');

function cli<T>(args: string[], timeoutMs = 300_000) {
  return edgectl<T>([...args, '-f', file, '--state', stateFile, '--json'], { timeoutMs });
}

type Row = Record<string, string>;
const csv = (name: string): Row[] => parse(readFileSync(join(out, name)), { columns: true }) as Row[];

let result: ExperimentResult;
let tookMs = 0;

beforeAll(async () => {
  const started = Date.now();
  const image = await buildHttpCounterImage();
  writeVariantInventory(file, (doc) => {
    doc.addIn(['services'], {
      name: 'web',
      image: image.ref,
      port: HTTP_COUNTER_PORT,
      // GET /health answers without counting: the migration's downtime probe must not move the counter.
      probe: 'http:/health',
      offload: 'http:/count',
    });
  });
  for (const args of [
    ['provision'],
    ['hosts', 'check'],
    ['undeploy', '--user', 'mu1'],
    ['image', 'load', image.path],
  ]) {
    const r = await cli(args);
    expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  }
  const r = await cli<ExperimentResult>(
    [
      'experiment',
      'run',
      '--planner',
      'nearest',
      '--service',
      'web',
      '--duration',
      '60',
      '--velocity',
      '2',
      '--out',
      out,
    ],
    900_000,
  );
  expect(r.exitCode, r.stderr).toBe(0);
  result = r.json!.result!;
  tookMs = Date.now() - started;
}, 1_200_000);

afterAll(async () => {
  await cli(['undeploy', '--user', 'mu1']).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

describe('experiment run: your own HTTP service with the http task mode', () => {
  it('POSTs every task; the counter goes on by one across every migration', () => {
    expect(result.complete).toBe(true);
    const tasks = csv('tasks.csv').filter((t) => t['run'] === 'nearest-web-1');
    const ok = tasks.filter((t) => t['ok'] === 'true');
    // 2 tasks/s for 60 s, nearly all answered (the outages of handovers and migrations cost a few).
    expect(tasks.length).toBeGreaterThan(90);
    expect(ok.length).toBeGreaterThan(0.8 * tasks.length);
    // Processing time is not known in the http mode: empty, and E2E measured.
    expect(tasks.every((t) => t['proc_ms'] === '' && t['tx_ms'] === '')).toBe(true);
    expect(ok.every((t) => Number(t['e2e_ms']) > 0)).toBe(true);
    const counters = ok.map((t) => Number(t['counter']));
    expect(counters.every((c) => Number.isInteger(c) && c > 0)).toBe(true);
    const jumps = counters.slice(1).flatMap((c, i) => (c === counters[i]! + 1 ? [] : [[counters[i], c]]));
    expect(jumps, JSON.stringify(counters)).toEqual([]);
    // The tasks went to more than one server: the counter followed the service.
    const hosts = new Set(ok.map((t) => t['host']));
    expect(hosts.size, JSON.stringify([...hosts])).toBeGreaterThanOrEqual(2);
    const migrations = csv('migrations.csv').filter(
      (m) => m['run'] === 'nearest-web-1' && m['ok'] === 'true',
    );
    expect(migrations.length).toBeGreaterThanOrEqual(2);
    // Tasks answered after the last migration ended carry on from those before it.
    const last = Math.max(...migrations.map((m) => Number(m['t_ms'])));
    expect(ok.some((t) => Number(t['t_ms']) > last)).toBe(true);
    console.info(
      `experiment-http: ${tasks.length} tasks, ${migrations.length} migrations, ${Math.round(tookMs / 1000)} s with setup`,
    );
  });
});
