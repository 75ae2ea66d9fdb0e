/**
 * mu1's `simple` service on the lab, for the tests that interrupt or kill its migrations: a variant of the
 * repository's hosts.yml and a state database of their own (in `dir`), the service freshly on edge1, its
 * counter followed task by task, and `migrate` run as a user would with something done once a phase starts.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { expect } from 'vitest';
import { containerName } from '../../src/lib/docker/owner.js';
import type { Envelope } from '../../src/lib/envelope.js';
import { getHost, type Inventory, loadInventory } from '../../src/lib/inventory/index.js';
import { type OffloadResult, offload } from '../../src/lib/mu/offload.js';
import { SshPool } from '../../src/lib/remote/index.js';
import { openState } from '../../src/lib/state/index.js';
import { edgectl, repoRoot } from './cli.js';
import { hostsFile, writeVariantInventory } from './lab.js';

const SERVERS = ['cloud', 'edge1', 'edge2', 'edge3'];

export interface SignalledMigrate {
  from: string;
  to: string;
  /** When the signal was sent (this machine's clock, ms). */
  sentAt: number;
  exitCode: number | undefined;
  /** The signal that ended the CLI, if one did. */
  signal: string | undefined;
  stderr: string;
  json: Envelope<unknown> | undefined;
}

export class Mu1Lab {
  readonly stateFile: string;
  readonly file: string;
  readonly pool = new SshPool();
  inv!: Inventory;
  /** The counter of mu1's service as its last task saw it. */
  counter = 0;

  constructor(dir: string) {
    this.stateFile = join(dir, 'state.db');
    this.file = join(dir, 'hosts.yml');
  }

  cli<T>(args: string[], timeoutMs = 300_000) {
    return edgectl<T>([...args, '-f', this.file, '--state', this.stateFile, '--json'], { timeoutMs });
  }

  /** Provisioned, mu1's service freshly on edge1, its counter at 2. */
  async setUp(): Promise<void> {
    writeVariantInventory(this.file, () => {});
    this.inv = await loadInventory(this.file);
    expect((await this.cli(['provision'])).exitCode).toBe(0);
    await this.cli(['undeploy', '--user', 'mu1']);
    const deployed = await this.cli(['deploy', '--user', 'mu1', '--service', 'simple', '--host', 'edge1']);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    this.counter = 0;
    await this.offloadContinues(2);
  }

  async tearDown(): Promise<void> {
    await this.cli(['recover']).catch(() => {});
    await this.cli(['undeploy', '--user', 'mu1']).catch(() => {});
    await edgectl(['provision', '-f', hostsFile, '--json']);
    await this.pool.closeAll();
  }

  /** The server the database says mu1's service runs on. */
  where(): string | undefined {
    const s = openState(this.stateFile);
    try {
      return s.placements.get('mu1')?.host;
    } finally {
      s.close();
    }
  }

  /**
   * `count` tasks answered, their counters going on from the last one seen: sent through the user's radio
   * path as `edgectl offload` sends them, by its library function on this process's pool (what is checked
   * is the service, not the command, which deploy-offload tests; a CLI process each time cost its start).
   */
  async offloadContinues(count: number): Promise<void> {
    const state = openState(this.stateFile);
    let r: OffloadResult;
    try {
      r = await offload(this.inv, this.pool, state, { user: 'mu1', count, timeoutMs: 20_000 });
    } finally {
      state.close();
    }
    for (const t of r.tasks) expect(t.ok, t.error).toBe(true);
    expect(r.tasks.map((t) => t.counter)).toEqual(
      Array.from({ length: count }, (_, i) => this.counter + 1 + i),
    );
    this.counter += count;
  }

  /** Where a container of mu1's service exists (running or not), over every server's dockerd. */
  async containers(): Promise<string[]> {
    const name = containerName(this.inv, 'mu1');
    const found = await Promise.all(
      SERVERS.map(async (s) => {
        const r = await this.pool
          .executor(getHost(this.inv, s))
          .run(['docker', 'ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.Names}}']);
        expect(r.code, r.stderr).toBe(0);
        return r.stdout.trim() === name ? [s] : [];
      }),
    );
    return found.flat();
  }

  /**
   * Runs `migrate` of mu1 to the other edge and, once `phase` has started (as --verbose announces it), sends
   * `signal` to the CLI's process, or does what `signal` says.
   */
  async migrateAndSignal(
    phase: string,
    signal: NodeJS.Signals | (() => void),
    extra: string[] = [],
  ): Promise<SignalledMigrate> {
    const from = this.where()!;
    const to = from === 'edge1' ? 'edge2' : 'edge1';
    const child = execa(
      process.execPath,
      [
        `${repoRoot}bin/run.js`,
        'migrate',
        '--user',
        'mu1',
        '--to',
        to,
        '-f',
        this.file,
        '--state',
        this.stateFile,
        '--json',
        '--verbose',
        ...extra,
      ],
      { reject: false, env: { NO_COLOR: '1' }, timeout: 300_000 },
    );
    let sent = false;
    let sentAt = 0;
    child.stderr?.on('data', (d: Buffer) => {
      if (!sent && d.toString().includes(`[migrate] ${phase} started`)) {
        sent = true;
        sentAt = Date.now();
        if (typeof signal === 'function') signal();
        else child.kill(signal);
      }
    });
    const r = await child;
    expect(sent, `${phase} never started:\n${r.stderr}`).toBe(true);
    let json: Envelope<unknown> | undefined;
    try {
      json = JSON.parse(String(r.stdout)) as Envelope<unknown>;
    } catch {
      json = undefined;
    }
    return { from, to, sentAt, exitCode: r.exitCode, signal: r.signal, stderr: String(r.stderr), json };
  }
}
