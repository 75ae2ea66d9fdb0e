/**
 * A service on loopback that speaks the task protocol's ping, for tests of the probes: it answers, or
 * accepts connections and stays silent (a restore in progress, or a migration's frozen source), or
 * crashes and comes back. Given `digests`, it answers a ping with its counter's state digest and a ping
 * with `at` with `stateAt`, as the bundled apps do.
 */
import { createServer, type Server, type Socket } from 'node:net';
import {
  type Answer,
  decodeTask,
  encodeAnswer,
  FrameDecoder,
  type TaskHeader,
} from '../../src/lib/mu/protocol.js';

export interface FakeService {
  port: number;
  /** Answer pings (true) or accept connections and stay silent (false). */
  answering: boolean;
  /** How long each answer takes (a long path). */
  delayMs: number;
  /** Connections that received a ping while silent and are still open (their attempts still wait). */
  swallowedOpen: number;
  /** The counter its pings answer. */
  counter: number;
  /** counter -> state digest (the apps' ring); unset: a service that keeps none. */
  digests?: Map<number, string>;
  /** The `at` of every ping that had one. */
  askedAt: number[];
  /** Stops listening and drops every connection (a container that stopped). */
  crash(): void;
  /** Listens again on the same port (a container restored where it was). */
  restart(): Promise<void>;
}

const servers = new Set<Server>();

export async function fakeService(answering: boolean): Promise<FakeService> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = async (port: number): Promise<number> => {
    const s = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      const frames = new FrameDecoder();
      let swallowed = false;
      socket.on('close', () => {
        if (swallowed) service.swallowedOpen--;
      });
      socket.on('data', (chunk) => {
        frames.push(chunk);
        for (let body = frames.next(); body; body = frames.next()) {
          if (!service.answering) {
            if (!swallowed) service.swallowedOpen++;
            swallowed = true;
            continue;
          }
          const { header } = decodeTask(body);
          const reply = encodeAnswer(answerTo(header));
          if (service.delayMs > 0) setTimeout(() => socket.writable && socket.write(reply), service.delayMs);
          else socket.write(reply);
        }
      });
    });
    await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', resolve));
    servers.add(s);
    server = s;
    const address = s.address();
    return typeof address === 'object' && address ? address.port : 0;
  };
  const answerTo = (header: TaskHeader): Answer => {
    const counter = service.counter;
    const answer = { id: header.id, service: 'fake', counter, procMs: 0, bytes: 0, op: 'ping' } as const;
    const ring = service.digests;
    if (!ring) return answer;
    if (header.at === undefined) return { ...answer, digest: ring.get(counter) ?? '' };
    service.askedAt.push(header.at);
    const digest = ring.get(header.at);
    if (digest === undefined)
      return {
        id: header.id,
        error: `state after task ${header.at} is ${header.at > counter ? 'not reached yet' : 'no longer kept'}`,
      };
    return { ...answer, digest: ring.get(counter) ?? '', stateAt: { counter: header.at, digest } };
  };
  const service: FakeService = {
    port: 0,
    answering,
    delayMs: 0,
    swallowedOpen: 0,
    counter: 0,
    askedAt: [],
    crash() {
      server?.close();
      for (const s of sockets) s.destroy();
    },
    async restart() {
      await listen(service.port);
    },
  };
  service.port = await listen(0);
  return service;
}

/** Closes every fake service made so far. */
export function closeFakeServices(): void {
  for (const s of servers) {
    s.close();
    servers.delete(s);
  }
}
