/** Small reads of this machine's state for the lab: namespaces, pids, mounts, cgroups, daemon sockets. */
import { existsSync } from 'node:fs';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';

export async function listNetns(): Promise<string[]> {
  try {
    return (await readdir('/run/netns')).sort();
  } catch {
    return [];
  }
}

/** Namespaces of testbed `tb`: the hub `edgectl.tb` and the hosts `edgectl.tb.HOST`. */
export function isLabNetns(name: string, testbed: string): boolean {
  return name === `edgectl.${testbed}` || name.startsWith(`edgectl.${testbed}.`);
}

export async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(file, 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Inode of a process's network namespace, to tell which namespace it runs in. */
export async function netnsInode(pidOrPath: number | string): Promise<string | undefined> {
  try {
    if (typeof pidOrPath === 'number')
      return (await readlink(`/proc/${pidOrPath}/ns/net`)).replace(/\D/g, '');
    return String((await stat(pidOrPath)).ino);
  } catch {
    return undefined;
  }
}

/** Pids whose network namespace is the named one (what `ip netns pids` does, without a process). */
export async function pidsInNetns(ns: string): Promise<number[]> {
  const inode = await netnsInode(`/run/netns/${ns}`);
  if (!inode) return [];
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if ((await netnsInode(pid)) === inode) pids.push(pid);
  }
  return pids;
}

/** Mount points at or under any of `roots`, deepest first (the order to unmount them in). */
export async function mountsUnder(roots: readonly string[]): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const points = text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\(\d{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8))))
    .filter((p) => roots.some((r) => p === r || p.startsWith(`${r}/`)));
  return [...new Set(points)].sort((a, b) => b.split('/').length - a.split('/').length || b.localeCompare(a));
}

/** Cgroup directories named `prefix*` directly under each hierarchy of /sys/fs/cgroup (v1 and v2). */
export async function labCgroups(prefix: string): Promise<string[]> {
  const root = '/sys/fs/cgroup';
  const found: string[] = [];
  const scan = async (dir: string) => {
    try {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        if (e.isDirectory() && e.name.startsWith(prefix)) found.push(join(dir, e.name));
      }
    } catch {
      // not a hierarchy
    }
  };
  await scan(root);
  try {
    for (const e of await readdir(root, { withFileTypes: true }))
      if (e.isDirectory()) await scan(join(root, e.name));
  } catch {
    // no cgroup filesystem
  }
  return found;
}

/** Every pid in a cgroup tree, and its directories deepest first. */
export async function cgroupTree(dir: string): Promise<{ pids: number[]; dirs: string[] }> {
  const pids: number[] = [];
  const dirs: string[] = [];
  const walk = async (d: string, depth: number) => {
    try {
      const procs = await readFile(join(d, 'cgroup.procs'), 'utf8');
      for (const line of procs.split('\n')) if (line.trim()) pids.push(Number(line));
      for (const e of await readdir(d, { withFileTypes: true }))
        if (e.isDirectory()) await walk(join(d, e.name), depth + 1);
      dirs.push(d);
    } catch {
      // vanished meanwhile
    }
  };
  await walk(dir, 0);
  return { pids, dirs: dirs.sort((a, b) => b.split('/').length - a.split('/').length) };
}

export function linkExists(ifname: string): boolean {
  return existsSync(`/sys/class/net/${ifname}`);
}

/** GET /_ping on a Docker socket: true when the daemon answers OK. */
export function dockerPing(socket: string, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}
