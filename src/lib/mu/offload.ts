/**
 * `edgectl offload`: tasks sent from a user's own address on its mu host, through its current base
 * station, to its service. The sending runs on the mu host (the edgectl installed there, over SSH);
 * the controller records every task in the state database.
 */
import { EdgectlError, ExitCode, UsageError } from '../errors.js';
import {
  getBasestation,
  getHost,
  getUser,
  type Host,
  type Inventory,
  offloadText,
  type User,
} from '../inventory/index.js';
import { type DirectedLatency, pathLatency } from '../provision/latency.js';
import { currentBasestation } from '../provision/paths.js';
import { RemoteCommandError, ShellExecutor, type SshPool } from '../remote/index.js';
import type { Placement, StateDb } from '../state/index.js';
import type { TaskResult } from './client.js';
import { taskFrames } from './frames.js';
import { RESULT_MAX_BYTES } from './protocol.js';

/** How the controller runs edgectl on another host: hosts.yml's edgectlPath, else $EDGECTL_BIN, else PATH. */
export function remoteEdgectlArgv(host: Host, args: readonly string[]): string[] {
  if (host.edgectlPath) return [host.edgectlPath, ...args];
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, for the remote shell
  return ['sh', '-c', 'exec "${EDGECTL_BIN:-edgectl}" "$@"', 'edgectl', ...args];
}

export interface OffloadRequest {
  user: string;
  count?: number;
  sizeBytes?: number;
  timeoutMs?: number;
  intervalMs?: number;
  experimentId?: number;
}

export interface OffloadedTask {
  counter: number | null;
  e2eMs: number;
  procMs: number | null;
  /** Everything but the processing: transmission both ways, propagation, queueing (E2E - processing). */
  txMs: number | null;
  ok: boolean;
  error?: string;
  peer?: string;
  /** compute: lines in the service's data file after this task (the file it writes survives migrations). */
  fileLines?: number;
  /** The task's payload bytes (a frame's size when the user sends frames). */
  bytes: number;
  /** What the service found: the answer's own fields (face: faces, gallery; detect: objects, tally). */
  result?: Record<string, unknown>;
  reconnects: number;
}

/** A service result from the mu host's report is passed on only as a plain object of bounded size. */
function keptResult(result: unknown): result is Record<string, unknown> {
  return (
    result !== null &&
    typeof result === 'object' &&
    !Array.isArray(result) &&
    Buffer.byteLength(JSON.stringify(result)) <= RESULT_MAX_BYTES
  );
}

export interface OffloadResult {
  user: string;
  bs: string;
  host: string;
  service: string;
  endpoint: { address: string; port: number };
  tasks: OffloadedTask[];
  /** The wired path between the user's AP and the server, both ways: latency and whether (and how) emulated. */
  latency: DirectedLatency[];
}

export class OffloadError extends EdgectlError {
  constructor(message: string, hint?: string) {
    super('OFFLOAD_FAILED', ExitCode.remote, message, hint ? { hint } : {});
  }
}

export async function offload(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  req: OffloadRequest,
): Promise<OffloadResult> {
  const user = getUser(inv, req.user);
  const placement = state.placements.get(user.name);
  if (!placement) {
    throw new UsageError(`${user.name} has no service deployed`, {
      hint: `edgectl deploy --user ${user.name} --service ${user.service} --host HOST`,
    });
  }
  const service = inv.services.find((s) => s.name === placement.service);
  if (service?.offload && service.offload.kind !== 'edgectl')
    throw new UsageError(
      `edgectl offload speaks the bundled apps' task protocol; ${service.name} takes its tasks by offload: ${offloadText(service.offload)}`,
      { hint: `edgectl experiment run --service ${service.name} drives it in that mode` },
    );
  const muHost = getHost(inv, user.host);
  // One session on the mu host for both the path read and the tasks (each new session costs its login
  // shell there).
  const shell = new ShellExecutor(pool, muHost);
  try {
    return await offloadThrough(shell, inv, state, req, user, placement);
  } finally {
    await shell.close();
  }
}

