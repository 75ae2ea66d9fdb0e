/**
 * The hosts.yml schema: strict zod objects (unknown keys are errors), every string that can reach a
 * shell, a path or a netns/container name constrained by a pattern, every number range-checked.
 *
 * Convention shared with load.ts: the message of every issue raised here is the "expected" half of
 * the error ("an IPv4 address like ..."); load.ts adds the position, the path and what was found.
 * For unknown keys the message is the comma-separated list of the keys allowed at that place. A custom
 * issue may say what was found in `params.found` (otherwise load.ts shows the value at the path).
 */
import { z } from 'zod';
import { formatIpv4, MAX_RADIO_PREFIX, parseCidr, parseCidrParts, parseIpv4, prefixMask } from './net.js';
import { isJumpList } from './ssh-config.js';
import { parseBandwidth, parseDuration } from './units.js';

/** Names of the testbed, hosts, base stations, users and services (used in netns/container names). */
export const NAME_RE = /^[a-z][a-z0-9-]{0,30}$/;
/** SSH login names. */
export const SSH_USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
/** Environment variable names of a service. */
export const ENV_KEY_RE = /^[A-Z_][A-Z0-9_]*$/;
/**
 * A Docker image reference, after the grammar of distribution/reference: optional registry host
 * (with port), lower-case path components, optional tag, optional digest.
 */
export const IMAGE_RE = new RegExp(
  '^' +
    '(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?' +
    '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*' +
    '(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?' +
    '(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?' +
    '$',
);

export const ROLES = ['cloud', 'edge', 'ap', 'mu'] as const;
export const SERVER_ROLES = ['cloud', 'edge'] as const;
export const BUNDLED_APPS = ['simple', 'compute', 'face', 'detect'] as const;
export const RADIO_STANDARDS = ['802.11n'] as const;

/** Built-in defaults (documented in the example hosts.yml). */
export const DEFAULT_SSH = {
  user: 'root',
  port: 22,
  acceptNewHostKeys: false,
  sudo: false,
  connectTimeoutMs: 5000,
} as const;
export const DEFAULT_MAX_USERS = 10;
/** Log-distance path loss RSSI = -(10 n log10 d + A), n = 3, A = 30 dB; -82 dBm: 802.11n MCS0 sensitivity. */
export const DEFAULT_PATH_LOSS = { exponent: 3, referenceLossDb: 30, minRssiDbm: -82 } as const;
export const DEFAULT_TASK = { sizeBytes: 10_000, ratePerSec: 1, frameWidth: 640, frameQuality: 80 } as const;
/** `frames: samples`: the photos shipped in the installed vision packages (src/lib/mu/frames.ts). */
export const SAMPLE_FRAMES = 'samples';
export const FRAME_WIDTH_RANGE = [64, 4096] as const;

/** True if the string holds a C0 control character, DEL, or a Unicode line/paragraph separator. */
export function hasControlChars(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x2028 || c === 0x2029) return true;
  }
  return false;
}

const said = (what: string) => ({ error: what });

/** For refinements that run even when a key of the object failed: only the object must be a mapping. */
function isMapping(payload: { value: unknown }): boolean {
  return typeof payload.value === 'object' && payload.value !== null && !Array.isArray(payload.value);
}

/** A strict object whose own errors say what it should be and, for unknown keys, which keys it takes. */
function object<T extends z.ZodRawShape>(shape: T, what: string) {
  const keys = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? keys : what),
  });
}

const NAME_TEXT =
  'a name of lower-case letters, digits and "-", starting with a letter, at most 31 characters';
export const nameSchema = z.string(said(NAME_TEXT)).regex(NAME_RE, said(NAME_TEXT));

const IPV4_TEXT = 'an IPv4 address like "198.18.0.10"';
export const ipv4Schema = z
  .string(said(IPV4_TEXT))
  .refine((s) => parseIpv4(s) !== undefined, said(IPV4_TEXT));

