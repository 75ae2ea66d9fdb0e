/**
 * Deploying a user's service: one container per user, on the chosen server, created through dockerode
 * over SSH from the service definition of hosts.yml, published on the server's data address, waited
 * for until it answers, then recorded as the user's placement. Nothing is left behind on failure.
 */
import { type Duplex, PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { EdgectlError, ExitCode, errorMessage, UsageError } from '../errors.js';
import { appCommand, benchCommand } from '../image/index.js';
import { getHost, getService, getUser, type Host, type Inventory, type Service } from '../inventory/index.js';
import { acquireUserLock, LockBusyError, lockDirOf, type UserLock } from '../lock/index.js';
import { HostUnreachableError, ShellExecutor, type SshPool } from '../remote/index.js';
import type { Placement, StateDb } from '../state/index.js';
import { dockerFor } from './client.js';
import { ensureAppImage, hasImage } from './images.js';
import {
  containerName,
  LABEL,
  NotOwnedError,
  ownedContainer,
  ownerLabels,
  ownerOf,
  removeOwnedContainer,
} from './owner.js';

export { containerName, LABEL, NotOwnedError } from './owner.js';

export class DeployError extends EdgectlError {
  constructor(message: string, hint?: string, cause?: unknown) {
    super('DEPLOY_FAILED', ExitCode.remote, message, { ...(hint ? { hint } : {}), cause });
  }
}

/** A service's image is not on the servers that need it (no registry is used: `edgectl image load` puts it there). */
export class ImageMissingError extends EdgectlError {
  constructor(
    readonly image: string,
    readonly hosts: string[],
  ) {
    super('IMAGE_MISSING', ExitCode.notReady, `the image ${image} is not on ${hosts.join(', ')}`, {
      hint: `edgectl image load ${image} (from this machine's Docker), or edgectl image load FILE (a docker save archive): no registry is used`,
    });
  }
}

export class DockerUnavailableError extends EdgectlError {
  constructor(host: string, cause: unknown) {
    super(
      'DOCKER_UNAVAILABLE',
      ExitCode.remote,
      `the dockerd of ${host} does not answer: ${errorMessage(cause)}`,
      {
        hint: `check it with edgectl hosts check --host ${host} (for the local lab: edgectl lab up restarts it)`,
        cause,
      },
    );
  }
}

/** Where a user's service is published: one host port per user (`users[].port`, by default 20000 + its
 * place in hosts.yml), the same on every server, so two users never clash and a migration keeps the
 * user's endpoint port. */
export function userHostPort(inv: Inventory, userName: string): number {
  return getUser(inv, userName).port;
}

/**
 * The container of a user's service, as dockerode's createContainer takes it (pure). `database`: the
 * instance id of the state database that creates it, its owner (docker/owner.ts).
 */
export function containerSpec(
  inv: Inventory,
  userName: string,
  service: Service,
  host: Host,
  image: string,
  database: string,
): Docker.ContainerCreateOptions {
  const port = `${service.port}/tcp`;
  const env = { ...service.env, PORT: String(service.port) };
  return {
    name: containerName(inv, userName),
    Image: image,
    ...(service.app ? { Cmd: appCommand(service.app) } : {}),
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    ExposedPorts: { [port]: {} },
    Labels: { ...ownerLabels(ownerOf(inv, database, userName)), [LABEL.service]: service.name },
    HostConfig: {
      PortBindings: { [port]: [{ HostIp: host.dataAddress, HostPort: String(userHostPort(inv, userName)) }] },
      ...(service.limits
        ? { NanoCpus: Math.round(service.limits.cpus * 1e9), Memory: service.limits.memMB * 1024 * 1024 }
        : {}),
    },
  };
}

/** Runs a command in a container; its exit code and output. */
export async function execIn(
  container: Docker.Container,
  cmd: string[],
  timeoutMs = 10_000,
): Promise<{ code: number; stdout: string }> {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const out: Buffer[] = [];
  const stdout = new PassThrough();
  stdout.on('data', (d: Buffer) => out.push(d));
  // The stream is multiplexed (stdout and stderr frames); dockerode's modem separates them.
  container.modem.demuxStream(stream, stdout, new PassThrough().resume());
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      stream.destroy();
      resolve();
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    stream.on('end', done);
    stream.on('close', done);
  });
  const info = await exec.inspect();
  return { code: info.ExitCode ?? -1, stdout: Buffer.concat(out).toString('utf8') };
}

/** The status code of an HTTP answer's first line ("HTTP/1.1 200 OK" gives 200), or undefined. */
export function httpStatusOf(head: string): number | undefined {
  const m = /^HTTP\/\d(?:\.\d)? (\d{3})(?: |\r|\n|$)/.exec(head);
  return m ? Number(m[1]) : undefined;
}

