/**
 * The agent's wire protocol: JSON lines. Reports go out on stdout, one object per line with a `type`;
 * commands come in on stdin, one object per line with a `cmd`. Every time in a report is epoch ms on the
 * controller's clock once the clock offset has been measured (`clock` lines say which), so that the
 * controller's records and the agent's fall on one time base.
 */
import { z } from 'zod';
import type { Endpoint } from './agent-spec.js';

export interface HelloReport {
  type: 'hello';
  t: number;
  pid: number;
  user: string;
  bs: string | null;
  /** The radio interface of each base station on the user's machine. */
  radios: Record<string, string>;
  endpoint: Endpoint | null;
  handover: 'auto' | 'controller';
  /** When its walk's time was startAtS (the walk starts before the agent's set-up, which hello ends). */
  walkT?: number;
}

/** Asks the controller for its time (answer: `{"cmd":"clock","seq":N,"t":CONTROLLER_NOW}`). */
export interface ClockRequest {
  type: 'clock?';
  seq: number;
  t: number;
}

export interface ClockReport {
  type: 'clock';
  /** Added to this machine's clock to get the controller's. */
  offsetMs: number;
  /** The round trip of the sample it was taken from (its uncertainty is half of that). */
  rttMs: number;
  samples: number;
}

export interface PositionReport {
  type: 'position';
  t: number;
  x: number;
  y: number;
  bs: string | null;
  rssi: Record<string, number>;
  /** The rate the RSSI to its base station allows: the user's radio rate cap. */
  rateBps: number;
}

export interface TaskReport {
  type: 'task';
  /** When it was sent. */
  t: number;
  id: number;
  ok: boolean;
  e2eMs: number;
  procMs: number | null;
  /** E2E minus processing: transmission both ways, propagation and queueing. */
  txMs: number | null;
  counter: number | null;
  bytes: number;
  bs: string | null;
  endpoint: Endpoint;
  /** The user's address as the service saw it: the NAT address of the AP the task went through. */
  peer: string | null;
  reconnects: number;
  error?: string;
}

/**
 * One handover, sent once its gap has been measured (or at once when it was dropped). A handover the
 * controller asked for always gets one, with the command's `id`: kept, late, or dropped.
 */
export interface HandoverReport {
  type: 'handover';
  /** When the link went down (dropped: when the agent gave it up). */
  t: number;
  from: string | null;
  to: string;
  trigger: 'rssi' | 'command';
  /** The command's `id` (the controller's decision), null when it had none or the RSSI rule decided. */
  id: number | null;
  /** The instant it was planned for (the command's `at`, controller clock), null for "now". */
  plannedAt: number | null;
  /** Link down minus plannedAt (ms; negative: early), null without plannedAt or when it never went down. */
  lateMs: number | null;
  /** Link down to path switched (the blackout as applied; 0 when the link never went down). */
  linkDownMs: number;
  /** The gap the user saw: its last answer before the handover to its first request answered after. */
  gapMs: number | null;
  /** Last answer before to first answer after (one round trip more than gapMs). */
  answerGapMs: number | null;
  /** Why gapMs is null when the handover took place (no service, none answered, the next handover came). */
  unmeasured?: string;
  /** Requests answered while the link was meant to be down (should be 0: the blackout leaked). */
  leaked: number;
  /**
   * True when the handover did not take place and the user is still on `from` (`error` says why: an
   * unknown or the current base station, another handover's radio event holding the link at its instant,
   * the agent stopping, a failed or cut-off switch). Absent when it took place.
   */
  dropped?: true;
  error?: string;
}

/**
 * A handover beginning: sent as its link goes down, before the blackout, the switch and the gap's
 * measurement (its `handover` report follows when they are done). A controller that reacts to handovers
 * (the baselines) starts here, as the paper's baselines are triggered when the handover is.
 */
export interface HandoverStartReport {
  type: 'handover-start';
  /** When the link goes down (controller clock). */
  t: number;
  from: string | null;
  to: string;
  trigger: 'rssi' | 'command';
  id: number | null;
}

export interface GapReport {
  type: 'gap';
  start: number;
  end: number;
  cause: 'handover' | 'service';
  detail?: string;
}

export interface ErrorReport {
  type: 'error';
  t: number;
  message: string;
}

export interface ByeReport {
  type: 'bye';
  t: number;
  reason: string;
  tasks: number;
  handovers: number;
  bs: string | null;
  /** What the agent put back as provision made it: rate caps, blackout rules left by a cut-off handover. */
  restored: string[];
}

export type AgentReport =
  | HandoverStartReport
  | HelloReport
  | ClockRequest
  | ClockReport
  | PositionReport
  | TaskReport
  | HandoverReport
  | GapReport
  | ErrorReport
  | ByeReport;

export const agentCommandSchema = z.discriminatedUnion('cmd', [
  /**
   * Hand over to base station `to`, now or at controller time `at` (epoch ms: the instant the link goes
   * down). `id` (the controller's decision) comes back in the handover's report.
   */
  z
    .object({
      cmd: z.literal('handover'),
      to: z.string(),
      at: z.number().optional(),
      id: z.number().optional(),
    })
    .strict(),
  /** Offload to another endpoint from now on (null: stop offloading). */
  z
    .object({
      cmd: z.literal('endpoint'),
      endpoint: z.object({ address: z.string(), port: z.number().int().min(1).max(65535) }).nullable(),
    })
    .strict(),
  /** Turn the agent's own RSSI-triggered handovers on or off. */
  z.object({ cmd: z.literal('auto'), on: z.boolean() }).strict(),
  /** The controller's answer to a `clock?`. */
  z.object({ cmd: z.literal('clock'), seq: z.number().int(), t: z.number() }).strict(),
  z.object({ cmd: z.literal('stop') }).strict(),
]);

export type AgentCommand = z.infer<typeof agentCommandSchema>;

/** One stdin line as a command, or the reason it is not one. */
export function parseAgentCommand(line: string): AgentCommand | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { error: `not JSON: ${line.slice(0, 80)}` };
  }
  const parsed = agentCommandSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      error: `bad command ${line.slice(0, 80)}: ${issue?.path.join('.') || 'cmd'}: ${issue?.message}`,
    };
  }
  return parsed.data;
}

/** Splits a stream into lines, whatever its chunking. */
export class LineSplitter {
  private rest = '';
  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    return lines.map((l) => l.trim()).filter((l) => l.length > 0);
  }
}

/** NTP's estimate from one exchange: the controller's time `t` was read between our `sent` and `received`. */
export function clockSample(
  sent: number,
  controllerT: number,
  received: number,
): { offsetMs: number; rttMs: number } {
  return { offsetMs: controllerT - (sent + received) / 2, rttMs: received - sent };
}
