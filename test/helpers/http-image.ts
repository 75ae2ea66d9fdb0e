/**
 * The third-party-style test services' images, as `docker save` archives written from local files only (no
 * registry, no local dockerd), so that tests put them on the lab's servers with `edgectl image load FILE`,
 * as a researcher would with an image of their own. Each has this machine's node binary and its libraries
 * as its root filesystem and one server under /apps:
 * - `edgectl-test/http-counter:1`: a plain node HTTP server (test/fixtures/http-counter/server.mjs) that
 *   knows nothing of edgectl's protocol;
 * - `edgectl-test/tcp-echo:1`: a TCP echo server (test/fixtures/tcp-echo/server.mjs) for the echo task mode.
 *
 * Built once per content (node, its libraries, the server, the run configuration) into
 * .edgectl/images beside the repository's hosts.yml; later calls (and later runs) reuse the file.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ImageRunConfig,
  planRootfs,
  writeImageArchive,
  writeRootfsTar,
} from '../../src/lib/image/index.js';
import { repoRoot } from './cli.js';

export const HTTP_COUNTER_REF = 'edgectl-test/http-counter:1';
export const HTTP_COUNTER_APPS_DIR = join(repoRoot, 'test', 'fixtures', 'http-counter');
export const HTTP_COUNTER_PORT = 8080;
export const HTTP_COUNTER_CONFIG: ImageRunConfig = {
  Cmd: ['/usr/local/bin/node', '/apps/server.mjs'],
  Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'DATA_DIR=/data'],
  WorkingDir: '/apps',
  ExposedPorts: { [`${HTTP_COUNTER_PORT}/tcp`]: {} },
};
export const TCP_ECHO_REF = 'edgectl-test/tcp-echo:1';
export const TCP_ECHO_PORT = 7007;
export const TCP_ECHO_CONFIG: ImageRunConfig = {
  Cmd: ['/usr/local/bin/node', '/apps/server.mjs'],
  Env: ['PATH=/usr/local/bin:/usr/bin:/bin', `PORT=${TCP_ECHO_PORT}`],
  WorkingDir: '/apps',
  ExposedPorts: { [`${TCP_ECHO_PORT}/tcp`]: {} },
};

/** What one test image is made of. */
interface ImageRecipe {
  /** Bumped when the way the archive is made changes. */
  recipe: string;
  ref: string;
  appsDir: string;
  config: ImageRunConfig;
  /** The archive's file name before its content key. */
  stem: string;
}

const HTTP_COUNTER: ImageRecipe = {
  recipe: 'http-counter-image/1',
  ref: HTTP_COUNTER_REF,
  appsDir: HTTP_COUNTER_APPS_DIR,
  config: HTTP_COUNTER_CONFIG,
  stem: 'edgectl-test-http-counter',
};

const TCP_ECHO: ImageRecipe = {
  recipe: 'tcp-echo-image/1',
  ref: TCP_ECHO_REF,
  appsDir: join(repoRoot, 'test', 'fixtures', 'tcp-echo'),
  config: TCP_ECHO_CONFIG,
  stem: 'edgectl-test-tcp-echo',
};

export interface TestImage {
  /** The `docker save` archive. */
  path: string;
  /** `edgectl-test/http-counter:1`, `edgectl-test/tcp-echo:1`. */
  ref: string;
  /** Its image ID, `sha256:<hex>`. */
  id: string;
}

interface Record {
  recipe: string;
  ref: string;
  id: string;
  bytes: number;
}

async function readRecord(path: string, want: ImageRecipe): Promise<Record | undefined> {
  try {
    const record = JSON.parse(await readFile(`${path}.json`, 'utf8')) as Record;
    const { size } = await stat(path);
    return record.recipe === want.recipe && record.ref === want.ref && record.bytes === size
      ? record
      : undefined;
  } catch {
    return undefined;
  }
}

async function build(cacheDir: string, want: ImageRecipe): Promise<TestImage> {
  // Hashes node, its libraries and the server (no copy): the archive's name says which content it holds.
  const plan = await planRootfs({ appsDir: want.appsDir });
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        recipe: want.recipe,
        rootfs: plan.contentTag,
        ref: want.ref,
        config: want.config,
      }),
    )
    .digest('hex')
    .slice(0, 12);
  const path = join(cacheDir, `${want.stem}-${key}.tar`);
  const known = await readRecord(path, want);
  if (known) return { path, ref: known.ref, id: known.id };

  await mkdir(cacheDir, { recursive: true });
  // The layer is only a step: the archive holds it, so it is not kept.
  const layer = `${path}.${process.pid}.layer.tmp`;
  try {
    await writeRootfsTar(plan.entries, layer);
    const written = await writeImageArchive({
      layer,
      config: want.config,
      ref: want.ref,
      out: path,
    });
    const record: Record = { recipe: want.recipe, ref: written.ref, id: written.id, bytes: written.bytes };
    const tmp = `${path}.json.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
    await rename(tmp, `${path}.json`);
    return { path, ref: written.ref, id: written.id };
  } finally {
    await rm(layer, { force: true });
  }
}

const builds = new Map<string, Promise<TestImage>>();

function buildOnce(want: ImageRecipe, cacheDir: string): Promise<TestImage> {
  const key = `${want.ref}\u0000${cacheDir}`;
  let pending = builds.get(key);
  if (!pending) {
    pending = build(cacheDir, want);
    pending.catch(() => builds.delete(key));
    builds.set(key, pending);
  }
  return pending;
}

const defaultCache = () => join(repoRoot, '.edgectl', 'images');

/**
 * The http-counter image archive: { path, ref, id }. Built on first use (a few seconds: node is about
 * 100 MB), then reused. `cacheDir` defaults to .edgectl/images of the repository.
 */
export function buildHttpCounterImage(options: { cacheDir?: string } = {}): Promise<TestImage> {
  return buildOnce(HTTP_COUNTER, options.cacheDir ?? defaultCache());
}

/** The tcp-echo image archive, built and kept like the http-counter one. */
export function buildTcpEchoImage(options: { cacheDir?: string } = {}): Promise<TestImage> {
  return buildOnce(TCP_ECHO, options.cacheDir ?? defaultCache());
}