/** `GET path` as an HTTP/1.0 request with Host and Connection: close. */
export function httpGetRequest(path: string, host: string): string {
  return `GET ${path} HTTP/1.0\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
}

/**
 * Asks a service in a container the way its probe does, from its server (the server's sshd opens the
 * connection to the container's bridge address): tcp, a connection accepted; http, a 2xx answer.
 * What went wrong otherwise, in words.
 */
async function answersFromHost(
  via: { pool: SshPool; host: Host },
  address: string,
  port: number,
  probe: Service['probe'],
  timeoutMs: number,
): Promise<string | undefined> {
  let stream: Duplex;
  try {
    stream = await via.pool.forwardOut(via.host, address, port, timeoutMs);
  } catch (err) {
    return `no connection to ${address}:${port} (${errorMessage(err)})`;
  }
  if (probe.kind !== 'http') {
    stream.destroy();
    return undefined;
  }
  return new Promise((resolve) => {
    let head = '';
    const done = (problem: string | undefined) => {
      clearTimeout(timer);
      stream.destroy();
      resolve(problem);
    };
    const timer = setTimeout(() => done(`no answer to GET ${probe.path} within ${timeoutMs} ms`), timeoutMs);
    stream.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\n')) return;
      const code = httpStatusOf(head);
      done(
        code !== undefined && code >= 200 && code < 300
          ? undefined
          : `GET ${probe.path} answered ${head.split(/\r?\n/)[0]}`,
      );
    });
    stream.once('error', (err: Error) => done(`GET ${probe.path}: ${errorMessage(err)}`));
    stream.once('close', () => done(`GET ${probe.path}: the connection closed without an answer`));
    stream.write(httpGetRequest(probe.path, address));
  });
}

/**
 * Waits until a service answers. A bundled app: a ping from inside its container (so no network path is
 * assumed). Another image: its probe (tcp or http), from its server to the container's own address
 * (`via`); with `probe: none`, or without `via`, running is all that can be told.
 */
export async function waitUntilAnswers(
  container: Docker.Container,
  service: Service,
  timeoutMs: number,
  via?: { pool: SshPool; host: Host },
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const info = await container.inspect();
    if (!info.State.Running) {
      const logs = (await container.logs({ stdout: true, stderr: true, tail: 5 })).toString('utf8');
      throw new DeployError(
        `the ${service.name} container exited (code ${info.State.ExitCode}): ${logs.trim()}`,
      );
    }
    if (!service.app) {
      if (service.probe.kind === 'none' || !via) return;
      const address = containerAddress(info);
      if (!address) return; // not on a bridge network: nothing to ask from the server
      const problem = await answersFromHost(via, address, service.port, service.probe, 2_000);
      if (problem === undefined) return;
      last = problem;
      await new Promise((res) => setTimeout(res, 100));
      continue;
    }
    // One exec that retries by itself until the service answers: each exec takes a connection of its
    // own to the daemon (Docker hijacks it), which over SSH is a new session, login shell included.
    const waitMs = Math.max(1_000, Math.min(10_000, deadline - Date.now()));
    const r = await execIn(
      container,
      [
        appCommand(service.app)[0]!,
        '/apps/client.mjs',
        '--address',
        '127.0.0.1',
        '--port',
        String(service.port),
        '--ping',
        '--timeout-ms',
        String(waitMs),
        '--connect-timeout-ms',
        '1000',
        '--retries',
        '100000',
      ],
      waitMs + 5_000,
    );
    if (r.code === 0) return;
    last = r.stdout.trim();
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new DeployError(
    `the ${service.name} service did not answer within ${timeoutMs / 1000} s${last ? `: ${last}` : ''}`,
  );
}

/** A container's address on its first network with one (the bridge). */
export function containerAddress(info: Docker.ContainerInspectInfo): string | undefined {
  const nets = Object.values(info.NetworkSettings.Networks ?? {});
  return nets.find((n) => n.IPAddress)?.IPAddress || undefined;
}

export interface DeployRequest {
  user: string;
  service: string;
  host: string;
  /** How long to wait for the service to answer. */
  readyTimeoutMs?: number;
}

export interface DeployResult {
  user: string;
  service: string;
  container: string;
  containerId: string;
  host: string;
  endpoint: { address: string; port: number };
  /** true when the service already ran there for this user (nothing was created). */
  already: boolean;
  ms: number;
}

function toResult(p: Placement, already: boolean, ms: number): DeployResult {
  return {
    user: p.user,
    service: p.service,
    container: p.container,
    containerId: p.containerId,
    host: p.host,
    endpoint: { address: p.address, port: p.port },
    already,
    ms,
  };
}

export async function reachDocker(pool: SshPool, host: Host): Promise<Docker> {
  const docker = dockerFor(pool, host);
  try {
    await docker.ping();
  } catch (err) {
    throw new DockerUnavailableError(host.name, err);
  }
  return docker;
}

function hostPort(info: Docker.ContainerInspectInfo, port: number): number {
  const binding = info.NetworkSettings.Ports?.[`${port}/tcp`]?.[0];
  const value = Number(binding?.HostPort);
  if (!Number.isInteger(value) || value <= 0)
    throw new DeployError(`no host port was published for ${port}/tcp`);
  return value;
}

/** Whether a recorded placement's container still runs: 'running', or what is wrong, in words. */
async function placementState(inv: Inventory, pool: SshPool, p: Placement): Promise<string> {
  try {
    const docker = await reachDocker(pool, getHost(inv, p.host));
    const info = await docker
      .getContainer(p.containerId)
      .inspect()
      .catch(() => undefined);
    if (!info) return `its container is gone from ${p.host}`;
    return info.State.Running ? 'running' : `its container is not running there (${info.State.Status})`;
  } catch (err) {
    return `${p.host}'s dockerd cannot be reached (${errorMessage(err)})`;
  }
}

