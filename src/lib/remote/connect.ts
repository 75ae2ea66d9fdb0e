/**
 * Opening one SSH connection to a host: directly or through its jump hosts, its host key checked against
 * known_hosts at every hop, the keys offered in a deliberate order, and a failure classified into what the
 * user can do about it. The pool (ssh.ts) keeps the connections; this file only makes them.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { type AnyAuthMethod, type AuthHandlerMiddleware, Client, type ConnectConfig } from 'ssh2';
import { errorMessage } from '../errors.js';
import { HostUnreachableError } from './errors.js';
import { type KeyStore, SshKeyError } from './identity.js';
import {
  appendKnownHost,
  keyTypeOfBlob,
  knownHostsName,
  readKnownHosts,
  verifyHostKey,
} from './known-hosts.js';

/** How to reach one SSH server (a host, or a jump host on the way to one). */
export interface SshEndpoint {
  name: string;
  address: string;
  ssh: {
    user: string;
    port: number;
    /** The key hosts.yml names: it must exist. */
    identityFile?: string | undefined;
    /** Keys the ssh config names: tried when hosts.yml names none, skipped when missing. */
    configIdentityFiles?: readonly string[] | undefined;
    /** `none`, `SSH_AUTH_SOCK` or a socket path; default: $SSH_AUTH_SOCK. */
    identityAgent?: string | undefined;
    passphraseFile?: string | undefined;
    knownHosts?: string | undefined;
    acceptNewHostKeys: boolean;
    sudo: boolean;
    connectTimeoutMs: number;
    /** Where to connect when not `address` (the ssh config's HostName). */
    hostName?: string | undefined;
    /** The ssh config file these settings came from, for messages. */
    configFile?: string | undefined;
  };
}

/** What the SSH layer needs to know about a host (a subset of the inventory's Host). */
export interface SshTarget extends SshEndpoint {
  ssh: SshEndpoint['ssh'] & {
    /** Jump hosts, in order: the first is connected directly, each next one through the one before. */
    via?: readonly SshEndpoint[] | undefined;
  };
}

/** The address SSH connects to. */
export function destinationOf(endpoint: SshEndpoint): string {
  return endpoint.ssh.hostName ?? endpoint.address;
}

const KEEPALIVE_MS = 5_000;

export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Connects to a host, through its jump hosts when it has some: each hop is a full SSH connection (its
 * host key verified against its known_hosts like a direct one), and the next one runs over a TCP
 * connection the hop's sshd opens (a direct-tcpip channel, what `ssh -J` does). The hops live as long as
 * the host's connection: they are closed when it closes, and it closes when one of them drops.
 */
export async function openChain(
  target: SshTarget,
  keys: KeyStore,
): Promise<{ client: Client; hostKey: string }> {
  const hops = target.ssh.via ?? [];
  const opened: Client[] = [];
  const closeHops = () => {
    for (const c of [...opened].reverse()) c.end();
  };
  try {
    let sock: Duplex | undefined;
    for (const [k, hop] of hops.entries()) {
      let client: Client;
      try {
        ({ client } = await openConnection(hop, keys, sock));
      } catch (err) {
        if (err instanceof HostUnreachableError) {
          throw new HostUnreachableError(
            target.name,
            err.reason,
            `jump host ${hop.name} of ${target.name}: ${err.message}`,
            err.hint ?? 'run with --verbose',
            err,
          );
        }
        throw err;
      }
      opened.push(client);
      sock = await forwardThrough(client, hop, hops[k + 1] ?? target, target);
    }
    const last = await openConnection(target, keys, sock);
    if (opened.length > 0) {
      last.client.once('close', closeHops);
      for (const c of opened) c.once('close', () => last.client.end());
    }
    return last;
  } catch (err) {
    closeHops();
    throw err;
  }
}

/** A TCP connection from `hop` to the next endpoint's SSH port, for the next connection to run over. */
function forwardThrough(
  client: Client,
  hop: SshEndpoint,
  next: SshEndpoint,
  target: SshTarget,
): Promise<Duplex> {
  const dest = destinationOf(next);
  const { port, connectTimeoutMs } = next.ssh;
  return new Promise<Duplex>((resolve, reject) => {
    let late = false;
    const fail = (why: string, cause?: unknown) =>
      reject(
        new HostUnreachableError(
          target.name,
          'jump',
          `jump host ${hop.name} could not connect to ${next.name} (${dest}:${port}) for ${target.name}: ${why}`,
          `can ${hop.name} reach ${dest}:${port} (try \`ssh -J ${hop.ssh.user}@${destinationOf(hop)}:${hop.ssh.port} ${next.ssh.user}@${dest} -p ${port}\`), and does its sshd allow TCP forwarding (AllowTcpForwarding, and no \`restrict\` on the key)?`,
          cause,
        ),
      );
    const timer = setTimeout(() => {
      late = true;
      fail(`no answer within ${connectTimeoutMs} ms`);
    }, connectTimeoutMs);
    client.forwardOut('127.0.0.1', 0, dest, port, (err, channel) => {
      clearTimeout(timer);
      if (late) channel?.destroy();
      else if (err) fail(errorMessage(err), err);
      else resolve(channel);
    });
  });
}

