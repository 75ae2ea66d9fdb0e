/**
 * Live migration of a user's service container between servers, through Docker's checkpoint (CRIU).
 *
 * delta (the default): while the container runs, checkpoint it (pre-checkpoint) and push that image
 * straight from the source to the destination (pre-transfer); later, at the chosen instant, checkpoint
 * it again (the container stops: downtime begins), compute at the source the difference against the
 * pre-migration images, send only that, rebuild the images at the destination (patch), restore there,
 * check that the service answers, and only then remove the source. full: one checkpoint, everything
 * sent during the downtime. The container's writable layer (files the app wrote) moves with the images.
 *
 * A failure after the final checkpoint restores the container on the source from that checkpoint (its
 * state intact); nothing on the source is deleted before the destination has answered.
 */
import type Docker from 'dockerode';
import { deleteCheckpoint, startFromCheckpoint, upperDir } from '../docker/checkpoint.js';
import { containerName, containerSpec, execIn, reachDocker, waitUntilAnswers } from '../docker/deploy.js';
import { copyImage, ensureAppImage } from '../docker/images.js';
import { ownerOf, removeOwnedContainer } from '../docker/owner.js';
import {
  EdgectlError,
  ExitCode,
  errorMessage,
  InterruptedError,
  throwIfInterrupted,
  UsageError,
} from '../errors.js';
import { pagesProbe, probeArgv } from '../hosts/probes.js';
import {
  getHost,
  getService,
  getUser,
  type Host,
  type Inventory,
  type Service,
  type User,
} from '../inventory/index.js';
import { acquireUserLock, lockDirOf } from '../lock/index.js';
import {
  type ActiveProbe,
  type ProbeResult,
  probeAttemptTimeoutMs,
  type RunningProbe,
  startRemoteProbe,
} from '../mu/probe.js';
import { type DirectedLatency, pathLatency } from '../provision/latency.js';
import { trustDirOnHost } from '../provision/plan.js';
import { type RunResult, runChecked, ShellExecutor, type SshPool, shellJoin } from '../remote/index.js';
import type { Placement, StateDb } from '../state/index.js';
import { type Checkpointer, findRunc, takeSnapshot } from './checkpointer.js';
import {
  channelReadyArgv,
  checkpointDir,
  closeChannelArgv,
  closeMasterArgv,
  criuRestoreSecondsArgv,
  deltaArgv,
  manifestArgv,
  migrationKey,
  openChannelArgv,
  pagesDiffArgv,
  pagesPatchArgv,
  parseSeconds,
  patchArgv,
  placeCheckpointArgv,
  placeSnapshotArgv,
  primeNeighbourArgv,
  type RsyncTarget,
  type RuncRuntime,
  removeDirArgv,
  rsyncBatchArgv,
  rsyncPatchArgv,
  runcKillFrozenArgv,
  runcResumeArgv,
  sendArgv,
  stagingDir,
} from './commands.js';
import { PAGES_BIN, pagesSourceVersion } from './pages-source.js';

export type Strategy = 'delta' | 'full';
/** The data channels from the source to the destination: the pre-migration image's, the downtime's. */
const CHANNELS = ['pre', 'final'] as const;
type ChannelName = (typeof CHANNELS)[number];
export const STRATEGIES: readonly Strategy[] = ['delta', 'full'];
/**
 * How the difference between the two checkpoints is computed (delta phase, at the source, against its own
 * copy of the pre-migration image, which the destination's copy matches file for file), sent (transfer,
 * through the data channel opened before the downtime) and applied (patch, at the destination).
 * pages: edgectl-pages (native/edgectl-pages.c): every 4 KiB block looked up by content among all the
 * earlier image's blocks wherever they moved, a changed block sent as its changed bytes against its
 * likely earlier version; a tenth of rsync's time during the downtime.
 * rsync: rsync's block delta as a batch file (`--only-write-batch`, applied with `--read-batch`).
 * xdelta3: each changed image file encoded with xdelta3: the smallest delta, and the slowest.
 */
export const CODECS = ['pages', 'xdelta3', 'rsync'] as const;
export type Codec = (typeof CODECS)[number];
/** Chosen by measurement (`npm run bench:migrate`, README). */
export const DEFAULT_CODEC: Codec = 'pages';

export type PhaseName =
  | 'prepare'
  | 'pre-checkpoint'
  | 'pre-transfer'
  | 'checkpoint'
  | 'delta'
  | 'transfer'
  | 'patch'
  | 'restore'
  | 'verify'
  | 'cleanup'
  | 'rollback';

/** The phases of a migration, in order (the same for both codecs). */
export function phasesOf(strategy: Strategy): PhaseName[] {
  if (strategy === 'full') return ['prepare', 'checkpoint', 'transfer', 'restore', 'verify', 'cleanup'];
  return [
    'prepare',
    'pre-checkpoint',
    'pre-transfer',
    'checkpoint',
    'delta',
    'transfer',
    'patch',
    'restore',
    'verify',
    'cleanup',
  ];
}

export interface Phase {
  name: PhaseName;
  /** From the start of the migration (ms). */
  startMs: number;
  durationMs: number;
  /** Bytes the phase produced or moved (null where none). */
  bytes: number | null;
  /** Where a phase's time went, for the phases that wrap Docker's own work (checkpoint, restore). */
  parts?: Record<string, number>;
}

export interface PhaseEvent extends Partial<Phase> {
  name: PhaseName;
  status: 'start' | 'end' | 'fail';
  error?: string;
}

