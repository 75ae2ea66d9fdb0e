/**
 * The lab's session delay: sshd runs the session script in the user's login shell, which logs the
 * session, waits, and runs the command in that same shell. Run here through a real bash, as sshd would
 * (`bash -c ". SCRIPT"` with SSH_ORIGINAL_COMMAND set).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/lib/inventory/index.js';
import { type LabHostPlan, planLab, sessionScript, sshdConfig } from '../../src/lib/lab/plan.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-session-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the lab session delay', () => {
  it('puts every session through the script only when a delay is asked for', async () => {
    const inv = await loadInventory(new URL('../../hosts.yml', import.meta.url).pathname);
    const plan = planLab(inv);
    const host = plan.hosts[0]!;
    expect(sshdConfig(plan, host)).not.toContain('ForceCommand');
    expect(sshdConfig(plan, host, 2000)).toContain(`ForceCommand . ${host.sessionScript}\n`);
    expect(sessionScript(host, 2000)).toContain('sleep 2.000');
  });

  it('logs the session, then runs its command in the same shell with its exit code and quoting intact', () => {
    const host = { name: 'h', sessionLog: join(dir, 'sessions.log') } as LabHostPlan;
    const script = join(dir, 'session.sh');
    writeFileSync(script, sessionScript(host, 50));
    const command = `printf '%s|' "a b" 'c"d'; echo "$0"; exit 7`;
    const before = Date.now();
    const r = spawnSync('bash', ['-c', `. ${script}`], {
      encoding: 'utf8',
      env: { ...process.env, SSH_ORIGINAL_COMMAND: command },
    });
    const after = Date.now();
    expect(r.status).toBe(7);
    expect(r.stdout).toBe('a b|c"d|bash\n');
    const [line, ...rest] = readFileSync(host.sessionLog, 'utf8').split('\n');
    expect(rest).toEqual(['']);
    expect(line).toMatch(/^\d{13} printf /);
    // Stamped when the session began (milliseconds since the epoch).
    const at = Number(line!.slice(0, 13));
    expect(at).toBeGreaterThanOrEqual(before - 1);
    expect(at).toBeLessThanOrEqual(after);
  });

  it('runs the forced command of the session’s key (as sshd would without the script), else the command', () => {
    const host = { name: 'h', sessionLog: join(dir, 'sessions2.log') } as LabHostPlan;
    const keys = join(dir, 'keys');
    writeFileSync(
      keys,
      [
        'ssh-ed25519 AAAAfree controller',
        'from="198.18.1.11",restrict,command="echo forced: $SSH_ORIGINAL_COMMAND" ssh-ed25519 AAAAtestbed edgectl-testbed:x',
        '',
      ].join('\n'),
    );
    const script = join(dir, 'session2.sh');
    writeFileSync(script, sessionScript(host, 10, [join(dir, 'none'), keys]));
    const session = (key: string | undefined, command: string) => {
      const auth = join(dir, 'auth');
      if (key) writeFileSync(auth, `publickey ssh-ed25519 ${key}\n`);
      return spawnSync('bash', ['-c', `. ${script}`], {
        encoding: 'utf8',
        env: {
          ...process.env,
          SSH_ORIGINAL_COMMAND: command,
          ...(key ? { SSH_USER_AUTH: auth } : { SSH_USER_AUTH: '' }),
        },
      });
    };
    // The forced command runs, with the client's request in SSH_ORIGINAL_COMMAND; the request itself does not.
    expect(session('AAAAtestbed', 'echo pwned').stdout).toBe('forced: echo pwned\n');
    expect(session('AAAAfree', 'echo free').stdout).toBe('free\n');
    expect(session(undefined, 'echo no auth info').stdout).toBe('no auth info\n');
  });
});

describe('the lab’s sshd', () => {
  it('reads keys only from root’s keys directory outside the checkout, with StrictModes', async () => {
    const inv = await loadInventory(new URL('../../hosts.yml', import.meta.url).pathname);
    const plan = planLab(inv);
    const host = plan.hosts[0]!;
    expect(plan.keysDir).toBe(`/run/edgectl/${inv.testbed}/keys`);
    const config = sshdConfig(plan, host, 2000);
    const files = /^AuthorizedKeysFile (.*)$/m.exec(config)?.[1]?.split(' ') ?? [];
    expect(files).toEqual([
      `${plan.keysDir}/authorized_keys`,
      `${plan.keysDir}/authorized_keys.provisioned.${host.name}`,
    ]);
    expect(config).toContain(`HostKey ${plan.keysDir}/`);
    for (const f of [...files, host.hostKey]) expect(f.startsWith(inv.dir)).toBe(false);
    expect(config).toContain('\nStrictModes yes\n');
    expect(config).not.toContain('StrictModes no');
    // What the session script needs to honour a key's forced command.
    expect(config).toContain('\nExposeAuthInfo yes\n');
  });
});
