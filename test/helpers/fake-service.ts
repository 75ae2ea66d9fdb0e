/**
 * A service on loopback that speaks the task protocol's ping, for tests of the probes: it answers, or
 * accepts connections and stays silent (a restore in progress, or a migration's frozen source), or
 * crashes and comes back.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { decodeTask, encodeAnswer, FrameDecoder } from '../../src/lib/mu/protocol.js';

export interface FakeService {
  port: number;
  /** Answer pings (true) or accept connections and stay silent (false). */
  answering: boolean;
  /** How long each answer takes (a long path). */
  delayMs: number;
  /** Connections that received a ping while silent and are still open (their attempts still wait). */
  swallowedOpen: number;
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
          const answer = { id: header.id, service: 'fake', counter: 0, procMs: 0, bytes: 0 } as const;
          const reply = encodeAnswer({ ...answer, op: 'ping' });
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
  const service: FakeService = {
    port: 0,
    answering,
    delayMs: 0,
    swallowedOpen: 0,
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
