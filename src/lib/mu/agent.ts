/**
 * The virtual mobile user (`edgectl mu run`), on the user's machine: it walks its trajectory, hears every
 * base station at the RSSI of the path-loss model, keeps its radio rate cap (provision's HTB class of the
 * user on each radio interface) at the rate that RSSI allows, offloads tasks all the time, hands over by
 * itself when the hysteresis rule says so (the paper's baseline) or when told, and reports all of it as
 * JSON lines (agent-protocol.ts). When it ends, however it ends (a `stop`, stdin closed because its SSH
 * session died, a signal), it puts back what it changed: rate caps at provision's rate, no blackout rule.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errorMessage, UsageError } from '../errors.js';
import { cidrContains, parseCidr, parseIpv4 } from '../inventory/index.js';
import { dataRateBps, decideHandover, positionAt, rssiMap } from '../mobility/index.js';
import { parseAddrs, readAddrsArgv } from '../netem/ip.js';
import { flowRateArgv } from '../netem/tc.js';
import { type Executor, LocalExecutor, runChecked } from '../remote/index.js';
import { abortableSleep } from '../util/time.js';
import { type AgentCommand, type AgentReport, type ByeReport, clockSample } from './agent-protocol.js';
import type { AgentSpec, Endpoint } from './agent-spec.js';
import { type AgentTaskResult, AgentTasks } from './agent-tasks.js';
import {
  firstAnswerAfter,
  GAP_GIVE_UP_MS,
  pingBefore,
  type RadioEvent,
  radioEvent,
  readUserBasestation,
  readUserRule,
  removeBlackoutLeftovers,
} from './handover.js';

const now = () => performance.timeOrigin + performance.now();
const CLOCK_SAMPLES = 5;
const CLOCK_EVERY_MS = 30_000;
/** Decisions (hysteresis, rate caps) are taken this often; positions are reported every reportEveryMs. */
const TICK_MS = 100;

/** Where an agent keeps its pid, so that a second agent or `mu handover` for the same user refuses. */
export function agentPidFile(testbed: string, user: string): string {
  return `/run/edgectl/mu/${testbed}/${user}.pid`;
}

/** The pid of a live agent of this user on this machine, if one runs. */
export function runningAgent(testbed: string, user: string): Promise<number | undefined> {
  return agentOf(agentPidFile(testbed, user));
}

async function agentOf(file: string): Promise<number | undefined> {
  const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes('mu\0run') ? pid : undefined;
}

/** A handover the agent is to make: the controller's (now or at an instant) or the RSSI rule's. */
interface HandoverPlan {
  to: string;
  trigger: 'rssi' | 'command';
  /** The command's id (the controller's decision). */
  id: number | null;
  /** The command's `at`: when the link is to go down, controller clock. */
  plannedAt: number | null;
}

interface Radio {
  bs: string;
  dev: string;
  /** The rate its class has now (undefined: as provision made it). */
  rateBps?: number;
}

export interface AgentOptions {
  emit: (report: AgentReport) => void;
  exec?: Executor;
  /** Where it keeps its pid (default: agentPidFile; tests give one of their own). */
  pidFile?: string;
}

export class MuAgent {
  private readonly exec: Executor;
  private readonly pidFile: string;
  private readonly emit: (report: AgentReport) => void;
  private readonly radios: Radio[] = [];
  private bs: string | null = null;
  /** Which base station carried the user's traffic from when (local clock): tasks are attributed by it. */
  private readonly path: { atMs: number; bs: string | null }[] = [];
  private endpoint: Endpoint | null;
  private auto: boolean;
  private offsetMs = 0;
  private bestClock: { offsetMs: number; rttMs: number } | undefined;
  private clockSeq = 0;
  private readonly clockSent = new Map<number, number>();
  private clockSamples = 0;
  /**
   * The radio event under way (link down, blackout, switch, link up): it holds the user's link, so two
   * never overlap. A handover's gap measurement comes after it and holds nothing up.
   */
  private radio: Promise<void> | undefined;
  /** Handovers decided whose link has not gone down yet (the RSSI rule waits for them). */
  private preparing = 0;
  /** The gap measurements under way: the next radio event cuts them off. */
  private readonly measuring = new Set<AbortController>();
  /** Every handover started and not yet reported: the agent reports them all before its bye. */
  private readonly handoversRunning = new Set<Promise<void>>();
  /** Handovers waiting for their instant (their timer fires one ping's time ahead of it). */
  private readonly planned = new Map<NodeJS.Timeout, HandoverPlan>();
  private pingId = 2_000_000;
  /** Clock requests waiting to go out. */
  private readonly scheduled = new Set<NodeJS.Timeout>();
  private readonly tasks: AgentTasks;
  private handovers = 0;
  private lastAnswerMs: number | null = null;
  private readonly stopping = new AbortController();
  private stopReason = '';
  private readonly walkStartMs = now();