/** The agent socket to offer keys from, if one is there. */
function agentSocket(endpoint: SshEndpoint): string | undefined {
  const setting = endpoint.ssh.identityAgent;
  if (setting !== undefined && setting.toLowerCase() === 'none') return undefined;
  const socket =
    setting === undefined || setting === 'SSH_AUTH_SOCK' ? process.env['SSH_AUTH_SOCK'] : setting;
  return socket && existsSync(socket) ? socket : undefined;
}

async function openConnection(
  target: SshEndpoint,
  keys: KeyStore,
  sock?: Duplex,
): Promise<{ client: Client; hostKey: string }> {
  const { name } = target;
  const { user, port, identityFile, knownHosts, acceptNewHostKeys, connectTimeoutMs } = target.ssh;
  const address = destinationOf(target);
  const where = `${user}@${address}:${port}`;

  // The files first (a missing key named in hosts.yml is one error for all its hosts, before any
  // connection); their passphrases only when the agent's keys were not accepted.
  const origin = (file: string) =>
    file === identityFile
      ? `ssh.identityFile of host ${name}`
      : `IdentityFile of ${target.ssh.configFile ?? 'the ssh config'}`;
  const files = identityFile !== undefined ? [identityFile] : [...(target.ssh.configIdentityFiles ?? [])];
  const read = (await Promise.all(files.map((f) => keys.read(f, f === identityFile, origin(f))))).filter(
    (r) => r !== undefined,
  );
  const agent = agentSocket(target);

  const knownName = knownHostsName(address, port);
  const known = knownHosts ? await readKnownHosts(knownHosts) : [];
  let keyProblem: { verdict: string; fp: string } | undefined;
  let newKey: Buffer | undefined;
  let seenKey: Buffer | undefined;
  let keyError: unknown;
  const tried: string[] = [];

  // Unencrypted key files first: the key hosts.yml names is meant for these hosts, and an agent holding
  // many keys would otherwise spend sshd's MaxAuthTries (6 by default) before it. Then the agent's keys,
  // then the encrypted files: their passphrase is asked for only when nothing else was accepted.
  const fileMethod = (r: (typeof read)[number]) => async (): Promise<AnyAuthMethod> => {
    tried.push(r.file);
    return {
      type: 'publickey',
      username: user,
      key: await keys.usable(r, target.ssh.passphraseFile, origin(r.file)),
    };
  };
  const methods: (() => Promise<AnyAuthMethod | undefined>)[] = [
    ...read.filter((r) => r.parsed).map(fileMethod),
    ...(agent
      ? [
          async (): Promise<AnyAuthMethod> => {
            tried.push(`the agent (${agent})`);
            return { type: 'agent', username: user, agent };
          },
        ]
      : []),
    ...read.filter((r) => !r.parsed).map(fileMethod),
  ];
  const authHandler: AuthHandlerMiddleware = (_left, _partial, nextAuth) => {
    // ssh2 takes `false` for "no more methods" (its types do not say so).
    const next = nextAuth as (method: AnyAuthMethod | false) => void;
    const method = methods.shift();
    if (!method) {
      next(false);
      return;
    }
    method().then(
      (m) => next(m ?? false),
      (err: unknown) => {
        keyError = err;
        next(false);
      },
    );
  };

  const config: ConnectConfig = {
    ...(sock ? { sock } : { host: address, port }),
    username: user,
    readyTimeout: connectTimeoutMs,
    keepaliveInterval: KEEPALIVE_MS,
    keepaliveCountMax: 3,
    authHandler,
    hostVerifier: (blob: Buffer) => {
      seenKey = blob;
      const verdict = knownHosts ? verifyHostKey(known, knownName, blob) : 'unknown';
      if (verdict === 'known') return true;
      if (verdict === 'unknown' && acceptNewHostKeys) {
        newKey = blob;
        return true;
      }
      keyProblem = { verdict, fp: fingerprint(blob) };
      return false;
    },
  };

  const client = new Client();
  // Errors after the first (e.g. a late "connection lost" once we gave up) must not crash the process;
  // the first one is classified below, and the pool forgets a client that errs later.
  client.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => {
        // Small writes (an agent's commands, its clock answers) go out at once, not after Nagle's wait
        // for the previous segment's ACK (40 ms measured with delayed ACKs on the other side).
        if (!sock) client.setNoDelay(true);
        resolve();
      });
      client.once('error', reject);
      try {
        client.connect(config);
      } catch (err) {
        reject(err);
      }
    });
  } catch (err) {
    client.end();
    // A key that could not be used (encrypted without passphrase, wrong passphrase) is the reason.
    if (keyError instanceof SshKeyError) throw keyError;
    throw classify(target, where, err, keyProblem, tried);
  }
  if (newKey && knownHosts) await appendKnownHost(knownHosts, knownName, newKey);
  const hostKey = seenKey ? `${keyTypeOfBlob(seenKey)} ${seenKey.toString('base64')}` : '';
  return { client, hostKey };
}

