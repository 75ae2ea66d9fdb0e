/**
 * What the TCP task modes (edgectl's protocol, echo) share: opening a connection from a user's own
 * address within a time limit, and one connection carrying one request at a time whose breaking fails
 * the request waiting on it.
 */
import { connect, type Socket } from 'node:net';

export interface OffloadTarget {
  address: string;
  port: number;
  /** Send from this local address (a user's own address on its mu host). */
  localAddress?: string;
}

/** The connection broke, could not be opened, or went silent: worth reconnecting and trying again. */
export class ConnectionLostError extends Error {
  readonly code = 'CONNECTION_LOST';
  /** No answer came within the attempt's time (the connection itself did not break). */
  readonly timedOut: boolean;
  constructor(message: string, options: { timedOut?: boolean } = {}) {
    super(message);
    this.name = 'ConnectionLostError';
    this.timedOut = options.timedOut === true;
  }
}

/** Opens a TCP connection; rejects with ConnectionLostError when refused, unreachable or slower than timeoutMs. */
export function openSocket(target: OffloadTarget, timeoutMs: number): Promise<Socket> {
  const where = `${target.address}:${target.port}`;
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: target.address,
      port: target.port,
      ...(target.localAddress ? { localAddress: target.localAddress } : {}),
    });
    const onError = (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new ConnectionLostError(`cannot connect to ${where}: ${err.code ?? err.message}`));
    };
    const timer = setTimeout(
      () => {
        socket.off('error', onError);
        socket.on('error', () => {});
        socket.destroy();
        reject(new ConnectionLostError(`connect to ${where} timed out after ${Math.round(timeoutMs)} ms`));
      },
      Math.max(1, timeoutMs),
    );
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/** One open connection, one request at a time (`pending`); the mode reads its answers in onData. */
export abstract class TaskSocket<P extends { reject(err: Error): void }> {
  protected pending: P | undefined;
  private isClosed = false;

  protected constructor(protected readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      this.fail(new ConnectionLostError(`connection lost: ${err.code ?? err.message}`)),
    );
    socket.on('close', () => this.fail(new ConnectionLostError('connection closed by the server')));
  }

  get closed(): boolean {
    return this.isClosed;
  }

  close(): void {
    this.isClosed = true;
    this.socket.destroy();
  }

  protected abstract onData(chunk: Buffer): void;

  /** Fails the waiting request (if any); the connection carries no more. */
  protected fail(err: Error): void {
    this.isClosed = true;
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(err);
  }
}