  constructor(
    private readonly spec: AgentSpec,
    options: AgentOptions,
  ) {
    this.exec = options.exec ?? new LocalExecutor();
    this.pidFile = options.pidFile ?? agentPidFile(spec.testbed, spec.user);
    this.emit = (r) => {
      try {
        options.emit(r);
      } catch {
        // nobody listens any more: the end is near (stdout broke), and cleanup must still run
      }
    };
    this.endpoint = spec.endpoint;
    this.auto = spec.handover === 'auto';
    this.tasks = new AgentTasks(spec, this.stopping.signal, (r, endpoint) => this.onTask(r, endpoint));
  }

  /** The controller's time (epoch ms) for a time on this machine's clock. */
  private c(localMs: number): number {
    return Math.round((localMs + this.offsetMs) * 1000) / 1000;
  }

  private tables(): Record<string, number> {
    return Object.fromEntries(this.spec.basestations.map((b) => [b.name, b.table]));
  }

  /** Stops the agent (idempotent): run() then cleans up and resolves. */
  stop(reason: string): void {
    if (this.stopping.signal.aborted) return;
    this.stopReason = reason;
    this.stopping.abort();
    for (const m of this.measuring) m.abort('the agent stopped');
  }

  command(cmd: AgentCommand): void {
    switch (cmd.cmd) {
      case 'stop':
        this.stop('stop command');
        return;
      case 'auto':
        this.auto = cmd.on;
        return;
      case 'endpoint':
        this.endpoint = cmd.endpoint;
        this.restartTasks();
        return;
      case 'clock':
        this.onClock(cmd.seq, cmd.t);
        return;
      case 'handover': {
        const plan: HandoverPlan = {
          to: cmd.to,
          trigger: 'command',
          id: cmd.id ?? null,
          plannedAt: cmd.at ?? null,
        };
        if (!this.spec.basestations.some((b) => b.name === cmd.to)) {
          this.drop(plan, `unknown base station ${cmd.to}`);
          return;
        }
        if (this.stopping.signal.aborted) {
          this.drop(plan, 'the agent is stopping');
          return;
        }
        // A controller that decides handovers takes them over from the hysteresis rule.
        this.auto = false;
        if (cmd.at === undefined) {
          this.startHandover(plan);
          return;
        }
        // At an instant: started one ping's time ahead (the ping before it, the last answer before the
        // link goes down), the link going down at that instant whatever else runs.
        const delay = cmd.at - this.offsetMs - this.spec.attemptTimeoutMs - now();
        const timer = setTimeout(
          () => {
            this.planned.delete(timer);
            this.startHandover(plan);
          },
          Math.max(0, delay),
        );
        this.planned.set(timer, plan);
        return;
      }
    }
  }

  /** Runs until stopped (or durationS); returns the last report, already emitted. */
  async run(): Promise<ByeReport> {
    const restored: string[] = [];
    const lock = this.pidFile;
    try {
      const other = await agentOf(lock);
      if (other) throw new UsageError(`an agent of ${this.spec.user} already runs here (pid ${other})`);
      await mkdir(dirname(lock), { recursive: true });
      await writeFile(lock, `${process.pid}\n`);
      // Before hello: a frame directory that cannot be read fails the agent at once, naming the file.
      await this.tasks.load();
      await this.start();
      this.restartTasks();
      this.requestClock(CLOCK_SAMPLES);
      await this.loop();
    } catch (err) {
      if (!this.stopping.signal.aborted) {
        this.emit({ type: 'error', t: this.c(now()), message: errorMessage(err) });
        this.stop(`failed: ${errorMessage(err)}`);
      }
    } finally {
      for (const t of this.scheduled) clearTimeout(t);
      for (const [t, plan] of this.planned) {
        clearTimeout(t);
        this.drop(plan, 'the agent is stopping');
      }
      this.planned.clear();
      this.tasks.stop();
      await Promise.all(this.handoversRunning);
      await this.tasks.ended();
      restored.push(...(await this.restore()));
      const pid = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (pid === process.pid) await rm(lock, { force: true });
    }
    const bye: ByeReport = {
      type: 'bye',
      t: this.c(now()),
      reason: this.stopReason,
      tasks: this.tasks.count,
      handovers: this.handovers,
      bs: this.bs,
      restored,
    };
    this.emit(bye);
    return bye;
  }