export interface MigrationRequest {
  user: string;
  to: string;
  strategy?: Strategy;
  codec?: Codec;
  /** Measure the downtime with a probe on the user's mu host (default true). */
  probe?: boolean;
  experimentId?: number;
  onPhase?: (e: PhaseEvent) => void;
  /**
   * Awaited right before the final checkpoint, once the probe and the data channel are up: the downtime
   * starts when it resolves (an experiment waits here for its planned migration instant).
   */
  beforeCheckpoint?: () => Promise<void>;
  /** Runs after each phase ends (tests inject faults here). */
  afterPhase?: (name: PhaseName) => Promise<void> | void;
  /**
   * Ctrl+C: checked when each phase ends. Before the final checkpoint, what the destination got is removed;
   * after it, the service is restored on the source (a rollback, as for a failed phase); once the service
   * answered on the destination, the migration is finished (cleanup is not interrupted).
   */
  signal?: AbortSignal;
  /** The persistent shell to use on the source (the one the user's lock was taken through: migrate()). */
  srcShell?: ShellExecutor;
}

export interface MigrationResult {
  migrationId: number;
  user: string;
  service: string;
  from: string;
  to: string;
  strategy: Strategy;
  codec: Codec | null;
  checkpointer: Checkpointer;
  /** When the migration started (epoch ms, this machine's clock): each phase's startMs counts from here. */
  startedEpochMs: number;
  /** From the start of the final checkpoint until the service answered on the destination, as the probe saw it. */
  downtimeMs: number | null;
  totalMs: number;
  /** Where the downtime went (null when it was not measured). */
  breakdown: DowntimeBreakdown | null;
  /** What crossed the network while the service was down. */
  bytesDuringDowntime: number;
  phases: Phase[];
  probe: ProbeResult | null;
  /** The service's image on the destination: loaded there from the source (in prepare, outside the
   * downtime) or already there. Null for the bundled apps' image (built and imported by edgectl). */
  image: ImageCopy | null;
  /** The service's state check (hosts.yml stateCheck): its output before and after, the same. */
  stateCheck: { argv: string[]; output: string } | null;
  endpoint: { address: string; port: number };
  /** The source-destination link both ways: its latency and whether (and how) it was emulated. */
  latency: DirectedLatency[];
}

/**
 * Where the downtime went (ms), from the phases after the final checkpoint: CRIU's own dump and restore
 * (from its logs; null where unknown), the container runtime around them (runc or Docker, and Docker's
 * restore path), the codec's work at both ends (delta and patch), the transfer, the first answer's own
 * time on the user's path (the probe's fresh connection and request to the service once it was back;
 * null where the probe did not say), and the rest: edgectl's own (the writable layer, placing the
 * images, commands, the host learning the container's MAC). Null without a measured downtime.
 */
export interface DowntimeBreakdown {
  criuDumpMs: number | null;
  criuRestoreMs: number | null;
  runtimeMs: number;
  deltaMs: number;
  transferMs: number;
  pathMs: number | null;
  edgectlMs: number;
}

/**
 * The first answer's own time on the user's path: its connection's round trip and its request's, taken
 * as twice the request's (which the probe timed once connected, the service up), and at most the whole
 * attempt (whose connection may also have waited for the service). Null where the probe did not time it.
 */
export function pathOf(probe: ProbeResult | null): number | null {
  const rtt = probe?.roundTripMs;
  const answer = probe?.answerMs;
  if (rtt == null || answer == null) return null;
  return Math.min(answer, 2 * rtt);
}

export function downtimeBreakdown(
  phases: readonly Phase[],
  downtimeMs: number | null,
  pathMs: number | null = null,
): DowntimeBreakdown | null {
  if (downtimeMs === null) return null;
  const at = phases.findIndex((p) => p.name === 'checkpoint');
  if (at < 0) return null;
  const after = phases.slice(at);
  const phase = (n: PhaseName) => after.find((p) => p.name === n);
  const ckpt = phase('checkpoint')?.parts ?? {};
  const restore = phase('restore')?.parts ?? {};
  const criuDumpMs = ckpt['criu'] ?? null;
  const criuRestoreMs = restore['criu'] ?? null;
  const runtimeMs = (ckpt['runtime'] ?? ckpt['docker'] ?? 0) + (restore['runtime'] ?? restore['docker'] ?? 0);
  const deltaMs = (phase('delta')?.durationMs ?? 0) + (phase('patch')?.durationMs ?? 0);
  const transferMs = phase('transfer')?.durationMs ?? 0;
  const edgectlMs = Math.max(
    0,
    downtimeMs - (criuDumpMs ?? 0) - (criuRestoreMs ?? 0) - runtimeMs - deltaMs - transferMs - (pathMs ?? 0),
  );
  return { criuDumpMs, criuRestoreMs, runtimeMs, deltaMs, transferMs, pathMs, edgectlMs };
}

export class MigrationError extends EdgectlError {
  constructor(
    message: string,
    readonly phase: PhaseName,
    readonly rolledBack: boolean,
    readonly phases: Phase[],
    hint?: string,
    interrupted = false,
  ) {
    super(
      interrupted ? 'INTERRUPTED' : 'MIGRATION_FAILED',
      interrupted ? ExitCode.interrupted : ExitCode.remote,
      message,
      {
        ...(hint ? { hint } : {}),
        details: { phase, rolledBack, phases },
      },
    );
  }
}

class PhaseFailed extends Error {
  constructor(
    readonly phase: PhaseName,
    override readonly cause: unknown,
  ) {
    super(`${phase}: ${errorMessage(cause)}`);
  }
}

interface Side {
  host: Host;
  docker: Docker;
  /** A persistent shell on the host: commands during the downtime start no new SSH session. */
  shell: ShellExecutor;
  root: string;
  staging: string;
}

