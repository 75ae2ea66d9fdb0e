/**
 * The SSH settings of every host: hosts.yml (the host's own `ssh`, then `defaults.ssh`), then the ssh
 * config file, then edgectl's defaults; and the chain of jump hosts each host is reached through.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type SSHConfig from 'ssh-config';
import type { CheckIssue, PathSegment } from './checks.js';
import type { SshHop, SshSettings } from './model.js';
import { DEFAULT_SSH, type InventoryFile, type SshFile } from './schema.js';
import {
  defaultExpandContext,
  type ExpandContext,
  expandHome,
  expandPath,
  lookupSshConfig,
  parseJumpSpec,
  parseSshConfig,
  type SshConfigEntry,
  splitJump,
} from './ssh-config.js';

export interface SshResolveOptions {
  /** The text of an ssh config file, or undefined when it does not exist (default: read it from disk). */
  readConfig?: (file: string) => string | undefined;
  /** Where EDGECTL_SSH_CONFIG is read (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Home directory and local user for `~` and %-tokens (default: this process's). */
  expand?: ExpandContext;
}

/** Chains longer than this are refused (OpenSSH has no limit; a loop through aliases would be endless). */
const MAX_HOPS = 8;

function readIfExists(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  return readFileSync(file, 'utf8');
}

class JumpLoop extends Error {}

interface Source {
  /** The layers of hosts.yml, lowest first, with their paths. */
  layers: { file: SshFile | undefined; path: PathSegment[] }[];
}

function explicit<K extends keyof SshFile>(
  src: Source,
  key: K,
): { value: SshFile[K]; path: PathSegment[] } | undefined {
  for (let i = src.layers.length - 1; i >= 0; i--) {
    const layer = src.layers[i]!;
    const value = layer.file?.[key];
    if (value !== undefined) return { value, path: [...layer.path, key] };
  }
  return undefined;
}