  private async start(): Promise<void> {
    const addrs = parseAddrs((await runChecked(this.exec, readAddrsArgv())).stdout);
    for (const b of this.spec.basestations) {
      const cidr = parseCidr(b.radioCidr);
      const mine = addrs.find(
        (a) =>
          a.address !== b.apAddress && cidr !== undefined && cidrContains(cidr, parseIpv4(a.address) ?? -1),
      );
      if (mine) this.radios.push({ bs: b.name, dev: mine.dev });
    }
    const rule = await readUserBasestation(this.exec, this.spec.address, this.tables());
    if (!rule)
      throw new UsageError(`no path rule for ${this.spec.user} (${this.spec.address}) on this machine`, {
        hint: 'run edgectl provision first',
      });
    this.setPath(rule.bs);
    // A handover of an earlier agent cut off half-way left its blackout: the user starts connected.
    if ((await removeBlackoutLeftovers(this.exec, this.spec.user)) > 0)
      this.emit({ type: 'error', t: this.c(now()), message: 'removed a blackout left by an earlier agent' });
    this.emit({
      type: 'hello',
      t: this.c(now()),
      pid: process.pid,
      user: this.spec.user,
      bs: this.bs,
      radios: Object.fromEntries(this.radios.map((r) => [r.bs, r.dev])),
      endpoint: this.endpoint,
      handover: this.auto ? 'auto' : 'controller',
      walkT: this.c(this.walkStartMs),
    });
  }

  private setPath(bs: string | null): void {
    this.bs = bs;
    this.path.push({ atMs: now(), bs });
  }

  private bsAt(localMs: number): string | null {
    let bs: string | null = this.path[0]?.bs ?? null;
    for (const p of this.path) if (p.atMs <= localMs) bs = p.bs;
    return bs;
  }

  private async loop(): Promise<void> {
    const { signal } = this.stopping;
    let lastReport = 0;
    let lastClock = now();
    while (!signal.aborted) {
      const t = now();
      const walkS = this.spec.startAtS + (t - this.walkStartMs) / 1000;
      if (this.spec.durationS > 0 && t - this.walkStartMs >= this.spec.durationS * 1000) {
        this.stop('duration reached');
        break;
      }
      const [x, y] = positionAt(this.spec.trajectory, walkS);
      const rssi = rssiMap(this.basestations(), [x, y]);
      await this.capRates(rssi);
      if (t - lastReport >= this.spec.reportEveryMs) {
        lastReport = t;
        this.emit({
          type: 'position',
          t: this.c(t),
          x: round(x),
          y: round(y),
          bs: this.bs,
          rssi: Object.fromEntries(Object.entries(rssi).map(([k, v]) => [k, round(v)])),
          rateBps: this.bs ? dataRateBps(rssi[this.bs] ?? Number.NEGATIVE_INFINITY) : 0,
        });
      }
      // One RSSI-triggered handover at a time: while one is on its way the rule is not asked again.
      if (this.auto && this.preparing === 0 && !this.radio) {
        const to = decideHandover(this.bs, rssi, this.basestations(), {
          hysteresisDb: this.spec.hysteresisDb,
        });
        if (to) this.startHandover({ to, trigger: 'rssi', id: null, plannedAt: null });
      }
      if (t - lastClock >= CLOCK_EVERY_MS) {
        lastClock = t;
        this.requestClock(1);
      }
      await sleepUntil(t + TICK_MS, signal);
    }
  }

  private basestations(): AgentSpec['basestations'] {
    return this.spec.basestations;
  }

