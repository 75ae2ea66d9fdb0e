/**
 * Loads the bundled services' image into the dockerd of every server of the inventory, over SSH
 * through dockerode (`POST /images/create?fromSrc=-` with the rootfs tar as the body). A server that
 * already has the image (same content tag) is left alone.
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { EdgectlError, ExitCode, errorMessage } from '../errors.js';
import { buildRootfs, importChanges, type RootfsImage } from '../image/index.js';
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
  constructor(host: string, message: string, cause?: unknown) {
    super('IMAGE_LOAD_FAILED', ExitCode.remote, `loading the service image into ${host}: ${message}`, {
      cause,
      hint: `check the dockerd of ${host} (edgectl hosts check --host ${host})`,
    });
  }
}

async function hasImage(docker: Docker, name: string): Promise<boolean> {
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
