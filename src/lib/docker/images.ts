/**
 * Images on the servers, over SSH through dockerode:
 * - the bundled services' image, imported from its rootfs tar (`POST /images/create?fromSrc=-`) where
 *   that exact image (same content tag) is missing (ensureAppImage);
 * - any other image (`edgectl image load`): a `docker save` or OCI archive, or an image of this machine's
 *   own Docker saved once into the cache, loaded (`POST /images/load`) into the dockerd of every server
 *   that lacks its image ID or its tags (loadImageOnServers);
 * - an image copied from one daemon to another, streamed straight through (copyImage).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Docker from 'dockerode';
import { EdgectlError, ExitCode, errorMessage, throwIfInterrupted, UsageError } from '../errors.js';
import {
  buildRootfs,
  familiarRef,
  type ImageArchiveInfo,
  importChanges,
  isImageIdRef,
  type RootfsImage,
  readImageArchive,
  splitRef,
  writeLoadableCopy,
} from '../image/index.js';
import { type Host, type Inventory, serverHosts } from '../inventory/index.js';
import type { SshPool } from '../remote/index.js';
import { dockerFor } from './client.js';

export interface ImageHostReport {
  host: string;
  /** true: imported now; false: the host had it already. */
  loaded: boolean;
  ms: number;
}

export interface ImageReport {
  name: string;
  bytes: number;
  contentTag: string;
  /** The tar came from the local cache (.edgectl/images). */
  cached: boolean;
  buildMs: number;
  hosts: ImageHostReport[];
}

export interface EnsureImagesOptions {
  cacheDir?: string;
  /** Only these servers (default: every cloud and edge host). */
  hosts?: readonly Host[];
  onHost?: (report: ImageHostReport) => void;
}

export class ImageLoadError extends EdgectlError {
  constructor(host: string, message: string, cause?: unknown, image = 'the service image') {
    super('IMAGE_LOAD_FAILED', ExitCode.remote, `loading ${image} into ${host}: ${message}`, {
      cause,
      hint: `check the dockerd of ${host} (edgectl hosts check --host ${host})`,
    });
  }
}

/** Whether the dockerd has an image of this name (or ID). */
export async function hasImage(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getImage(name).inspect();
    return true;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false;
    throw err;
  }
}

async function importInto(docker: Docker, rootfs: RootfsImage): Promise<void> {
  const [repo, tag] = rootfs.image.split(':');
  const stream = await docker.importImage(createReadStream(rootfs.path), {
    repo,
    tag,
    changes: importChanges(),
  } as object);
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, events: { error?: string }[]) => {
      const failed = events?.find((e) => e.error);
      if (err) reject(err);
      else if (failed) reject(new Error(failed.error));
      else resolve();
    });
  });
}

export function imageCacheDir(inv: Inventory): string {
  return join(inv.dir, '.edgectl', 'images');
}

export async function ensureAppImage(
  inv: Inventory,
  pool: SshPool,
  options: EnsureImagesOptions = {},
): Promise<ImageReport> {
  const rootfs = await buildRootfs({ cacheDir: options.cacheDir ?? imageCacheDir(inv) });
  const targets = options.hosts ?? serverHosts(inv);
  const hosts = await Promise.all(
    targets.map(async (host): Promise<ImageHostReport> => {
      const started = performance.now();
      const docker = dockerFor(pool, host);
      let loaded = false;
      try {
        if (!(await hasImage(docker, rootfs.image))) {
          await importInto(docker, rootfs);
          loaded = true;
          if (!(await hasImage(docker, rootfs.image)))
            throw new Error('the image is missing after the import');
        }
      } catch (err) {
        if (err instanceof EdgectlError) throw err;
        throw new ImageLoadError(host.name, errorMessage(err), err);
      }
      const report = { host: host.name, loaded, ms: Math.round(performance.now() - started) };
      options.onHost?.(report);
      return report;
    }),
  );
  return {
    name: rootfs.image,
    bytes: rootfs.bytes,
    contentTag: rootfs.contentTag,
    cached: rootfs.cached,
    buildMs: Math.round(rootfs.ms),
    hosts,
  };
}

// ---------------------------------------------------------------------------------------------------------
// any image: edgectl image load, copyImage

function statusCode(err: unknown): number | undefined {
  return (err as { statusCode?: number } | undefined)?.statusCode;
}

