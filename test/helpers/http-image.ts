/**
 * The third-party-style test service's image, `edgectl-test/http-counter:1`: a plain node HTTP server
 * (test/fixtures/http-counter/server.mjs, at /apps/server.mjs) that knows nothing of edgectl's protocol,
 * with this machine's node binary and its libraries as its root filesystem. Written as a `docker save`
 * archive from local files only (no registry, no local dockerd), so that tests put it on the lab's servers
 * with `edgectl image load FILE`, as a researcher would with an image of their own.
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
/** Bumped when the way the archive is made changes. */
const RECIPE = 'http-counter-image/1';

export interface TestImage {
  /** The `docker save` archive. */
  path: string;
  /** `edgectl-test/http-counter:1`. */
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

async function readRecord(path: string): Promise<Record | undefined> {
  try {
    const record = JSON.parse(await readFile(`${path}.json`, 'utf8')) as Record;
    const { size } = await stat(path);
    return record.recipe === RECIPE && record.ref === HTTP_COUNTER_REF && record.bytes === size
      ? record
      : undefined;
  } catch {
    return undefined;
  }
}

async function build(cacheDir: string): Promise<TestImage> {
  // Hashes node, its libraries and the server (no copy): the archive's name says which content it holds.
  const plan = await planRootfs({ appsDir: HTTP_COUNTER_APPS_DIR });
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        recipe: RECIPE,
        rootfs: plan.contentTag,
        ref: HTTP_COUNTER_REF,
        config: HTTP_COUNTER_CONFIG,
      }),
    )
    .digest('hex')
    .slice(0, 12);
  const path = join(cacheDir, `edgectl-test-http-counter-${key}.tar`);
  const known = await readRecord(path);
  if (known) return { path, ref: known.ref, id: known.id };

  await mkdir(cacheDir, { recursive: true });
  // The layer is only a step: the archive holds it, so it is not kept.
  const layer = `${path}.${process.pid}.layer.tmp`;
  try {
    await writeRootfsTar(plan.entries, layer);
    const written = await writeImageArchive({
      layer,
      config: HTTP_COUNTER_CONFIG,
      ref: HTTP_COUNTER_REF,
      out: path,
    });
    const record: Record = { recipe: RECIPE, ref: written.ref, id: written.id, bytes: written.bytes };
    const tmp = `${path}.json.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
    await rename(tmp, `${path}.json`);
    return { path, ref: written.ref, id: written.id };
  } finally {
    await rm(layer, { force: true });
  }
}

const builds = new Map<string, Promise<TestImage>>();

/**
 * The http-counter image archive: { path, ref, id }. Built on first use (a few seconds: node is about
 * 100 MB), then reused. `cacheDir` defaults to .edgectl/images of the repository.
 */
export function buildHttpCounterImage(options: { cacheDir?: string } = {}): Promise<TestImage> {
  const cacheDir = options.cacheDir ?? join(repoRoot, '.edgectl', 'images');
  let pending = builds.get(cacheDir);
  if (!pending) {
    pending = build(cacheDir);
    pending.catch(() => builds.delete(cacheDir));
    builds.set(cacheDir, pending);
  }
  return pending;
}