async function offloadThrough(
  shell: ShellExecutor,
  inv: Inventory,
  state: StateDb,
  req: OffloadRequest,
  user: User,
  placement: Placement,
): Promise<OffloadResult> {
  const muHost = getHost(inv, user.host);
  const count = req.count ?? 1;
  const size = req.sizeBytes ?? user.task.sizeBytes;
  // An explicit size asks for seeded bytes; otherwise the frames of the user (or of its image service).
  const frames = req.sizeBytes === undefined ? taskFrames(inv, user, placement.service) : undefined;
  const bs = await currentBasestation(inv, shell.pool, user.name, shell);
  const timeoutMs = req.timeoutMs ?? 10_000;
  const args = [
    'mu',
    'offload',
    '--json',
    '--address',
    placement.address,
    '--port',
    String(placement.port),
    '--local-address',
    user.address,
    '--user',
    user.name,
    '--count',
    String(count),
    ...(frames
      ? [
          '--frames',
          frames.frames,
          '--frame-width',
          String(frames.frameWidth),
          '--frame-quality',
          String(frames.frameQuality),
        ]
      : ['--size', String(size)]),
    '--timeout-ms',
    String(timeoutMs),
    ...(req.intervalMs ? ['--interval-ms', String(req.intervalMs)] : []),
  ];
  // `mu offload` exits 5 when some task failed, its envelope still on stdout: any exit code with an
  // envelope is an answer; anything else is the remote edgectl failing.
  const r = await shell.run(remoteEdgectlArgv(muHost, args), {
    timeoutMs: count * (timeoutMs + (req.intervalMs ?? 0)) + 30_000,
  });
  let results: TaskResult[];
  try {
    results = (JSON.parse(r.stdout) as { result?: { tasks: TaskResult[] } }).result?.tasks ?? [];
  } catch {
    if (r.code !== 0) throw new RemoteCommandError(muHost.name, r, `offloading from ${muHost.name}`);
    throw new OffloadError(
      `edgectl on ${muHost.name} answered something that is not its JSON envelope: ${r.stdout.slice(0, 200)}`,
      'is the same edgectl version installed there (hosts.yml: edgectlPath)?',
    );
  }
  const tasks: OffloadedTask[] = results.map((t) => ({
    counter: t.ok ? t.counter : null,
    e2eMs: t.e2eMs,
    procMs: t.ok ? t.procMs : null,
    txMs: t.ok ? Math.max(0, t.e2eMs - t.procMs) : null,
    ok: t.ok,
    reconnects: t.reconnects,
    ...(t.ok ? {} : { error: t.error }),
    ...(t.ok && t.peer ? { peer: t.peer } : {}),
    ...(t.ok && t.fileLines !== undefined ? { fileLines: t.fileLines } : {}),
    bytes: t.bytes,
    ...(t.ok && keptResult(t.result) ? { result: t.result } : {}),
  }));
  state.tasks.insert(
    results.map((t, i) => ({
      experimentId: req.experimentId ?? null,
      user: user.name,
      bs,
      host: placement.host,
      service: placement.service,
      taskId: t.id,
      counter: tasks[i]?.counter ?? null,
      sentMs: t.at,
      bytes: t.bytes,
      e2eMs: t.e2eMs,
      procMs: tasks[i]?.procMs ?? null,
      txMs: tasks[i]?.txMs ?? null,
      reconnects: t.reconnects,
      ok: t.ok,
      error: t.ok ? null : t.error,
    })),
  );
  return {
    user: user.name,
    bs,
    host: placement.host,
    service: placement.service,
    endpoint: { address: placement.address, port: placement.port },
    tasks,
    latency: pathLatency(inv, (h) => state.hostFacts.get(h), getBasestation(inv, bs).host, placement.host),
  };
}