  /** Each radio interface's class at the rate its base station's RSSI allows (changed only when it changes). */
  private async capRates(rssi: Record<string, number>): Promise<void> {
    for (const r of this.radios) {
      const rate = dataRateBps(rssi[r.bs] ?? Number.NEGATIVE_INFINITY);
      if (r.rateBps === rate) continue;
      const res = await this.exec.run(flowRateArgv(r.dev, this.spec.classIndex, rate));
      if (res.code !== 0) {
        this.emit({
          type: 'error',
          t: this.c(now()),
          message: `cannot set ${this.spec.user}'s rate cap on ${r.dev} (${r.bs}): ${res.stderr.trim()}`,
        });
      }
      r.rateBps = rate;
    }
  }

  private startHandover(plan: HandoverPlan): void {
    const run = this.handover(plan).catch((err) => {
      // A bug, not a radio failure (those are reported by handover()): said, never thrown into the void.
      this.emit({ type: 'error', t: this.c(now()), message: `handover to ${plan.to}: ${errorMessage(err)}` });
    });
    this.handoversRunning.add(run);
    void run.finally(() => this.handoversRunning.delete(run));
  }

  /** The report of a handover whose radio event did not run through: dropped, or failed half-way. */
  private emitUnmade(
    plan: HandoverPlan,
    from: string | null,
    to: string,
    dropped: boolean,
    error: string,
  ): void {
    this.emit({
      type: 'handover',
      t: this.c(now()),
      from,
      to,
      trigger: plan.trigger,
      id: plan.id,
      plannedAt: plan.plannedAt,
      lateMs: null,
      linkDownMs: 0,
      gapMs: null,
      answerGapMs: null,
      leaked: 0,
      ...(dropped ? { dropped: true as const } : {}),
      error,
    });
  }

  /** A handover the controller asked for that will not take place: said at once, so it can act. */
  private drop(plan: HandoverPlan, why: string): void {
    // The RSSI rule asks again at its next tick: nothing to say.
    if (plan.trigger === 'rssi') return;
    this.emitUnmade(plan, this.bs, plan.to, true, `handover to ${plan.to} dropped: ${why}`);
  }

  /** The local time of a planned instant, by the clock offset known now (it may be refined meanwhile). */
  private localAt(plan: HandoverPlan): number | undefined {
    return plan.plannedAt === null ? undefined : plan.plannedAt - this.offsetMs;
  }

  private noteAnswer(atMs: number): void {
    if (this.lastAnswerMs === null || atMs > this.lastAnswerMs) this.lastAnswerMs = atMs;
  }

