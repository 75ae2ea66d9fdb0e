/**
 * The root filesystem of the bundled services' image, built from local files only (no registry is
 * needed): the running node binary at /usr/local/bin/node, every shared library it needs and the dynamic
 * loader (from `ldd`), the apps/ directory at /apps, the node_modules files each app lists in its
 * files.json at /apps/node_modules (./app-files.ts), and empty /tmp and /data directories. Written as a
 * reproducible tar (sorted names, mtime 0, owner 0:0, normalised modes: the same inputs give the same
 * bytes), to be turned into the image `edgectl/apps:<contentTag>` with `docker import` and importChanges().
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, posix, relative, resolve, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { EdgectlError, ExitCode } from '../errors.js';
import type { BundledApp } from '../inventory/model.js';
import { LocalExecutor } from '../remote/local.js';
import type { Executor } from '../remote/types.js';
import { APP_FILES_NAME, readAppFiles, resolveAppFiles } from './app-files.js';

/** Where node sits inside the image. */
export const IMAGE_NODE_PATH = '/usr/local/bin/node';
/** Where apps/ sits inside the image. */
export const IMAGE_APPS_DIR = '/apps';
export const IMAGE_REPOSITORY = 'edgectl/apps';
/** Bumped whenever the layout or the tar encoding changes, so old tags are never reused for new bytes. */
export const ROOTFS_FORMAT = 'edgectl-rootfs/2';

/** The command that runs a bundled app in the image: ["/usr/local/bin/node", "/apps/<app>/server.mjs"]. */
export function appCommand(app: BundledApp): string[] {
  return [IMAGE_NODE_PATH, `${IMAGE_APPS_DIR}/${app}/server.mjs`];
}

/** The CPU benchmark in the image (prints {score, iterations, ms, kernel}). */
export function benchCommand(ms = 1000): string[] {
  return [IMAGE_NODE_PATH, `${IMAGE_APPS_DIR}/bench.mjs`, '--ms', String(ms)];
}

/** `edgectl/apps:<contentTag>`. */
export function imageRef(contentTag: string): string {
  return `${IMAGE_REPOSITORY}:${contentTag}`;
}

/**
 * The Dockerfile instructions `docker import --change` applies (also dockerode's importImage `changes`):
 * the default command (the simple app; a deploy names the app's command), PATH, DATA_DIR and WORKDIR.
 */
export function importChanges(): string[] {
  return [
    `CMD ${JSON.stringify(appCommand('simple'))}`,
    'ENV PATH=/usr/local/bin:/usr/bin:/bin',
    'ENV DATA_DIR=/data',
    `WORKDIR ${IMAGE_APPS_DIR}`,
  ];
}

/** `docker import --change ... TAR REF` as an argv. */
export function dockerImportArgv(tarPath: string, ref: string): string[] {
  return ['docker', 'import', ...importChanges().flatMap((change) => ['--change', change]), tarPath, ref];
}

// ---------------------------------------------------------------------------------------------------------
// ldd

export interface SharedLibrary {
  /** The name the binary asks for (libc.so.6). */
  name: string;
  /** Where the loader found it on this machine. */
  path: string;
}

export interface LddResult {
  libraries: SharedLibrary[];
  /**
   * The dynamic loader: `path` is where the binary expects it (its PT_INTERP, e.g. /lib64/ld-linux-x86-64.so.2),
   * `resolved` the file to copy (the same path unless ldd printed `=> other`).
   */
  loader: { path: string; resolved: string } | undefined;
  /** Libraries ldd could not find ("=> not found"). */
  missing: string[];
  /** ldd said the binary is static (no libraries, no loader). */
  static: boolean;
}

const LDD_ADDRESS = /\s*\(0x[0-9a-fA-F]+\)\s*$/;

/**
 * Parses `ldd BINARY` output (glibc or musl). Skips the kernel's virtual libraries (linux-vdso.so.1,
 * linux-gate.so.1: no file), dedupes by path, and keeps the order of first appearance.
 */
