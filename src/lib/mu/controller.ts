/**
 * The controller's side of the virtual users: starting a user's agent on its machine over SSH and
 * recording what it reports (AgentSession), and one handover on command (`edgectl handover`). Both build
 * the agent spec here from hosts.yml and the state database, and record into the state database.
 */
import { EventEmitter } from 'node:events';
import { errorMessage, UsageError } from '../errors.js';
import { getBasestation, getHost, getUser, type Inventory, SAMPLE_FRAMES } from '../inventory/index.js';
import { RemoteCommandError, type RemoteProcess, SshExecutor, type SshPool } from '../remote/index.js';
import type { StateDb } from '../state/index.js';
import {
  type AgentCommand,
  type AgentReport,
  type ByeReport,
  type HandoverReport,
  type HelloReport,
  LineSplitter,
} from './agent-protocol.js';
import { type AgentSpec, type AgentSpecOptions, agentSpec } from './agent-spec.js';
import { DownlinkCaps } from './downlink.js';
import type { HandoverOutcome } from './handover.js';
import { HandoverError } from './handover.js';
import { remoteEdgectlArgv } from './offload.js';

const now = () => performance.timeOrigin + performance.now();

export interface StartAgentOptions extends AgentSpecOptions {
  user: string;
  experimentId?: number | null;
  /** Every report, as it comes (after it is recorded). */
  onReport?: (report: AgentReport) => void;
  /** Give up when the agent has not said hello within this long (its machine's login shell included). */
  helloTimeoutMs?: number;
}

/** A running agent: what it said, how to talk to it, and how it ended. */
export class AgentSession extends EventEmitter {
  hello: HelloReport | undefined;
  bye: ByeReport | undefined;
  readonly errors: string[] = [];
  readonly handovers: HandoverReport[] = [];
  tasks = 0;
  positions = 0;
  gaps = 0;
  /** What the controller put back when the agent ended (the downlink rate caps on the APs). */
  restored: string[] = [];
  /**
   * Resolves when the agent's session has ended and the controller's half is put back: its bye
   * (undefined when it ended without one) and its exit code.
   */
  readonly done: Promise<{ bye: ByeReport | undefined; code: number; stderr: string }>;

  constructor(
    private readonly proc: RemoteProcess,
    exited: Promise<{ code: number; stderr: string }>,
    readonly downlink: DownlinkCaps,
  ) {
    super();
    this.done = exited.then(async (e) => {
      this.restored = await downlink.restore().catch(() => []);
      return { bye: this.bye, ...e };
    });
  }

  send(cmd: AgentCommand): void {
    this.proc.write(`${JSON.stringify(cmd)}\n`);
  }

  /**
   * Hands the user over to `to`, now or with its link going down at `atMs` (controller clock); `id` (the
   * controller's decision) comes back in the handover's report, kept or dropped.
   */
  handover(to: string, atMs?: number, id?: number): void {
    this.send({
      cmd: 'handover',
      to,
      ...(atMs !== undefined ? { at: atMs } : {}),
      ...(id !== undefined ? { id } : {}),
    });
  }