  /**
   * One handover: the ping before, then the radio event (at the planned instant, or as soon as the link is
   * free for one asked for now), then its gap measured while the agent goes on (the next handover does not
   * wait for it), then its report.
   */
  private async handover(plan: HandoverPlan): Promise<void> {
    const { user, address, attemptTimeoutMs } = this.spec;
    const tables = this.tables();
    const table = tables[plan.to];
    if (table === undefined) return this.drop(plan, `unknown base station ${plan.to}`);
    const nextId = () => ++this.pingId;
    let ev: RadioEvent;
    let from: string | null;
    let lastOkMs: number | null;
    // Counted from now until its link goes down (or it is given up).
    this.preparing++;
    let preparing = true;
    const prepared = () => {
      if (preparing) this.preparing--;
      preparing = false;
    };
    try {
      // Read now, awaited only at the switch: reading it never delays the link going down.
      const rule = readUserRule(this.exec, user, address, tables);
      let noRule: unknown;
      rule.catch((err: unknown) => {
        noRule = err;
      });
      const endpoint = this.endpoint;
      const target = endpoint ? { ...endpoint, localAddress: address } : null;
      const before = target ? await pingBefore(target, attemptTimeoutMs, nextId(), this.localAt(plan)) : null;
      if (before !== null) this.noteAnswer(before);
      const at = this.localAt(plan);
      if (at === undefined) {
        // Now: after the radio event under way, if any (it ends within a blackout).
        while (this.radio && !this.stopping.signal.aborted) await this.radio;
      } else await sleepUntil(at, this.stopping.signal);

      if (this.stopping.signal.aborted) return this.drop(plan, 'the agent is stopping');
      if (this.radio)
        return this.drop(plan, "another handover's radio event still holds the link at its instant");
      if (plan.to === this.bs) return this.drop(plan, `${user} is on ${plan.to} already`);
      // No path rule to switch: the link is not cut for nothing.
      if (noRule !== undefined) return this.drop(plan, errorMessage(noRule));

      from = this.bs;
      // The last answer the user had before its link goes down: the ping's, a task's, an earlier gap
      // measurement's (the ping alone may have fallen in an earlier blackout or a migration's freeze).
      lastOkMs = this.lastAnswerMs;
      // The link goes down: a gap measurement still under way can see nothing more.
      for (const m of this.measuring)
        m.abort(`cut off by the next handover (to ${plan.to}) at its link down`);
      this.emit({
        type: 'handover-start',
        t: this.c(now()),
        from,
        to: plan.to,
        trigger: plan.trigger,
        id: plan.id,
      });
      const event = radioEvent(this.exec, {
        user,
        address,
        to: plan.to,
        table,
        rule,
        blackoutMs: this.spec.blackoutMs,
        leakTarget: target,
        attemptTimeoutMs,
        nextId,
        signal: this.stopping.signal,
      });
      const holding = event.then(
        () => {},
        () => {},
      );
      this.radio = holding;
      prepared();
      try {
        ev = await event;
      } catch (err) {
        // Where the user is now, as its rule says (a switch that failed half-way may have moved it).
        const where = await readUserBasestation(this.exec, address, tables).catch(() => undefined);
        const moved = where?.bs === plan.to;
        if (moved) {
          this.setPath(plan.to);
          this.handovers++;
        }
        this.emitUnmade(plan, from, moved ? plan.to : (from ?? plan.to), !moved, errorMessage(err));
        return;
      } finally {
        if (this.radio === holding) this.radio = undefined;
      }
    } finally {
      prepared();
    }
    if (!ev.aborted) {
      // The user is on its new base station from the switch on (its reports say so at once).
      this.setPath(plan.to);
      this.handovers++;
    }

    // The gap: against wherever the service is while it is measured, until the next radio event.
    let gapMs: number | null = null;
    let answerGapMs: number | null = null;
    /** The first request sent after the link came back that was answered (local clock), if any. */
    let firstSentMs: number | null = null;
    let unmeasured: string | undefined;
    if (ev.aborted) unmeasured = 'the handover was cut off';
    else if (!this.endpoint) unmeasured = 'no service to measure against';
    else if (lastOkMs === null) unmeasured = 'no answer before the link went down';
    else {
      const cut = new AbortController();
      this.measuring.add(cut);
      if (this.stopping.signal.aborted) cut.abort('the agent stopped');
      const m = await firstAnswerAfter({
        endpoint: () => this.endpoint,
        localAddress: address,
        attemptTimeoutMs,
        nextId,
        giveUpMs: GAP_GIVE_UP_MS,
        signal: cut.signal,
        onAnswer: (ms) => this.noteAnswer(ms),
      }).finally(() => this.measuring.delete(cut));
      if (m.first) {
        firstSentMs = m.first.sentMs;
        gapMs = m.first.sentMs - lastOkMs;
        answerGapMs = m.first.answeredMs - lastOkMs;
      } else unmeasured = m.reason ?? 'no answer';
    }
    const leaked = await ev.leaked;
    const r3 = (v: number | null) => (v === null ? null : round(v));
    const linkDownMs = ev.upMs - ev.downMs;
    this.emit({
      type: 'handover',
      t: this.c(ev.downMs),
      from,
      to: ev.aborted ? (from ?? plan.to) : plan.to,
      trigger: plan.trigger,
      id: plan.id,
      plannedAt: plan.plannedAt,
      lateMs: plan.plannedAt === null ? null : round(this.c(ev.downMs) - plan.plannedAt),
      linkDownMs: round(linkDownMs),
      gapMs: r3(gapMs),
      answerGapMs: r3(answerGapMs),
      ...(unmeasured ? { unmeasured } : {}),
      leaked,
      ...(ev.aborted
        ? { dropped: true, error: 'cut off before the switch: the user stays where it was' }
        : {}),
      ...(leaked > 0 ? { error: `${leaked} requests were answered during the blackout` } : {}),
    });
    // The handover's outage: from its link going down to the first request after it that was answered.
    // (gapMs counts from the user's last answer before, which may lie well before the link went down: a
    // task rate of 2/s, or a migration's frozen source that stopped answering earlier, whose own outage
    // the migration reports.)
    const end = firstSentMs ?? ev.downMs + linkDownMs;
    this.emit({
      type: 'gap',
      start: this.c(ev.downMs),
      end: this.c(Math.max(end, ev.downMs)),
      cause: 'handover',
    });
  }

