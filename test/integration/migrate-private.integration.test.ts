/**
 * A migration on the lab keeps what the app's files carry beyond their bytes (a user.* xattr, a file
 * capability, a POSIX ACL, set through the running container's root), and keeps its staging on both
 * servers to root: every directory and file of it without group or other permissions, the staging root
 * unreadable to another user, checked while the service is down. The xdelta3 codec (the pages codec
 * needs the servers' edgectl-pages built from this very source).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reachDocker } from '../../src/lib/docker/deploy.js';
import { getHost, type Inventory, loadInventory } from '../../src/lib/inventory/index.js';
import { migrationKey, STAGING_ROOT, stagingDir } from '../../src/lib/migration/commands.js';
import { Migration } from '../../src/lib/migration/pipeline.js';
import { type Executor, SshPool } from '../../src/lib/remote/index.js';
import { openState } from '../../src/lib/state/index.js';
import { edgectl } from '../helpers/cli.js';
import { hostsFile, writeVariantInventory } from '../helpers/lab.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-migrate-private-'));
const stateFile = join(dir, 'state.db');
const file = join(dir, 'hosts.yml');
const pool = new SshPool();
let inv: Inventory;

function cli(args: string[]) {
  return edgectl([...args, '-f', file, '--state', stateFile, '--json'], { timeoutMs: 300_000 });
}

async function sh(on: Executor, script: string, ...args: string[]): Promise<string> {
  const r = await on.run(['sh', '-c', script, 'sh', ...args], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`${script} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** The root of mu1's running container as its host sees it (/proc/PID/root), and that host's shell. */
async function containerRoot(): Promise<{ host: string; on: Executor; root: string }> {
  const state = openState(stateFile);
  const p = state.placements.get('mu1');
  state.close();
  if (!p) throw new Error('mu1 has no placement');
  const host = getHost(inv, p.host);
  const info = await (await reachDocker(pool, host)).getContainer(p.containerId).inspect();
  expect(info.State.Running).toBe(true);
  return { host: p.host, on: pool.executor(host), root: `/proc/${info.State.Pid}/root` };
}

const APP_DIR = '/edgectl-private-test';

beforeAll(async () => {
  writeVariantInventory(file, () => {});
  inv = await loadInventory(file);
  expect((await cli(['provision'])).exitCode).toBe(0);
  await cli(['undeploy', '--user', 'mu1']);
  const d = await cli(['deploy', '--user', 'mu1', '--service', 'simple', '--host', 'edge1']);
  expect(d.exitCode, d.stderr).toBe(0);
});

afterAll(async () => {
  await cli(['undeploy', '--user', 'mu1']).catch(() => {});
  await edgectl(['provision', '-f', hostsFile, '--json']);
  await pool.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('a migration keeps the app’s xattrs, capabilities and ACLs, and its staging private', () => {
  it('edge1 -> edge2 (xdelta3): user.foo, cap_net_bind_service and an ACL survive; staging 0700/0600 meanwhile', async () => {
    const before = await containerRoot();
    expect(before.host).toBe('edge1');
    // Set through the container's root, as its own processes would: overlay writes them into the upper dir.
    await sh(
      before.on,
      [
        'set -eu',
        'd="$1$2"',
        'mkdir -p "$d"',
        'echo notes > "$d/notes.txt"',
        'setfattr -n user.foo -v bar "$d/notes.txt"',
        'setfacl -m u:65534:r "$d/notes.txt"',
        'cp /bin/true "$d/server"',
        'setcap cap_net_bind_service+ep "$d/server"',
      ].join('\n'),
      before.root,
      APP_DIR,
    );

    const seen: Record<string, string> = {};
    const state = openState(stateFile);
    try {
      const m = new Migration(inv, pool, state, {
        user: 'mu1',
        to: 'edge2',
        codec: 'xdelta3',
        probe: false,
        afterPhase: async (phase) => {
          if (phase !== 'patch') return;
          // While the service is down, everything both ends hold: modes, and another user's view.
          const id = (state.db.prepare('SELECT max(id) AS id FROM migrations').get() as { id: number }).id;
          for (const [side, host] of [
            ['src', 'edge1'],
            ['dst', 'edge2'],
          ] as const) {
            const staging = stagingDir(inv.testbed, migrationKey(state.instanceId, id), side);
            seen[side] = await sh(
              pool.executor(getHost(inv, host)),
              [
                'set -eu',
                'root=$1; staging=$2',
                'stat -c "%a %U %n" "$root"',
                // Every entry of this migration's staging with a group or other permission bit.
                'find "$(dirname "$staging")" -perm /077 ! -type l -printf "open: %m %p\\n"',
                'find "$staging" | wc -l',
                'if setpriv --reuid=65534 --regid=65534 --clear-groups ls "$root" >/dev/null 2>&1; then echo "nobody can list $root"; fi',
                'if setpriv --reuid=65534 --regid=65534 --clear-groups ls "$staging" >/dev/null 2>&1; then echo "nobody can list $staging"; fi',
              ].join('\n'),
              STAGING_ROOT,
              staging,
            );
          }
        },
      });
      const r = await m.migrate();
      expect(r.to).toBe('edge2');
    } finally {
      state.close();
    }
    for (const side of ['src', 'dst']) {
      const [rootLine, ...rest] = (seen[side] ?? '').trim().split('\n');
      expect(rootLine, side).toBe(`700 root ${STAGING_ROOT}`);
      // Only the count of entries is left: nothing open, nothing another user could list.
      expect(rest.length, `${side}: ${seen[side]}`).toBe(1);
      expect(Number(rest[0]), side).toBeGreaterThan(5);
    }

    const after = await containerRoot();
    expect(after.host).toBe('edge2');
    const d = `${after.root}${APP_DIR}`;
    expect(await sh(after.on, 'getfattr --only-values -n user.foo "$1/notes.txt"', d)).toBe('bar');
    expect(await sh(after.on, 'getcap "$1/server"', d)).toMatch(/server cap_net_bind_service=ep/);
    expect(await sh(after.on, 'getfacl -cn "$1/notes.txt"', d)).toContain('user:65534:r--');
    expect(await sh(after.on, 'cat "$1/notes.txt"', d)).toBe('notes\n');
  }, 300_000);
});