export interface ImageCopy {
  name: string;
  id: string;
  loaded: boolean;
  bytes: number;
  ms: number;
}

/** One migration of one user's service; `preMigrate()` and `migrate()` can be called at different times. */
export class Migration {
  readonly strategy: Strategy;
  readonly codec: Codec | null;
  readonly phases: Phase[] = [];
  private readonly t0 = performance.now();
  /** When it started (epoch ms): the phases' startMs count from here. */
  readonly startedEpochMs = Date.now();
  private migrationId = 0;
  private src!: Side;
  private dst!: Side;
  private srcContainer!: Docker.Container;
  private srcInfo!: Docker.ContainerInspectInfo;
  private dstContainer: Docker.Container | undefined;
  private dstUpper = '';
  private readonly user: User;
  private readonly service: Service;
  private readonly placement: Placement;
  private prepared = false;
  /** Sub-timings of the running phase. */
  private parts: Record<string, number> = {};
  private preDone = false;
  private finalTaken = false;
  private imageCopy: ImageCopy | null = null;
  private stateBefore: string | undefined;
  /** runc under the source container, or undefined: Docker's checkpoint API. */
  private runc: RuncRuntime | undefined;
  /** The source container is frozen by the final checkpoint (runc): a rollback thaws it. */
  private srcFrozen = false;
  /** The data channels started, and those open (awaited by whoever sends). */
  private readonly channelStarts = new Map<ChannelName, Promise<void>>();
  /** The downtime probe, started once (with the pre-migration, so that its session start is not waited for later). */
  private probeStarting: Promise<RunningProbe | undefined> | undefined;
  private readonly channelsReady = new Map<ChannelName, Promise<void>>();

  constructor(
    private readonly inv: Inventory,
    private readonly pool: SshPool,
    private readonly state: StateDb,
    private readonly req: MigrationRequest,
  ) {
    this.strategy = req.strategy ?? 'delta';
    this.codec = this.strategy === 'delta' ? (req.codec ?? DEFAULT_CODEC) : null;
    this.user = getUser(inv, req.user);
    const placement = state.placements.get(this.user.name);
    if (!placement) {
      throw new UsageError(`${this.user.name} has no service deployed`, {
        hint: `edgectl deploy --user ${this.user.name} ...`,
      });
    }
    this.placement = placement;
    this.service = getService(inv, placement.service);
    const to = getHost(inv, req.to);
    if (!to.isServer) throw new UsageError(`${to.name} is not a server (cloud or edge host)`);
    if (to.name === placement.host)
      throw new UsageError(`${this.user.name}'s service already runs on ${to.name}`);
  }

  private get names() {
    return { pre: `edgectl-${this.migrationId}-pre`, final: `edgectl-${this.migrationId}-final` };
  }

  private exec(side: Side, argv: string[], what: string, timeoutMs = 600_000): Promise<RunResult> {
    return runChecked(side.shell, argv, {
      what: `${what} on ${side.host.name}`,
      timeoutMs,
    });
  }

  private async phase(name: PhaseName, work: () => Promise<number | null>): Promise<void> {
    const startMs = performance.now() - this.t0;
    this.req.onPhase?.({ name, status: 'start', startMs });
    let bytes: number | null;
    this.parts = {};
    try {
      bytes = await work();
    } catch (err) {
      this.req.onPhase?.({
        name,
        status: 'fail',
        startMs,
        durationMs: performance.now() - this.t0 - startMs,
        error: errorMessage(err),
      });
      throw err instanceof PhaseFailed ? err : new PhaseFailed(name, err);
    }
    const p: Phase = {
      name,
      startMs,
      durationMs: performance.now() - this.t0 - startMs,
      bytes,
      ...(Object.keys(this.parts).length > 0 ? { parts: this.parts } : {}),
    };
    this.phases.push(p);
    this.req.onPhase?.({ ...p, status: 'end' });
    try {
      await this.req.afterPhase?.(name);
      if (name !== 'cleanup' && name !== 'rollback') throwIfInterrupted(this.req.signal);
    } catch (err) {
      throw new PhaseFailed(name, err);
    }
  }

  private async side(host: Host, role: 'src' | 'dst'): Promise<Side> {
    const shell = (role === 'src' ? this.req.srcShell : undefined) ?? new ShellExecutor(this.pool, host);
    const [docker] = await Promise.all([reachDocker(this.pool, host), shell.open()]);
    const info = await docker.info();
    return {
      host,
      docker,
      shell,
      root: String(info.DockerRootDir),
      staging: stagingDir(this.inv.testbed, migrationKey(this.state.instanceId, this.migrationId), role),
    };
  }

  private get rsyncTarget(): RsyncTarget {
    const trust = trustDirOnHost(this.inv);
    return {
      user: this.dst.host.ssh.user,
      address: this.dst.host.dataAddress,
      port: this.dst.host.ssh.port,
      key: `${trust}/id_ed25519`,
      knownHosts: `${trust}/known_hosts`,
      controlPath: `${this.src.staging}.ssh`,
    };
  }

  /**
   * The data channels (on the source) and where they unpack (on the destination): `pre` carries the
   * pre-migration image, `final` what the downtime sends (the delta, or the whole image for full).
   */
  private channelOf(which: ChannelName): { dir: string; into: string } {
    return which === 'pre'
      ? { dir: `${this.src.staging}/channel-pre`, into: `${this.dst.staging}/pre` }
      : { dir: `${this.src.staging}/channel`, into: `${this.dst.staging}/in` };
  }