  /** (Re)starts the task stream towards the current endpoint. */
  private restartTasks(): void {
    this.tasks.restart(this.endpoint);
  }

  /** A task's report, and the gap a failed one outside a handover is. */
  private onTask(r: AgentTaskResult, endpoint: Endpoint): void {
    const answeredMs = r.at + r.e2eMs;
    this.emit({
      type: 'task',
      t: this.c(r.at),
      id: r.id,
      ok: r.ok,
      e2eMs: r.e2eMs,
      procMs: r.ok ? r.procMs : null,
      txMs: r.ok && r.procMs !== null ? round(Math.max(0, r.e2eMs - r.procMs)) : null,
      counter: r.ok ? r.counter : null,
      bytes: r.bytes,
      bs: this.bsAt(r.at),
      endpoint,
      peer: r.ok && 'peer' in r ? (r.peer ?? null) : null,
      reconnects: r.reconnects,
      ...(r.ok ? {} : { error: r.error }),
    });
    // A failed task outside a handover is a gap in service of its own (a handover reports its own).
    const inHandover = this.preparing > 0 || this.radio !== undefined || this.measuring.size > 0;
    if (!r.ok && !inHandover && this.lastAnswerMs !== null) {
      this.emit({
        type: 'gap',
        start: this.c(this.lastAnswerMs),
        end: this.c(answeredMs),
        cause: 'service',
        detail: r.error,
      });
    }
    if (r.ok) this.noteAnswer(answeredMs);
  }

  private requestClock(n: number): void {
    for (let i = 0; i < n; i++) {
      const timer = setTimeout(() => {
        this.scheduled.delete(timer);
        const seq = ++this.clockSeq;
        const t = now();
        this.clockSent.set(seq, t);
        this.emit({ type: 'clock?', seq, t });
      }, i * 100);
      this.scheduled.add(timer);
    }
  }

  private onClock(seq: number, controllerT: number): void {
    const sent = this.clockSent.get(seq);
    if (sent === undefined) return;
    this.clockSent.delete(seq);
    const sample = clockSample(sent, controllerT, now());
    this.clockSamples++;
    // The sample with the shortest round trip is the least uncertain; a newer one replaces it when
    // it is nearly as good (clocks drift).
    if (!this.bestClock || sample.rttMs <= this.bestClock.rttMs * 1.5) this.bestClock = sample;
    this.offsetMs = this.bestClock.offsetMs;
    this.emit({
      type: 'clock',
      offsetMs: round(this.offsetMs),
      rttMs: round(this.bestClock.rttMs),
      samples: this.clockSamples,
    });
  }

  /** Puts back what this agent changed: every rate cap at provision's rate, no blackout rule left. */
  private async restore(): Promise<string[]> {
    const done: string[] = [];
    for (const r of this.radios) {
      if (r.rateBps === undefined || r.rateBps === this.spec.provisionedRateBps) continue;
      const res = await this.exec.run(
        flowRateArgv(r.dev, this.spec.classIndex, this.spec.provisionedRateBps),
      );
      if (res.code === 0) {
        r.rateBps = undefined;
        done.push(`rate cap on ${r.dev}`);
      } else {
        this.emit({
          type: 'error',
          t: this.c(now()),
          message: `cannot restore the rate cap on ${r.dev}: ${res.stderr.trim()}`,
        });
      }
    }
    const removed = await removeBlackoutLeftovers(this.exec, this.spec.user).catch(() => 0);
    if (removed > 0) done.push(`${removed} blackout rules`);
    return done;
  }
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

function sleepUntil(atMs: number, signal: AbortSignal): Promise<void> {
  return abortableSleep(atMs - now(), signal);
}