  /** Asks the agent to stop and waits for it to end (closing its stdin too, in case it missed the line). */
  async stop(timeoutMs = 30_000): Promise<{ bye: ByeReport | undefined; code: number; stderr: string }> {
    this.send({ cmd: 'stop' });
    const timer = setTimeout(() => this.proc.close(), timeoutMs);
    try {
      return await this.done;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Drops its SSH channel without a word (what a dying session does): the agent must clean up alone. */
  cut(): void {
    this.proc.close();
  }

  /** Resolves with the first report that `match` accepts; rejects when the agent ends first or after timeoutMs. */
  waitFor<T extends AgentReport>(match: (r: AgentReport) => r is T, timeoutMs: number): Promise<T>;
  waitFor(match: (r: AgentReport) => boolean, timeoutMs: number): Promise<AgentReport>;
  waitFor(match: (r: AgentReport) => boolean, timeoutMs: number): Promise<AgentReport> {
    return new Promise((resolve, reject) => {
      const onReport = (r: AgentReport) => {
        if (!match(r)) return;
        cleanup();
        resolve(r);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no such report from the agent within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.off('report', onReport);
      };
      this.on('report', onReport);
      void this.done.then(() => {
        cleanup();
        reject(
          new Error(`the agent ended first: ${this.errors.at(-1) ?? this.bye?.reason ?? 'no reason given'}`),
        );
      });
    });
  }
}

/**
 * How long an agent may take to say hello. It reads and scales its frames first: the six 1920-pixel samples
 * took 2.4 s (0.4 s a photo, pure JavaScript, 2 busy cores), so a directory of up to MAX_FRAMES such photos
 * gets ten minutes more than the login and start-up.
 */
function helloTimeoutMs(spec: AgentSpec): number {
  const dir = spec.task.frames !== undefined && spec.task.frames !== SAMPLE_FRAMES;
  return 60_000 + (dir ? 600_000 : 0);
}

/**
 * Starts `edgectl mu run` for a user on its machine, answers its clock requests and records its reports
 * (positions, tasks, handovers, gaps) in the state database; resolves once it said hello.
 */
export async function startAgent(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  options: StartAgentOptions,
): Promise<AgentSession> {
  const user = getUser(inv, options.user);
  const host = getHost(inv, user.host);
  const placement = state.placements.get(user.name);
  const spec = agentSpec(inv, user.name, placement, options);
  const experimentId = options.experimentId ?? null;
  const exec = pool.executor(host) as SshExecutor;
  if (!(exec instanceof SshExecutor)) throw new Error('agents run over SSH');
  let session: AgentSession | undefined;
  const early: AgentReport[] = [];
  const lines = new LineSplitter();
  let stdoutNoise = '';
  const onLine = (line: string) => {
    let report: AgentReport;
    try {
      report = JSON.parse(line) as AgentReport;
    } catch {
      stdoutNoise = line.slice(0, 200);
      return;
    }
    if (!session) early.push(report);
    else handle(session, report);
  };
  const handle = (s: AgentSession, r: AgentReport) => {
    try {
      record(s, r);
    } catch (err) {
      s.errors.push(`recording a ${r.type} report: ${errorMessage(err)}`);
    }
    s.emit('report', r);
    options.onReport?.(r);
  };
  const record = (s: AgentSession, r: AgentReport) => {
    switch (r.type) {
      case 'hello':
        s.hello = r;
        return;
      case 'clock?':
        s.send({ cmd: 'clock', seq: r.seq, t: now() });
        return;
      case 'position':
        s.positions++;
        s.downlink.set(r.bs, r.rateBps);
        state.userReports.insert([
          {
            experimentId,
            atMs: r.t,
            user: user.name,
            position: [r.x, r.y],
            bs: r.bs,
            rssi: r.rssi,
            rateBps: r.rateBps,
          },
        ]);
        return;
      case 'task': {
        s.tasks++;
        // Where the service is now (a migration may have moved it since the agent started).
        const host = state.placements.get(user.name)?.host;
        state.tasks.insert([
          {
            experimentId,
            user: user.name,
            bs: r.bs,
            host: host ?? null,
            service: user.service,
            taskId: r.id,
            counter: r.counter,
            sentMs: r.t,
            bytes: r.bytes,
            e2eMs: r.e2eMs,
            procMs: r.procMs,
            txMs: r.txMs,
            reconnects: r.reconnects,
            ok: r.ok,
            error: r.error ?? null,
            peer: r.peer,
          },
        ]);
        return;
      }
      case 'handover-start':
        return;
      case 'handover':
        s.handovers.push(r);
        if (!r.error || r.linkDownMs > 0)
          state.handovers.insert({
            experimentId,
            atMs: r.t,
            user: user.name,
            fromBs: r.from,
            toBs: r.to,
            durationMs: r.gapMs,
            linkDownMs: r.linkDownMs,
            answerGapMs: r.answerGapMs,
            trigger: r.trigger,
          });
        return;
      case 'gap':
        s.gaps++;
        state.gaps.insert({
          experimentId,
          user: user.name,
          startMs: r.start,
          endMs: r.end,
          cause: r.cause,
          detail: r.detail ?? null,
        });
        return;
      case 'error':
        s.errors.push(r.message);
        return;
      case 'bye':
        s.bye = r;
        return;
      case 'clock':
        return;
    }
  };

  const proc = await exec.spawn(
    remoteEdgectlArgv(host, ['mu', 'run', '--user', user.name, '--spec', JSON.stringify(spec)]),
    {
      onStdout: (chunk) => {
        for (const line of lines.push(chunk)) onLine(line);
      },
    },
  );
  session = new AgentSession(
    proc,
    proc.done,
    new DownlinkCaps(inv, pool, user.name, (message) => session?.errors.push(message)),
  );
  for (const r of early.splice(0)) handle(session, r);
  const s = session;
  if (s.hello) return s;
  try {
    await s.waitFor((r) => r.type === 'hello', options.helloTimeoutMs ?? helloTimeoutMs(spec));
  } catch (err) {
    proc.close();
    const ended = await Promise.race([
      s.done,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000)),
    ]);
    const why =
      s.errors.at(-1) ?? ended?.stderr.trim().split('\n').at(-1) ?? stdoutNoise ?? errorMessage(err);
    throw new AgentError(`${user.name}'s agent on ${host.name} did not start: ${why || errorMessage(err)}`);
  }
  return s;
}