export function parseLdd(output: string): LddResult {
  const result: LddResult = { libraries: [], loader: undefined, missing: [], static: false };
  const seen = new Set<string>();
  for (const rawLine of output.split('\n')) {
    const line = rawLine.trim();
    if (line === '') continue;
    if (/statically linked|not a dynamic executable/.test(line)) {
      result.static = true;
      continue;
    }
    const arrow = line.indexOf('=>');
    const name = (arrow >= 0 ? line.slice(0, arrow) : line.replace(LDD_ADDRESS, '')).trim();
    const target =
      arrow >= 0
        ? line
            .slice(arrow + 2)
            .replace(LDD_ADDRESS, '')
            .trim()
        : '';
    if (arrow >= 0 && target === 'not found') {
      result.missing.push(name);
      continue;
    }
    if (name.startsWith('/')) {
      // The loader: "/lib64/ld-linux-x86-64.so.2 (0x...)" or "/lib64/ld-linux-x86-64.so.2 => /usr/lib64/... (0x...)".
      if (!result.loader) result.loader = { path: name, resolved: target.startsWith('/') ? target : name };
      seen.add(name);
      continue;
    }
    if (!target.startsWith('/')) continue; // linux-vdso.so.1 (0x...), linux-gate.so.1 => (0x...): no file
    if (seen.has(target)) continue;
    seen.add(target);
    result.libraries.push({ name, path: target });
  }
  // musl lists the loader again as libc (libc.musl-x86_64.so.1 => /lib/ld-musl-x86_64.so.1).
  if (result.loader) {
    const loader = result.loader;
    result.libraries = result.libraries.filter(
      (lib) => lib.path !== loader.path && lib.path !== loader.resolved,
    );
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// the plan: what goes where

export interface RootfsEntry {
  /** Path inside the image, relative to its root, without leading or trailing slash ("usr/local/bin/node"). */
  path: string;
  type: 'file' | 'dir';
  /** Permission bits (normalised: 0o755 or 0o644 for files, 0o755 for directories, 0o1777 for /tmp). */
  mode: number;
  /** Files: the file on this machine whose contents go there (symlinks followed). */
  source?: string;
  /** Files: size in bytes. */
  size: number;
  /** Files: sha256 (hex) of the contents. */
  sha256?: string;
}

export interface RootfsPlan {
  /** Sorted by path; parent directories included. */
  entries: RootfsEntry[];
  /** 12 hex digits of the sha256 of the format, the import changes and every entry. */
  contentTag: string;
  nodeBinary: string;
  libraries: SharedLibrary[];
  loader: string;
}

export class ImageBuildError extends EdgectlError {
  constructor(message: string, hint?: string, cause?: unknown) {
    super('IMAGE_BUILD_FAILED', ExitCode.unsupported, message, {
      ...(hint !== undefined ? { hint } : {}),
      ...(cause !== undefined ? { cause } : {}),
    });
  }
}

/** The package's apps/ directory (from src/lib/image and from dist/lib/image alike). */
export function defaultAppsDir(): string {
  return fileURLToPath(new URL('../../../apps/', import.meta.url));
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}

/** Regular files under dir (symlinks followed, dot files and node_modules skipped), as sorted relative posix paths. */
async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(current: string): Promise<void> {
    const names = (await readdir(current)).sort();
    for (const name of names) {
      if (name.startsWith('.') || name === 'node_modules') continue;
      const full = join(current, name);
      const info = await stat(full);
      if (info.isDirectory()) await walk(full);
      else if (info.isFile()) out.push(relative(dir, full).split(sep).join('/'));
    }
  }
  await walk(dir);
  return out;
}

function imagePath(absolute: string): string {
  const normal = posix.normalize(absolute);
  if (!normal.startsWith('/') || normal === '/' || normal.split('/').includes('..')) {
    throw new ImageBuildError(`not a usable absolute path for the image: ${absolute}`);
  }
  return normal.slice(1);
}

export interface PlanRootfsOptions {
  /** The node binary to ship (default: the one running edgectl, process.execPath). */
  nodeBinary?: string;
  /** The apps directory to ship at /apps (default: the package's apps/). */
  appsDir?: string;
  /** Runs `ldd` (default: a LocalExecutor). */
  executor?: Executor;
}

/** Finds every file of the image, hashes them, and derives the content tag. Reads, never writes. */
export async function planRootfs(options: PlanRootfsOptions = {}): Promise<RootfsPlan> {
  const nodeBinary = resolve(options.nodeBinary ?? process.execPath);
  const appsDir = resolve(options.appsDir ?? defaultAppsDir());
  const executor = options.executor ?? new LocalExecutor();

  const ldd = await executor.run(['ldd', nodeBinary], { timeoutMs: 30_000 });
  const parsed = parseLdd(`${ldd.stdout}\n${ldd.code === 0 ? '' : ldd.stderr}`);
  if (ldd.code !== 0 && !parsed.static) {
    throw new ImageBuildError(
      `\`ldd ${nodeBinary}\` failed (exit ${ldd.code}): ${ldd.stderr.trim() || ldd.stdout.trim()}`,
      'install ldd (Debian: libc-bin) on the controller',
    );
  }
  if (parsed.missing.length > 0) {
    throw new ImageBuildError(
      `${nodeBinary} needs shared libraries that ldd cannot find: ${parsed.missing.join(', ')}`,
      'run `ldd $(which node)` and install the missing libraries',
    );
  }
  if (!parsed.static && !parsed.loader) {
    throw new ImageBuildError(`\`ldd ${nodeBinary}\` named no dynamic loader:\n${ldd.stdout.trim()}`);
  }

  const files = new Map<string, { source: string; mode?: number }>();
  files.set(imagePath(IMAGE_NODE_PATH), { source: nodeBinary, mode: 0o755 });
  if (parsed.loader)
    files.set(imagePath(parsed.loader.path), { source: parsed.loader.resolved, mode: 0o755 });
  for (const lib of parsed.libraries) files.set(imagePath(lib.path), { source: lib.path });
  const appFiles = await listFiles(appsDir);
  // The bundled apps are apps/<app>/server.mjs; a single-service dir (a test service) has server.mjs on top.
  if (!appFiles.some((f) => f === 'server.mjs' || f.endsWith('/server.mjs'))) {
    throw new ImageBuildError(`${appsDir} holds no app (no server.mjs nor */server.mjs)`);
  }
  for (const file of appFiles) {
    files.set(imagePath(`${IMAGE_APPS_DIR}/${file}`), {
      source: join(appsDir, ...file.split('/')),
      mode: 0o644,
    });
  }
  // The files an app reads from node_modules, from wherever npm installed them, at /apps/node_modules.
  for (const listed of appFiles.filter(
    (f) => f.endsWith(`/${APP_FILES_NAME}`) && f.split('/').length === 2,
  )) {
    const app = listed.split('/')[0]!;
    let packageFiles: ReturnType<typeof resolveAppFiles>;
    try {
      const list = await readAppFiles(appsDir, app);
      packageFiles = list ? resolveAppFiles(appsDir, app, list) : [];
    } catch (err) {
      throw new ImageBuildError(
        `cannot resolve the files app ${app} needs from node_modules: ${(err as Error).message}`,
        'run `npm ci` in the edgectl package',
        err,
      );
    }
    for (const file of packageFiles) {
      files.set(imagePath(`${IMAGE_APPS_DIR}/node_modules/${file.path}`), {
        source: file.source,
        mode: 0o644,
      });
    }
  }

  const entries = new Map<string, RootfsEntry>();
  const addDir = (path: string, mode = 0o755) => {
    if (!entries.has(path)) entries.set(path, { path, type: 'dir', mode, size: 0 });
  };
  addDir('tmp', 0o1777);
  addDir('data');
  for (const [path, { source, mode }] of files) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) addDir(parts.slice(0, i).join('/'));
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(source);
    } catch (err) {
      throw new ImageBuildError(`cannot read ${source} (for /${path})`, undefined, err);
    }
    if (!info.isFile()) throw new ImageBuildError(`${source} (for /${path}) is not a regular file`);
    entries.set(path, {
      path,
      type: 'file',
      mode: mode ?? (info.mode & 0o111 ? 0o755 : 0o644),
      source,
      size: info.size,
      sha256: await sha256File(source),
    });
  }
  const sorted = [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    entries: sorted,
    contentTag: contentTagOf(sorted),
    nodeBinary,
    libraries: parsed.libraries,
    loader: parsed.loader?.path ?? '',
  };
}

