/**
 * `edgectl experiment run` driving a researcher's own services with the http and echo task modes: the
 * test images test/fixtures/http-counter (`offload: http:/count`) and test/fixtures/tcp-echo
 * (`offload: echo`), neither speaking edgectl's protocol, one planner (nearest) and a brisk user (3 m/s:
 * a handover, then a migration, every 20 s). Every task goes from the user's own address through its base
 * station; the http service's JSON counter comes back in tasks.csv and goes on by exactly one from task
 * to task across every migration (the service's memory moved); every echo comes back whole.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentResult } from '../../src/lib/experiment/run.js';
import { edgectl } from '../helpers/cli.js';
import {
  buildHttpCounterImage,
  buildTcpEchoImage,
  HTTP_COUNTER_PORT,
  TCP_ECHO_PORT,
} from '../helpers/http-image.js';
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
  const [image, echoImage] = await Promise.all([buildHttpCounterImage(), buildTcpEchoImage()]);
  writeVariantInventory(file, (doc) => {
    doc.addIn(['services'], {
      name: 'web',
      image: image.ref,
      port: HTTP_COUNTER_PORT,
      // GET /health answers without counting: the migration's downtime probe must not move the counter.
      probe: 'http:/health',
      offload: 'http:/count',
    });
    // probe: tcp (an image's default) says nothing of what it answers: the offload mode is given.
    doc.addIn(['services'], { name: 'echo', image: echoImage.ref, port: TCP_ECHO_PORT, offload: 'echo' });
  });
  for (const args of [
    ['provision'],
    ['hosts', 'check'],
    ['undeploy', '--user', 'mu1'],
    ['image', 'load', image.path],
    ['image', 'load', echoImage.path],
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
      'web,echo',
      '--duration',
      '40',
      '--velocity',
      '3',
      '--out',
      out,
    ],
    1_100_000,
  );
  expect(r.exitCode, r.stderr).toBe(0);
  result = r.json!.result!;
  tookMs = Date.now() - started;
}, 1_200_000);

afterAll(async () => {
  await cli(['undeploy', '--user', 'mu1']).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

describe('experiment run: your own services with the http and echo task modes', () => {
  it('http: the counter goes on by one across every migration; echo: every task answered across them', () => {
    expect(result.complete).toBe(true);
    const tasks = csv('tasks.csv').filter((t) => t['run'] === 'nearest-web-1');
    const ok = tasks.filter((t) => t['ok'] === 'true');
    // 2 tasks/s for 40 s, nearly all answered (the outages of handovers and migrations cost a few).
    expect(tasks.length).toBeGreaterThan(60);
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
    const echoTasks = csv('tasks.csv').filter((t) => t['run'] === 'nearest-echo-1');
    const echoOk = echoTasks.filter((t) => t['ok'] === 'true');
    expect(echoTasks.length).toBeGreaterThan(60);
    expect(echoOk.length).toBeGreaterThan(0.8 * echoTasks.length);
    // An echo has no counter and no processing time; the bytes came back whole (else the task failed).
    expect(echoTasks.every((t) => t['counter'] === '' && t['proc_ms'] === '')).toBe(true);
    expect(new Set(echoOk.map((t) => t['host'])).size).toBeGreaterThanOrEqual(2);
    const echoMigrations = csv('migrations.csv').filter(
      (m) => m['run'] === 'nearest-echo-1' && m['ok'] === 'true',
    );
    expect(echoMigrations.length).toBeGreaterThanOrEqual(2);
    console.info(
      `experiment-http: ${tasks.length} tasks, ${migrations.length} migrations, ${Math.round(tookMs / 1000)} s with setup`,
    );
  });
});
