/**
 * The lab's keys: the user key its sshds accept as root (root's alone), and the hosts' keys recorded in the
 * inventory's known_hosts.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { UsageError } from '../errors.js';
import type { Inventory } from '../inventory/index.js';
import { runChecked } from '../remote/index.js';
import { readOwnPrivateKey } from '../remote/keys.js';
import { knownHostsName } from '../remote/known-hosts.js';
import type { Executor } from '../remote/types.js';
import { keygenArgv } from './commands.js';
import type { LabPlan } from './plan.js';

/**
 * The public half of the key pair at `file` (made where missing), derived from the private key, which
 * must be root's alone (readOwnPrivateKey): the lab's sshds accept that key as root.
 */
export async function ensureKey(exec: Executor, file: string, comment: string): Promise<string> {
  if (!existsSync(file)) {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    // Under another name first: a Ctrl+C reaches ssh-keygen too, and half a key would stay for good.
    const fresh = `${file}.new`;
    await rm(fresh, { force: true });
    await rm(`${fresh}.pub`, { force: true });
    await runChecked(exec, keygenArgv(fresh, comment), { what: `generating ${file}` });
    await rename(`${fresh}.pub`, `${file}.pub`);
    await rename(fresh, file);
  }
  return (await readOwnPrivateKey(file)).publicKey;
}

/**
 * Replaces the lines of `names` in a known_hosts file (other lines kept) with `lines`: a new file beside
 * it, renamed over it (root writes here, in a directory its owner may not be root: a link put in the
 * place of the file, or of the new file, is replaced, never followed).
 */
export async function upsertKnownHosts(
  file: string,
  names: readonly string[],
  lines: readonly string[],
): Promise<void> {
  let kept: string[] = [];
  try {
    kept = (await readFile(file, 'utf8')).split('\n').filter((l) => {
      const first = l.trim().split(/\s+/)[0] ?? '';
      return l.trim() !== '' && !first.split(',').some((n) => names.includes(n));
    });
  } catch {
    // a new file
  }
  await mkdir(dirname(file), { recursive: true });
  const fresh = `${file}.${process.pid}.new`;
  await rm(fresh, { force: true });
  await writeFile(fresh, `${[...kept, ...lines].join('\n')}\n`, { mode: 0o600, flag: 'wx' });
  await rename(fresh, file);
}

/**
 * Keys: the lab users' keys (generated where missing), every host's own host key, known_hosts. The keys
 * the sshds accept and their host keys go to the lab's keys directory (root's, 0700); the users' keys stay
 * where hosts.yml puts them, but only keys root owns alone are accepted.
 */
export async function prepareKeys(exec: Executor, inv: Inventory, plan: LabPlan): Promise<void> {
  const problems: string[] = [];
  for (const h of inv.hosts) {
    if (!h.ssh.identityFile)
      problems.push(`${h.name}: ssh.identityFile is not set (the lab generates that key)`);
    if (!h.ssh.knownHosts)
      problems.push(`${h.name}: ssh.knownHosts is not set (the lab records its host keys there)`);
  }
  if (problems.length > 0) throw new UsageError(`cannot build a lab: ${problems.join('; ')}`);
  const identities = [...new Set(inv.hosts.map((h) => h.ssh.identityFile!))];
  const publics = await Promise.all(identities.map((f) => ensureKey(exec, f, `edgectl-lab-${plan.testbed}`)));
  // The runtime directory as writeHostFiles makes it (0755), the keys directory inside it root's alone.
  await mkdir(plan.runDir, { recursive: true, mode: 0o755 });
  await mkdir(plan.keysDir, { recursive: true, mode: 0o700 });
  // Made by root on /run; made 0700 again should it have been made otherwise.
  await chmod(plan.keysDir, 0o700);
  const authorized = `${plan.authorizedKeys}.new`;
  await rm(authorized, { force: true });
  await writeFile(authorized, `${publics.join('\n')}\n`, { mode: 0o600, flag: 'wx' });
  await rename(authorized, plan.authorizedKeys);

  const byFile = new Map<string, { names: string[]; lines: string[] }>();
  for (const [i, h] of inv.hosts.entries()) {
    const lh = plan.hosts[i]!;
    const pub = await ensureKey(exec, lh.hostKey, `edgectl-lab-${plan.testbed}-${h.name}`);
    const [type, blob] = pub.split(/\s+/);
    const name = knownHostsName(h.address, h.ssh.port);
    const entry = byFile.get(h.ssh.knownHosts!) ?? { names: [], lines: [] };
    entry.names.push(name);
    entry.lines.push(`${name} ${type} ${blob}`);
    byFile.set(h.ssh.knownHosts!, entry);
  }
  for (const [file, { names, lines }] of byFile) await upsertKnownHosts(file, names, lines);
}