const CIDR_TEXT = 'an IPv4 network like "198.18.11.0/24"';
/** An IPv4 network block: prefix 0..32 and no host bits set. */
export const cidrSchema = z.string(said(CIDR_TEXT)).superRefine((text, ctx) => {
  const parts = parseCidrParts(text);
  if (!parts) {
    ctx.addIssue({ code: 'custom', message: CIDR_TEXT });
  } else if (!parseCidr(text)) {
    const network = (parts.address & prefixMask(parts.prefix)) >>> 0;
    const suggestion = `${formatIpv4(network)}/${parts.prefix}`;
    ctx.addIssue({
      code: 'custom',
      message: `a network address with no host bits set (did you mean "${suggestion}"?)`,
    });
  }
});

const RADIO_TEXT = `a radio subnet with room for two host addresses (prefix /${MAX_RADIO_PREFIX} or shorter)`;
export const radioSubnetSchema = cidrSchema.refine((text) => {
  const cidr = parseCidr(text);
  return cidr === undefined || cidr.prefix <= MAX_RADIO_PREFIX;
}, said(RADIO_TEXT));

const PORT_TEXT = 'a port number, an integer 1..65535';
export const portSchema = z
  .number(said(PORT_TEXT))
  .int(said(PORT_TEXT))
  .min(1, said(PORT_TEXT))
  .max(65535, said(PORT_TEXT));

function positiveInt(what: string) {
  const text = `${what}, a whole number > 0`;
  return z.number(said(text)).int(said(text)).positive(said(text));
}
function positive(what: string) {
  const text = `${what}, a number > 0`;
  return z.number(said(text)).positive(said(text));
}
function finite(what: string) {
  return z.number(said(`${what}, a number`));
}

const PATH_TEXT = 'a file path without control characters or newlines, not starting with "-"';
export const pathSchema = z
  .string(said(PATH_TEXT))
  .min(1, said(PATH_TEXT))
  .refine((s) => !hasControlChars(s) && !s.startsWith('-'), said(PATH_TEXT));

const POINT_TEXT = 'a position [x, y] in metres';
export const pointSchema = z.tuple([finite('x in metres'), finite('y in metres')], said(POINT_TEXT));

const SSH_USER_TEXT = 'a user name of a-z, 0-9, "_" and "-", not starting with a digit or "-"';
const TIMEOUT_TEXT = 'a timeout in milliseconds, a whole number 1..600000';
const JUMP_TEXT =
  'jump hosts separated by commas, each a host name of this file or [user@]host[:port], or "none"';

export const sshSchema = object(
  {
    user: z.string(said(SSH_USER_TEXT)).regex(SSH_USER_RE, said(SSH_USER_TEXT)).optional(),
    port: portSchema.optional(),
    identityFile: pathSchema.optional(),
    knownHosts: pathSchema.optional(),
    acceptNewHostKeys: z.boolean(said('true or false')).optional(),
    sudo: z.boolean(said('true or false')).optional(),
    connectTimeoutMs: z
      .number(said(TIMEOUT_TEXT))
      .int(said(TIMEOUT_TEXT))
      .min(1, said(TIMEOUT_TEXT))
      .max(600_000, said(TIMEOUT_TEXT))
      .optional(),
    config: pathSchema
      .optional()
      .describe(
        'The OpenSSH client config file to read (HostName, User, Port, IdentityFile, ProxyJump, ...), or "none". Default: $EDGECTL_SSH_CONFIG, else ~/.ssh/config when it exists. Values in hosts.yml win over it.',
      ),
    jump: z
      .string(said(JUMP_TEXT))
      .refine((s) => !hasControlChars(s) && isJumpList(s), said(JUMP_TEXT))
      .optional()
      .describe(
        'Reach this host through jump hosts, in order: each a host of this file by name, or [user@]host[:port] (an ssh config alias works). "none" turns off a jump set in defaults or a ProxyJump of the ssh config.',
      ),
    passphraseFile: pathSchema
      .optional()
      .describe(
        'A file holding the passphrase of an encrypted identityFile (first line; keep it mode 600). $EDGECTL_SSH_PASSPHRASE wins over it.',
      ),
  },
  'SSH settings (a mapping)',
);

