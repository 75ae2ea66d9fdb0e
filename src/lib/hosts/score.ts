/**
 * The CPU score C_s of each server (the planner scales processing times by C_s / C_s'): measured once
 * with the bundled benchmark in a container on that server, then kept as a host fact.
 */
import { measureCpuScore } from '../docker/deploy.js';
import { errorMessage } from '../errors.js';
import { getHost, type Inventory } from '../inventory/index.js';
import type { SshPool } from '../remote/index.js';
import type { StateDb } from '../state/index.js';
import type { HostReport } from './check.js';

/**
 * Fills `cpuScore` of every ready server's report, measuring where none is stored (or all with `force`).
 * One server at a time: servers that share a machine (the local lab) would otherwise slow each other down.
 */
export async function ensureCpuScores(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  reports: HostReport[],
  options: { force?: boolean } = {},
): Promise<void> {
  for (const r of reports) {
    {
      const host = getHost(inv, r.name);
      if (!host.isServer) continue;
      const stored = state.hostFacts.get(host.name)?.cpuScore ?? null;
      if ((stored !== null && !options.force) || !r.ready) {
        r.cpuScore = stored;
        continue;
      }
      try {
        const score = await measureCpuScore(inv, pool, host);
        state.hostFacts.setCpuScore(host.name, score, Date.now());
        r.cpuScore = score;
      } catch (err) {
        r.cpuScore = stored;
        r.warnings.push(`could not measure the CPU score: ${errorMessage(err)}`);
      }
    }
  }
}
