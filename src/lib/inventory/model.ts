/**
 * The resolved inventory: what hosts.yml describes, with every default applied and every path made
 * absolute, plus pure helpers over the topology (lookups, neighbours, routes, radio addressing).
 */
import { InventoryLookupError } from './errors.js';
import type { RadioAddressing } from './net.js';
import type { BUNDLED_APPS, InventoryFile, LabFile, RADIO_STANDARDS, ROLES } from './schema.js';

export type Role = (typeof ROLES)[number];
export type ServerRole = 'cloud' | 'edge';
export type BundledApp = (typeof BUNDLED_APPS)[number];
export type RadioStandard = (typeof RADIO_STANDARDS)[number];
/** A position in metres. */
export type Point = [x: number, y: number];

/** Where an entity is defined in the hosts file (1-based), for messages like "see hosts.yml:14". */
export interface SourcePos {
  line: number;
  column: number;
}

export interface SshSettings {
  user: string;
  port: number;
  /** Absolute path of the private key, or undefined to use the SSH agent / ssh2 defaults. */
  identityFile?: string;
  /** Absolute path of the known_hosts file, or undefined for none (host keys then cannot be verified). */
  knownHosts?: string;
  /** Trust and record a host key seen for the first time (like StrictHostKeyChecking=accept-new). */
  acceptNewHostKeys: boolean;
  /** Run privileged commands through `sudo -n` (for a non-root user). */
  sudo: boolean;
  connectTimeoutMs: number;
  /** Where SSH connects when the ssh config's HostName says otherwise than `address`. */
  hostName?: string;
  /**
   * Keys the ssh config names (IdentityFile), tried after the agent when hosts.yml names no identityFile;
   * a missing one is skipped, as ssh does.
   */
  configIdentityFiles?: string[];
  /** The ssh config's IdentityAgent: `none`, or a socket path (default: $SSH_AUTH_SOCK). */
  identityAgent?: string;
  /** Absolute path of a file holding the passphrase of an encrypted identityFile. */
  passphraseFile?: string;
  /** The jump list as written (hosts.yml's `jump` or the ssh config's ProxyJump). */
  jump?: string;
  /** The hops to go through, in order (the first is connected directly); absent: a direct connection. */
  via?: SshHop[];
  /** The ssh config file that was read for this host (absent: none). */
  configFile?: string;
}

/** A jump host: another host of hosts.yml, or a `[user@]host[:port]` spec (then `name` is the spec). */
export interface SshHop {
  name: string;
  address: string;
  ssh: Omit<SshSettings, 'via' | 'jump'>;
}

export interface Capacity {
  cpus: number;
  memMB: number;
}

export interface Host {
  name: string;
  role: Role;
  /** SSH / management IPv4 address. */
  address: string;
  /** IPv4 address on the data network (the management address when not given). */
  dataAddress: string;
  ssh: SshSettings;
  /** Always set for servers (cloud and edge hosts). */
  capacity?: Capacity;
  position?: Point;
  /** Where edgectl is installed on the host; undefined means `edgectl` on the PATH. */
  edgectlPath?: string;
  /** cloud or edge: can run offloaded services. */
  isServer: boolean;
  at: SourcePos;
}

export interface PathLoss {
  /** n in RSSI = -(10 n log10 d + A). */
  exponent: number;
  /** A in RSSI = -(10 n log10 d + A), dB. */
  referenceLossDb: number;
  /** Below this RSSI a user cannot decode the base station's signal. */
  minRssiDbm: number;
  /** Log-normal shadowing added to the log-distance RSSI; absent: the log-distance model alone. */
  shadowing?: Shadowing;
}

/**
 * Log-normal shadowing: a zero-mean Gaussian in dB with standard deviation sigmaDb, a deterministic function
 * of (seed, base station, position) that is spatially correlated over correlationM (src/lib/mobility/shadowing.ts).
 */
export interface Shadowing {
  sigmaDb: number;
  /** Metres over which the shadowing stays correlated (the spacing of its grid). */
  correlationM: number;
  seed: number;
}

export interface Basestation {
  name: string;
  /** The ap host running this base station. */
  host: string;
  /** The server (cloud or edge host) co-located with it, if any. */
  server?: string;
  position: Point;
  radioSubnet: string;
  /** Addressing derived from radioSubnet: AP = first host address, user host = second. */
  radio: RadioAddressing;
  standard: RadioStandard;
  maxUsers: number;
  pathLoss: PathLoss;
  at: SourcePos;
}

