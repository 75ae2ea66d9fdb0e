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
import { containerName, containerSpec, reachDocker, waitUntilAnswers } from '../docker/deploy.js';
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
import { acquireUserLock, LockBusyError, lockDirOf } from '../lock/index.js';
import { type ActiveProbe, probeAttemptTimeoutMs, type RunningProbe, startRemoteProbe } from '../mu/probe.js';
import { pathLatency } from '../provision/latency.js';
import { trustDirOnHost } from '../provision/plan.js';
import { type RunResult, runChecked, ShellExecutor, type SshPool } from '../remote/index.js';
import type { Placement, StateDb } from '../state/index.js';
import { DataChannels } from './channels.js';
import { type Checkpointer, findRunc, takeSnapshot } from './checkpointer.js';
import {
  checkpointDir,
  criuRestoreSecondsArgv,
  deltaArgv,
  makeStagingArgv,
  manifestArgv,
  migrationKey,
  pagesDiffArgv,
  pagesPatchArgv,
  parseSeconds,
  patchArgv,
  placeSnapshotArgv,
  type RuncRuntime,
  rsyncBatchArgv,
  rsyncPatchArgv,
  stagingDir,
} from './commands.js';
import { armDeadmanArgv, settleDeadmanArgv } from './deadman.js';
import {
  type Codec,
  DEADMAN_MARGIN_MS,
  DEFAULT_CODEC,
  DEFAULT_DOWNTIME_BUDGET_MS,
  downtimeBreakdown,
  type ImageCopy,
  type MigrationRequest,
  type MigrationResult,
  type Phase,
  type PhaseName,
  pathOf,
  type Strategy,
} from './model.js';
import { PAGES_BIN, pagesSourceVersion } from './pages-source.js';
import { recordedState, runIn, type StateCheck, stateCheckFor } from './state-check.js';
import { StepRunner, type UndoFailure } from './steps.js';
import {
  currentOwner,
  finishOnSource,
  MIGRATION_LABEL,
  type MigrationFacts,
  primeNeighbour,
  type UNDO,
  type UndoEnv,
  undoer,
  withDeadline,
} from './undo.js';

export * from './model.js';