/** Where dockerode's defaults look for this machine's Docker. */
export function localDockerAddress(env: NodeJS.ProcessEnv = process.env): string {
  return env['DOCKER_HOST'] || 'unix:///var/run/docker.sock';
}

export class ImageNotFoundError extends EdgectlError {
  constructor(ref: string, where: string, hint?: string) {
    super('IMAGE_NOT_FOUND', ExitCode.usage, `there is no image ${ref} in ${where}`, {
      hint:
        hint ??
        'docker images lists the images there; an image of another machine goes through a file: `docker save -o FILE IMAGE` there, then edgectl image load FILE',
    });
  }
}

/** This machine's Docker cannot be reached, or failed; the user can pass an archive instead. */
export class LocalDockerError extends EdgectlError {
  constructor(cause: unknown, answered: boolean) {
    super(
      answered ? 'LOCAL_DOCKER_FAILED' : 'LOCAL_DOCKER_UNAVAILABLE',
      ExitCode.unsupported,
      `this machine's Docker (${localDockerAddress()}) ${answered ? 'failed' : 'does not answer'}: ${errorMessage(cause)}`,
      {
        hint: 'start it or set DOCKER_HOST; or pass a file instead: `docker save -o FILE IMAGE` where the image is, then edgectl image load FILE',
        cause,
      },
    );
  }
}

/** Whether the daemon has the image with exactly this ID (`sha256:<hex>`). */
export async function hasImageId(docker: Docker, id: string): Promise<boolean> {
  try {
    return (await docker.getImage(id).inspect()).Id === id;
  } catch (err) {
    if (statusCode(err) === 404) return false;
    throw err;
  }
}

/** The tag a reference sets (`name:tag`, familiar form); none for an image ID or a digest reference. */
export function tagOfRef(ref: string): string | undefined {
  if (isImageIdRef(ref) || ref.includes('@')) return undefined;
  return familiarRef(ref);
}

/** Of `tags`, those that do not name image `id` on the daemon (missing, or another image). */
async function tagsNotOn(docker: Docker, id: string, tags: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const tag of tags) {
    try {
      if ((await docker.getImage(tag).inspect()).Id !== id) out.push(tag);
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
      out.push(tag);
    }
  }
  return out;
}

/** Points every tag of `tags` at image `id` (those that do already are left alone); the tags it set. */
async function applyTags(docker: Docker, id: string, tags: readonly string[]): Promise<string[]> {
  const missing = await tagsNotOn(docker, id, tags);
  for (const ref of missing) {
    const { repo, tag } = splitRef(ref);
    await docker.getImage(id).tag({ repo, tag });
  }
  const still = await tagsNotOn(docker, id, missing);
  if (still.length > 0) throw new Error(`${still.join(', ')} does not name ${id} after tagging`);
  return missing;
}

interface LoadEvent {
  error?: string;
  errorDetail?: { message?: string };
}

/** Waits for the end of a `docker load` answer; an error message in it is a failure. */
function followLoad(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, events: LoadEvent[] | undefined) => {
      const failed = events?.find((e) => e.error || e.errorDetail);
      if (err) reject(err);
      else if (failed) reject(new Error(failed.error ?? failed.errorDetail?.message ?? 'docker load failed'));
      else resolve();
    });
  });
}

export interface StreamOptions {
  /** Bytes sent so far (called for every chunk: a renderer throttles). */
  onProgress?: (bytes: number) => void;
  /** Aborts the transfer (the daemon drops a partial load). */
  signal?: AbortSignal;
}

/**
 * Streams an image archive into the daemon's `docker load` (chunked, with backpressure: nothing is
 * buffered whole); the bytes sent.
 */
async function loadStream(docker: Docker, input: Readable, options: StreamOptions): Promise<number> {
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      options.onProgress?.(bytes);
      callback(null, chunk);
    },
  });
  input.on('error', (err) => counter.destroy(err));
  input.pipe(counter);
  try {
    const answer = await docker.loadImage(counter, {
      quiet: true,
      ...(options.signal ? { abortSignal: options.signal } : {}),
    });
    await followLoad(docker, answer);
    throwIfInterrupted(options.signal);
    return bytes;
  } catch (err) {
    throwIfInterrupted(options.signal);
    throw err;
  } finally {
    input.unpipe(counter);
    input.destroy();
    counter.destroy();
  }
}