/**
 * The user's lock (controller and server: lock/) taken while `work` runs, the server's half through a
 * shell there whose session starts beside `alongside` (so that it costs no time of its own).
 */
async function underLock<T, A>(
  pool: SshPool,
  lock: UserLock,
  host: Host,
  alongside: () => Promise<A>,
  work: (a: A) => Promise<T>,
): Promise<T> {
  const shell = new ShellExecutor(pool, host);
  try {
    const [locked, got] = await Promise.allSettled([lock.onHost(shell), alongside()]);
    if (locked.status === 'rejected') throw locked.reason;
    if (got.status === 'rejected') throw got.reason;
    return await work(got.value);
  } finally {
    await lock.release();
    await shell.close();
  }
}

export async function deploy(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  req: DeployRequest,
): Promise<DeployResult> {
  const started = performance.now();
  const user = getUser(inv, req.user);
  const service = getService(inv, req.service);
  const host = getHost(inv, req.host);
  if (!host.isServer) {
    throw new UsageError(
      `${host.name} is ${host.role === 'ap' ? 'an' : 'a'} ${host.role} host: services run on cloud and edge hosts`,
    );
  }
  const owner = ownerOf(inv, state.instanceId, user.name);
  const lock = await acquireUserLock({ lockDir: lockDirOf(state), testbed: inv.testbed, user: user.name });
  let existing: Placement | undefined;
  try {
    existing = state.placements.get(user.name);
    if (existing && (existing.host !== host.name || existing.service !== service.name)) {
      const where = await placementState(inv, pool, existing);
      if (where === 'running') {
        throw new UsageError(`${user.name}'s service ${existing.service} already runs on ${existing.host}`, {
          hint: `edgectl migrate --user ${user.name} --to ${host.name}, or edgectl undeploy --user ${user.name} first`,
        });
      }
      throw new UsageError(
        `${user.name}'s service ${existing.service} is recorded on ${existing.host}, but ${where}`,
        {
          hint: where.includes('cannot be reached')
            ? `bring ${existing.host} back (the local lab: edgectl lab up) and edgectl undeploy --user ${user.name}, or edgectl undeploy --user ${user.name} --forget if it is gone for good`
            : `edgectl undeploy --user ${user.name} forgets it (and removes what is left there), then deploy again`,
        },
      );
    }
  } catch (err) {
    await lock.release();
    throw err;
  }
  const name = containerName(inv, user.name);
  return underLock(
    pool,
    lock,
    host,
    () => reachDocker(pool, host),
    async (docker) => {
      const recorded = existing?.containerId;
      if (existing && recorded) {
        const info = await docker
          .getContainer(recorded)
          .inspect()
          .catch(() => undefined);
        if (info?.State.Running) return toResult(existing, true, performance.now() - started);
      }
      // Whatever holds the user's name there must be this database's own, or nothing changes at all.
      await ownedContainer(docker, name, owner, { host: host.name, recordedId: recorded });

      // The image first: a missing one fails the deploy before anything on the server changes.
      let image: string;
      if (service.app) {
        image = (await ensureAppImage(inv, pool, { hosts: [host] })).name;
      } else {
        image = service.image;
        if (!(await hasImage(docker, image))) throw new ImageMissingError(image, [host.name]);
      }
      // Leftovers of this user, proven ours: the recorded container (stopped) and one holding its name.
      if (recorded)
        await removeOwnedContainer(docker, recorded, owner, { host: host.name, recordedId: recorded });
      await removeOwnedContainer(docker, name, owner, { host: host.name, recordedId: recorded });

      const created = await docker.createContainer(
        containerSpec(inv, user.name, service, host, image, state.instanceId),
      );
      try {
        await created.start();
        await waitUntilAnswers(created, service, req.readyTimeoutMs ?? 30_000, { pool, host });
        const info = await created.inspect();
        const placement: Placement = {
          user: user.name,
          service: service.name,
          host: host.name,
          container: name,
          containerId: info.Id,
          address: host.dataAddress,
          port: hostPort(info, service.port),
          sinceMs: Date.now(),
        };
        state.placements.set(placement, 'deployed');
        return toResult(placement, false, performance.now() - started);
      } catch (err) {
        await created.remove({ force: true }).catch(() => {});
        if (err instanceof EdgectlError) throw err;
        throw new DeployError(
          `deploying ${service.name} for ${user.name} on ${host.name}: ${errorMessage(err)}`,
          undefined,
          err,
        );
      }
    },
  );
}

