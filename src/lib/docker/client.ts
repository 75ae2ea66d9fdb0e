/**
 * Docker clients per host, over the host's pooled SSH connection: every HTTP connection dockerode
 * opens is an SSH channel running `docker system dial-stdio` on the host (which talks to the host's
 * own daemon, DOCKER_HOST included), kept alive and reused. docker-modem's own ssh mode opens a new SSH
 * connection per request; this does not.
 */
import { Agent, type AgentOptions, type ClientRequestArgs } from 'node:http';
import type { Duplex } from 'node:stream';
import Docker from 'dockerode';
import { type SshPool, type SshTarget, shellJoin, wrapArgv } from '../remote/index.js';

/** At most this many dial-stdio channels per host (sshd's MaxSessions is 10 by default). */
const SOCKETS_PER_HOST = 4;

export const DIAL_STDIO_ARGV = ['docker', 'system', 'dial-stdio'] as const;

/**
 * The command line of a dial-stdio channel on `target`: wrapped like every other command the executor
 * runs (so `ssh.sudo: true` puts it under `sudo -n`, as the probes of hosts check are) and quoted by the
 * one quoting function. No time limit: the channel lives as long as the HTTP keep-alive connection.
 */
export function dialStdioCommand(target: SshTarget): string {
  return shellJoin(wrapArgv(target, DIAL_STDIO_ARGV));
}

type Socketish = Duplex & Record<string, unknown>;

/** The bits of net.Socket that node's HTTP client calls, on an SSH channel. */
function asSocket(stream: Duplex): Duplex {
  const s = stream as Socketish;
  for (const method of ['setTimeout', 'setNoDelay', 'setKeepAlive', 'ref', 'unref']) {
    if (typeof s[method] !== 'function') s[method] = () => s;
  }
  return stream;
}

class SshDialAgent extends Agent {
  constructor(
    private readonly pool: SshPool,
    private readonly target: SshTarget,
    options: AgentOptions,
  ) {
    super(options);
  }

  override createConnection(
    _options: ClientRequestArgs,
    callback?: (err: Error | null, socket: Duplex) => void,
  ): Duplex | undefined {
    const fail = (err: Error) => callback?.(err, undefined as unknown as Duplex);
    this.pool
      .connect(this.target)
      .then(({ client }) => {
        client.exec(dialStdioCommand(this.target), (err, channel) => {
          if (err) fail(err);
          else callback?.(null, asSocket(channel));
        });
      })
      .catch(fail);
    return undefined;
  }
}

/** A dockerode client for the daemon of `target`, through `pool`. */
export function dockerFor(pool: SshPool, target: SshTarget): Docker {
  const agent = new SshDialAgent(pool, target, { keepAlive: true, maxSockets: SOCKETS_PER_HOST });
  return new Docker({ protocol: 'http', host: 'docker', port: 80, agent } as Docker.DockerOptions);
}