/** An image archive on this machine and what it holds. */
export interface ImageArchiveRef {
  path: string;
  /** `sha256:<hex>`. */
  id: string;
  /** Tags the servers must have pointing at `id`. */
  tags: readonly string[];
}

export interface EnsureImageResult {
  /** The archive was sent (false: the daemon had the image ID). */
  loaded: boolean;
  /** Bytes sent (0 when not loaded). */
  bytes: number;
  /** Tags set or moved to the image (with or without a load). */
  tagged: string[];
}

/**
 * Makes the daemon hold image `archive.id` with every tag of `archive.tags` pointing at it. The archive is
 * sent only when the ID is missing; a tag that is missing or names another image is set by `docker tag`.
 */
export async function ensureImageFromArchive(
  docker: Docker,
  archive: ImageArchiveRef,
  options: StreamOptions = {},
): Promise<EnsureImageResult> {
  let loaded = false;
  let bytes = 0;
  if (!(await hasImageId(docker, archive.id))) {
    throwIfInterrupted(options.signal);
    bytes = await loadStream(docker, createReadStream(archive.path, { highWaterMark: 1 << 20 }), options);
    loaded = true;
    if (!(await hasImageId(docker, archive.id))) {
      throw new Error(`docker load ended without error, but there is no image ${archive.id}`);
    }
  }
  const tagged = await applyTags(docker, archive.id, archive.tags);
  return { loaded, bytes, tagged };
}

export interface CopyImageOptions extends StreamOptions {
  /** Names for messages (default: "the source", "the destination"). */
  srcName?: string;
  dstName?: string;
}

export interface CopyImageResult {
  /** The image was sent (false: dst had its ID). */
  loaded: boolean;
  bytes: number;
  ms: number;
  /** The image ID `ref` names on src. */
  id: string;
}

/**
 * Makes `dst` hold the image that `ref` names on `src` (same ID; `ref`'s tag too, when it is a name).
 * When dst lacks the ID, src's `docker save` answer streams straight into dst's `docker load`: no file,
 * nothing held in memory. Failures are ImageLoadErrors naming the destination.
 */
export async function copyImage(
  src: Docker,
  dst: Docker,
  ref: string,
  options: CopyImageOptions = {},
): Promise<CopyImageResult> {
  const started = performance.now();
  const srcName = options.srcName ?? 'the source';
  const dstName = options.dstName ?? 'the destination';
  try {
    let id: string;
    try {
      id = (await src.getImage(ref).inspect()).Id;
    } catch (err) {
      if (statusCode(err) === 404) throw new Error(`there is no image ${ref} on ${srcName} to copy`);
      throw new Error(`inspecting ${ref} on ${srcName}: ${errorMessage(err)}`, { cause: err });
    }
    const tag = tagOfRef(ref);
    let loaded = false;
    let bytes = 0;
    if (!(await hasImageId(dst, id))) {
      throwIfInterrupted(options.signal);
      const saved = (await src.getImage(ref).get()) as Readable;
      bytes = await loadStream(dst, saved, options);
      loaded = true;
      if (!(await hasImageId(dst, id))) {
        throw new Error(`docker load ended without error, but there is no image ${id}`);
      }
    }
    await applyTags(dst, id, tag ? [tag] : []);
    return { loaded, bytes, ms: Math.round(performance.now() - started), id };
  } catch (err) {
    if (err instanceof EdgectlError) throw err;
    throw new ImageLoadError(dstName, errorMessage(err), err, ref);
  }
}

export type ImageSourceKind = 'file' | 'docker';

/** The image `edgectl image load` sends: an archive file on this machine and what it holds. */
export interface ResolvedImage extends ImageArchiveRef {
  source: ImageSourceKind;
  tags: string[];
  /** Size of the archive file. */
  archiveBytes: number;
  /**
   * A copy was written into the cache now: the image saved from this machine's Docker, or the loadable
   * copy of an OCI layout archive (false: the cache had it, or the file is sent as it is).
   */
  saved: boolean;
}

export interface ResolveImageOptions {
  /** Where images of this machine's Docker are saved (imageCacheDir). */
  cacheDir: string;
  /** This machine's Docker (default: dockerode's defaults: DOCKER_HOST, else /var/run/docker.sock). */
  localDocker?: Docker;
  signal?: AbortSignal;
  /** Called before an image is saved from this machine's Docker into the cache. */
  onSave?: (ref: string, id: string) => void;
  /** Called before a loadable copy of an OCI layout archive is written into the cache. */
  onConvert?: (file: string, id: string) => void;
}