  /**
   * Starts opening a data channel (returns once its session is under way, in the background on the
   * source). A new SSH session from the source to the destination costs a TCP and SSH handshake over the
   * data link and the destination's login shell (1.8 s edge1 -> edge2 on a fresh lab machine): started
   * early, it runs beside other work. Started at most once per channel.
   */
  private startChannel(which: ChannelName): Promise<void> {
    let starting = this.channelStarts.get(which);
    if (!starting) {
      const { dir, into } = this.channelOf(which);
      starting = this.exec(
        this.src,
        openChannelArgv(dir, this.rsyncTarget, into, { wait: false }),
        `opening the ${which} data channel`,
        30_000,
      ).then(() => undefined);
      // Awaited later (by whoever sends through it); never an unhandled rejection meanwhile.
      starting.catch(() => {});
      this.channelStarts.set(which, starting);
    }
    return starting;
  }

  /** Waits until a channel is open (starting it if need be): its receiver on the destination runs. */
  private channelReady(which: ChannelName): Promise<void> {
    let ready = this.channelsReady.get(which);
    if (!ready) {
      ready = this.startChannel(which).then(() =>
        this.exec(
          this.src,
          channelReadyArgv(this.channelOf(which).dir),
          `opening the ${which} data channel`,
          180_000,
        ).then(() => undefined),
      );
      ready.catch(() => {});
      this.channelsReady.set(which, ready);
    }
    return ready;
  }

  /** Sends a directory through a channel (opening it if need be); returns the bytes sent. */
  private async send(which: ChannelName, from: string): Promise<number> {
    await this.channelReady(which);
    const r = await this.exec(
      this.src,
      sendArgv(this.channelOf(which).dir, from),
      'sending to the destination',
    );
    return Number(r.stdout.trim()) || 0;
  }

  /**
   * The pre-migration image to the destination, through its channel (a tar stream on a session opened
   * beside the pre-checkpoint: no rsync round trips on a long link, no session start after the
   * checkpoint), then the sha256 of every file compared on both ends. Returns the bytes sent; the phase's
   * parts say how long it waited for the channel, sent, and verified.
   */
  private async pushPre(from: string): Promise<number> {
    const waited = performance.now();
    await this.channelReady('pre');
    // The downtime's channel: a second session over the SSH connection the first one opened (its control
    // socket), started now, beside the send. The delta then travels on the connection the pre-migration
    // image has just warmed up, not on a new one in TCP's slow start: on its own connection the delta
    // (0.6-2 MB for simple under load) took 620-790 ms over the 100 ms round trip, 165-200 ms warm.
    void this.startChannel('final');
    const sent = performance.now();
    this.parts['channel'] = sent - waited;
    const bytes = await this.send('pre', from);
    const verified = performance.now();
    this.parts['send'] = verified - sent;
    const [a, b] = await Promise.all([
      this.exec(this.src, manifestArgv(from), 'checksumming'),
      this.exec(this.dst, manifestArgv(this.channelOf('pre').into), 'checksumming'),
    ]);
    if (a.stdout !== b.stdout || a.stdout.trim() === '')
      throw new Error(`the files at the destination do not match the source (${this.channelOf('pre').into})`);
    this.parts['verify'] = performance.now() - verified;
    return bytes;
  }

  /** Ends the persistent shells (reopened by the next command, should one follow). */
  private async closeShells(): Promise<void> {
    await Promise.all([this.src?.shell.close(), this.dst?.shell.close()]);
  }

  /** Ends the data channels and the shared SSH connection of the transfers. */
  private async closeTransfers(): Promise<void> {
    if (!this.src || !this.dst) return;
    for (const which of CHANNELS)
      await this.src.shell.run(closeChannelArgv(this.channelOf(which).dir), { timeoutMs: 10_000 });
    this.channelStarts.clear();
    this.channelsReady.clear();
    await this.src.shell.run(closeMasterArgv(this.rsyncTarget), { timeoutMs: 10_000 });
  }

  private recordCheckpoint(kind: 'pre' | 'final' | 'delta', bytes: number, ms: number): void {
    this.state.checkpoints.insert({
      migrationId: this.migrationId,
      atMs: Date.now(),
      host: this.src.host.name,
      user: this.user.name,
      kind,
      bytes,
      ms,
    });
  }

  get checkpointer(): Checkpointer {
    return this.runc ? 'runc' : 'docker';
  }

  private get upper(): string {
    const upper = upperDir(this.srcInfo);
    if (!upper)
      throw new Error(
        'the source container has no overlay upper directory (only overlay2 storage is supported)',
      );
    return upper;
  }

  /**
   * Checkpoints the source container into a snapshot directory (`criu/` and `rootfs.tar`): the
   * pre-migration one leaves it running, the final one stops it. Where the time went goes into the
   * phase's parts. Returns the snapshot's size in bytes.
   */
  private async takeCheckpoint(kind: 'pre' | 'final'): Promise<number> {
    const final = kind === 'final';
    const snap = await takeSnapshot({
      shell: this.src.shell,
      container: this.srcContainer,
      info: this.srcInfo,
      runc: this.runc,
      dockerRoot: this.src.root,
      upperDir: this.upper,
      out: `${this.src.staging}/${kind}`,
      work: `${this.src.staging}/${kind}-work`,
      name: this.names[kind],
      kind: final ? 'final' : 'run',
      what: `checkpointing on ${this.src.host.name}`,
    });
    if (final) {
      this.finalTaken = true;
      this.srcFrozen = this.runc !== undefined;
    }
    Object.assign(this.parts, snap.parts);
    return snap.bytes;
  }