/** Each undo's calls' deadline. */
const UNDO_TIMEOUT_MS = 30_000;

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
  /** What must survive: checked before the final checkpoint and after the restore (state-check.ts). */
  private readonly check: StateCheck | undefined;
  /** The undos of this migration's steps (a destination dockerd found silent is not waited for twice). */
  private readonly undoStep = undoer();
  /** runc under the source container, or undefined: Docker's checkpoint API. */
  private runc: RuncRuntime | undefined;
  /** The data channels (set up in prepare). */
  private channels: DataChannels | undefined;
  /** The downtime probe, started once (with the pre-migration, so that its session start is not waited for later). */
  private probeStarting: Promise<RunningProbe | undefined> | undefined;
  /** The steps run so far and the undos they owe, written to the journal as they go. */
  private readonly steps: StepRunner;
  /** What the migration made where (the journal's copy is what a recovery works from). */
  private facts: MigrationFacts | undefined;
  /** When the downtime's budget ends (performance.now() ms), once the final checkpoint started. */
  private downtimeEnd: number | undefined;
  readonly downtimeBudgetMs: number;

  constructor(
    private readonly inv: Inventory,
    private readonly pool: SshPool,
    private readonly state: StateDb,
    private readonly req: MigrationRequest,
  ) {
    this.strategy = req.strategy ?? 'delta';
    this.downtimeBudgetMs = req.downtimeBudgetMs ?? DEFAULT_DOWNTIME_BUDGET_MS;
    this.steps = new StepRunner({
      record: (rec) => {
        if (this.migrationId) this.state.journal.step(this.migrationId, rec);
      },
    });
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
    this.check = stateCheckFor(this.service);
    const to = getHost(inv, req.to);
    if (!to.isServer) throw new UsageError(`${to.name} is not a server (cloud or edge host)`);
    if (to.name === placement.host)
      throw new UsageError(`${this.user.name}'s service already runs on ${to.name}`);
  }

  private get names() {
    return { pre: `edgectl-${this.migrationId}-pre`, final: `edgectl-${this.migrationId}-final` };
  }

  private async exec(side: Side, argv: string[], what: string, timeoutMs = 600_000): Promise<RunResult> {
    return runChecked(side.shell, argv, {
      what: `${what} on ${side.host.name}`,
      timeoutMs: this.deadline(timeoutMs, what),
    });
  }

  /**
   * A call's deadline: its own, or during the downtime what is left of the budget (throws once none is:
   * the rollback then starts).
   */
  private deadline(timeoutMs: number, what: string): number {
    if (this.downtimeEnd === undefined) return timeoutMs;
    const left = this.downtimeEnd - performance.now();
    if (left <= 0) throw new Error(`${what}: the downtime's budget (${this.downtimeBudgetMs} ms) is spent`);
    return Math.min(timeoutMs, Math.ceil(left));
  }

  /** A Docker call (or any promise) held to the downtime's deadline. */
  private async bounded<T>(work: Promise<T>, what: string, timeoutMs = 600_000): Promise<T> {
    return await withDeadline(work, this.deadline(timeoutMs, what), what);
  }

  private saveFacts(change: Partial<MigrationFacts>): void {
    if (!this.facts) return;
    this.facts = { ...this.facts, ...change };
    this.state.journal.setFacts(this.migrationId, this.facts);
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
    const shell = new ShellExecutor(this.pool, host);
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

  /** The data channels (from prepare on). */
  private get chan(): DataChannels {
    if (!this.channels) throw new Error('the data channels are not set up (prepare first)');
    return this.channels;
  }

  /**
   * The pre-migration image to the destination, through its channel (a tar stream on a session opened
   * beside the pre-checkpoint: no rsync round trips on a long link, no session start after the
   * checkpoint), then the sha256 of every file compared on both ends. Returns the bytes sent; the phase's
   * parts say how long it waited for the channel, sent, and verified.
   */
  private async pushPre(from: string): Promise<number> {
    const waited = performance.now();
    await this.chan.whenReady('pre');
    // The downtime's channel: a second session over the SSH connection the first one opened (its control
    // socket), started now, beside the send. The delta then travels on the connection the pre-migration
    // image has just warmed up, not on a new one in TCP's slow start: on its own connection the delta
    // (0.6-2 MB for simple under load) took 620-790 ms over the 100 ms round trip, 165-200 ms warm.
    void this.chan.start('final');
    const sent = performance.now();
    this.parts['channel'] = sent - waited;
    const bytes = await this.chan.send('pre', from);
    const verified = performance.now();
    this.parts['send'] = verified - sent;
    const [a, b] = await Promise.all([
      this.exec(this.src, manifestArgv(from), 'checksumming'),
      this.exec(this.dst, manifestArgv(this.chan.of('pre').into), 'checksumming'),
    ]);
    if (a.stdout !== b.stdout || a.stdout.trim() === '')
      throw new Error(`the files at the destination do not match the source (${this.chan.of('pre').into})`);
    this.parts['verify'] = performance.now() - verified;
    return bytes;
  }

  /** Ends the persistent shells (reopened by the next command, should one follow). */
  private async closeShells(): Promise<void> {
    await Promise.all([this.src?.shell.close(), this.dst?.shell.close()]);
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
    // The journal, before anything changes on a host: a recovery (another process, should this one die)
    // finds here what to undo or finish.
    this.facts = {
      testbed: this.inv.testbed,
      user: this.user.name,
      service: this.service.name,
      from: this.placement.host,
      to: this.req.to,
      srcContainerId: this.placement.containerId,
      srcContainerName: this.placement.container,
      dstContainerId: null,
      runc: null,
      srcRoot: null,
      srcStaging: stagingDir(this.inv.testbed, migrationKey(this.state.instanceId, this.migrationId), 'src'),
      dstStaging: stagingDir(this.inv.testbed, migrationKey(this.state.instanceId, this.migrationId), 'dst'),
      checkpoints: this.names,
      channels: [],
      transfer: null,
      deadman: null,
      port: this.placement.port,
    };
    this.state.journal.open(this.migrationId, this.user.name, currentOwner(), this.facts);
    try {
      await this.phase('prepare', async () => {
        [this.src, this.dst] = await Promise.all([
          this.side(getHost(this.inv, this.placement.host), 'src'),
          this.side(getHost(this.inv, this.req.to), 'dst'),
        ]);
        await this.req.onSourceShell?.(this.src.shell);
        const trust = trustDirOnHost(this.inv);
        this.channels = new DataChannels(
          (argv, what, timeoutMs) => this.exec(this.src, argv, what, timeoutMs),
          this.src.staging,
          this.dst.staging,
          {
            user: this.dst.host.ssh.user,
            address: this.dst.host.dataAddress,
            port: this.dst.host.ssh.port,
            key: `${trust}/id_ed25519`,
            knownHosts: `${trust}/known_hosts`,
            controlPath: `${this.src.staging}.ssh`,
          },
        );
        this.saveFacts({
          srcRoot: this.src.root,
          channels: this.channels.dirs,
          transfer: this.channels.target,
        });
        await this.steps.run(
          'staging',
          async () => {
            await Promise.all([
              this.exec(this.src, makeStagingArgv(this.src.staging), 'preparing'),
              this.exec(this.dst, makeStagingArgv(this.dst.staging), 'preparing'),
            ]);
          },
          () => this.undo('staging'),
          { intent: true },
        );
        // The session that takes longest to start (the pre-migration image's channel: a login shell on the
        // destination) starts now, beside the rest of the preparation.
        if (this.strategy === 'delta') void this.chan.start('pre');
        this.srcContainer = this.src.docker.getContainer(this.placement.containerId);
        this.srcInfo = await this.srcContainer.inspect();
        if (!this.srcInfo.State.Running)
          throw new Error(
            `the container ${this.placement.container} on ${this.src.host.name} is not running`,
          );
        this.runc = await findRunc(this.src.shell, this.srcInfo.State.Pid);
        this.saveFacts({ srcContainerId: this.srcInfo.Id, runc: this.runc ?? null });
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
        spec.Labels = { ...spec.Labels, [MIGRATION_LABEL]: this.dst.staging };
        // Owed from its start: should this process die while Docker creates it, a recovery finds the
        // container by its label.
        await this.steps.run(
          'destination',
          async () => {
            this.dstContainer = await this.dst.docker.createContainer(spec);
            this.saveFacts({ dstContainerId: this.dstContainer.id });
          },
          () => this.undo('destination'),
          { intent: true },
        );
        const dstInfo = await this.dstContainer!.inspect();
        this.dstUpper = upperDir(dstInfo) ?? '';
        return null;
      });
      this.prepared = true;
    } catch (err) {
      const failed = await this.abandon(err, 'nothing changed on the source');
      // The user's lock held by another controller: its own error (LOCKED, exit 2), naming the holder.
      const cause = err instanceof PhaseFailed ? err.cause : err;
      throw cause instanceof LockBusyError ? cause : failed;
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

  /** Pre-migration (delta): checkpoint the running container and push that image to the destination. */
  async preMigrate(): Promise<void> {
    await this.prepare();
    if (this.strategy !== 'delta' || this.preDone) return;
    try {
      // The pre-migration image's channel started with the preparation (the downtime's starts once it is
      // open: see pushPre), the probe starts after the pre-checkpoint: no session start lies between the
      // pre-transfer and the final checkpoint.
      await this.chan.start('pre');
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
      throw await this.abandon(err, 'the service kept running on the source');
    }
  }

  /** The migration proper: final checkpoint (downtime starts), delta or whole image, restore, verify, cleanup. */
  async migrate(): Promise<MigrationResult> {
    await this.preMigrate();
    // Before the service stops: the probe on the user's machine, and the data channel to the
    // destination (its SSH session and login shell now, not during the downtime).
    let probe: RunningProbe | undefined;
    try {
      [probe] = await Promise.all([
        this.probeOnce(),
        this.check?.before(runIn(this.srcContainer), this.src.host.name, this.probeCarriesState()),
        this.chan.whenReady('final'),
      ]);
      throwIfInterrupted(this.req.signal);
      // Everything is ready for the downtime: a caller timing it (the orchestrated planner) waits here.
      await this.req.beforeCheckpoint?.();
      throwIfInterrupted(this.req.signal);
      // The dead-man switch, armed before the service freezes (runc's path: Docker's exits the container,
      // which no switch on the source can bring back without Docker's checkpoint; see `edgectl recover`).
      if (this.runc) {
        const runc = this.runc;
        const dir = `${this.src.staging}/deadman`;
        await this.steps.run(
          'deadman',
          async () => {
            this.saveFacts({ deadman: dir });
            await this.exec(
              this.src,
              armDeadmanArgv(
                dir,
                Math.ceil((this.downtimeBudgetMs + DEADMAN_MARGIN_MS) / 1000),
                runc,
                this.srcInfo.Id,
              ),
              'arming the dead-man switch',
              10_000,
            );
          },
          () => this.undo('deadman'),
          { intent: true },
        );
      }
    } catch (err) {
      throw await this.abandon(new PhaseFailed('checkpoint', err), 'the service kept running on the source');
    }
    let failedPhase: PhaseName = 'checkpoint';
    try {
      await this.phase('checkpoint', async () => {
        failedPhase = 'checkpoint';
        const started = performance.now();
        // The downtime starts: its budget runs from here.
        this.downtimeEnd = started + this.downtimeBudgetMs;
        // Owed from the moment it starts: the checkpoint pauses the source first, and whatever fails after
        // the pause (the writable layer's archive, a full disk, the deadline) leaves it paused.
        const bytes = await this.steps.run(
          'freeze',
          () => this.takeCheckpoint('final'),
          () => this.undo('freeze'),
          {
            intent: true,
          },
        );
        this.recordCheckpoint('final', bytes, performance.now() - started);
        return bytes;
      });
      // Where the destination has the final image once the transfer (and patch) are done.
      let finalAtDst = this.chan.of('final').into;
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
        await this.phase('transfer', () =>
          this.chan.send('final', delta, this.deadline(600_000, 'the transfer')),
        );
        failedPhase = 'patch';
        await this.phase('patch', async () => {
          if (codec === 'pages') {
            finalAtDst = `${this.dst.staging}/final`;
            await this.exec(
              this.dst,
              pagesPatchArgv(PAGES_BIN, pre.dst, this.chan.of('final').into, finalAtDst),
              'patching the images',
            );
          } else if (codec === 'xdelta3') {
            finalAtDst = `${this.dst.staging}/final`;
            await this.exec(
              this.dst,
              patchArgv(pre.dst, this.chan.of('final').into, finalAtDst),
              'patching the images',
            );
          } else {
            finalAtDst = pre.dst;
            await this.exec(
              this.dst,
              rsyncPatchArgv(pre.dst, this.chan.of('final').into),
              'patching the images',
            );
          }
          return null;
        });
      } else {
        failedPhase = 'transfer';
        await this.phase('transfer', () =>
          this.chan.send('final', `${this.src.staging}/final`, this.deadline(600_000, 'the transfer')),
        );
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
        // Owed from its start: a restore that fails (or outlives its deadline) may still bring the
        // container up on the destination, and the source must not run beside it.
        await this.steps.run(
          'restore',
          () =>
            this.bounded(
              startFromCheckpoint(container, this.names.final),
              `restoring on ${this.dst.host.name}`,
            ),
          () => this.undo('restore'),
          { intent: true },
        );
        this.parts['docker'] = performance.now() - dockerStarted;
        const neighbourStarted = performance.now();
        if (await primeNeighbour(this.dst.shell, container, this.deadline(10_000, 'priming ARP')))
          this.parts['neighbour'] = performance.now() - neighbourStarted;
        return null;
      });
      failedPhase = 'verify';
      await this.phase('verify', async () => {
        // The probe pings over the user's own path: its first answer from the destination is the
        // verification, and costs the servers nothing while the restored service warms up; the edgectl
        // probe also brings the state digests the check compares (no session here). Without a probe (or
        // should it not see the destination answer), a ping from inside the container.
        const seen = probe ? await this.bounded(probe.result, 'the probe') : null;
        if (seen?.answeredBy !== 'to')
          await this.bounded(
            waitUntilAnswers(this.dstContainer!, this.service, this.deadline(30_000, 'verifying'), {
              pool: this.pool,
              host: this.dst.host,
            }),
            `waiting for the service on ${this.dst.host.name}`,
          );
        if (this.check)
          await this.bounded(
            this.check.after(
              runIn(this.dstContainer!),
              { from: this.src.host.name, to: this.dst.host.name },
              seen ?? null,
            ),
            'the state check',
          );
        return null;
      });
      // The commit: the source's dead-man switch is settled first (a switch that fired has thawed the
      // source, which then runs on: the destination's copy goes), then the database moves the service.
      if (this.facts?.deadman) {
        const r = await this.src.shell.run(settleDeadmanArgv(this.facts.deadman, 'committed'), {
          timeoutMs: this.deadline(10_000, 'committing'),
        });
        if (r.code !== 0) throw new Error(`committing on ${this.src.host.name}: ${r.stderr.trim()}`);
      }
    } catch (err) {
      // A probe left running ends by itself: it sees the service answer again on the source after the
      // rollback (or gives up), and closing the SSH pool ends it in any case.
      throw await this.rollback(err, failedPhase);
    }
    this.downtimeEnd = undefined;
    const dstInfo = await this.dstContainer!.inspect();
    const placement: Placement = {
      ...this.placement,
      host: this.dst.host.name,
      containerId: dstInfo.Id,
      address: this.dst.host.dataAddress,
      sinceMs: Date.now(),
    };
    this.state.transaction(() => {
      this.state.placements.set(placement, 'migrated');
      this.steps.commit();
    });
    const probed = probe ? await probe.result : null;
    await this.readRestoreCriu(dstInfo.State.Pid);
    // The destination answered: only now is the source deleted.
    const cleaned = await this.phase('cleanup', async () => {
      await finishOnSource(this.undoEnv(UNDO_TIMEOUT_MS));
      await deleteCheckpoint(this.dstContainer!, this.names.final).catch(() => {});
      return null;
    }).then(
      () => true,
      // The service runs on the destination; leftovers are not worth failing for: the journal stays open,
      // and `edgectl recover` finishes the cleanup.
      () => false,
    );
    if (cleaned) this.state.journal.close(this.migrationId, 'committed');
    else this.state.journal.release(this.migrationId);
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
      ...recordedState(this.check),
      endpoint: { address: placement.address, port: placement.port },
      latency: pathLatency(
        this.inv,
        (h) => this.state.hostFacts.get(h),
        this.src.host.name,
        this.dst.host.name,
      ),
    };
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

  /**
   * Starts the downtime probe on the user's mu host, once, and waits until it sees the service answer
   * (undefined without a probe: the request or the service says none).
   */
  /** An edgectl downtime probe is to run: it brings the source's state digest with no exec (state-check.ts). */
  private probeCarriesState(): boolean {
    return this.req.probe !== false && this.service.probe.kind === 'edgectl';
  }

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

  /** The undos' view of this migration: its facts and its two sides. */
  private undoEnv(timeoutMs: number): UndoEnv {
    return {
      facts: this.facts!,
      service: this.service,
      pool: this.pool,
      src: this.src,
      dst: this.dst,
      finalTaken: this.finalTaken,
      settleMs: 0,
      timeoutMs,
    };
  }

  /** One step's undo, with this migration's facts (the same function a recovery runs). */
  private undo(step: keyof typeof UNDO): Promise<void> {
    return this.undoStep(step, this.undoEnv(UNDO_TIMEOUT_MS));
  }

  /**
   * Undoes every step that owes it (last first) and closes the shells. Returns what failed; the journal is
   * closed when nothing did (else it stays open for `edgectl recover`).
   */
  private async unwind(): Promise<UndoFailure[]> {
    // Nothing of the undo is held to the downtime's budget: each call has its own deadline.
    this.downtimeEnd = undefined;
    const failed = await this.steps.unwind();
    await this.closeShells();
    if (this.migrationId) {
      if (failed.length === 0) this.state.journal.close(this.migrationId, 'undone');
      // Left for edgectl recover, which need not wait for this process to end.
      else this.state.journal.release(this.migrationId);
    }
    return failed;
  }

  /** Before the final checkpoint: what the destination got is removed; the source was never stopped. */
  private async abandon(err: unknown, outcome: string): Promise<MigrationError> {
    const failed = await this.unwind();
    return this.failure(err, false, failed.length === 0 ? outcome : `${outcome}; ${leftBehind(failed)}`);
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

  /** After the final checkpoint: every step undone, the service brought back on the source. */
  private async rollback(err: unknown, phase: PhaseName): Promise<MigrationError> {
    const failed = err instanceof PhaseFailed ? err : new PhaseFailed(phase, err);
    let undone: UndoFailure[] = [];
    try {
      await this.phase('rollback', async () => {
        undone = await this.unwind();
        const freeze = undone.find((f) => f.step === 'freeze');
        if (freeze) throw new Error(freeze.error);
        return null;
      });
    } catch (rollbackErr) {
      return this.failure(
        failed,
        false,
        `and the rollback failed too (${errorMessage(rollbackErr instanceof PhaseFailed ? rollbackErr.cause : rollbackErr)})`,
        `the service may be down on ${this.src.host.name}; once the cause is fixed, edgectl recover --user ${this.user.name} brings it back (its journal is kept)`,
      );
    }
    const rest = undone.length > 0 ? `; ${leftBehind(undone)}` : '';
    return this.failure(
      failed,
      true,
      `rolled back: the service runs again on ${this.src.host.name}, its state intact${rest}`,
      undone.length > 0
        ? `edgectl recover --user ${this.user.name} finishes the undo once the hosts answer`
        : undefined,
    );
  }
}

/** What an unwind could not undo, for a failure's message. */
function leftBehind(failed: readonly UndoFailure[]): string {
  return `not undone (edgectl recover finishes it): ${failed.map((f) => `${f.step} (${f.error})`).join('; ')}`;
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
  try {
    return await new Migration(inv, pool, state, {
      ...req,
      onSourceShell: async (shell) => {
        await lock.onHost(shell);
        await req.onSourceShell?.(shell);
      },
    }).migrate();
  } finally {
    await lock.release();
  }
}