/** The tag of an image with these entries: a hash of the format, the import changes and each entry. */
export function contentTagOf(entries: readonly RootfsEntry[]): string {
  const hash = createHash('sha256');
  hash.update(`${ROOTFS_FORMAT}\n`);
  for (const change of importChanges()) hash.update(`change ${change}\n`);
  for (const e of entries) {
    hash.update(`${e.type} ${e.mode.toString(8)} ${e.path} ${e.size} ${e.sha256 ?? '-'}\n`);
  }
  return hash.digest('hex').slice(0, 12);
}

// ---------------------------------------------------------------------------------------------------------
// the tar

const BLOCK = 512;

function writeOctal(header: Buffer, value: number, offset: number, length: number): void {
  const digits = value.toString(8).padStart(length - 1, '0');
  if (digits.length > length - 1) throw new ImageBuildError(`value ${value} does not fit a tar header field`);
  header.write(`${digits}\0`, offset, length, 'ascii');
}

/**
 * A POSIX ustar header block for a file or directory: owner 0:0 with no names, mtime 0. Paths longer
 * than 100 bytes are split into prefix and name at a slash; beyond that they are an error.
 */
export function tarHeader(entry: Pick<RootfsEntry, 'path' | 'type' | 'mode' | 'size'>): Buffer {
  const header = Buffer.alloc(BLOCK);
  const full = entry.type === 'dir' ? `${entry.path}/` : entry.path;
  if (!/^[\x21-\x7e]+$/.test(full)) throw new ImageBuildError(`tar path must be printable ASCII: ${full}`);
  let name = full;
  let prefix = '';
  if (full.length > 100) {
    const cut = full.lastIndexOf('/', entry.type === 'dir' ? full.length - 2 : full.length - 1);
    const candidate = cut > 0 ? full.slice(cut + 1) : '';
    if (cut <= 0 || cut > 155 || candidate.length > 100 || candidate.length === 0) {
      throw new ImageBuildError(`path too long for a tar header: ${full}`);
    }
    prefix = full.slice(0, cut);
    name = candidate;
  }
  header.write(name, 0, 100, 'ascii');
  writeOctal(header, entry.mode, 100, 8);
  writeOctal(header, 0, 108, 8); // uid
  writeOctal(header, 0, 116, 8); // gid
  writeOctal(header, entry.type === 'dir' ? 0 : entry.size, 124, 12);
  writeOctal(header, 0, 136, 12); // mtime
  header.write(entry.type === 'dir' ? '5' : '0', 156, 1, 'ascii');
  header.write('ustar\0', 257, 6, 'ascii');
  header.write('00', 263, 2, 'ascii');
  writeOctal(header, 0, 329, 8); // devmajor
  writeOctal(header, 0, 337, 8); // devminor
  header.write(prefix, 345, 155, 'ascii');
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return header;
}