export interface Link {
  between: [a: string, b: string];
  /** tc notation, unit lower-cased: "100mbit". */
  bandwidth: string;
  bandwidthBps: number;
  /** One-way latency as written: "50ms". */
  latency: string;
  /** One-way latency in milliseconds. */
  latencyMs: number;
  at: SourcePos;
}

export interface RoundtripTrajectory {
  type: 'roundtrip';
  from: Point;
  to: Point;
  /** Metres per second. */
  speed: number;
}
/** A path through points at constant speed, pausing at each point it reaches. */
export interface WaypointsTrajectory {
  type: 'waypoints';
  /** At least two; the walk starts at the first. */
  points: Point[];
  /** Metres per second. */
  speed: number;
  /** Seconds of rest at each point reached (not at the start). */
  pauseS: number;
  /** After the last point walk back to the first and start over; false: stay at the last point. */
  loop: boolean;
}

/** A number, or a range [min, max] drawn from uniformly. */
export type NumberRange = number | [min: number, max: number];

/** The random waypoint model: to a uniform random point of the area, at a random speed, a random pause, again. */
export interface RandomWaypointTrajectory {
  type: 'random-waypoint';
  area: { from: Point; to: Point };
  /** Metres per second, each leg's drawn from the range. */
  speed: NumberRange;
  /** Seconds of rest at each point reached, drawn from the range. */
  pauseS: NumberRange;
  /** The same seed gives the same walk, in the controller, the agent and the planner alike. */
  seed: number;
  /** Where the walk starts (default: a first random point of the area). */
  start?: Point;
}

/** Positions replayed from a CSV file (time,user,x,y), linear between rows. */
export interface TraceTrajectory {
  type: 'trace';
  /** The CSV file, absolute (it was read when hosts.yml was loaded: the points below travel, not the path). */
  file: string;
  /** The user's name in the file. */
  user: string;
  /** After the last row start over from the first; false: stay at the last position. */
  loop: boolean;
  /** At least one row, time in seconds non-decreasing. */
  points: { t: number; x: number; y: number }[];
}

export type Trajectory =
  | RoundtripTrajectory
  | WaypointsTrajectory
  | RandomWaypointTrajectory
  | TraceTrajectory;

export interface Task {
  /** Payload bytes of a task (not used when the user sends frames). */
  sizeBytes: number;
  ratePerSec: number;
  /**
   * As written: "samples" or a directory on the user's machine, made absolute against hosts.yml's directory.
   * Unset: seeded bytes, except for a face or detect service (see taskFrames in src/lib/mu/frames.ts).
   */
  frames?: string;
  /** The long side of a frame after scaling (pixels; a smaller frame is not upscaled). */
  frameWidth: number;
  /** JPEG quality of the re-encoded frames (1..100). */
  frameQuality: number;
}

export interface User {
  name: string;
  /** The mu host that runs this user's agent. */
  host: string;
  service: string;
  trajectory: Trajectory;
  task: Task;
  startBasestation?: string;
  /**
   * The user's own source address on its mu host (in userSubnet; by default user k gets address 10 + k).
   * Its traffic is marked by this address and routed through the user's current base station.
   */
  address: string;
  /** The host port the user's service is published on, the same on every server (default 20000 + k). */
  port: number;
  at: SourcePos;
}

/** Where user k's service is published unless hosts.yml says otherwise. */
export const DEFAULT_USER_PORT_BASE = 20000;

export interface Limits {
  cpus: number;
  memMB: number;
}

/** How a migration measures the downtime the user sees: a request the service must answer. */
export type ServiceProbe =
  | { kind: 'edgectl' }
  | { kind: 'tcp' }
  | { kind: 'http'; path: string }
  | { kind: 'none' };

/** A probe as hosts.yml writes it ("edgectl", "tcp", "http:/PATH", "none"), already checked by the schema. */
export function parseProbe(text: string): ServiceProbe {
  if (text.startsWith('http:')) return { kind: 'http', path: text.slice('http:'.length) };
  if (text === 'edgectl' || text === 'tcp' || text === 'none') return { kind: text };
  throw new Error(`not a probe: ${text}`);
}

/** How hosts.yml writes a probe. */
export function probeText(probe: ServiceProbe): string {
  return probe.kind === 'http' ? `http:${probe.path}` : probe.kind;
}

