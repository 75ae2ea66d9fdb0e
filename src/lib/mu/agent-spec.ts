/**
 * What a user's agent (`edgectl mu run`) needs to know, in one JSON document: the controller builds it
 * from hosts.yml and the state database and passes it on the command line, so that the user's machine
 * needs no hosts.yml of its own. Checked with zod on arrival: a spec from another edgectl version fails
 * with the path of what is wrong, not later with a TypeError.
 */
import path from 'node:path';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import {
  DEFAULT_TASK,
  FRAME_WIDTH_RANGE,
  getHost,
  getService,
  getUser,
  type Inventory,
  route,
  SAMPLE_FRAMES,
  type Trajectory,
} from '../inventory/index.js';
import { HTTP_PROBE_RE, hasControlChars } from '../inventory/schema.js';
import { DEFAULT_HYSTERESIS_DB } from '../mobility/index.js';
import { pathLossWireSchema, trajectoryWireSchema } from '../mobility/wire.js';
import { basestationTable, DEFAULT_RADIO_RATE_BPS } from '../provision/plan.js';
import type { Placement } from '../state/index.js';
import { taskFrames } from './frames.js';

/** The handover of the paper's virtual user: a fixed 500 ms disconnection. */
export const DEFAULT_BLACKOUT_MS = 500;

const point = z.tuple([z.number(), z.number()]);
/** How the agent sends its tasks: edgectl's protocol, a POST to a path, or TCP echo (hosts.yml's offload). */
const offloadMode = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('edgectl') }).strict(),
  z
    .object({
      kind: z.literal('http'),
      path: z.string().refine((p) => HTTP_PROBE_RE.test(`http:${p}`), { error: 'a path like /count' }),
    })
    .strict(),
  z.object({ kind: z.literal('echo') }).strict(),
]);
const endpoint = z.object({ address: z.string(), port: z.number().int().min(1).max(65535) }).strict();

export const agentSpecSchema = z
  .object({
    v: z.literal(1),
    /** The testbed's name: agents of two testbeds on one machine keep apart. */
    testbed: z.string().min(1),
    user: z.string().min(1),
    /** The user's own address on its machine (its traffic is marked, routed and capped by it). */
    address: z.string(),
    trajectory: trajectoryWireSchema,
    /** Seconds into the trajectory at which the walk starts. */
    startAtS: z.number().min(0),
    basestations: z
      .array(
        z
          .object({
            name: z.string(),
            position: point,
            pathLoss: pathLossWireSchema,
            standard: z.literal('802.11n'),
            radioCidr: z.string(),
            apAddress: z.string(),
            /** The routing table (and mark) of this base station on the user's machine. */
            table: z.number().int(),
          })
          .strict(),
      )
      .min(1),
    hysteresisDb: z.number().min(0),
    blackoutMs: z.number().int().min(0),
    task: z
      .object({
        sizeBytes: z.number().int().min(0),
        ratePerSec: z.number().positive(),
        /** The frames task i carries (i mod n): "samples" or an absolute directory on this machine. */
        frames: z
          .string()
          .max(4096)
          .refine((s) => s === SAMPLE_FRAMES || (path.isAbsolute(s) && !hasControlChars(s)), {
            error: `"${SAMPLE_FRAMES}" or an absolute directory`,
          })
          .optional(),
        frameWidth: z
          .number()
          .int()
          .min(FRAME_WIDTH_RANGE[0])
          .max(FRAME_WIDTH_RANGE[1])
          .default(DEFAULT_TASK.frameWidth),
        frameQuality: z.number().int().min(1).max(100).default(DEFAULT_TASK.frameQuality),
      })
      .strict(),
    endpoint: endpoint.nullable(),
    /** How tasks go to the endpoint (absent: edgectl's protocol, as specs of earlier versions meant). */
    offload: offloadMode.default({ kind: 'edgectl' }),
    /** A ping unanswered this long counts as lost (beyond the longest round trip of the testbed). */
    attemptTimeoutMs: z.number().int().positive(),
    /** The user's flow number in provision's HTB tree on each radio interface (its rate cap). */
    classIndex: z.number().int().min(0),
    /** The rate provision gave that class: what the agent puts back when it ends. */
    provisionedRateBps: z.number().positive(),
    /** `auto`: hand over by itself by the hysteresis rule (the paper's baseline); `controller`: only on command. */
    handover: z.enum(['auto', 'controller']),
    reportEveryMs: z.number().int().positive(),
    /** Stop after this many seconds (0: run until told to stop or stdin ends). */
    durationS: z.number().min(0),
  })
  .strict();

