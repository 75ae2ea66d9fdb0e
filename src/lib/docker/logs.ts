/**
 * `edgectl logs USER`: the output of a user's service container, read from the server the state database
 * says it runs on, through the same docker-over-SSH client as everything else. Read-only: no lock is
 * taken, so the logs of a service can be followed while it is migrated (the follow then ends with the
 * source container; run it again to read the destination's).
 */
import { Readable, Writable } from 'node:stream';
import type Docker from 'dockerode';
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
 * Passes a container's log stream on as stdout and stderr pieces, in order. Without a TTY docker frames
 * every piece (an 8-byte header naming the stream, then the bytes): dockerode's own demultiplexer splits
 * them, whatever the chunking; with a TTY the bytes come as they are (edgectl's own containers have none).
 */
export function splitLogStream(
  modem: Pick<Docker['modem'], 'demuxStream'>,
  source: NodeJS.ReadableStream,
  tty: boolean,
  onChunk: (chunk: LogChunk) => void,
): void {
  const to = (stream: LogStream) =>
    new Writable({
      write(data: Buffer, _encoding, done) {
        onChunk({ stream, data });
        done();
      },
    });
  if (tty)
    source.on('data', (data: Buffer | string) => onChunk({ stream: 'stdout', data: Buffer.from(data) }));
  else modem.demuxStream(source, to('stdout'), to('stderr'));
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
  let bytes = 0;
  const options = { stdout: true, stderr: true, ...(req.tail === undefined ? {} : { tail: req.tail }) };
  if (req.follow && req.signal?.aborted) return { ...base, interrupted: true, bytes };
  const source = req.follow
    ? ((await container.logs({ ...options, follow: true })) as NodeJS.ReadableStream & {
        destroy?: () => void;
      })
    : Readable.from([await container.logs({ ...options, follow: false })]);
  splitLogStream(docker.modem, source, info.Config?.Tty === true, (chunk) => {
    bytes += chunk.data.length;
    req.onChunk(chunk);
  });
  const interrupted = await new Promise<boolean>((resolve, reject) => {
    const onAbort = () => {
      done();
      source.destroy?.();
      resolve(true);
    };
    const done = () => req.signal?.removeEventListener('abort', onAbort);
    source.once('end', () => {
      done();
      resolve(false);
    });
    source.once('error', (err: Error) => {
      done();
      if (req.signal?.aborted) resolve(true);
      else reject(err);
    });
    if (req.follow) req.signal?.addEventListener('abort', onAbort, { once: true });
  });
  return { ...base, interrupted, bytes };
}
