/**
 * Image archives as `docker save` writes them and `docker load` reads them, without a Docker daemon:
 *
 * - readImageArchive: the image ID (the sha256 of the config blob) and repo tags of a `docker save`
 *   archive (manifest.json) or an OCI image layout archive (index.json), streamed once with tar-stream,
 *   nothing extracted; a gzipped archive (`docker save IMAGE | gzip`) is read too.
 * - writeImageArchive: a one-layer image from a root filesystem tar (as buildRootfs writes it), written
 *   reproducibly (fixed entry order, mtime 0, owner 0:0, no creation time in the config): the same inputs
 *   give the same bytes and so the same image ID. It holds both manifest.json (what every engine since
 *   1.10 loads) and an OCI layout (index.json, oci-layout), as engines from 25 on write it.
 *
 * This lets the lab get a third-party-style image without a registry or a local dockerd.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { arch } from 'node:os';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { errorMessage, UsageError } from '../errors.js';
import { ImageBuildError } from './rootfs.js';

// ---------------------------------------------------------------------------------------------------------
// references

const DEFAULT_REGISTRY = 'docker.io';

/** `name:tag` split at the tag's colon (a registry's port is not a tag); no tag: `latest`. */
export function splitRef(ref: string): { repo: string; tag: string } {
  const at = ref.indexOf('@');
  const name = at >= 0 ? ref.slice(0, at) : ref;
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) return { repo: name.slice(0, colon), tag: name.slice(colon + 1) };
  return { repo: name, tag: 'latest' };
}

/**
 * A reference as `docker images` shows it: no `docker.io/` (nor `library/` under it), a tag always
 * (`busybox` -> `busybox:latest`, `docker.io/library/busybox:1` -> `busybox:1`).
 */
export function familiarRef(ref: string): string {
  const { repo, tag } = splitRef(ref);
  let name = repo;
  for (const prefix of [`${DEFAULT_REGISTRY}/library/`, `index.${DEFAULT_REGISTRY}/library/`]) {
    if (name.startsWith(prefix)) name = name.slice(prefix.length);
  }
  for (const prefix of [`${DEFAULT_REGISTRY}/`, `index.${DEFAULT_REGISTRY}/`]) {
    if (name.startsWith(prefix)) name = name.slice(prefix.length);
  }
  return `${name}:${tag}`;
}

/** A reference with its registry (`edgectl-test/x:1` -> `docker.io/edgectl-test/x:1`), as containerd names images. */
export function qualifiedRef(ref: string): string {
  const { repo, tag } = splitRef(familiarRef(ref));
  const first = repo.split('/')[0] ?? '';
  const hasRegistry =
    repo.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasRegistry) return `${repo}:${tag}`;
  return `${DEFAULT_REGISTRY}/${repo.includes('/') ? repo : `library/${repo}`}:${tag}`;
}

/** Whether `ref` is an image ID (`sha256:<hex>`, or 12 to 64 hex digits) rather than a name. */
export function isImageIdRef(ref: string): boolean {
  return /^sha256:[0-9a-f]{12,64}$/.test(ref) || /^[0-9a-f]{12,64}$/.test(ref);
}

// ---------------------------------------------------------------------------------------------------------
// reading

export interface ImageArchiveInfo {
  path: string;
  /** `docker-save`: read from manifest.json (also when an OCI index.json is there too); `oci`: index.json only. */
  format: 'docker-save' | 'oci';
  /** The image ID: `sha256:<hex>` of the config blob. */
  id: string;
  /** Repo tags in their familiar form (`busybox:latest`); empty when the archive names none. */
  tags: string[];
  layers: number;
  /** The entries that hold the config and the layers, in order (`blobs/sha256/<hex>`, `<id>/layer.tar`). */
  configFile: string;
  layerFiles: string[];
  /** Size of the archive file. */
  bytes: number;
  /** The file is gzipped. */
  compressed: boolean;
}

/** JSON documents of an archive are small (configs, manifests, indexes); layers are not kept. */
const MAX_JSON_BYTES = 8 << 20;

interface JsonBlob {
  data: Buffer;
  sha256: string;
}