export const capacitySchema = object(
  { cpus: positive('a CPU count'), memMB: positiveInt('memory in MB') },
  'a capacity { cpus, memMB }',
);

export const hostSchema = object(
  {
    name: nameSchema,
    role: z.enum(ROLES, said('a role: cloud, edge, ap or mu')),
    address: ipv4Schema,
    dataAddress: ipv4Schema.optional(),
    ssh: sshSchema.optional(),
    capacity: capacitySchema.optional(),
    position: pointSchema.optional(),
    edgectlPath: pathSchema.optional(),
  },
  'a host (a mapping with name, role, address, ...)',
);

export const DEFAULT_SHADOWING = { correlationM: 10, seed: 1 } as const;

const SEED_TEXT = 'a seed, a whole number from 0 to 4294967295';
export const seedSchema = z
  .number(said(SEED_TEXT))
  .int(said(SEED_TEXT))
  .min(0, said(SEED_TEXT))
  .max(0xffff_ffff, said(SEED_TEXT));

export const shadowingSchema = object(
  {
    sigmaDb: positive('a standard deviation in dB'),
    correlationM: positive('a correlation distance in metres').default(DEFAULT_SHADOWING.correlationM),
    seed: seedSchema.default(DEFAULT_SHADOWING.seed),
  },
  'log-normal shadowing { sigmaDb, correlationM, seed }',
);

export const pathLossSchema = object(
  {
    exponent: positive('a path-loss exponent').default(DEFAULT_PATH_LOSS.exponent),
    referenceLossDb: finite('a reference loss in dB').default(DEFAULT_PATH_LOSS.referenceLossDb),
    minRssiDbm: z
      .number(said('a minimum RSSI in dBm, a number <= 0'))
      .max(0, said('a minimum RSSI in dBm, a number <= 0'))
      .default(DEFAULT_PATH_LOSS.minRssiDbm),
    shadowing: shadowingSchema.optional(),
  },
  'path-loss parameters { exponent, referenceLossDb, minRssiDbm, shadowing }',
);

export const basestationSchema = object(
  {
    name: nameSchema,
    host: nameSchema,
    server: nameSchema.optional(),
    position: pointSchema,
    radioSubnet: radioSubnetSchema,
    standard: z.enum(RADIO_STANDARDS, said('a radio standard: 802.11n')).default('802.11n'),
    maxUsers: positiveInt('a user limit').default(DEFAULT_MAX_USERS),
    pathLoss: pathLossSchema.prefault({}),
  },
  'a base station (a mapping with name, host, position, radioSubnet, ...)',
);

const BANDWIDTH_TEXT = 'a bandwidth > 0 with a unit kbit, mbit or gbit, like "100mbit"';
const LATENCY_TEXT = 'a duration >= 0 with a unit us, ms or s, like "50ms"';

export const linkSchema = object(
  {
    between: z.tuple([nameSchema, nameSchema], said('two host names [a, b]')),
    bandwidth: z
      .string(said(BANDWIDTH_TEXT))
      .refine((s) => parseBandwidth(s) !== undefined, said(BANDWIDTH_TEXT)),
    latency: z.string(said(LATENCY_TEXT)).refine((s) => parseDuration(s) !== undefined, said(LATENCY_TEXT)),
  },
  'a link (a mapping with between, bandwidth, latency)',
);

export const roundtripSchema = object(
  {
    type: z.literal('roundtrip'),
    from: pointSchema,
    to: pointSchema,
    speed: positive('a speed in m/s'),
  },
  'a round trip { type: roundtrip, from, to, speed }',
).refine((t) => t.from[0] !== t.to[0] || t.from[1] !== t.to[1], {
  error: 'a "to" point different from "from"',
  path: ['to'],
});