export interface UndeployResult {
  user: string;
  host: string | null;
  container: string | null;
  /** The placement record is gone. */
  removed: boolean;
  /** Why the container could not be removed (only with `forget`: the record went anyway). */
  left?: string;
}

/**
 * Removes a user's container (the one its placement record names, by id: proven ours) and the record,
 * holding the user's lock. `forget`: drop the record even when the container cannot be removed (its
 * server is gone, or the container turned out to be another database's), saying what was left behind.
 */
export async function undeploy(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  userName: string,
  options: { forget?: boolean } = {},
): Promise<UndeployResult> {
  const user = getUser(inv, userName);
  const owner = ownerOf(inv, state.instanceId, user.name);
  const lock = await acquireUserLock({ lockDir: lockDirOf(state), testbed: inv.testbed, user: user.name });
  const placement = state.placements.get(user.name);
  if (!placement) {
    await lock.release();
    return { user: user.name, host: null, container: null, removed: false };
  }
  let left: string | undefined;
  let shell: ShellExecutor | undefined;
  try {
    const host = getHost(inv, placement.host);
    shell = new ShellExecutor(pool, host);
    const [locked, docker] = await Promise.allSettled([lock.onHost(shell), reachDocker(pool, host)]);
    // A server that cannot be reached cannot be locked either: with --forget, that is no reason to stop.
    if (locked.status === 'rejected' && !(locked.reason instanceof HostUnreachableError)) throw locked.reason;
    if (docker.status === 'rejected') throw docker.reason;
    if (locked.status === 'rejected') throw locked.reason;
    await removeOwnedContainer(docker.value, placement.containerId, owner, {
      host: placement.host,
      recordedId: placement.containerId,
    });
  } catch (err) {
    // Another edgectl at work on this user: never a reason to forget its record.
    if (!options.forget || err instanceof LockBusyError) {
      await lock.release();
      await shell?.close();
      if (err instanceof LockBusyError || err instanceof NotOwnedError) throw err;
      const forget = `or add --forget to drop the record anyway (if ${placement.host} is gone for good)`;
      if (err instanceof EdgectlError) {
        throw new EdgectlError(err.code, err.exitCode, err.message, {
          hint: err.hint ? `${err.hint}; ${forget}` : `bring ${placement.host} back, ${forget}`,
          cause: err,
        });
      }
      throw new DeployError(
        `cannot remove ${placement.container} from ${placement.host}: ${errorMessage(err)}`,
        `bring ${placement.host} back, ${forget}`,
        err,
      );
    }
    left = `the container ${placement.container} may still be on ${placement.host}: ${errorMessage(err)}`;
  }
  try {
    state.placements.remove(user.name, Date.now());
  } finally {
    await lock.release();
    await shell?.close();
  }
  return {
    user: user.name,
    host: placement.host,
    container: placement.container,
    removed: true,
    ...(left ? { left } : {}),
  };
}

/** The CPU score C_s of a server: the bundled benchmark, run once in a throw-away container there. */
export async function measureCpuScore(inv: Inventory, pool: SshPool, host: Host, ms = 1000): Promise<number> {
  const docker = await reachDocker(pool, host);
  const image = (await ensureAppImage(inv, pool, { hosts: [host] })).name;
  const container = await docker.createContainer({
    Image: image,
    Cmd: benchCommand(ms),
    Labels: { [LABEL.testbed]: inv.testbed },
  });
  try {
    await container.start();
    await container.wait();
    const logs = (await container.logs({ stdout: true, stderr: false })).toString('utf8');
    const line = logs.split('\n').find((l) => l.includes('"score"')) ?? '';
    const score = Number((JSON.parse(line.slice(line.indexOf('{'))) as { score?: number }).score);
    if (!Number.isFinite(score) || score <= 0)
      throw new DeployError(`the benchmark on ${host.name} gave no score: ${logs.trim()}`);
    return score;
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}
