/**
 * Docker clients per host, over the host's pooled SSH connection: every HTTP connection dockerode
 * opens is an SSH channel running `docker system dial-stdio` on the host (which talks to the host's
 * own daemon, DOCKER_HOST included), kept alive and reused. docker-modem's own ssh mode opens a new SSH
 * connection per request; this does not.
 */
import { Agent, type AgentOptions, type ClientRequestArgs } from 'node:http';
import { Duplex } from 'node:stream';
import Docker from 'dockerode';
import { type SshPool, type SshTarget, shellJoin, wrapArgv } from '../remote/index.js';

/** At most this many dial-stdio channels per host (sshd's MaxSessions is 10 by default). */
export const SOCKETS_PER_HOST = 4;

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

interface PendingWrite {
  chunk: Buffer;
  encoding: BufferEncoding;
  callback: (err?: Error | null) => void;
}

/**
 * The socket the HTTP agent gets for one dial-stdio channel, handed over at once: node's agent counts a
 * socket (against maxSockets) only when createConnection returns it or calls back, so a channel handed
 * over when its exec completes let every request of a burst open one of its own (in the lab: 20
 * concurrent requests, 20 channels, past sshd's MaxSessions, 44 s). Writes wait until the channel is
 * open; then bytes flow both ways, with backpressure.
 */
export class ChannelSocket extends Duplex {
  private channel: Duplex | undefined;
  private readonly waiting: PendingWrite[] = [];
  private finalCallback: ((err?: Error | null) => void) | undefined;

  attach(channel: Duplex): void {
    if (this.destroyed) {
      channel.destroy();
      return;
    }
    this.channel = channel;
    channel.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) channel.pause();
    });
    channel.on('end', () => this.push(null));
    channel.on('error', (err: Error) => this.destroy(err));
    channel.on('close', () => this.destroy());
    for (const w of this.waiting.splice(0)) channel.write(w.chunk, w.encoding, w.callback);
    if (this.finalCallback) {
      channel.end();
      this.finalCallback();
      this.finalCallback = undefined;
    }
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.channel) this.channel.write(chunk, encoding, callback);
    else this.waiting.push({ chunk, encoding, callback });
  }

  override _read(): void {
    this.channel?.resume();
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.channel) {
      this.channel.end();
      callback();
    } else {
      this.finalCallback = callback;
    }
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.channel?.destroy();
    callback(err);
  }
}

class SshDialAgent extends Agent {
  constructor(
    private readonly pool: SshPool,
    private readonly target: SshTarget,
    options: AgentOptions,
  ) {
    super(options);
  }

  override createConnection(_options: ClientRequestArgs): Duplex {
    const socket = new ChannelSocket();
    this.pool
      .connect(this.target)
      .then(({ client }) => {
        client.exec(dialStdioCommand(this.target), (err, channel) => {
          if (err) socket.destroy(err);
          else socket.attach(channel);
        });
      })
      .catch((err: Error) => socket.destroy(err));
    return asSocket(socket);
  }
}

const clients = new WeakMap<SshPool, Map<string, Docker>>();

/**
 * The dockerode client for the daemon of `target`, through `pool`: one per pool and host, so that every
 * caller shares its kept-alive connections (each new one is an SSH session, the login shell included).
 */
export function dockerFor(pool: SshPool, target: SshTarget): Docker {
  let perHost = clients.get(pool);
  if (!perHost) {
    perHost = new Map();
    clients.set(pool, perHost);
  }
  const key = `${target.ssh.user}@${target.address}:${target.ssh.port}`;
  let docker = perHost.get(key);
  if (!docker) {
    const agent = new SshDialAgent(pool, target, { keepAlive: true, maxSockets: SOCKETS_PER_HOST });
    docker = new Docker({ protocol: 'http', host: 'docker', port: 80, agent } as Docker.DockerOptions);
    perHost.set(key, docker);
  }
  return docker;
}
