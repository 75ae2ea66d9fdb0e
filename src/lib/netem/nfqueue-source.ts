/**
 * The C source of edgectl-delay as this edgectl ships it (native/edgectl-delay.c), and the version a
 * build of it reports: scripts/install-host-deps.sh builds it with the same version, so that a host whose
 * helper was built from another source shows as outdated.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('../../../native/edgectl-delay.c', import.meta.url));

export async function delaySource(): Promise<string> {
  return readFile(SOURCE, 'utf8');
}

/** The first 12 hex digits of the source's sha256 (what `edgectl-delay --version` prints after its name). */
export function delayVersionOf(source: string): string {
  return createHash('sha256').update(source).digest('hex').slice(0, 12);
}

export async function delaySourceVersion(): Promise<string> {
  return delayVersionOf(await delaySource());
}