  /** Destination ready: image there, a container of the same configuration created (not started). */
  async prepare(): Promise<void> {
    if (this.prepared) return;
    this.migrationId = this.state.migrations.start({
      experimentId: this.req.experimentId ?? null,
      user: this.user.name,
      service: this.service.name,
      fromHost: this.placement.host,
      toHost: this.req.to,
      strategy: this.strategy,
      codec: this.codec,
      startedMs: Date.now(),
    });
    try {
      await this.phase('prepare', async () => {
        [this.src, this.dst] = await Promise.all([
          this.side(getHost(this.inv, this.placement.host), 'src'),
          this.side(getHost(this.inv, this.req.to), 'dst'),
        ]);
        await Promise.all([
          this.exec(this.src, ['mkdir', '-p', this.src.staging], 'preparing'),
          this.exec(this.dst, ['mkdir', '-p', this.dst.staging], 'preparing'),
        ]);
        // The session that takes longest to start (the pre-migration image's channel: a login shell on the
        // destination) starts now, beside the rest of the preparation.
        if (this.strategy === 'delta') void this.startChannel('pre');
        this.srcContainer = this.src.docker.getContainer(this.placement.containerId);
        this.srcInfo = await this.srcContainer.inspect();
        if (!this.srcInfo.State.Running)
          throw new Error(
            `the container ${this.placement.container} on ${this.src.host.name} is not running`,
          );
        this.runc = await findRunc(this.src.shell, this.srcInfo.State.Pid);
        if (this.codec === 'pages') await this.needPagesCodec();
        const imageStarted = performance.now();
        const image = this.service.app
          ? (await ensureAppImage(this.inv, this.pool, { hosts: [this.dst.host] })).name
          : await this.imageAtDestination();
        this.parts['image'] = performance.now() - imageStarted;
        // A container of the user's name there goes only if it is this database's own (docker/owner.ts).
        const owner = ownerOf(this.inv, this.state.instanceId, this.user.name);
        const name = containerName(this.inv, this.user.name);
        await removeOwnedContainer(this.dst.docker, name, owner, { host: this.dst.host.name });
        const spec = containerSpec(
          this.inv,
          this.user.name,
          this.service,
          this.dst.host,
          image,
          owner.database,
        );
        this.dstContainer = await this.dst.docker.createContainer(spec);
        const dstInfo = await this.dstContainer.inspect();
        this.dstUpper = upperDir(dstInfo) ?? '';
        return null;
      });
      this.prepared = true;
    } catch (err) {
      await this.abandon();
      throw this.failure(err, false, 'nothing changed on the source');
    }
  }

  /**
   * The pages codec on both ends, built from this edgectl's source (its delta format is that build's),
   * before anything changes: else a clear error, not a rollback later. The same probe as hosts check's.
   */
  private async needPagesCodec(): Promise<void> {
    const want = await pagesSourceVersion();
    const unfit: string[] = [];
    await Promise.all(
      [this.src, this.dst].map(async (side) => {
        const r = await side.shell.run(probeArgv.pages(), { timeoutMs: 30_000 });
        const { facts } = pagesProbe(r, want);
        if (!facts.current)
          unfit.push(`${side.host.name} (${facts.ok ? `version ${facts.version}` : 'not installed'})`);
      }),
    );
    if (unfit.length > 0)
      throw new Error(
        `edgectl-pages (the pages codec) is missing or not built from this edgectl's source (${want}) on ${unfit.sort().join(', ')}: edgectl provision --install-deps installs it; or use --codec rsync`,
      );
  }

  /**
   * A service's own image on the destination, the very build the source runs (same image ID): streamed
   * there from the source's dockerd when it lacks it, as the paper assumes images at both ends before the
   * migration. Returns the reference to create the container from.
   */
  private async imageAtDestination(): Promise<string> {
    const name = this.srcInfo.Config.Image;
    const id = this.srcInfo.Image;
    const copy = await copyImage(this.src.docker, this.dst.docker, name, {
      srcName: this.src.host.name,
      dstName: this.dst.host.name,
      ...(this.req.signal ? { signal: this.req.signal } : {}),
    });
    this.imageCopy = { name, id: copy.id, loaded: copy.loaded, bytes: copy.bytes, ms: copy.ms };
    if (copy.id !== id) {
      throw new Error(
        `${name} on ${this.src.host.name} is now ${copy.id}, not the build the container runs (${id}): deploy it again, or image load the build it runs`,
      );
    }
    return name;
  }

  /** Runs the service's state check in a container: its output (a failure throws). */
  private async stateCheck(container: Docker.Container, where: string): Promise<string> {
    const argv = this.service.stateCheck!;
    const r = await execIn(container, argv, 30_000);
    if (r.code !== 0)
      throw new Error(
        `the state check (${argv.join(' ')}) exited with ${r.code} on ${where}: ${r.stdout.trim()}`,
      );
    return r.stdout;
  }

  /** Pre-migration (delta): checkpoint the running container and push that image to the destination. */
  async preMigrate(): Promise<void> {
    await this.prepare();
    if (this.strategy !== 'delta' || this.preDone) return;
    try {
      // The pre-migration image's channel started with the preparation (the downtime's starts once it is
      // open: see pushPre), the probe starts after the pre-checkpoint: no session start lies between the
      // pre-transfer and the final checkpoint.
      await this.startChannel('pre');
      await this.phase('pre-checkpoint', async () => {
        const started = performance.now();
        const bytes = await this.takeCheckpoint('pre');
        this.recordCheckpoint('pre', bytes, performance.now() - started);
        return bytes;
      });
      // The probe's session on the user's machine starts now, beside the pre-transfer: ready before the
      // final checkpoint, and not earlier. It reports the first gap it sees, and a migration that reacts to
      // a handover starts inside that handover's blackout (0.5 s; preparation and pre-checkpoint take
      // longer): started with the preparation, it took the blackout for the migration's gap.
      void this.probeOnce();
      await this.phase('pre-transfer', () => this.pushPre(`${this.src.staging}/pre`));
      this.preDone = true;
    } catch (err) {
      await this.abandon();
      throw this.failure(err, false, 'the service kept running on the source');
    }
  }