function classify(
  target: SshEndpoint,
  where: string,
  err: unknown,
  keyProblem: { verdict: string; fp: string } | undefined,
  tried: readonly string[] = [],
): HostUnreachableError {
  const { name } = target;
  const { knownHosts, connectTimeoutMs, port } = target.ssh;
  const e = err as Error & { code?: string; level?: string };
  const msg = errorMessage(err);
  if (keyProblem) {
    const file = knownHosts ?? '(no known_hosts file set)';
    if (keyProblem.verdict === 'unknown') {
      return new HostUnreachableError(
        name,
        'hostkey-unknown',
        `host key of ${name} (${where}) is not in ${file}: refused (key ${keyProblem.fp})`,
        `check the fingerprint, then add it with \`ssh-keyscan -p ${port} ${target.address} >> ${file}\`, or set ssh.acceptNewHostKeys: true for host ${name} in hosts.yml`,
      );
    }
    return new HostUnreachableError(
      name,
      'hostkey-mismatch',
      `host key of ${name} (${where}) does not match ${file}${keyProblem.verdict === 'revoked' ? ' (the key is revoked)' : ''}: refused (key ${keyProblem.fp})`,
      `if the host was reinstalled, remove its old line from ${file}; otherwise someone may be intercepting the connection`,
    );
  }
  if (e.code === 'ECONNREFUSED') {
    return new HostUnreachableError(
      name,
      'refused',
      `connection to ${name} (${where}) refused`,
      `is sshd running on ${name}, and is ssh.port (${port}) right in hosts.yml?`,
      err,
    );
  }
  if (e.level === 'client-timeout' || e.code === 'ETIMEDOUT' || /timed out/i.test(msg)) {
    return new HostUnreachableError(
      name,
      'timeout',
      `no SSH answer from ${name} (${where}) within ${connectTimeoutMs} ms`,
      `is host ${name} up and its address right in hosts.yml? (raise ssh.connectTimeoutMs for slow links)`,
      err,
    );
  }
  if (e.level === 'client-authentication') {
    return new HostUnreachableError(
      name,
      'auth',
      tried.length === 0
        ? `SSH authentication to ${name} (${where}) failed: no key to offer (no ssh.identityFile, no IdentityFile in an ssh config, no agent)`
        : `SSH authentication to ${name} (${where}) failed: not accepted from ${tried.join(', ')}`,
      `check ssh.user and ssh.identityFile of host ${name} in hosts.yml${target.ssh.configFile ? ` (or User and IdentityFile in ${target.ssh.configFile})` : ''}, and that the public key is in ~${target.ssh.user}/.ssh/authorized_keys there`,
      err,
    );
  }
  if (e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH' || e.code === 'EADDRNOTAVAIL') {
    return new HostUnreachableError(
      name,
      'unreachable',
      `no route to ${name} (${where}): ${e.code}`,
      `is the management network up (for the local lab: \`edgectl lab up\`)?`,
      err,
    );
  }
  if (/privateKey|parse/i.test(msg)) {
    return new HostUnreachableError(
      name,
      'key-file',
      `the SSH key for ${name} cannot be used: ${msg}`,
      `ssh.identityFile must be an unencrypted private key (OpenSSH or PEM format)`,
      err,
    );
  }
  return new HostUnreachableError(
    name,
    'error',
    `SSH to ${name} (${where}) failed: ${msg}`,
    'run with --verbose',
    err,
  );
}
