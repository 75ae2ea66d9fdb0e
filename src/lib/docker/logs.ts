/**
 * `edgectl logs USER`: the output of a user's service container, read from the server the state database
 * says it runs on, through the same docker-over-SSH client as everything else. Read-only: no lock is
 * taken, so the logs of a service can be followed while it is migrated (the follow then ends with the
 * source container; run it again to read the destination's).
 */
import { EdgectlError, ExitCode } from '../errors.js';
import { getHost, getUser, type Inventory } from '../inventory/index.js';
import type { SshPool } from '../remote/index.js';
import type { StateDb } from '../state/index.js';
import { reachDocker } from './deploy.js';

export type LogStream = 'stdout' | 'stderr';

export interface LogChunk {
  stream: LogStream;
  data: Buffer;
}

/**
 * Splits docker's multiplexed log stream (a container without a TTY) into its stdout and stderr parts.
 * Every frame is an 8-byte header (byte 0: 1 stdout, 2 stderr; bytes 4-7: the payload's length, big
 * endian) and the payload. Incremental: a frame may arrive across any number of chunks.
 */
export class LogDemuxer {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): LogChunk[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: LogChunk[] = [];
    while (this.pending.length >= 8) {
      const kind = this.pending[0];
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + size) break;
      const data = this.pending.subarray(8, 8 + size);
      // 0 is stdin (never in logs); anything else but 2 is shown as stdout rather than lost.
      out.push({ stream: kind === 2 ? 'stderr' : 'stdout', data });
      this.pending = this.pending.subarray(8 + size);
    }
    return out;
  }

  /** Bytes of an unfinished frame left at the end (0 when the stream ended on a frame boundary). */
  get leftover(): number {
    return this.pending.length;
  }
}

export interface LogsRequest {
  user: string;
  /** Keep reading until the container stops or `signal` aborts. */
  follow?: boolean;
  /** Only the last N lines (default: all). */
  tail?: number;
  /** Ends a follow (Ctrl+C): the stream is closed and the call resolves normally. */
  signal?: AbortSignal;
  /** Each piece of output as it arrives, in order. */
  onChunk: (chunk: LogChunk) => void;
}

export interface LogsResult {
  user: string;
  host: string;
  container: string;
  containerId: string;
  /** The follow was ended by the signal (Ctrl+C), not by the container stopping. */
  interrupted: boolean;
  bytes: number;
}

export class NoServiceError extends EdgectlError {
  constructor(user: string) {
    super(
      'NO_SERVICE',
      ExitCode.usage,
      `${user} has no service deployed (no placement in the state database)`,
      {
        hint: `edgectl status shows where each user's service runs; edgectl deploy --user ${user} ... starts one`,
      },
    );
  }
}

export class ContainerGoneError extends EdgectlError {
  constructor(user: string, container: string, host: string) {
    super('CONTAINER_GONE', ExitCode.remote, `${user}'s container ${container} is no longer on ${host}`, {
      hint: `edgectl undeploy --user ${user} forgets the placement; edgectl deploy starts the service again`,
    });
  }
}

/** Reads (or follows) a user's service logs from its current server. */
export async function serviceLogs(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  req: LogsRequest,
): Promise<LogsResult> {
  const user = getUser(inv, req.user);
  const placement = state.placements.get(user.name);
  if (!placement) throw new NoServiceError(user.name);
  const docker = await reachDocker(pool, getHost(inv, placement.host));
  const container = docker.getContainer(placement.containerId);
  const info = await container.inspect().catch((err: { statusCode?: number }) => {
    if (err.statusCode === 404) throw new ContainerGoneError(user.name, placement.container, placement.host);
    throw err;
  });
  const base = {
    user: user.name,
    host: placement.host,
    container: placement.container,
    containerId: placement.containerId,
  };
  // With a TTY docker sends the bytes as they are, without frames (edgectl's own containers have none).
  const tty = info.Config?.Tty === true;
  const demux = new LogDemuxer();
  let bytes = 0;
  const feed = (chunk: Buffer) => {
    const parts = tty ? [{ stream: 'stdout' as const, data: chunk }] : demux.push(chunk);
    for (const part of parts) {
      bytes += part.data.length;
      req.onChunk(part);
    }
  };
  const options = { stdout: true, stderr: true, ...(req.tail === undefined ? {} : { tail: req.tail }) };
  if (!req.follow) {
    feed(await container.logs({ ...options, follow: false }));
    return { ...base, interrupted: false, bytes };
  }
  if (req.signal?.aborted) return { ...base, interrupted: true, bytes };
  const stream = (await container.logs({ ...options, follow: true })) as NodeJS.ReadableStream & {
    destroy?: () => void;
  };
  const interrupted = await new Promise<boolean>((resolve, reject) => {
    const onAbort = () => {
      done();
      stream.destroy?.();
      resolve(true);
    };
    const done = () => {
      req.signal?.removeEventListener('abort', onAbort);
      stream.removeListener('data', onData);
    };
    const onData = (chunk: Buffer | string) => feed(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    stream.on('data', onData);
    stream.once('end', () => {
      done();
      resolve(false);
    });
    stream.once('error', (err: Error) => {
      done();
      if (req.signal?.aborted) resolve(true);
      else reject(err);
    });
    req.signal?.addEventListener('abort', onAbort, { once: true });
  });
  return { ...base, interrupted, bytes };
}
