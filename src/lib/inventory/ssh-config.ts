/**
 * OpenSSH's client configuration (~/.ssh/config) as edgectl reads it, and jump-host specs.
 *
 * Precedence, per setting: what hosts.yml says (the host's own `ssh`, then `defaults.ssh`) wins over
 * the ssh config file, which wins over edgectl's built-in defaults. The ssh config is looked up by the
 * host's name in hosts.yml, as `ssh NAME` would: `Host` patterns are matched against that name.
 *
 * Read: HostName, User, Port, IdentityFile (several), IdentityAgent, ProxyJump, UserKnownHostsFile and
 * StrictHostKeyChecking. Host-key checking is never weakened by the file: `UserKnownHostsFile
 * /dev/null` is ignored, and `StrictHostKeyChecking no` counts as `accept-new` (a changed key is still
 * refused). `Match exec` is never run (edgectl runs as root; the file may not be root's to trust), and
 * `Include` is not followed: both are reported as warnings.
 */
import { homedir, userInfo } from 'node:os';
import path from 'node:path';
import SSHConfig from 'ssh-config';

/** What the ssh config says about one host (only what it says: every field may be missing). */
export interface SshConfigEntry {
  hostName?: string;
  user?: string;
  port?: number;
  identityFiles: string[];
  /** `none`, or a socket path (`SSH_AUTH_SOCK` means the environment's). */
  identityAgent?: string;
  /** As written (`none` included). */
  proxyJump?: string;
  /** The first known_hosts file named that is not /dev/null. */
  knownHosts?: string;
  /** True for accept-new (and for no/off, see above), false for yes/ask; undefined when not said. */
  acceptNewHostKeys?: boolean;
  /** Things of the file edgectl did not follow (Include, Match exec). */
  warnings: string[];
}

export interface ExpandContext {
  home: string;
  localUser: string;
}

export function defaultExpandContext(): ExpandContext {
  let localUser = process.env['USER'] ?? '';
  try {
    localUser = userInfo().username;
  } catch {
    // no passwd entry: the environment's name will do for %u
  }
  return { home: homedir(), localUser };
}

/** `~` and the tokens OpenSSH expands in file names: %d home, %u local user, %h host, %r remote user, %%. */
export function expandPath(
  text: string,
  ctx: ExpandContext,
  host: string,
  remoteUser: string,
  base = ctx.home,
): string {
  const out = text.replace(/%([%dhur])/g, (_, t: string) =>
    t === '%' ? '%' : t === 'd' ? ctx.home : t === 'h' ? host : t === 'u' ? ctx.localUser : remoteUser,
  );
  return expandHome(out, ctx.home, base);
}

/** A path as hosts.yml and ssh config write it: `~` or `~/...` in `home`, else relative to `base`. */
export function expandHome(text: string, home: string, base: string): string {
  if (text === '~') return home;
  if (text.startsWith('~/')) return path.join(home, text.slice(2));
  return path.resolve(base, text);
}

export function parseSshConfig(text: string): SSHConfig {
  return SSHConfig.parse(text);
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function all(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/**
 * What the ssh config says for `host` (a Host alias or address). `remoteUser` is the user edgectl will
 * log in as when the file does not say (for %r in file names).
 */
export function lookupSshConfig(
  config: SSHConfig,
  host: string,
  ctx: ExpandContext = defaultExpandContext(),
  remoteUser = 'root',
): SshConfigEntry {
  // ignoreCase: OpenSSH's keywords are case-insensitive. matchExec off: see the comment at the top.
  const found = config.compute(host, { ignoreCase: true, matchExec: false });
  const entry: SshConfigEntry = { identityFiles: [], warnings: [] };
  const hostName = first(found['hostname']);
  if (hostName !== undefined) entry.hostName = hostName.replaceAll('%h', host).replaceAll('%%', '%');
  const user = first(found['user']);
  if (user !== undefined) entry.user = user;
  const port = Number(first(found['port']));
  if (Number.isInteger(port) && port >= 1 && port <= 65535) entry.port = port;
  const login = entry.user ?? remoteUser;
  const target = entry.hostName ?? host;
  for (const file of all(found['identityfile'])) {
    if (file.toLowerCase() === 'none') continue;
    entry.identityFiles.push(expandPath(file, ctx, target, login));
  }
  const agent = first(found['identityagent']);
  if (agent !== undefined) {
    entry.identityAgent =
      agent.toLowerCase() === 'none' || agent === 'SSH_AUTH_SOCK'
        ? agent
        : expandPath(agent, ctx, target, login);
  }
  const jump = first(found['proxyjump']);
  if (jump !== undefined) entry.proxyJump = jump;
  for (const file of all(found['userknownhostsfile']).flatMap((f) => f.split(/\s+/))) {
    if (file === '' || file === '/dev/null' || file.toLowerCase() === 'none') continue;
    entry.knownHosts = expandPath(file, ctx, target, login);
    break;
  }
  const strict = first(found['stricthostkeychecking'])?.toLowerCase();
  if (strict === 'accept-new' || strict === 'no' || strict === 'off') entry.acceptNewHostKeys = true;
  else if (strict === 'yes' || strict === 'ask') entry.acceptNewHostKeys = false;
  if (found['include'] !== undefined) entry.warnings.push('Include is not followed');
  if (hasMatchExec(config)) entry.warnings.push('Match exec is never run (its block does not apply)');
  return entry;
}

function hasMatchExec(config: SSHConfig): boolean {
  return config.some(
    (line) =>
      'criteria' in line &&
      /^match$/i.test(line.param) &&
      Object.keys(line.criteria).some((k) => k.toLowerCase() === 'exec'),
  );
}

/** One hop of a jump spec as written: `[user@]host[:port]` (or `ssh://[user@]host[:port]`). */
export interface JumpSpec {
  user?: string;
  host: string;
  port?: number;
}

const SPEC_RE =
  /^(?:ssh:\/\/)?(?:([A-Za-z0-9._][A-Za-z0-9._-]{0,63})@)?([A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::([0-9]{1,5}))?$/;

/** Parses one element of a jump list; undefined when it is not `[user@]host[:port]`. */
export function parseJumpSpec(text: string): JumpSpec | undefined {
  const m = SPEC_RE.exec(text.trim());
  if (!m) return undefined;
  const [, user, host, portText] = m;
  if (host === undefined) return undefined;
  const spec: JumpSpec = { host };
  if (user !== undefined) spec.user = user;
  if (portText !== undefined) {
    const port = Number(portText);
    if (port < 1 || port > 65535) return undefined;
    spec.port = port;
  }
  return spec;
}

/** The elements of a jump list (`a,b,c`): empty for `none`. */
export function splitJump(text: string): string[] {
  if (text.trim().toLowerCase() === 'none') return [];
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Whether a jump list is well formed: `none`, or specs separated by commas. */
export function isJumpList(text: string): boolean {
  if (text.trim().toLowerCase() === 'none') return true;
  const parts = text.split(',').map((s) => s.trim());
  return parts.length > 0 && parts.every((p) => parseJumpSpec(p) !== undefined);
}