interface ArchiveContents {
  names: Set<string>;
  json: Map<string, JsonBlob>;
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function entryName(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
}

async function isGzip(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/** Every entry name, and the JSON-looking small entries with their sha256. */
async function scanArchive(path: string, compressed: boolean): Promise<ArchiveContents> {
  const names = new Set<string>();
  const json = new Map<string, JsonBlob>();
  const extract = tar.extract();
  const source: Readable = createReadStream(path, { highWaterMark: 1 << 20 });
  const feeding = compressed ? pipeline(source, createGunzip(), extract) : pipeline(source, extract);
  // Awaited below; without a handler here its rejection would be reported before the loop sees it.
  feeding.catch(() => {});
  for await (const entry of extract) {
    const name = entryName(entry.header.name);
    const type = entry.header.type ?? 'file';
    if (type !== 'file' && type !== 'contiguous-file') {
      entry.resume();
      continue;
    }
    names.add(name);
    const size = entry.header.size ?? 0;
    if (size > MAX_JSON_BYTES) {
      entry.resume();
      await new Promise<void>((resolve, reject) => {
        entry.once('end', resolve);
        entry.once('error', reject);
      });
      continue;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const data = Buffer.concat(chunks);
    const first = data.subarray(0, 64).toString('utf8').trimStart()[0];
    if (first === '{' || first === '[') {
      json.set(name, { data, sha256: createHash('sha256').update(data).digest('hex') });
    }
  }
  await feeding;
  return { names, json };
}

function archiveError(path: string, message: string, cause?: unknown): UsageError {
  return new UsageError(`${path}: ${message}`, {
    hint: 'pass an archive of one image, as `docker save -o FILE IMAGE` writes it',
    ...(cause !== undefined ? { cause } : {}),
  });
}

function parseJson(path: string, contents: ArchiveContents, name: string): unknown {
  const blob = contents.json.get(name);
  if (!blob) {
    throw archiveError(
      path,
      contents.names.has(name) ? `${name} is not a JSON document` : `${name} is missing from the archive`,
    );
  }
  try {
    return JSON.parse(blob.data.toString('utf8'));
  } catch (err) {
    throw archiveError(path, `${name} is not valid JSON: ${errorMessage(err)}`, err);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function uniq(values: readonly string[]): string[] {
  return [...new Set(values)];
}

function imagesSummary(images: ReadonlyMap<string, { tags: string[] }>): string {
  return [...images]
    .map(([id, { tags }]) => (tags.length ? tags.join(', ') : `${id.slice(0, 19)} (untagged)`))
    .join('; ');
}

function oneImage<T extends { tags: string[] }>(path: string, images: Map<string, T>): [string, T] {
  const [first, ...rest] = [...images];
  if (!first) throw archiveError(path, 'the archive holds no image');
  if (rest.length > 0) {
    throw archiveError(
      path,
      `the archive holds ${images.size} images (${imagesSummary(images)}); save one image per file`,
    );
  }
  return first;
}

function readDockerSave(
  path: string,
  contents: ArchiveContents,
): Omit<ImageArchiveInfo, 'bytes' | 'compressed'> {
  const manifest = parseJson(path, contents, 'manifest.json');
  if (!Array.isArray(manifest)) throw archiveError(path, 'manifest.json is not a list of images');
  const images = new Map<string, { tags: string[]; configFile: string; layerFiles: string[] }>();
  for (const [i, item] of manifest.entries()) {
    if (!isRecord(item) || typeof item['Config'] !== 'string' || !Array.isArray(item['Layers'])) {
      throw archiveError(path, `manifest.json[${i}] has no Config and Layers`);
    }
    const configName = entryName(item['Config']);
    const config = contents.json.get(configName);
    if (!config)
      throw archiveError(path, `manifest.json[${i}] names config ${configName}, which is not in the archive`);
    for (const layer of item['Layers']) {
      if (typeof layer !== 'string' || !contents.names.has(entryName(layer))) {
        throw archiveError(
          path,
          `manifest.json[${i}] names layer ${String(layer)}, which is not in the archive`,
        );
      }
    }
    const repoTags = Array.isArray(item['RepoTags'])
      ? item['RepoTags'].filter((t): t is string => typeof t === 'string')
      : [];
    const id = `sha256:${config.sha256}`;
    const seen = images.get(id);
    images.set(id, {
      tags: uniq([...(seen?.tags ?? []), ...repoTags.map(familiarRef)]),
      configFile: configName,
      layerFiles: (item['Layers'] as string[]).map(entryName),
    });
  }
  const [id, image] = oneImage(path, images);
  return { path, format: 'docker-save', id, ...image, layers: image.layerFiles.length };
}

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);

interface Descriptor {
  mediaType?: string;
  digest: string;
  annotations?: Record<string, string>;
}

function asDescriptor(path: string, value: unknown, where: string): Descriptor {
  if (
    !isRecord(value) ||
    typeof value['digest'] !== 'string' ||
    !/^sha256:[0-9a-f]{64}$/.test(value['digest'])
  ) {
    throw archiveError(path, `${where} is not a descriptor with a sha256 digest`);
  }
  return value as unknown as Descriptor;
}

function blobName(digest: string): string {
  return `blobs/${digest.replace(':', '/')}`;
}

/** The tag an OCI descriptor's annotations name, familiar form; a bare `ref.name` tag has no repo: none. */
function annotatedTag(annotations: Record<string, string> | undefined): string | undefined {
  const containerd = annotations?.['io.containerd.image.name'];
  if (containerd) return familiarRef(containerd);
  const refName = annotations?.['org.opencontainers.image.ref.name'];
  if (refName && /[/:]/.test(refName)) return familiarRef(refName);
  return undefined;
}

/** The image manifests a descriptor leads to, in this archive (an index's absent platforms skipped). */
function manifestsOf(
  path: string,
  contents: ArchiveContents,
  desc: Descriptor,
  depth = 0,
): Record<string, unknown>[] {
  if (depth > 4) throw archiveError(path, 'index.json nests indexes too deeply');
  const name = blobName(desc.digest);
  const blob = contents.json.get(name);
  if (!blob) {
    throw archiveError(path, `${name} (named by index.json) is not in the archive`);
  }
  if (`sha256:${blob.sha256}` !== desc.digest) throw archiveError(path, `${name} does not match its digest`);
  const doc = parseJson(path, contents, name);
  if (!isRecord(doc)) throw archiveError(path, `${name} is not a manifest`);
  const mediaType = typeof doc['mediaType'] === 'string' ? doc['mediaType'] : desc.mediaType;
  if ((mediaType && INDEX_TYPES.has(mediaType)) || Array.isArray(doc['manifests'])) {
    const children = Array.isArray(doc['manifests']) ? doc['manifests'] : [];
    return children
      .map((child, i) => asDescriptor(path, child, `${name} manifests[${i}]`))
      .filter((child) => contents.names.has(blobName(child.digest)))
      .flatMap((child) => manifestsOf(path, contents, child, depth + 1));
  }
  return [doc];
}

function readOciLayout(
  path: string,
  contents: ArchiveContents,
): Omit<ImageArchiveInfo, 'bytes' | 'compressed'> {
  const index = parseJson(path, contents, 'index.json');
  if (!isRecord(index) || !Array.isArray(index['manifests'])) {
    throw archiveError(path, 'index.json has no manifests list');
  }
  const images = new Map<string, { tags: string[]; configFile: string; layerFiles: string[] }>();
  for (const [i, item] of index['manifests'].entries()) {
    const desc = asDescriptor(path, item, `index.json manifests[${i}]`);
    const tag = annotatedTag(desc.annotations);
    for (const manifest of manifestsOf(path, contents, desc)) {
      const config = asDescriptor(path, manifest['config'], `the config of ${desc.digest}`);
      if (!contents.names.has(blobName(config.digest))) {
        throw archiveError(path, `config ${blobName(config.digest)} is not in the archive`);
      }
      const blob = contents.json.get(blobName(config.digest));
      if (blob && `sha256:${blob.sha256}` !== config.digest) {
        throw archiveError(path, `${blobName(config.digest)} does not match its digest`);
      }
      const layers = Array.isArray(manifest['layers']) ? manifest['layers'] : [];
      const layerFiles = layers.map((layer, j) => {
        const d = asDescriptor(path, layer, `layers[${j}] of ${desc.digest}`);
        if (!contents.names.has(blobName(d.digest))) {
          throw archiveError(path, `layer ${blobName(d.digest)} is not in the archive`);
        }
        return blobName(d.digest);
      });
      const seen = images.get(config.digest);
      images.set(config.digest, {
        tags: uniq([...(seen?.tags ?? []), ...(tag ? [tag] : [])]),
        configFile: blobName(config.digest),
        layerFiles,
      });
    }
  }
  const [id, image] = oneImage(path, images);
  return { path, format: 'oci', id, ...image, layers: image.layerFiles.length };
}

/**
 * The one image of a `docker save` or OCI layout archive: its ID and repo tags, read without extracting.
 * Not a tar, no manifest.json nor index.json, an image missing its config or a layer, or several images:
 * a UsageError naming the file.
 */
export async function readImageArchive(path: string): Promise<ImageArchiveInfo> {
  let bytes: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error('not a regular file');
    bytes = info.size;
  } catch (err) {
    throw new UsageError(`cannot read the image archive ${path}: ${errorMessage(err)}`, { cause: err });
  }
  const compressed = await isGzip(path);
  let contents: ArchiveContents;
  try {
    contents = await scanArchive(path, compressed);
  } catch (err) {
    throw archiveError(path, `not a readable tar archive (${errorMessage(err)})`, err);
  }
  let image: Omit<ImageArchiveInfo, 'bytes' | 'compressed'>;
  if (contents.names.has('manifest.json')) image = readDockerSave(path, contents);
  else if (contents.names.has('index.json')) image = readOciLayout(path, contents);
  else throw archiveError(path, 'no manifest.json or index.json: not a `docker save` or OCI image archive');
  return { ...image, bytes, compressed };
}

/**
 * A copy of an image archive that every engine loads: the same entries plus a manifest.json (and a
 * `repositories`) naming the config, the layers and the tags. Engines before 25 load only that format;
 * an OCI layout archive (podman, buildah, skopeo, buildx `type=oci`) has no manifest.json. Streamed,
 * uncompressed (layers stay as they are: docker load decompresses them).
 */
export async function writeLoadableCopy(info: ImageArchiveInfo, out: string): Promise<{ bytes: number }> {
  const tmp = `${out}.${process.pid}.${Date.now()}.tmp`;
  const extract = tar.extract();
  const pack = tar.pack();
  const source: Readable = createReadStream(info.path, { highWaterMark: 1 << 20 });
  const reading = info.compressed ? pipeline(source, createGunzip(), extract) : pipeline(source, extract);
  const writing = pipeline(pack, createWriteStream(tmp));
  reading.catch(() => {});
  writing.catch(() => {});
  try {
    for await (const entry of extract) {
      const name = entryName(entry.header.name);
      if (name === 'manifest.json' || name === 'repositories') {
        entry.resume();
        continue;
      }
      await pipeline(entry, pack.entry({ ...entry.header, pax: undefined }));
    }
    await reading;
    const meta = { mode: 0o644, uid: 0, gid: 0, mtime: new Date(0) };
    const manifest = json([{ Config: info.configFile, RepoTags: info.tags, Layers: info.layerFiles }]);
    pack.entry({ ...meta, name: 'manifest.json', size: manifest.length }, manifest);
    const top = info.layerFiles.at(-1)?.split('/').at(-1) ?? '';
    const repositories: Record<string, Record<string, string>> = {};
    for (const ref of info.tags) {
      const { repo, tag } = splitRef(ref);
      repositories[repo] = { ...repositories[repo], [tag]: top };
    }
    const repos = json(repositories);
    pack.entry({ ...meta, name: 'repositories', size: repos.length }, repos);
    pack.finalize();
    await writing;
    const { size } = await stat(tmp);
    await rename(tmp, out);
    return { bytes: size };
  } catch (err) {
    extract.destroy();
    pack.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------
// writing

/** The parts of an image's run configuration an archive written here carries (Docker's names). */
export interface ImageRunConfig {
  Cmd?: string[];
  Entrypoint?: string[];
  Env?: string[];
  WorkingDir?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  User?: string;
  Labels?: Record<string, string>;
}

export interface WriteImageArchiveOptions {
  /** The image's one layer: an uncompressed tar of its root filesystem (e.g. buildRootfs's). */
  layer: string;
  config: ImageRunConfig;
  /** `name:tag` the image gets on `docker load`. */
  ref: string;
  /** The archive to write (replaced atomically). */
  out: string;
  /** Default: this machine's (amd64 on x86_64). */
  architecture?: string;
}

export interface WrittenImageArchive {
  path: string;
  /** The ref in its familiar form, as manifest.json's RepoTags holds it. */
  ref: string;
  /** `sha256:<hex>` of the config: what `docker load` reports and `docker image inspect` shows as Id. */
  id: string;
  /** `sha256:<hex>` of the layer tar (the config's rootfs.diff_ids). */
  diffId: string;
  bytes: number;
}

const EPOCH = '1970-01-01T00:00:00Z';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** Go's names for node's architectures (what Docker writes in a config). */
export function dockerArchitecture(nodeArch: string = arch()): string {
  const names: Record<string, string> = {
    x64: 'amd64',
    ia32: '386',
    arm64: 'arm64',
    arm: 'arm',
    ppc64: 'ppc64le',
  };
  return names[nodeArch] ?? nodeArch;
}

/** Run configuration with its keys in one order, empty parts left out (the config's bytes are its ID). */
function orderedRunConfig(config: ImageRunConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (config.User) out['User'] = config.User;
  if (config.ExposedPorts && Object.keys(config.ExposedPorts).length > 0) {
    out['ExposedPorts'] = Object.fromEntries(
      Object.keys(config.ExposedPorts)
        .sort()
        .map((port) => [port, {}]),
    );
  }
  if (config.Env?.length) out['Env'] = [...config.Env];
  if (config.Entrypoint?.length) out['Entrypoint'] = [...config.Entrypoint];
  if (config.Cmd?.length) out['Cmd'] = [...config.Cmd];
  if (config.WorkingDir) out['WorkingDir'] = config.WorkingDir;
  if (config.Labels && Object.keys(config.Labels).length > 0) {
    out['Labels'] = Object.fromEntries(Object.entries(config.Labels).sort(([a], [b]) => (a < b ? -1 : 1)));
  }
  return out;
}

/** The config JSON of a one-layer image (bytes: their sha256 is the image ID). */
export function imageConfigJson(
  config: ImageRunConfig,
  diffId: string,
  architecture = dockerArchitecture(),
): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture,
      config: orderedRunConfig(config),
      created: EPOCH,
      history: [{ created: EPOCH, created_by: 'edgectl: root filesystem from local files' }],
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [diffId] },
    }),
  );
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * Writes a one-layer image as a `docker save` archive (also an OCI image layout): blobs/sha256/ with the
 * layer, the config and the OCI manifest; index.json, manifest.json, oci-layout, repositories. Streams the
 * layer; reproducible.
 */
export async function writeImageArchive(options: WriteImageArchiveOptions): Promise<WrittenImageArchive> {
  const ref = familiarRef(options.ref);
  const { repo, tag } = splitRef(ref);
  const layerHex = await sha256OfFile(options.layer);
  const layerSize = (await stat(options.layer)).size;
  const diffId = `sha256:${layerHex}`;
  const config = imageConfigJson(options.config, diffId, options.architecture);
  const configHex = sha256(config);
  const manifest = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: `sha256:${configHex}`, size: config.length },
    layers: [{ mediaType: OCI_LAYER, digest: diffId, size: layerSize }],
  });
  const manifestHex = sha256(manifest);
  const small = new Map<string, Buffer>([
    [`blobs/sha256/${configHex}`, config],
    [`blobs/sha256/${manifestHex}`, manifest],
    [
      'index.json',
      json({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          {
            mediaType: OCI_MANIFEST,
            digest: `sha256:${manifestHex}`,
            size: manifest.length,
            annotations: {
              'io.containerd.image.name': qualifiedRef(ref),
              'org.opencontainers.image.ref.name': tag,
            },
          },
        ],
      }),
    ],
    [
      'manifest.json',
      json([{ Config: `blobs/sha256/${configHex}`, RepoTags: [ref], Layers: [`blobs/sha256/${layerHex}`] }]),
    ],
    ['oci-layout', json({ imageLayoutVersion: '1.0.0' })],
    // The legacy (pre-1.10) index: repo -> tag -> top layer. Loaders that find manifest.json ignore it.
    ['repositories', json({ [repo]: { [tag]: layerHex } })],
  ]);
  const layerName = `blobs/sha256/${layerHex}`;
  const files = [...small.keys(), layerName].sort();
  const header = { mode: 0o644, uid: 0, gid: 0, mtime: new Date(0) };

  const tmp = `${options.out}.${process.pid}.${Date.now()}.tmp`;
  const pack = tar.pack();
  const written = pipeline(pack, createWriteStream(tmp));
  written.catch(() => {});
  try {
    for (const dir of ['blobs', 'blobs/sha256']) {
      pack.entry({ ...header, name: `${dir}/`, type: 'directory', mode: 0o755 });
    }
    for (const name of files) {
      const data = small.get(name);
      if (data) {
        pack.entry({ ...header, name, size: data.length }, data);
        continue;
      }
      // Hashed again on the way in: the digest written in the config must be that of these bytes.
      const check = createHash('sha256');
      const entry = pack.entry({ ...header, name, size: layerSize });
      await pipeline(
        createReadStream(options.layer, { highWaterMark: 1 << 20 }),
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            check.update(chunk);
            callback(null, chunk);
          },
        }),
        entry,
      );
      if (check.digest('hex') !== layerHex) {
        throw new ImageBuildError(`${options.layer} changed while the image archive was being written`);
      }
    }
    pack.finalize();
    await written;
    const { size } = await stat(tmp);
    await rename(tmp, options.out);
    return { path: options.out, ref, id: `sha256:${configHex}`, diffId, bytes: size };
  } catch (err) {
    pack.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
}
