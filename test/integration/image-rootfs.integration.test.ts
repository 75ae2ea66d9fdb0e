/**
 * The image's root filesystem is self-contained: build the tar from this machine's node, extract it, and
 * run the services inside it with chroot (what `docker import` + `docker run` would do, without Docker).
 * Needs root (chroot).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appCommand, benchCommand, buildRootfs, type RootfsImage } from '../../src/lib/image/index.js';
import { sendTasks, type TaskOk } from '../../src/lib/mu/client.js';

const isRoot = process.getuid?.() === 0;
/** chroot by absolute path: the child gets a container-like env without PATH. */
const CHROOT = ['/usr/sbin/chroot', '/usr/bin/chroot', '/sbin/chroot'].find((p) => existsSync(p)) ?? 'chroot';
const HOST = '127.0.0.1';

let dir = '';
let rootDir = '';
let built: RootfsImage;
let firstBuildMs = 0;
let builtMtimeMs = 0;
const running = new Set<ChildProcess>();

/** Runs argv inside the extracted rootfs, with only the env given (as a container would). */
function chrootSpawn(argv: string[], env: Record<string, string>): ChildProcess {
  const proc = spawn(CHROOT, [rootDir, ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  return proc;
}

/** The exit code (a spawn failure rejects instead of hanging). */
function exitOf(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code) => resolve(code));
  });
}

/** Starts an app in the chroot on a free port; resolves with the port it logged. */
function startInChroot(app: 'simple' | 'compute', env: Record<string, string> = {}) {
  const proc = chrootSpawn(appCommand(app), { HOST, PORT: '0', ...env });
  return new Promise<{ proc: ChildProcess; port: number; log: Record<string, unknown> }>(
    (resolve, reject) => {
      let stderr = '';
      const timer = setTimeout(
        () => reject(new Error(`${app} did not start in the chroot: ${stderr}`)),
        15_000,
      );
      proc.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        for (const line of stderr.split('\n')) {
          if (!line.includes('"listening"')) continue;
          clearTimeout(timer);
          const log = JSON.parse(line) as Record<string, unknown>;
          resolve({ proc, port: log['port'] as number, log });
          return;
        }
      });
      proc.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${app} exited with ${code} in the chroot: ${stderr}`));
      });
    },
  );
}

beforeAll(async () => {
  if (!isRoot) return;
  dir = mkdtempSync(join(tmpdir(), 'edgectl-rootfs-'));
  rootDir = join(dir, 'root');
  mkdirSync(rootDir);
  const started = performance.now();
  built = await buildRootfs({ cacheDir: join(dir, 'cache') });
  firstBuildMs = performance.now() - started;
  builtMtimeMs = statSync(built.path).mtimeMs;
  execFileSync('tar', ['-xf', built.path, '-C', rootDir]);
  console.error(
    `rootfs ${built.image}: ${built.bytes} bytes, ${built.files} files, built in ${Math.round(firstBuildMs)} ms; ` +
      `libraries ${built.libraries.map((l) => l.path).join(' ')}; loader ${built.loader}`,
  );
});

afterAll(() => {
  for (const proc of running) proc.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!isRoot)('image rootfs (chroot)', () => {
  it('holds node, its libraries, the loader, the apps and /tmp, /data', () => {
    expect(built.contentTag).toMatch(/^[0-9a-f]{12}$/);
    expect(built.cached).toBe(false);
    expect(statSync(built.path).size).toBe(built.bytes);
    expect(built.libraries.length).toBeGreaterThan(0);
    for (const path of [
      'usr/local/bin/node',
      built.loader.slice(1),
      ...built.libraries.map((l) => l.path.slice(1)),
    ]) {
      expect(existsSync(join(rootDir, path)), path).toBe(true);
    }
    for (const path of [
      'apps/simple/server.mjs',
      'apps/compute/server.mjs',
      'apps/client.mjs',
      'apps/bench.mjs',
    ]) {
      expect(existsSync(join(rootDir, path)), path).toBe(true);
    }
    expect(statSync(join(rootDir, 'tmp')).mode & 0o7777).toBe(0o1777);
    expect(statSync(join(rootDir, 'data')).isDirectory()).toBe(true);
    // Nothing but what was listed: no stray host files.
    const listing = execFileSync('tar', ['-tf', built.path], { encoding: 'utf8' }).trim().split('\n');
    expect(listing.filter((p) => !p.endsWith('/')).length).toBe(built.files);
  });

  it('runs the simple service inside it', async () => {
    const { proc, port, log } = await startInChroot('simple');
    expect(log).toMatchObject({ service: 'simple', event: 'listening', host: HOST });
    const results = await sendTasks({ address: HOST, port, count: 10, sizeBytes: 1000 });
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect((results as TaskOk[]).map((r) => r.counter)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    proc.kill('SIGTERM');
    expect(await exitOf(proc)).toBe(0);
  });

  it('runs the compute service inside it, writing its data file under /data', async () => {
    const { proc, port } = await startInChroot('compute', { STATE_MB: '8', DATA_DIR: '/data' });
    const results = (await sendTasks({ address: HOST, port, count: 5, sizeBytes: 20_000 })) as TaskOk[];
    expect(results.map((r) => [r.ok, r.counter, r.fileLines])).toEqual(
      [1, 2, 3, 4, 5].map((n) => [true, n, n]),
    );
    expect(readFileSync(join(rootDir, 'data', 'tasks.log'), 'utf8').split('\n')).toHaveLength(6);
    proc.kill('SIGTERM');
    expect(await exitOf(proc)).toBe(0);
  });

  it('runs the CPU benchmark inside it', async () => {
    const proc = chrootSpawn(benchCommand(200), {});
    let stdout = '';
    proc.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    expect(await exitOf(proc)).toBe(0);
    expect((JSON.parse(stdout) as { score: number }).score).toBeGreaterThan(0);
  });

  it('comes from the cache the second time, with the same tag', async () => {
    const again = await buildRootfs({ cacheDir: join(dir, 'cache') });
    expect(again).toMatchObject({
      cached: true,
      contentTag: built.contentTag,
      sha256: built.sha256,
      path: built.path,
    });
    console.error(`cached rebuild: ${again.ms} ms (first build ${Math.round(firstBuildMs)} ms)`);
    // Not built again: the cached tar is the very file of the first build.
    expect(statSync(again.path).mtimeMs).toBe(builtMtimeMs);
  });
});