export type AgentSpec = z.infer<typeof agentSpecSchema>;
export type Endpoint = z.infer<typeof endpoint>;
export type OffloadMode = z.infer<typeof offloadMode>;

export interface AgentSpecOptions {
  trajectory?: Trajectory;
  startAtS?: number;
  hysteresisDb?: number;
  blackoutMs?: number;
  handover?: 'auto' | 'controller';
  reportEveryMs?: number;
  durationS?: number;
}

/** The spec for `user`'s agent, its service where `placement` says (none: it walks without offloading). */
export function agentSpec(
  inv: Inventory,
  userName: string,
  placement: Placement | undefined,
  options: AgentSpecOptions = {},
): AgentSpec {
  const user = getUser(inv, userName);
  const host = getHost(inv, user.host);
  const serviceName = placement?.service ?? user.service;
  const offload = getService(inv, serviceName).offload ?? { kind: 'edgectl' as const };
  // Frames are the bundled face and detect apps' payloads: the other modes send seeded bytes.
  const frames = offload.kind === 'edgectl' ? taskFrames(inv, user, serviceName) : undefined;
  const classIndex = inv.users.filter((u) => u.host === host.name).findIndex((u) => u.name === user.name);
  let rtt = 0;
  for (const bs of inv.basestations)
    for (const server of inv.hosts.filter((h) => h.role === 'cloud' || h.role === 'edge'))
      rtt = Math.max(rtt, route(inv, bs.host, server.name)?.rttMs ?? 0);
  return {
    v: 1,
    testbed: inv.testbed,
    user: user.name,
    address: user.address,
    trajectory: options.trajectory ?? user.trajectory,
    startAtS: options.startAtS ?? 0,
    basestations: inv.basestations.map((bs, i) => ({
      name: bs.name,
      position: bs.position,
      pathLoss: bs.pathLoss,
      standard: bs.standard,
      radioCidr: bs.radio.cidr,
      apAddress: bs.radio.apAddress,
      table: basestationTable(i),
    })),
    hysteresisDb: options.hysteresisDb ?? DEFAULT_HYSTERESIS_DB,
    blackoutMs: options.blackoutMs ?? DEFAULT_BLACKOUT_MS,
    task: {
      sizeBytes: user.task.sizeBytes,
      ratePerSec: user.task.ratePerSec,
      // The service deployed (an experiment may run another than hosts.yml's) decides the default frames.
      ...(frames ?? { frameWidth: user.task.frameWidth, frameQuality: user.task.frameQuality }),
    },
    endpoint: placement ? { address: placement.address, port: placement.port } : null,
    offload,
    attemptTimeoutMs: 250 + 2 * rtt,
    classIndex,
    provisionedRateBps: DEFAULT_RADIO_RATE_BPS,
    handover: options.handover ?? 'auto',
    reportEveryMs: options.reportEveryMs ?? 500,
    durationS: options.durationS ?? 0,
  };
}

/** Reads a spec given on the command line; a UsageError names the first thing wrong. */
export function parseAgentSpec(text: string): AgentSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UsageError('--spec is not valid JSON');
  }
  const parsed = agentSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`--spec: ${issue?.path.join('.') || '(top)'}: ${issue?.message ?? 'invalid'}`, {
      hint: 'the spec comes from the controller: is the same edgectl version installed on both machines?',
    });
  }
  return parsed.data;
}