async function* tarChunks(entries: readonly RootfsEntry[], hash: ReturnType<typeof createHash>) {
  const emit = (chunk: Buffer) => {
    hash.update(chunk);
    return chunk;
  };
  for (const entry of entries) {
    yield emit(tarHeader(entry));
    if (entry.type !== 'file' || !entry.source) continue;
    let copied = 0;
    for await (const chunk of createReadStream(entry.source, { highWaterMark: 1 << 20 })) {
      const buf = chunk as Buffer;
      copied += buf.length;
      if (copied > entry.size) break;
      yield emit(buf);
    }
    if (copied !== entry.size) {
      throw new ImageBuildError(`${entry.source} changed size while the image was being built`);
    }
    const pad = (BLOCK - (entry.size % BLOCK)) % BLOCK;
    if (pad > 0) yield emit(Buffer.alloc(pad));
  }
  yield emit(Buffer.alloc(2 * BLOCK)); // end of archive
}

/** Writes the plan's entries as a tar at `path` (replaced atomically); returns its size and sha256. */
export async function writeRootfsTar(
  entries: readonly RootfsEntry[],
  path: string,
): Promise<{ bytes: number; sha256: string }> {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const hash = createHash('sha256');
  try {
    await pipeline(tarChunks(entries, hash), createWriteStream(tmp));
    const { size } = await stat(tmp);
    await rename(tmp, path);
    return { bytes: size, sha256: hash.digest('hex') };
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------
// build with cache

export interface BuildRootfsOptions extends PlanRootfsOptions {
  /** Where tars are kept, one per content tag (e.g. .edgectl/images). Created when missing. */
  cacheDir: string;
  /** Write the tar even when the cache has it. */
  force?: boolean;
}

export interface RootfsImage {
  /** The tar file (in cacheDir). */
  path: string;
  bytes: number;
  /** sha256 (hex) of the tar file. */
  sha256: string;
  contentTag: string;
  /** `edgectl/apps:<contentTag>`. */
  image: string;
  /** True when the tar came from the cache. */
  cached: boolean;
  /** Wall time of this call (ms). */
  ms: number;
  files: number;
  nodeBinary: string;
  libraries: SharedLibrary[];
  loader: string;
}

interface CacheRecord {
  format: string;
  contentTag: string;
  bytes: number;
  sha256: string;
  files: number;
}

/** The tar of an image tag in a cache dir. */
export function rootfsTarPath(cacheDir: string, contentTag: string): string {
  return join(cacheDir, `edgectl-apps-${contentTag}.tar`);
}

async function readCacheRecord(tarPath: string, contentTag: string): Promise<CacheRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(`${tarPath}.json`, 'utf8')) as CacheRecord;
    const { size } = await stat(tarPath);
    if (record.format !== ROOTFS_FORMAT || record.contentTag !== contentTag || record.bytes !== size)
      return undefined;
    return record;
  } catch {
    return undefined;
  }
}