async function fileKind(path: string): Promise<'file' | 'dir' | 'other' | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? 'file' : info.isDirectory() ? 'dir' : 'other';
  } catch {
    return undefined;
  }
}

/** An argument no image reference looks like: a path (`/x`, `./x`, `../x`, `~/x`) or a `.tar` name. */
function meantAsFile(arg: string): boolean {
  return /^(\/|\.\.?\/|~)/.test(arg) || /\.(tar|tar\.gz|tgz)$/i.test(arg);
}

interface SavedRecord {
  id: string;
  tags: string[];
  bytes: number;
}

async function readSavedRecord(path: string, id: string): Promise<SavedRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(`${path}.json`, 'utf8')) as SavedRecord;
    const { size } = await stat(path);
    return record.id === id && record.bytes === size && Array.isArray(record.tags) ? record : undefined;
  } catch {
    return undefined;
  }
}

async function writeSavedRecord(path: string, record: SavedRecord): Promise<void> {
  const tmp = `${path}.json.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
  await rename(tmp, `${path}.json`);
}

/** The cached `docker save` archive of an image of this machine's Docker (`image-<hex>.tar`). */
export function savedImagePath(cacheDir: string, id: string): string {
  return join(cacheDir, `image-${id.replace(/^sha256:/, '')}.tar`);
}

async function saveLocalImage(ref: string, options: ResolveImageOptions): Promise<ResolvedImage> {
  const docker = options.localDocker ?? new Docker();
  const where = `this machine's Docker (${localDockerAddress()})`;
  const failure = (err: unknown): EdgectlError => {
    const code = statusCode(err);
    if (code === 404) return new ImageNotFoundError(ref, where);
    if (code === 400) return new UsageError(`${ref}: ${errorMessage(err)}`, { cause: err });
    return new LocalDockerError(err, code !== undefined);
  };
  let id: string;
  try {
    id = (await docker.getImage(ref).inspect()).Id;
  } catch (err) {
    throw failure(err);
  }
  const path = savedImagePath(options.cacheDir, id);
  let record = await readSavedRecord(path, id);
  const saved = record === undefined;
  if (!record) {
    options.onSave?.(ref, id);
    await mkdir(options.cacheDir, { recursive: true });
    const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
    try {
      try {
        const body = (await docker.getImage(ref).get()) as Readable;
        await pipeline(body, createWriteStream(tmp), ...(options.signal ? [{ signal: options.signal }] : []));
      } catch (err) {
        throwIfInterrupted(options.signal);
        throw failure(err);
      }
      const info = await readImageArchive(tmp);
      if (info.id !== id) {
        throw new LocalDockerError(
          new Error(`docker save of ${ref} (${id}) wrote an archive of ${info.id}`),
          true,
        );
      }
      await rename(tmp, path);
      record = { id, tags: info.tags, bytes: info.bytes };
      await writeSavedRecord(path, record);
    } finally {
      await rm(tmp, { force: true });
    }
  }
  const tag = tagOfRef(ref);
  return {
    source: 'docker',
    path,
    id,
    // ARG's tag: the archive's own tags may be another name's (the cache is by ID). An ID: no tag.
    tags: tag ? [tag] : [],
    archiveBytes: record.bytes,
    saved,
  };
}

/**
 * An archive file as it can be sent: a `docker save` archive as it is; an OCI layout archive (no
 * manifest.json: Docker before 25, as Debian's docker.io 20.10, cannot load it) through a loadable copy
 * made once in the cache (writeLoadableCopy, `image-<hex>.tar`, as a saved image is).
 */
async function archiveFile(file: string, options: ResolveImageOptions): Promise<ResolvedImage> {
  const info: ImageArchiveInfo = await readImageArchive(file);
  const image = { source: 'file' as const, id: info.id, tags: info.tags };
  if (info.format === 'docker-save')
    return { ...image, path: info.path, archiveBytes: info.bytes, saved: false };
  const path = savedImagePath(options.cacheDir, info.id);
  let record = await readSavedRecord(path, info.id);
  const saved = record === undefined;
  if (!record) {
    options.onConvert?.(file, info.id);
    await mkdir(options.cacheDir, { recursive: true });
    const { bytes } = await writeLoadableCopy(info, path);
    record = { id: info.id, tags: info.tags, bytes };
    await writeSavedRecord(path, record);
  }
  return { ...image, path, archiveBytes: record.bytes, saved };
}