export class AgentError extends HandoverError {}

export interface HandoverRequest {
  user: string;
  to: string;
  blackoutMs?: number;
  experimentId?: number | null;
}

export interface HandoverResult {
  user: string;
  from: string | null;
  to: string;
  /** The gap in service the user saw (ms): its last answer before to its first request answered after. */
  durationMs: number | null;
  /** The radio blackout as applied. */
  linkDownMs: number;
  answerGapMs: number | null;
  /** When the link went down (epoch ms). */
  atMs: number;
  /** Whether the user had a service to measure the gap against. */
  measured: boolean;
}

/** One handover, done on the user's machine (`edgectl mu handover` there, over SSH), recorded here. */
export async function handoverUser(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  req: HandoverRequest,
): Promise<HandoverResult> {
  const user = getUser(inv, req.user);
  getBasestation(inv, req.to);
  const host = getHost(inv, user.host);
  const spec = agentSpec(inv, user.name, state.placements.get(user.name), {
    ...(req.blackoutMs !== undefined ? { blackoutMs: req.blackoutMs } : {}),
  });
  const r = await pool
    .executor(host)
    .run(
      remoteEdgectlArgv(host, ['mu', 'handover', '--json', '--spec', JSON.stringify(spec), '--to', req.to]),
      {
        timeoutMs: spec.blackoutMs + 60_000,
      },
    );
  let envelope: {
    status?: number;
    result?: HandoverOutcome;
    error?: { message?: string; hint?: string; code?: string };
  };
  try {
    envelope = JSON.parse(r.stdout) as typeof envelope;
  } catch {
    throw new RemoteCommandError(host.name, r, `handing ${user.name} over on ${host.name}`);
  }
  if (!envelope.result) {
    const message = envelope.error?.message ?? `edgectl mu handover on ${host.name} exited ${r.code}`;
    if (envelope.error?.code === 'USAGE')
      throw new UsageError(message, envelope.error.hint ? { hint: envelope.error.hint } : {});
    throw new HandoverError(message, envelope.error?.hint);
  }
  const o = envelope.result;
  if (o.aborted)
    throw new HandoverError(`${user.name}'s handover to ${req.to} was cut off; it stays on ${o.from}`);
  state.handovers.insert({
    experimentId: req.experimentId ?? null,
    atMs: o.downMs,
    user: user.name,
    fromBs: o.from,
    toBs: o.to,
    durationMs: o.gapMs,
    linkDownMs: o.linkDownMs,
    answerGapMs: o.answerGapMs,
    trigger: 'cli',
  });
  state.gaps.insert({
    experimentId: req.experimentId ?? null,
    user: user.name,
    startMs: o.downMs,
    endMs: o.downMs + (o.gapMs ?? o.linkDownMs),
    cause: 'handover',
  });
  return {
    user: user.name,
    from: o.from,
    to: o.to,
    durationMs: o.gapMs === null ? null : Math.round(o.gapMs * 10) / 10,
    linkDownMs: Math.round(o.linkDownMs * 10) / 10,
    answerGapMs: o.answerGapMs === null ? null : Math.round(o.answerGapMs * 10) / 10,
    atMs: Math.round(o.downMs),
    measured: o.gapMs !== null,
  };
}