function nonNegative(what: string) {
  const text = `${what}, a number >= 0`;
  return z.number(said(text)).min(0, said(text));
}

/** A number, or [min, max] with min <= max: each draw is uniform in the range. */
function range(what: string, base: (what: string) => z.ZodNumber) {
  const text = `${what}, or a range [min, max] with min <= max`;
  return z
    .union([base(what), z.tuple([base(what), base(what)], said(text))], said(text))
    .refine((r) => typeof r === 'number' || r[0] <= r[1], said(text));
}

export const waypointsSchema = object(
  {
    type: z.literal('waypoints'),
    points: z.array(pointSchema, said('a list of positions [x, y]')).min(2, said('at least two points')),
    speed: positive('a speed in m/s'),
    pauseS: nonNegative('a pause in seconds at each point').default(0),
    loop: z.boolean(said('true or false')).default(false),
  },
  'a waypoint path { type: waypoints, points, speed, pauseS, loop }',
).refine((t) => t.points.some((p) => p[0] !== t.points[0]?.[0] || p[1] !== t.points[0]?.[1]), {
  error: 'points that are not all the same',
  path: ['points'],
});

export const areaSchema = object(
  { from: pointSchema, to: pointSchema },
  'an area { from: [x0, y0], to: [x1, y1] }',
).refine(
  (a) => a.from[0] <= a.to[0] && a.from[1] <= a.to[1] && (a.from[0] < a.to[0] || a.from[1] < a.to[1]),
  {
    error: 'a "to" corner with x and y >= those of "from", not the same point',
    path: ['to'],
  },
);

export const randomWaypointSchema = object(
  {
    type: z.literal('random-waypoint'),
    area: areaSchema,
    speed: range('a speed in m/s', positive),
    pauseS: range('a pause in seconds', nonNegative).default(0),
    seed: seedSchema.default(1),
    start: pointSchema.optional(),
  },
  'a random waypoint walk { type: random-waypoint, area, speed, pauseS, seed, start }',
).refine(
  (t) =>
    t.start === undefined ||
    (t.start[0] >= t.area.from[0] &&
      t.start[0] <= t.area.to[0] &&
      t.start[1] >= t.area.from[1] &&
      t.start[1] <= t.area.to[1]),
  { error: 'a start point inside the area', path: ['start'] },
);

export const traceSchema = object(
  {
    type: z.literal('trace'),
    file: pathSchema.describe(
      'A CSV file with the header time,user,x,y (seconds, metres), relative to hosts.yml; read when hosts.yml is loaded.',
    ),
    user: z
      .string(said("the user's name in the trace file"))
      .min(1, said("the user's name in the trace file"))
      .refine(
        (s) => !hasControlChars(s) && !s.includes(','),
        said('a name without commas or control characters'),
      )
      .optional(),
    loop: z.boolean(said('true or false')).default(false),
  },
  'a trace replay { type: trace, file, user, loop }',
);

export const trajectorySchema = z.discriminatedUnion(
  'type',
  [roundtripSchema, waypointsSchema, randomWaypointSchema, traceSchema],
  { error: 'a trajectory type: roundtrip, waypoints, random-waypoint or trace' },
);

function intIn(what: string, min: number, max: number) {
  const text = `${what}, a whole number from ${min} to ${max}`;
  return z.number(said(text)).int(said(text)).min(min, said(text)).max(max, said(text));
}

// `~` is not expanded: the directory is on the user's machine, whose home the controller does not know.
const FRAMES_TEXT =
  '"samples" or a directory of JPEG files on the user\'s machine (absolute, or relative to hosts.yml), not starting with "-" or "~"';
export const framesSchema = z
  .string(said(FRAMES_TEXT))
  .min(1, said(FRAMES_TEXT))
  .max(4096, said(FRAMES_TEXT))
  .refine((s) => !hasControlChars(s) && !s.startsWith('-') && !s.startsWith('~'), said(FRAMES_TEXT));