/**
 * How an experiment's users send tasks to a service: edgectl's task protocol (apps/PROTOCOL.md), a POST of
 * the task's bytes to a path, or plain TCP echo. null: hosts.yml did not say and nothing could be derived.
 */
export type ServiceOffload = { kind: 'edgectl' } | { kind: 'http'; path: string } | { kind: 'echo' };

/** An offload mode as hosts.yml writes it ("edgectl", "http:/PATH", "echo"), already checked by the schema. */
export function parseOffload(text: string): ServiceOffload {
  if (text.startsWith('http:')) return { kind: 'http', path: text.slice('http:'.length) };
  if (text === 'edgectl' || text === 'echo') return { kind: text };
  throw new Error(`not an offload mode: ${text}`);
}

/** How hosts.yml writes an offload mode. */
export function offloadText(offload: ServiceOffload): string {
  return offload.kind === 'http' ? `http:${offload.path}` : offload.kind;
}

/**
 * The offload mode a service has when hosts.yml gives none: edgectl for a bundled app or a probe that
 * speaks edgectl's protocol, the probe's own path for an http probe; null otherwise (a tcp or no probe
 * says nothing of what the service answers).
 */
export function defaultOffload(app: boolean, probe: ServiceProbe): ServiceOffload | null {
  if (app || probe.kind === 'edgectl') return { kind: 'edgectl' };
  if (probe.kind === 'http') return { kind: 'http', path: probe.path };
  return null;
}

interface ServiceBase {
  name: string;
  port: number;
  env: Record<string, string>;
  limits?: Limits;
  /** Default: edgectl for bundled apps, tcp for images. */
  probe: ServiceProbe;
  /** How an experiment's users send tasks (hosts.yml's offload, else defaultOffload; null: none known). */
  offload: ServiceOffload | null;
  /** Run in the container before and after a migration: its output must be the same (argv). */
  stateCheck?: string[];
  at: SourcePos;
}
/** A service is either a bundled app or a Docker image, never both. */
export type Service = ServiceBase &
  ({ app: BundledApp; image?: undefined } | { image: string; app?: undefined });

export interface Inventory {
  /** The hosts file as given (for messages). */
  file: string;
  /** Its absolute path. */
  path: string;
  /** Its absolute directory: relative paths in the file are resolved against it. */
  dir: string;
  testbed: string;
  hosts: Host[];
  basestations: Basestation[];
  links: Link[];
  users: User[];
  services: Service[];
  /** The block the users' source addresses come from. */
  userSubnet: string;
  /** Settings of the local emulated lab, as written (see src/lib/lab/plan.ts for the derived plan). */
  lab?: LabFile;
  /** The validated file as written (schema defaults filled, paths not resolved). */
  raw: InventoryFile;
  /** What loading it did not follow (an ssh config's Include or Match exec), for the command to show. */
  warnings?: string[];
}

export function isServerRole(role: Role): role is ServerRole {
  return role === 'cloud' || role === 'edge';
}

function lookup<T extends { name: string }>(
  inv: Inventory,
  items: T[],
  kind: 'host' | 'basestation' | 'user' | 'service',
  name: string,
): T {
  const found = items.find((item) => item.name === name);
  if (found) return found;
  throw new InventoryLookupError(
    kind,
    name,
    items.map((item) => item.name),
    inv.file,
  );
}

/** The host called `name`; throws InventoryLookupError (code UNKNOWN_HOST) listing the known names. */
export function getHost(inv: Inventory, name: string): Host {
  return lookup(inv, inv.hosts, 'host', name);
}

export function getBasestation(inv: Inventory, name: string): Basestation {
  return lookup(inv, inv.basestations, 'basestation', name);
}

export function getUser(inv: Inventory, name: string): User {
  return lookup(inv, inv.users, 'user', name);
}

export function getService(inv: Inventory, name: string): Service {
  return lookup(inv, inv.services, 'service', name);
}

export function findHost(inv: Inventory, name: string): Host | undefined {
  return inv.hosts.find((host) => host.name === name);
}

/** Hosts of the given roles, in file order. */
export function hostsByRole(inv: Inventory, ...roles: Role[]): Host[] {
  return inv.hosts.filter((host) => roles.includes(host.role));
}