  /** The migration proper: final checkpoint (downtime starts), delta or whole image, restore, verify, cleanup. */
  async migrate(): Promise<MigrationResult> {
    await this.preMigrate();
    // Before the service stops: the probe on the user's machine, and the data channel to the
    // destination (its SSH session and login shell now, not during the downtime).
    let probe: RunningProbe | undefined;
    try {
      [probe, this.stateBefore] = await Promise.all([
        this.probeOnce(),
        this.service.stateCheck ? this.stateCheck(this.srcContainer, this.src.host.name) : undefined,
        this.channelReady('final'),
      ]);
      throwIfInterrupted(this.req.signal);
      // Everything is ready for the downtime: a caller timing it (the orchestrated planner) waits here.
      await this.req.beforeCheckpoint?.();
      throwIfInterrupted(this.req.signal);
    } catch (err) {
      await this.abandon();
      throw this.failure(new PhaseFailed('checkpoint', err), false, 'the service kept running on the source');
    }
    let failedPhase: PhaseName = 'checkpoint';
    try {
      await this.phase('checkpoint', async () => {
        failedPhase = 'checkpoint';
        const started = performance.now();
        const bytes = await this.takeCheckpoint('final');
        this.recordCheckpoint('final', bytes, performance.now() - started);
        return bytes;
      });
      // Where the destination has the final image once the transfer (and patch) are done.
      let finalAtDst = this.channelOf('final').into;
      if (this.strategy === 'delta') {
        const codec = this.codec ?? DEFAULT_CODEC;
        const pre = { src: `${this.src.staging}/pre`, dst: `${this.dst.staging}/pre` };
        const final = `${this.src.staging}/final`;
        const delta = `${this.src.staging}/delta`;
        failedPhase = 'delta';
        await this.phase('delta', async () => {
          const started = performance.now();
          const r = await this.exec(
            this.src,
            codec === 'pages'
              ? pagesDiffArgv(PAGES_BIN, pre.src, final, delta)
              : codec === 'xdelta3'
                ? deltaArgv(pre.src, final, delta)
                : rsyncBatchArgv(pre.src, final, delta),
            'computing the delta',
          );
          const bytes = Number(r.stdout.trim());
          this.recordCheckpoint('delta', bytes, performance.now() - started);
          return bytes;
        });
        failedPhase = 'transfer';
        await this.phase('transfer', () => this.send('final', delta));
        failedPhase = 'patch';
        await this.phase('patch', async () => {
          if (codec === 'pages') {
            finalAtDst = `${this.dst.staging}/final`;
            await this.exec(
              this.dst,
              pagesPatchArgv(PAGES_BIN, pre.dst, this.channelOf('final').into, finalAtDst),
              'patching the images',
            );
          } else if (codec === 'xdelta3') {
            finalAtDst = `${this.dst.staging}/final`;
            await this.exec(
              this.dst,
              patchArgv(pre.dst, this.channelOf('final').into, finalAtDst),
              'patching the images',
            );
          } else {
            finalAtDst = pre.dst;
            await this.exec(
              this.dst,
              rsyncPatchArgv(pre.dst, this.channelOf('final').into),
              'patching the images',
            );
          }
          return null;
        });
      } else {
        failedPhase = 'transfer';
        await this.phase('transfer', () => this.send('final', `${this.src.staging}/final`));
      }
      failedPhase = 'restore';
      await this.phase('restore', async () => {
        const container = this.dstContainer!;
        const placeStarted = performance.now();
        await this.exec(
          this.dst,
          placeSnapshotArgv(
            finalAtDst,
            this.dstUpper,
            checkpointDir(this.dst.root, container.id, this.names.final),
          ),
          'placing the images',
        );
        this.parts['place'] = performance.now() - placeStarted;
        const dockerStarted = performance.now();
        await startFromCheckpoint(container, this.names.final);
        this.parts['docker'] = performance.now() - dockerStarted;
        const neighbourStarted = performance.now();
        if (await this.primeNeighbour(this.dst, container))
          this.parts['neighbour'] = performance.now() - neighbourStarted;
        return null;
      });
      failedPhase = 'verify';
      await this.phase('verify', async () => {
        // The probe pings over the user's own path: its first answer from the destination is the
        // verification, and costs the servers nothing while the restored service warms up. Without a
        // probe (or should it not see the destination answer), a ping from inside the container.
        const seen = probe ? await probe.result : null;
        if (seen?.answeredBy !== 'to')
          await waitUntilAnswers(this.dstContainer!, this.service, 30_000, {
            pool: this.pool,
            host: this.dst.host,
          });
        if (this.stateBefore !== undefined) {
          const after = await this.stateCheck(this.dstContainer!, this.dst.host.name);
          if (after !== this.stateBefore)
            throw new Error(
              `the state check (${this.service.stateCheck!.join(' ')}) gave ${JSON.stringify(after.trim().slice(0, 200))} on ${this.dst.host.name}, ${JSON.stringify(this.stateBefore.trim().slice(0, 200))} before`,
            );
        }
        return null;
      });
    } catch (err) {
      // A probe left running ends by itself: it sees the service answer again on the source after the
      // rollback (or gives up), and closing the SSH pool ends it in any case.
      throw await this.rollback(err, failedPhase);
    }
    const probed = probe ? await probe.result : null;
    const dstInfo = await this.dstContainer!.inspect();
    await this.readRestoreCriu(dstInfo.State.Pid);
    const placement: Placement = {
      ...this.placement,
      host: this.dst.host.name,
      containerId: dstInfo.Id,
      address: this.dst.host.dataAddress,
      sinceMs: Date.now(),
    };
    this.state.placements.set(placement, 'migrated');
    // The destination answered: only now is the source deleted.
    await this.phase('cleanup', async () => {
      await this.endFreeze('kill');
      await this.srcContainer.remove({ force: true });
      await this.closeTransfers();
      await Promise.all([
        this.exec(this.src, removeDirArgv(this.src.staging), 'cleaning up'),
        this.exec(this.dst, removeDirArgv(this.dst.staging), 'cleaning up'),
        deleteCheckpoint(this.dstContainer!, this.names.final).catch(() => {}),
      ]);
      return null;
    }).catch(() => {
      // The service runs on the destination; leftovers on the source are not worth failing for.
    });
    await this.closeShells();
    const downtimeMs = probed?.answeredBy === 'to' ? probed.downtimeMs : null;
    const after = this.phases.findIndex((p) => p.name === 'checkpoint');
    const bytesDuringDowntime = this.phases
      .slice(after)
      .filter((p) => p.name === 'transfer')
      .reduce((sum, p) => sum + (p.bytes ?? 0), 0);
    const totalMs = performance.now() - this.t0;
    this.state.migrations.finish(
      this.migrationId,
      {
        finishedMs: Date.now(),
        downtimeMs,
        totalMs,
        bytes: this.phases.reduce((s, p) => s + (p.name.endsWith('transfer') ? (p.bytes ?? 0) : 0), 0),
        ok: true,
        rolledBack: false,
        error: null,
      },
      this.phases,
    );
    return {
      migrationId: this.migrationId,
      user: this.user.name,
      service: this.service.name,
      from: this.src.host.name,
      to: this.dst.host.name,
      strategy: this.strategy,
      codec: this.codec,
      checkpointer: this.checkpointer,
      startedEpochMs: this.startedEpochMs,
      downtimeMs,
      totalMs,
      breakdown: downtimeBreakdown(this.phases, downtimeMs, pathOf(probed)),
      bytesDuringDowntime,
      phases: this.phases,
      probe: probed,
      image: this.imageCopy,
      stateCheck:
        this.stateBefore === undefined ? null : { argv: this.service.stateCheck!, output: this.stateBefore },
      endpoint: { address: placement.address, port: placement.port },
      latency: pathLatency(
        this.inv,
        (h) => this.state.hostFacts.get(h),
        this.src.host.name,
        this.dst.host.name,
      ),
    };
  }

