import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { type Document, parseDocument } from 'yaml';
import { type Inventory, loadInventory } from '../../src/lib/inventory/index.js';
import { type LabPlan, planLab } from '../../src/lib/lab/plan.js';
import { repoRoot } from './cli.js';

export const hostsFile = `${repoRoot}hosts.yml`;

export async function labInventory(): Promise<{ inv: Inventory; plan: LabPlan }> {
  const inv = await loadInventory(hostsFile);
  return { inv, plan: planLab(inv) };
}

/** What of a lab is on this machine: namespaces, the controller veth, live processes, mounts. */
export function labTraces(plan: LabPlan): {
  namespaces: string[];
  link: boolean;
  processes: string[];
  mounts: string[];
} {
  const namespaces = existsSync('/run/netns')
    ? readdirSync('/run/netns').filter((n) => n === plan.hubNs || n.startsWith(plan.nsPrefix))
    : [];
  const processes: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z') continue; // zombies hold nothing; some pid 1s (VMs, containers) never reap them
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      // (edgectl-delay names its pidfile under /run/edgectl/delay/TESTBED.)
      if (
        cmdline.includes(plan.runDir) ||
        cmdline.includes(plan.nsPrefix) ||
        cmdline.includes(`/run/edgectl/delay/${plan.testbed}/`)
      )
        processes.push(`${entry}: ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter(
      (p) =>
        p.startsWith(plan.runDir) || p.startsWith(plan.dataDir) || p.startsWith(`/run/netns/${plan.hubNs}`),
    );
  return { namespaces, link: existsSync(`/sys/class/net/${plan.controller.ifname}`), processes, mounts };
}

/**
 * Writes a variant of the repository's hosts.yml to `file` (another folder: its key paths made absolute
 * so that they still name the lab's keys), changed by `edit`.
 */
export function writeVariantInventory(file: string, edit: (doc: Document) => void): void {
  const doc = parseDocument(
    readFileSync(hostsFile, 'utf8').replaceAll(' .edgectl/lab/', ` ${repoRoot}.edgectl/lab/`),
  );
  edit(doc);
  writeFileSync(file, doc.toString());
}

/** A second user, mu2, on the simple service, walking the other way from ap3. */
export const SECOND_USER = {
  name: 'mu2',
  host: 'mu',
  service: 'simple',
  trajectory: { type: 'roundtrip', from: [120, 0], to: [0, 0], speed: 1 },
  startBasestation: 'ap3',
};

/**
 * The common start of the tests that watch mu1 at work: the lab provisioned, the servers' CPU scores
 * measured (hosts check) into the test's state database, mu1's `simple` service freshly on edge1 and mu1
 * on ap1, wherever an earlier test file left it. `cli` runs edgectl with the test's hosts file and state.
 */
export async function placeMu1OnEdge1(
  cli: (args: string[]) => Promise<{ exitCode: number; stderr: string }>,
): Promise<void> {
  for (const args of [
    ['provision'],
    ['hosts', 'check'],
    ['undeploy', '--user', 'mu1'],
    ['deploy', '--user', 'mu1', '--service', 'simple', '--host', 'edge1'],
    ['handover', '--user', 'mu1', '--to', 'ap1', '--blackout', '0'],
  ]) {
    const r = await cli(args);
    if (r.exitCode !== 0) throw new Error(`edgectl ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
  }
}