/**
 * Plans the image's root filesystem and writes its tar into cacheDir, unless a tar with the same content
 * tag is there already (then only the inputs are hashed: no copy).
 */
export async function buildRootfs(options: BuildRootfsOptions): Promise<RootfsImage> {
  const started = performance.now();
  const plan = await planRootfs(options);
  const cacheDir = resolve(options.cacheDir);
  await mkdir(cacheDir, { recursive: true });
  const path = rootfsTarPath(cacheDir, plan.contentTag);
  let record = options.force ? undefined : await readCacheRecord(path, plan.contentTag);
  const cached = record !== undefined;
  if (!record) {
    const written = await writeRootfsTar(plan.entries, path);
    record = {
      format: ROOTFS_FORMAT,
      contentTag: plan.contentTag,
      bytes: written.bytes,
      sha256: written.sha256,
      files: plan.entries.filter((e) => e.type === 'file').length,
    };
    const tmp = `${path}.json.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
    await rename(tmp, `${path}.json`);
  }
  return {
    path,
    bytes: record.bytes,
    sha256: record.sha256,
    contentTag: plan.contentTag,
    image: imageRef(plan.contentTag),
    cached,
    ms: Math.round(performance.now() - started),
    files: record.files,
    nodeBinary: plan.nodeBinary,
    libraries: plan.libraries,
    loader: plan.loader,
  };
}