  /** Ends the source's freeze (runc's final checkpoint): thawed (a rollback) or killed for good (cleanup). */
  private async endFreeze(how: 'thaw' | 'kill'): Promise<void> {
    if (!this.srcFrozen || !this.runc) return;
    await this.exec(
      this.src,
      how === 'thaw'
        ? runcResumeArgv(this.runc, this.srcInfo.Id)
        : runcKillFrozenArgv(this.runc, this.srcInfo.Id),
      how === 'thaw' ? 'thawing the source container' : 'ending the source container',
    );
    this.srcFrozen = false;
  }

  /** CRIU's own part of the restore, from its log beside the restored task (best effort; after verify). */
  private async readRestoreCriu(pid: number): Promise<void> {
    const restore = this.phases.find((p) => p.name === 'restore');
    if (!restore || !pid) return;
    const r = await this.dst.shell
      .run(criuRestoreSecondsArgv(pid), { timeoutMs: 10_000 })
      .catch(() => undefined);
    const s = r?.code === 0 ? parseSeconds(r.stdout.trim().split('\n').at(-1)) : undefined;
    if (s === undefined) return;
    restore.parts = { ...restore.parts, criu: s * 1000 };
    const docker = restore.parts['docker'];
    if (docker !== undefined) restore.parts['runtime'] = Math.max(0, docker - s * 1000);
  }

