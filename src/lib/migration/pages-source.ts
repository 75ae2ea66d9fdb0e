/**
 * The C source of edgectl-pages, the page codec of a delta migration, as this edgectl ships it
 * (native/edgectl-pages.c), and the version a build of it reports: scripts/install-host-deps.sh builds
 * it with the same version on every server, so that a host whose codec was built from another source
 * shows as outdated in `hosts check`.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
// The same rule for both C helpers (install-host-deps.sh's helper_wanted_version): a hash of the source.
import { delayVersionOf } from '../netem/nfqueue-source.js';

/** Where install-host-deps.sh installs it on servers (cloud, edge). */
export const PAGES_BIN = '/usr/local/sbin/edgectl-pages';

const SOURCE = fileURLToPath(new URL('../../../native/edgectl-pages.c', import.meta.url));

export async function pagesSource(): Promise<string> {
  return readFile(SOURCE, 'utf8');
}

/** The first 12 hex digits of the source's sha256 (what `edgectl-pages --version` prints after its name). */
export function pagesVersionOf(source: string): string {
  return delayVersionOf(source);
}

let sourceVersion: Promise<string> | undefined;

/** The version this edgectl's source builds (read and hashed once per process: every migration asks). */
export function pagesSourceVersion(): Promise<string> {
  sourceVersion ??= pagesSource().then(pagesVersionOf);
  return sourceVersion;
}