export function resolveSsh(
  data: InventoryFile,
  dir: string,
  options: SshResolveOptions = {},
): { settings: SshSettings[]; issues: CheckIssue[]; warnings: string[] } {
  const issues: CheckIssue[] = [];
  const ctx = options.expand ?? defaultExpandContext();
  const env = options.env ?? process.env;
  const read = options.readConfig ?? readIfExists;
  const configs = new Map<string, SSHConfig | undefined>();
  const configAt = (file: string): SSHConfig | undefined => {
    if (!configs.has(file)) {
      const text = read(file);
      configs.set(file, text === undefined ? undefined : parseSshConfig(text));
    }
    return configs.get(file);
  };
  // Paths of hosts.yml: `~` expanded, relative to the file's directory (no %-tokens: those are ssh config's).
  const resolvePath = (file: string) => expandHome(file, ctx.home, dir);

  const sources: Source[] = data.hosts.map((h, i) => ({
    layers: [
      { file: data.defaults?.ssh, path: ['defaults', 'ssh'] },
      { file: h.ssh, path: ['hosts', i, 'ssh'] },
    ],
  }));

  // Pass 1: each host's own settings (no jump chain yet).
  const entries: SshConfigEntry[] = [];
  /** What of the ssh config files was not followed, once per file and thing. */
  const warnings: string[] = [];
  const configOf: (SSHConfig | undefined)[] = [];
  const settings = data.hosts.map((h, i): SshSettings => {
    const src = sources[i]!;
    const named = explicit(src, 'config');
    const fromEnv = env['EDGECTL_SSH_CONFIG'];
    let configFile: string | undefined;
    if (named !== undefined) {
      if (named.value!.toLowerCase() !== 'none') {
        configFile = resolvePath(named.value!);
        if (configAt(configFile) === undefined)
          issues.push({
            path: named.path,
            message: `expected an ssh config file, got ${JSON.stringify(named.value)}, which does not exist (${configFile})`,
          });
      }
    } else if (fromEnv !== undefined && fromEnv !== '') {
      if (fromEnv.toLowerCase() !== 'none') {
        configFile = expandPath(fromEnv, ctx, '', '', process.cwd());
        if (configAt(configFile) === undefined)
          issues.push({
            path: ['hosts', i, 'name'],
            message: `EDGECTL_SSH_CONFIG names ${configFile}, which does not exist`,
          });
      }
    } else {
      // The default file is read only when it exists, as ssh does.
      const file = path.join(ctx.home, '.ssh', 'config');
      if (configAt(file) !== undefined) configFile = file;
    }
    const config = configFile === undefined ? undefined : configAt(configFile);
    configOf.push(config);
    const user = explicit(src, 'user')?.value;
    const entry = config
      ? lookupSshConfig(config, h.name, ctx, user ?? DEFAULT_SSH.user)
      : { identityFiles: [], warnings: [] };
    entries.push(entry);
    for (const w of entry.warnings) {
      const text = `${configFile}: ${w}`;
      if (!warnings.includes(text)) warnings.push(text);
    }

    const s: SshSettings = {
      user: user ?? entry.user ?? DEFAULT_SSH.user,
      port: explicit(src, 'port')?.value ?? entry.port ?? DEFAULT_SSH.port,
      acceptNewHostKeys:
        explicit(src, 'acceptNewHostKeys')?.value ?? entry.acceptNewHostKeys ?? DEFAULT_SSH.acceptNewHostKeys,
      sudo: explicit(src, 'sudo')?.value ?? DEFAULT_SSH.sudo,
      connectTimeoutMs: explicit(src, 'connectTimeoutMs')?.value ?? DEFAULT_SSH.connectTimeoutMs,
    };
    const identityFile = explicit(src, 'identityFile')?.value;
    if (identityFile !== undefined) s.identityFile = resolvePath(identityFile);
    else if (entry.identityFiles.length > 0) s.configIdentityFiles = entry.identityFiles;
    const knownHosts = explicit(src, 'knownHosts')?.value;
    if (knownHosts !== undefined) s.knownHosts = resolvePath(knownHosts);
    else if (entry.knownHosts !== undefined) s.knownHosts = entry.knownHosts;
    if (entry.hostName !== undefined && entry.hostName !== h.address) s.hostName = entry.hostName;
    if (entry.identityAgent !== undefined) s.identityAgent = entry.identityAgent;
    const passphraseFile = explicit(src, 'passphraseFile')?.value;
    if (passphraseFile !== undefined) s.passphraseFile = resolvePath(passphraseFile);
    if (configFile !== undefined) s.configFile = configFile;
    return s;
  });

  // Pass 2: the jump chains.
  const index = new Map<string, number>();
  data.hosts.forEach((h, i) => {
    if (!index.has(h.name)) index.set(h.name, i);
  });
  const hopOf = (name: string, address: string, s: SshSettings): SshHop => {
    const { via: _via, jump: _jump, ...rest } = s;
    return { name, address, ssh: rest };
  };

  /** The jump list of host i, where it was written, and whether it came from defaults.ssh. */
  const jumpOf = (i: number): { text: string; path: PathSegment[]; from: string } | undefined => {
    const own = explicit(sources[i]!, 'jump');
    if (own !== undefined) {
      const fromDefaults = own.path[0] === 'defaults';
      return {
        text: own.value!,
        path: fromDefaults ? ['hosts', i, 'name'] : own.path,
        from: fromDefaults ? 'defaults.ssh.jump' : 'ssh.jump',
      };
    }
    const proxy = entries[i]!.proxyJump;
    if (proxy !== undefined)
      return { text: proxy, path: ['hosts', i, 'name'], from: `ProxyJump of ${settings[i]!.configFile}` };
    return undefined;
  };

  /** Hops for a jump list, served host settings `served`; `stack` holds what is being reached (loops). */
  const expand = (
    elements: string[],
    served: SshSettings,
    config: SSHConfig | undefined,
    stack: string[],
  ): SshHop[] => {
    const hops: SshHop[] = [];
    for (const [k, element] of elements.entries()) {
      const at = index.get(element);
      if (at !== undefined) {
        if (stack.includes(element)) throw new JumpLoop([...stack, element].join(' -> '));
        if (k === 0) {
          const inner = jumpOf(at);
          if (inner !== undefined) {
            const own = withoutSelf(splitJump(inner.text), element, inner.from);
            hops.push(...expand(own, settings[at]!, configOf[at], [...stack, element]));
          }
        }
        hops.push(hopOf(element, data.hosts[at]!.address, settings[at]!));
        continue;
      }
      const spec = parseJumpSpec(element);
      if (spec === undefined) throw new Error(`${JSON.stringify(element)} is not [user@]host[:port]`);
      const key = spec.host.toLowerCase();
      if (stack.includes(key)) throw new JumpLoop([...stack, key].join(' -> '));
      const entry = config
        ? lookupSshConfig(config, spec.host, ctx, spec.user ?? served.user)
        : ({ identityFiles: [], warnings: [] } as SshConfigEntry);
      const s: SshSettings = {
        user: spec.user ?? entry.user ?? served.user,
        port: spec.port ?? entry.port ?? DEFAULT_SSH.port,
        acceptNewHostKeys: entry.acceptNewHostKeys ?? served.acceptNewHostKeys,
        sudo: false,
        connectTimeoutMs: served.connectTimeoutMs,
      };
      // A gateway's own keys when the ssh config names some, else those of the host it leads to.
      if (entry.identityFiles.length > 0) s.configIdentityFiles = entry.identityFiles;
      else {
        if (served.identityFile !== undefined) s.identityFile = served.identityFile;
        if (served.configIdentityFiles !== undefined) s.configIdentityFiles = served.configIdentityFiles;
      }
      if (served.passphraseFile !== undefined) s.passphraseFile = served.passphraseFile;
      const knownHosts = entry.knownHosts ?? served.knownHosts;
      if (knownHosts !== undefined) s.knownHosts = knownHosts;
      if (entry.hostName !== undefined && entry.hostName !== spec.host) s.hostName = entry.hostName;
      const agent = entry.identityAgent ?? served.identityAgent;
      if (agent !== undefined) s.identityAgent = agent;
      if (served.configFile !== undefined) s.configFile = served.configFile;
      if (k === 0 && entry.proxyJump !== undefined) {
        hops.push(...expand(splitJump(entry.proxyJump), s, config, [...stack, key]));
      }
      hops.push({ name: element, address: spec.host, ssh: s });
    }
    return hops;
  };

  data.hosts.forEach((h, i) => {
    const jump = jumpOf(i);
    if (jump === undefined) return;
    const s = settings[i]!;
    const elements = withoutSelf(splitJump(jump.text), h.name, jump.from);
    if (jump.from === 'ssh.jump' && splitJump(jump.text).includes(h.name)) {
      issues.push({
        path: jump.path,
        message: `expected other hosts to jump through, got ${JSON.stringify(jump.text)}, which names host ${JSON.stringify(h.name)} itself`,
      });
      return;
    }
    if (elements.length === 0) return;
    try {
      const via = expand(elements, s, configOf[i], [h.name]);
      const names = via.map((hop) => hop.name);
      const twice = names.find((n, k) => names.indexOf(n) !== k);
      if (twice !== undefined) throw new JumpLoop(`${[...names, h.name].join(' -> ')} (${twice} twice)`);
      if (via.length > MAX_HOPS) throw new Error(`${via.length} hops (at most ${MAX_HOPS})`);
      s.jump = jump.text;
      s.via = via;
    } catch (err) {
      const what = err instanceof JumpLoop ? `a loop: ${err.message}` : (err as Error).message;
      issues.push({
        path: jump.path,
        message: `expected a chain of jump hosts that ends, got ${JSON.stringify(jump.text)} (${jump.from}), which makes ${what}`,
      });
    }
  });
  return { settings, issues, warnings };
}

/**
 * A host never jumps through itself: when a jump list from defaults.ssh or the ssh config names it, the
 * host is reached through the part of the list before it (the gateway itself is reached directly).
 * Named in the host's own ssh.jump, it is an error (reported by the caller).
 */
function withoutSelf(elements: string[], self: string, from: string): string[] {
  if (from === 'ssh.jump') return elements;
  const at = elements.indexOf(self);
  return at === -1 ? elements : elements.slice(0, at);
}
