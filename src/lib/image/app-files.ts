/**
 * The files a bundled app needs from node_modules (the vision services' model runtimes, weights and the
 * wasm binary), so the image carries those files and nothing else of node_modules. Each such app has a
 * committed list, apps/<app>/files.json ({packages: {name: [file, ...]}}), written by tracing the service
 * while it starts and answers one frame (`npm run app-files`); the image places each file at
 * /apps/node_modules/<name>/<file>, resolved on this machine the way node resolves it from the app's
 * directory (node_modules may be hoisted above the package when edgectl is itself a dependency).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeAnswer, encodeTask, FrameDecoder } from '../mu/protocol.js';

/** The list's name inside an app's directory. */
export const APP_FILES_NAME = 'files.json';

export interface AppFiles {
  /** Package name -> files inside it (posix, relative to the package's directory), sorted. */
  packages: Record<string, string[]>;
}

/** The apps that read files from node_modules, and a frame that makes them load everything they use. */
export const TRACED_APPS: Record<string, { package: string; frame: string }> = {
  face: { package: '@vladmandic/face-api', frame: 'demo/sample1.jpg' },
  detect: { package: '@vladmandic/face-api', frame: 'demo/sample1.jpg' },
};

/**
 * The directory of package `name` as node finds it from `fromDir`: the first
 * <dir>/node_modules/<name>/package.json walking up (exports maps do not matter: whole paths are used).
 */
export function findPackageDir(fromDir: string, name: string): string | undefined {
  let dir = resolve(fromDir);
  for (;;) {
    const candidate = join(dir, 'node_modules', ...name.split('/'));
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Groups traced absolute paths by the package they belong to (the part after the last node_modules/),
 * adding each package's package.json (node reads it to resolve `main` and the module type). Paths outside
 * node_modules (the app's own files, its data) are dropped: apps/ is shipped whole. Two directories for one
 * package name would need nested node_modules in the image: an error.
 */
export function groupByPackage(paths: readonly string[]): AppFiles {
  const dirs = new Map<string, string>();
  const files = new Map<string, Set<string>>();
  for (const path of paths) {
    const parts = path.split(sep);
    const at = parts.lastIndexOf('node_modules');
    if (at < 0 || at + 2 >= parts.length) continue;
    const scoped = parts[at + 1]!.startsWith('@');
    const nameParts = parts.slice(at + 1, at + (scoped ? 3 : 2));
    const name = nameParts.join('/');
    const dir = parts.slice(0, at + 1 + nameParts.length).join(sep);
    const rest = parts.slice(at + 1 + nameParts.length).join('/');
    if (rest === '') continue;
    const known = dirs.get(name);
    if (known !== undefined && known !== dir) {
      throw new Error(`package ${name} was loaded from two directories: ${known} and ${dir}`);
    }
    dirs.set(name, dir);
    const set = files.get(name) ?? new Set(['package.json']);
    set.add(rest);
    files.set(name, set);
  }
  const packages: Record<string, string[]> = {};
  for (const name of [...files.keys()].sort()) packages[name] = [...files.get(name)!].sort();
  return { packages };
}

/**
 * Adds the package.json files between each traced file and its package's root: node reads them (not
 * through fs) to decide whether a .js file is CommonJS or ESM (long ships umd/package.json for that).
 */
export function withScopes(paths: readonly string[]): string[] {
  const out = new Set(paths);
  for (const path of paths) {
    const at = path.lastIndexOf(`${sep}node_modules${sep}`);
    if (at < 0) continue;
    for (let dir = dirname(path); dir.length > at + 13; dir = dirname(dir)) {
      if (existsSync(join(dir, 'package.json'))) out.add(join(dir, 'package.json'));
    }
  }
  return [...out].sort();
}

/** Reads apps/<app>/files.json, or undefined when the app has none (it needs nothing from node_modules). */
export async function readAppFiles(appsDir: string, app: string): Promise<AppFiles | undefined> {
  let text: string;
  try {
    text = await readFile(join(appsDir, app, APP_FILES_NAME), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as AppFiles;
}

/** The JSON text of a list, as committed. */
export function appFilesText(files: AppFiles): string {
  return `${JSON.stringify(files, null, 2)}\n`;
}

/** One file of an app's list: where it goes under /apps/node_modules and where it is on this machine. */
export interface PackageFile {
  /** Posix path relative to node_modules ("@vladmandic/face-api/model/x.bin"). */
  path: string;
  source: string;
}

/** Resolves an app's list to files on this machine, from the app's directory the way node would. */
export function resolveAppFiles(appsDir: string, app: string, files: AppFiles): PackageFile[] {
  const out: PackageFile[] = [];
  for (const [name, list] of Object.entries(files.packages)) {
    const dir = findPackageDir(join(appsDir, app), name);
    if (dir === undefined) {
      throw new Error(`package ${name}, needed by app ${app}, is not installed (looked up from ${appsDir})`);
    }
    for (const file of list) out.push({ path: `${name}/${file}`, source: join(dir, ...file.split('/')) });
  }
  return out;
}

/** The tracer preloaded into the service (scripts/lib/trace-files.mjs of this package). */
function tracerPath(): string {
  return fileURLToPath(new URL('../../../scripts/lib/trace-files.mjs', import.meta.url));
}

/** Sends one task with `payload` to 127.0.0.1:port and resolves with its answer. */
export async function sendOne(
  port: number,
  payload: Buffer,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect(port, '127.0.0.1');
    const decoder = new FrameDecoder();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      const body = decoder.next();
      if (body === undefined) return;
      clearTimeout(timer);
      socket.end();
      resolvePromise(decodeAnswer(body) as unknown as Record<string, unknown>);
    });
    socket.write(encodeTask({ id: 1, user: 'trace' }, payload));
  });
}

/**
 * Runs `node apps/<app>/server.mjs` with the tracer preloaded, sends it one frame, stops it, and returns
 * the node_modules files it read or loaded, grouped by package.
 */
export async function traceAppFiles(appsDir: string, app: string, timeoutMs = 60_000): Promise<AppFiles> {
  const traced = TRACED_APPS[app];
  if (traced === undefined) throw new Error(`app ${app} is not traced`);
  const frameDir = findPackageDir(join(appsDir, app), traced.package);
  if (frameDir === undefined) throw new Error(`package ${traced.package} is not installed`);
  const frame = await readFile(join(frameDir, traced.frame));
  const work = await mkdtemp(join(tmpdir(), `edgectl-trace-${app}-`));
  const out = join(work, 'trace.json');
  const child = spawn(process.execPath, ['--import', tracerPath(), join(appsDir, app, 'server.mjs')], {
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: join(work, 'data'),
      TRACE_FILES_OUT: out,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  try {
    const port = await new Promise<number>((resolvePort, reject) => {
      let logged = '';
      const timer = setTimeout(() => reject(new Error(`${app} did not start: ${logged}`)), timeoutMs);
      child.once('exit', (code) => reject(new Error(`${app} exited with ${code}: ${logged}`)));
      child.stderr!.on('data', (chunk: Buffer) => {
        logged += chunk.toString();
        const match = /"event":"listening".*?"port":(\d+)/.exec(logged);
        if (match) {
          clearTimeout(timer);
          resolvePort(Number(match[1]));
        }
      });
    });
    const answer = await sendOne(port, frame, timeoutMs);
    if (typeof answer['error'] === 'string') throw new Error(`${app} answered an error: ${answer['error']}`);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    return groupByPackage(withScopes(JSON.parse(await readFile(out, 'utf8')) as string[]));
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rm(work, { recursive: true, force: true });
  }
}