export const taskSchema = object(
  {
    sizeBytes: positiveInt('a task size in bytes').default(DEFAULT_TASK.sizeBytes),
    ratePerSec: positive('tasks per second').default(DEFAULT_TASK.ratePerSec),
    /** Camera frames instead of sizeBytes of seeded bytes (default for face and detect users: samples). */
    frames: framesSchema.optional(),
    frameWidth: intIn('the long side of a frame in pixels', ...FRAME_WIDTH_RANGE).default(
      DEFAULT_TASK.frameWidth,
    ),
    frameQuality: intIn('the JPEG quality of a frame', 1, 100).default(DEFAULT_TASK.frameQuality),
  },
  'a task { sizeBytes, ratePerSec, frames, frameWidth, frameQuality }',
);

export const userSchema = object(
  {
    name: nameSchema,
    host: nameSchema,
    service: nameSchema,
    trajectory: trajectorySchema,
    task: taskSchema.prefault({}),
    startBasestation: nameSchema.optional(),
    /** The user's own source address (default: userSubnet's address 10 + its place in users). */
    address: ipv4Schema.optional(),
    /** The host port its service is published on, on every server (default: 20000 + its place). */
    port: portSchema.optional(),
  },
  'a user (a mapping with name, host, service, trajectory, ...)',
);

const ENV_KEY_TEXT = 'an environment variable name of A-Z, 0-9 and "_", not starting with a digit';
const ENV_VALUE_TEXT = 'a string (or number) without control characters or newlines';
const IMAGE_TEXT = 'a Docker image reference like "myorg/myservice:1.0"';

export const envSchema = z.record(
  z.string(said(ENV_KEY_TEXT)).regex(ENV_KEY_RE, said(ENV_KEY_TEXT)),
  z
    .union([z.string(), z.number()], said(ENV_VALUE_TEXT))
    .transform((v) => String(v))
    .pipe(z.string().refine((s) => !hasControlChars(s), said(ENV_VALUE_TEXT))),
  said('environment variables (a mapping of NAME: value)'),
);

const PROBE_TEXT =
  'how a migration measures the downtime: "edgectl" (the bundled apps\' protocol), "tcp" (a connection accepted), "http:/PATH" (a 2xx answer to GET /PATH) or "none"';
/** Printable ASCII without spaces after the "/" of `http:/PATH`. */
export const HTTP_PROBE_RE = /^http:(\/[\x21-\x7e]*)$/;

export const probeSchema = z
  .string(said(PROBE_TEXT))
  .refine((s) => ['edgectl', 'tcp', 'none'].includes(s) || HTTP_PROBE_RE.test(s), said(PROBE_TEXT));

const OFFLOAD_TEXT =
  'how an experiment\'s users send tasks to the service: "edgectl" (the bundled apps\' protocol), "http:/PATH" (a POST of the task\'s bytes to PATH) or "echo" (TCP: the task\'s bytes sent and read back)';

export const offloadSchema = z
  .string(said(OFFLOAD_TEXT))
  .refine((s) => s === 'edgectl' || s === 'echo' || HTTP_PROBE_RE.test(s), said(OFFLOAD_TEXT));

const STATE_CHECK_TEXT =
  'a command run inside the container, as a list of strings (argv), like ["cat", "/data/counter"]';
export const stateCheckSchema = z
  .array(
    z
      .string(said(STATE_CHECK_TEXT))
      .max(4096, said(STATE_CHECK_TEXT))
      .refine((s) => !hasControlChars(s), said(STATE_CHECK_TEXT)),
    said(STATE_CHECK_TEXT),
  )
  .min(1, said(STATE_CHECK_TEXT))
  .refine((argv) => argv[0] !== '', said(STATE_CHECK_TEXT));