  /** The host of a container just restored from a checkpoint learns its MAC at once (best effort:
   * without it, the kernel finds it by itself within about a second). True when it did. */
  private async primeNeighbour(side: Side, container: Docker.Container): Promise<boolean> {
    try {
      const info = await container.inspect();
      const net = Object.values(info.NetworkSettings.Networks ?? {}).find((n) => n.IPAddress && n.MacAddress);
      if (!net) return false;
      await this.exec(side, primeNeighbourArgv(net.IPAddress, net.MacAddress), 'priming ARP', 10_000);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Starts the downtime probe on the user's mu host, once, and waits until it sees the service answer
   * (undefined without a probe: the request or the service says none).
   */
  private probeOnce(): Promise<RunningProbe | undefined> {
    if (this.req.probe === false || this.service.probe.kind === 'none') return Promise.resolve(undefined);
    this.probeStarting ??= this.startProbe();
    return this.probeStarting;
  }

  private startProbe(): Promise<RunningProbe | undefined> {
    return startRemoteProbe(this.pool, getHost(this.inv, this.user.host), {
      from: `${this.src.host.dataAddress}:${this.placement.port}`,
      to: `${this.dst.host.dataAddress}:${this.placement.port}`,
      localAddress: this.user.address,
      attemptTimeoutMs: probeAttemptTimeoutMs(this.inv, this.src.host.name, this.dst.host.name),
      probe: this.service.probe as ActiveProbe,
    });
  }

  /** Removes what the destination got; the source container is untouched (before the final checkpoint). */
  private async abandon(): Promise<void> {
    await this.closeTransfers().catch(() => {});
    await this.dstContainer?.remove({ force: true }).catch(() => {});
    if (this.src && this.srcContainer)
      await deleteCheckpoint(this.srcContainer, this.names.pre).catch(() => {});
    await Promise.all([
      this.src
        ? this.exec(this.src, removeDirArgv(this.src.staging), 'cleaning up').catch(() => {})
        : undefined,
      this.dst
        ? this.exec(this.dst, removeDirArgv(this.dst.staging), 'cleaning up').catch(() => {})
        : undefined,
    ]);
    await this.closeShells();
  }

  private failure(err: unknown, rolledBack: boolean, outcome: string, extraHint?: string): MigrationError {
    const phase = err instanceof PhaseFailed ? err.phase : 'prepare';
    const cause = err instanceof PhaseFailed ? err.cause : err;
    const interrupted = cause instanceof InterruptedError;
    this.finish(false, rolledBack, `${phase}: ${errorMessage(cause)}`);
    return new MigrationError(
      interrupted
        ? `migration of ${this.user.name} from ${this.placement.host} to ${this.req.to} ${errorMessage(cause)} after ${phase}; ${outcome}`
        : `migration of ${this.user.name} from ${this.placement.host} to ${this.req.to} failed at ${phase}: ${errorMessage(cause)}; ${outcome}`,
      phase,
      rolledBack,
      this.phases,
      extraHint,
      interrupted,
    );
  }

  private finish(ok: boolean, rolledBack: boolean, error: string): void {
    if (!this.migrationId) return;
    this.state.migrations.finish(
      this.migrationId,
      {
        finishedMs: Date.now(),
        downtimeMs: null,
        totalMs: performance.now() - this.t0,
        bytes: 0,
        ok,
        rolledBack,
        error,
      },
      this.phases,
    );
  }

  /** After the final checkpoint: bring the service back on the source from that checkpoint. */
  private async rollback(err: unknown, phase: PhaseName): Promise<MigrationError> {
    try {
      return await this.rollbackNow(err, phase);
    } finally {
      await this.closeShells();
    }
  }

  private async rollbackNow(err: unknown, phase: PhaseName): Promise<MigrationError> {
    const failed = err instanceof PhaseFailed ? err : new PhaseFailed(phase, err);
    try {
      await this.phase('rollback', async () => {
        await this.dstContainer?.remove({ force: true }).catch(() => {});
        // The final checkpoint left the source frozen: it runs on from where it stopped.
        await this.endFreeze('thaw');
        const info = await this.srcContainer.inspect();
        if (!info.State.Running) {
          if (!this.finalTaken)
            throw new Error('the final checkpoint did not complete and the container is stopped');
          if (this.runc)
            await this.exec(
              this.src,
              placeCheckpointArgv(
                `${this.src.staging}/final/criu`,
                checkpointDir(this.src.root, this.srcInfo.Id, this.names.final),
              ),
              'placing the images',
            );
          await startFromCheckpoint(this.srcContainer, this.names.final);
          await this.primeNeighbour(this.src, this.srcContainer);
        }
        await waitUntilAnswers(this.srcContainer, this.service, 30_000, {
          pool: this.pool,
          host: this.src.host,
        });
        await this.closeTransfers().catch(() => {});
        await deleteCheckpoint(this.srcContainer, this.names.final).catch(() => {});
        await deleteCheckpoint(this.srcContainer, this.names.pre).catch(() => {});
        await Promise.all([
          this.exec(this.src, removeDirArgv(this.src.staging), 'cleaning up').catch(() => {}),
          this.exec(this.dst, removeDirArgv(this.dst.staging), 'cleaning up').catch(() => {}),
        ]);
        return null;
      });
      return this.failure(
        failed,
        true,
        `rolled back: the service runs again on ${this.src.host.name}, its state intact`,
      );
    } catch (rollbackErr) {
      const left = this.srcFrozen
        ? `the service is down, frozen on ${this.src.host.name}; to bring it back (there): ${shellJoin(runcResumeArgv(this.runc!, this.srcInfo.Id))}, then check it answers`
        : `the service is down; to bring it back on ${this.src.host.name} (there): ${this.runc ? `put the images of ${this.src.staging}/final/criu into ${checkpointDir(this.src.root, this.srcInfo.Id, this.names.final)}, then ` : ''}docker start --checkpoint ${this.names.final} ${this.placement.container}, then check it answers`;
      const e = this.failure(
        failed,
        false,
        `and the rollback failed too (${errorMessage(rollbackErr instanceof PhaseFailed ? rollbackErr.cause : rollbackErr)})`,
        left,
      );
      return e;
    }
  }
}

/**
 * A migration holding the user's lock (lock/): on this machine first, so that the placement read next is
 * the one no other command of this database changes meanwhile, then on the source server, through the
 * persistent shell the migration itself runs its commands in there (no SSH session of its own).
 */
export async function migrate(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  req: MigrationRequest,
): Promise<MigrationResult> {
  const user = getUser(inv, req.user);
  const lock = await acquireUserLock({
    lockDir: lockDirOf(state),
    testbed: inv.testbed,
    user: user.name,
    ...(req.signal ? { signal: req.signal } : {}),
  });
  let srcShell: ShellExecutor | undefined;
  try {
    const from = state.placements.get(user.name)?.host;
    srcShell = from === undefined ? undefined : new ShellExecutor(pool, getHost(inv, from));
    const m = new Migration(inv, pool, state, { ...req, ...(srcShell ? { srcShell } : {}) });
    if (srcShell) await lock.onHost(srcShell);
    return await m.migrate();
  } finally {
    await lock.release();
    await srcShell?.close();
  }
}