/**
 * What `edgectl image load ARG` sends. ARG naming an existing file: a `docker save` or OCI archive (its
 * image ID and tags read from it). Otherwise an image of this machine's Docker, saved once into the cache
 * dir (`image-<hex>.tar`, named by its ID, reused while it is there) so that every server is fed from one
 * file; its tag is ARG (none when ARG is an ID).
 */
export async function resolveImage(arg: string, options: ResolveImageOptions): Promise<ResolvedImage> {
  const kind = await fileKind(arg);
  if (kind === 'file') return archiveFile(arg, options);
  const hint = "name a `docker save` or OCI archive file, or an image of this machine's Docker";
  if (kind === 'dir') {
    throw new UsageError(`${arg} is a directory; an OCI layout goes as a tar: tar -cf FILE -C ${arg} .`, {
      hint,
    });
  }
  if (kind === 'other') throw new UsageError(`${arg} is not a regular file`, { hint });
  if (meantAsFile(arg)) throw new UsageError(`no such file: ${arg}`, { hint });
  return saveLocalImage(arg, options);
}

export interface ImageLoadHostReport {
  host: string;
  /** The archive was sent (false: the server had the image ID; a missing tag is only set). */
  loaded: boolean;
  /** Bytes sent (0 when not loaded). */
  bytes: number;
  ms: number;
}

export interface ImageLoadResult {
  /** The image ID (`sha256:<hex>`). */
  image: string;
  tags: string[];
  source: ImageSourceKind;
  /** Size of the archive that was (or would have been) sent. */
  archiveBytes: number;
  hosts: ImageLoadHostReport[];
}

export interface LoadImageOptions {
  /** Only these servers (default: every cloud and edge host). */
  hosts?: readonly Host[];
  /** Default: imageCacheDir(inv). */
  cacheDir?: string;
  localDocker?: Docker;
  signal?: AbortSignal;
  onSave?: (ref: string, id: string) => void;
  onConvert?: (file: string, id: string) => void;
  /** Once the image is known, before any server is touched. */
  onImage?: (image: ResolvedImage) => void;
  /** Bytes sent to a host so far, of `total` (every chunk: a renderer throttles). */
  onProgress?: (progress: { host: string; bytes: number; total: number }) => void;
  onHost?: (report: ImageLoadHostReport) => void;
}

/**
 * `edgectl image load`: puts an image (a file, or an image of this machine's Docker: resolveImage) on
 * every server, in parallel, over each server's SSH connection; a server that has its ID and tags is
 * skipped (a second run sends nothing). Every server is tried; the first failure is thrown, as an
 * ImageLoadError naming its host.
 */
export async function loadImageOnServers(
  inv: Inventory,
  pool: SshPool,
  arg: string,
  options: LoadImageOptions = {},
): Promise<ImageLoadResult> {
  const image = await resolveImage(arg, {
    cacheDir: options.cacheDir ?? imageCacheDir(inv),
    ...(options.localDocker ? { localDocker: options.localDocker } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onSave ? { onSave: options.onSave } : {}),
    ...(options.onConvert ? { onConvert: options.onConvert } : {}),
  });
  options.onImage?.(image);
  const name = image.tags[0] ?? image.id;
  const targets = options.hosts ?? serverHosts(inv);
  const settled = await Promise.allSettled(
    targets.map(async (host): Promise<ImageLoadHostReport> => {
      const started = performance.now();
      try {
        const r = await ensureImageFromArchive(dockerFor(pool, host), image, {
          ...(options.signal ? { signal: options.signal } : {}),
          onProgress: (bytes) => options.onProgress?.({ host: host.name, bytes, total: image.archiveBytes }),
        });
        const report = {
          host: host.name,
          loaded: r.loaded,
          bytes: r.bytes,
          ms: Math.round(performance.now() - started),
        };
        options.onHost?.(report);
        return report;
      } catch (err) {
        if (err instanceof EdgectlError) throw err;
        throw new ImageLoadError(host.name, errorMessage(err), err, name);
      }
    }),
  );
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return {
    image: image.id,
    tags: image.tags,
    source: image.source,
    archiveBytes: image.archiveBytes,
    hosts: settled.map((s) => (s as PromiseFulfilledResult<ImageLoadHostReport>).value),
  };
}