export const limitsSchema = object(
  { cpus: positive('a CPU limit'), memMB: positiveInt('a memory limit in MB') },
  'limits { cpus, memMB }',
);

export const serviceSchema = object(
  {
    name: nameSchema,
    app: z.enum(BUNDLED_APPS, said('a bundled app: simple, compute, face or detect')).optional(),
    image: z.string(said(IMAGE_TEXT)).max(255, said(IMAGE_TEXT)).regex(IMAGE_RE, said(IMAGE_TEXT)).optional(),
    port: portSchema,
    env: envSchema.default({}),
    limits: limitsSchema.optional(),
    /** How a migration measures the downtime (default: edgectl for bundled apps, tcp for images). */
    probe: probeSchema.optional(),
    /** How an experiment's users send tasks (default: edgectl for apps and probe edgectl, http:/PATH for probe http:/PATH). */
    offload: offloadSchema.optional(),
    /** A command run in the container before and after a migration; its output must not change. */
    stateCheck: stateCheckSchema.optional(),
  },
  'a service (a mapping with name, app or image, port, probe, stateCheck, ...)',
)
  // Run even when other keys of the service are wrong, so that this is reported in the same pass.
  .refine((service) => service.app === undefined || service.image === undefined, {
    error: 'exactly one of "app" (a bundled app) or "image" (a Docker image)',
    path: ['image'],
    params: { found: 'both' },
    when: isMapping,
  })
  .refine((service) => service.app !== undefined || service.image !== undefined, {
    error: 'exactly one of "app" (simple, compute, face or detect) or "image" (a Docker image reference)',
    path: ['app'],
    params: { found: 'neither' },
    when: isMapping,
  });

/** Settings of the local emulated lab (`edgectl lab up`); a real rack ignores them. */
export const labSchema = object(
  {
    /** The management network the controller reaches every host on (default: the /24 of hosts[0].address). */
    managementSubnet: cidrSchema.optional(),
    /** The controller's own address on it (default: the first address of managementSubnet). */
    controller: ipv4Schema.optional(),
    /** The wired data network, one switch (default: the /24 of the first server's dataAddress). */
    dataSubnet: cidrSchema.optional(),
    /** Carved into one /24 per server for its dockerd bridge (--bip). */
    dockerSubnet: cidrSchema.default('198.19.0.0/16'),
  },
  'lab settings (a mapping with managementSubnet, controller, dataSubnet, dockerSubnet)',
);

function list<T extends z.ZodType>(item: T, what: string) {
  return z.array(item, said(`a list of ${what}`));
}

export const inventorySchema = object(
  {
    testbed: nameSchema,
    defaults: object({ ssh: sshSchema.optional() }, 'defaults (a mapping with ssh)').optional(),
    hosts: list(hostSchema, 'hosts').min(1, said('a list of at least one host')),
    basestations: list(basestationSchema, 'base stations').default([]),
    links: list(linkSchema, 'links').default([]),
    users: list(userSchema, 'users').default([]),
    services: list(serviceSchema, 'services').default([]),
    /** The users' own source addresses on their mu host (user k: the block's address 10 + k). */
    userSubnet: cidrSchema.default('198.18.10.0/24'),
    lab: labSchema.optional(),
  },
  'a mapping with testbed, hosts, basestations, links, users, services, userSubnet, lab',
);

/** hosts.yml as written (what the schema accepts). */
export type InventoryFileInput = z.input<typeof inventorySchema>;
/** hosts.yml after validation, with the schema's defaults filled in (paths still as written). */
export type InventoryFile = z.output<typeof inventorySchema>;
export type SshFile = z.output<typeof sshSchema>;
export type HostFile = z.output<typeof hostSchema>;
export type BasestationFile = z.output<typeof basestationSchema>;
export type LinkFile = z.output<typeof linkSchema>;
export type UserFile = z.output<typeof userSchema>;
export type ServiceFile = z.output<typeof serviceSchema>;
export type LabFile = z.output<typeof labSchema>;