/** The servers (cloud and edge hosts), in file order. */
export function serverHosts(inv: Inventory): Host[] {
  return inv.hosts.filter((host) => host.isServer);
}

/** The link between two hosts, in either order. */
export function linkBetween(inv: Inventory, a: string, b: string): Link | undefined {
  return inv.links.find(
    (link) =>
      (link.between[0] === a && link.between[1] === b) || (link.between[0] === b && link.between[1] === a),
  );
}

/** The links touching a host. */
export function linksOf(inv: Inventory, host: string): Link[] {
  return inv.links.filter((link) => link.between[0] === host || link.between[1] === host);
}

/** The other end of a link, seen from `host`. */
export function otherEnd(link: Link, host: string): string {
  return link.between[0] === host ? link.between[1] : link.between[0];
}

/** Hosts sharing a link with `host`, in file order of the hosts. */
export function neighbours(inv: Inventory, host: string): Host[] {
  const names = new Set(linksOf(inv, host).map((link) => otherEnd(link, host)));
  return inv.hosts.filter((h) => names.has(h.name));
}

/**
 * Base stations of the inventory; with `host`, only those run by that ap host or co-located with
 * that server.
 */
export function basestationsOf(inv: Inventory, host?: string): Basestation[] {
  if (host === undefined) return [...inv.basestations];
  return inv.basestations.filter((bs) => bs.host === host || bs.server === host);
}

/** The server co-located with a base station, if it has one. */
export function colocatedServer(inv: Inventory, basestation: string): Host | undefined {
  const bs = getBasestation(inv, basestation);
  return bs.server === undefined ? undefined : findHost(inv, bs.server);
}

/** Users whose agent runs on `host`. */
export function usersOn(inv: Inventory, host: string): User[] {
  return inv.users.filter((user) => user.host === host);
}

/** Users of a service. */
export function usersOf(inv: Inventory, service: string): User[] {
  return inv.users.filter((user) => user.service === service);
}

export interface Route {
  /** Host names from source to destination, both included. */
  hosts: string[];
  links: Link[];
  /** Sum of the one-way latencies. */
  latencyMs: number;
  /** Twice latencyMs. */
  rttMs: number;
  /** Bottleneck bandwidth: the smallest along the route (Infinity for a host to itself). */
  bandwidthBps: number;
}

/**
 * The lowest-latency route between two hosts over the wired links (fewest hops on a tie), or
 * undefined if they are not connected. Throws for an unknown host.
 */
export function route(inv: Inventory, from: string, to: string): Route | undefined {
  getHost(inv, from);
  getHost(inv, to);
  const best = new Map<string, { latencyMs: number; hops: number; via?: Link }>([
    [from, { latencyMs: 0, hops: 0 }],
  ]);
  const done = new Set<string>();
  for (;;) {
    let current: string | undefined;
    let currentCost: { latencyMs: number; hops: number } | undefined;
    for (const [name, cost] of best) {
      if (done.has(name)) continue;
      if (
        currentCost === undefined ||
        cost.latencyMs < currentCost.latencyMs ||
        (cost.latencyMs === currentCost.latencyMs && cost.hops < currentCost.hops)
      ) {
        current = name;
        currentCost = cost;
      }
    }
    if (current === undefined || currentCost === undefined) return undefined;
    if (current === to) break;
    done.add(current);
    for (const link of linksOf(inv, current)) {
      const next = otherEnd(link, current);
      if (done.has(next)) continue;
      const cost = {
        latencyMs: currentCost.latencyMs + link.latencyMs,
        hops: currentCost.hops + 1,
        via: link,
      };
      const known = best.get(next);
      if (
        known === undefined ||
        cost.latencyMs < known.latencyMs ||
        (cost.latencyMs === known.latencyMs && cost.hops < known.hops)
      ) {
        best.set(next, cost);
      }
    }
  }
  const hosts = [to];
  const links: Link[] = [];
  let at = to;
  for (let step = best.get(at); step?.via !== undefined; step = best.get(at)) {
    links.unshift(step.via);
    at = otherEnd(step.via, at);
    hosts.unshift(at);
  }
  const latencyMs = links.reduce((sum, link) => sum + link.latencyMs, 0);
  return {
    hosts,
    links,
    latencyMs,
    rttMs: 2 * latencyMs,
    bandwidthBps: links.reduce((min, link) => Math.min(min, link.bandwidthBps), Number.POSITIVE_INFINITY),
  };
}
