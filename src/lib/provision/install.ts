/**
 * `provision --install-deps`: runs the project's own scripts/install-host-deps.sh on each host (piped
 * over SSH to `bash -s`), so that one script stays the single source of truth for what a role needs.
 */

import { errorMessage } from '../errors.js';
import type { Inventory } from '../inventory/index.js';
import { pagesSource } from '../migration/pages-source.js';
import { delaySource } from '../netem/nfqueue-source.js';
import type { SshPool } from '../remote/index.js';

export interface InstallReport {
  name: string;
  role: string;
  ok: boolean;
  code: number;
  summary: string;
  /** The script's own report (stdout), e.g. what is installed with its version, or what is missing. */
  output: string;
}

/**
 * The script's exit codes: 0 ok, 1 failed or missing, 2 usage or not root, 3 not Debian/Ubuntu, 4 (role mu)
 * no node >= 20 from the host's package sources, or no runnable edgectl.
 */
function summarise(code: number, stdout: string, stderr: string): string {
  if (code === 0) return 'prerequisites present';
  if (code === 3) return `not a Debian or Ubuntu host; missing: ${stdout.trim().split('\n').join(', ')}`;
  if (code === 4) {
    const said = (stderr.trim() || stdout.trim()).split('\n').slice(-4).join(' | ');
    return `node >= 20 or edgectl cannot be installed here from the host's package sources (install it, or set hosts[].edgectlPath): ${said}`;
  }
  const last = (stderr.trim() || stdout.trim()).split('\n').slice(-3).join(' | ');
  return `install-host-deps.sh exited ${code}: ${last}`;
}

/** The line that hands the helper's C source to install-host-deps.sh read from stdin. */
export function withDelaySource(source: string): string {
  return `EDGECTL_DELAY_SOURCE_B64=${Buffer.from(source).toString('base64')}\n`;
}

/** The same for edgectl-pages, the page codec the script builds on servers. */
export function withPagesSource(source: string): string {
  return `EDGECTL_PAGES_SOURCE_B64=${Buffer.from(source).toString('base64')}\n`;
}

/**
 * What `bash -s` reads: the C helpers' sources (as shell assignments, which `bash -s` runs before the
 * script; the script finds them in its own variables), then the script.
 */
export function installStdin(script: string, sources: { delay: string; pages: string }): string {
  return `${withDelaySource(sources.delay)}${withPagesSource(sources.pages)}${script}`;
}

export async function installDeps(
  inv: Inventory,
  pool: SshPool,
  script: string,
  options: { only?: readonly string[]; onHost?: (r: InstallReport) => void } = {},
): Promise<InstallReport[]> {
  const hosts = options.only?.length ? inv.hosts.filter((h) => options.only?.includes(h.name)) : inv.hosts;
  // Piped to `bash -s`, the script has no checkout beside it: edgectl-delay's and edgectl-pages'
  // sources travel with it.
  const [delay, pages] = await Promise.all([delaySource(), pagesSource()]);
  const stdin = installStdin(script, { delay, pages });
  return Promise.all(
    hosts.map(async (h) => {
      let report: InstallReport;
      try {
        const r = await pool
          .executor(h)
          .run(['bash', '-s', '--', '--role', h.role], { stdin, timeoutMs: 30 * 60_000 });
        report = {
          name: h.name,
          role: h.role,
          ok: r.code === 0,
          code: r.code,
          summary: summarise(r.code, r.stdout, r.stderr),
          output: r.stdout,
        };
      } catch (err) {
        report = { name: h.name, role: h.role, ok: false, code: -1, summary: errorMessage(err), output: '' };
      }
      options.onHost?.(report);
      return report;
    }),
  );
}
