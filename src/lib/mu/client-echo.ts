/**
 * The echo task mode's connection: plain TCP to a service that writes back what it reads. One task is its
 * bytes written and exactly as many read back; the connection stays open across tasks.
 */
import { ConnectionLostError, type OffloadTarget, openSocket, TaskSocket } from './task-socket.js';

/** The bytes that came back are not the ones sent (or more came than were sent): the stream is out of step. */
export class EchoMismatchError extends Error {
  readonly code = 'ECHO_MISMATCH';
  constructor(message: string) {
    super(message);
    this.name = 'EchoMismatchError';
  }
}

interface Pending {
  expected: Buffer;
  got: number;
  resolve(): void;
  reject(err: Error): void;
}

/** One TCP connection to an echo service, one task at a time. */
export class EchoConnection extends TaskSocket<Pending> {
  /** Opens a connection; rejects with ConnectionLostError when refused, unreachable or slower than timeoutMs. */
  static async open(target: OffloadTarget, timeoutMs: number): Promise<EchoConnection> {
    return new EchoConnection(await openSocket(target, timeoutMs));
  }

  /**
   * Writes `bytes` and resolves once as many have come back, equal to them. Rejects with
   * ConnectionLostError when the connection breaks or the bytes do not all come within timeoutMs, with
   * EchoMismatchError when they differ (then close() it: what follows would be out of step).
   */
  echo(bytes: Buffer, timeoutMs: number): Promise<void> {
    if (this.closed) return Promise.reject(new ConnectionLostError('connection closed'));
    if (this.pending) return Promise.reject(new Error('a task is already waiting on this connection'));
    if (bytes.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          const got = this.pending?.got ?? 0;
          this.pending = undefined;
          reject(
            new ConnectionLostError(
              `${got} of ${bytes.length} bytes back within ${Math.round(timeoutMs)} ms`,
              { timedOut: true },
            ),
          );
        },
        Math.max(1, timeoutMs),
      );
      this.pending = {
        expected: bytes,
        got: 0,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.socket.write(bytes);
    });
  }

  protected onData(chunk: Buffer): void {
    const p = this.pending;
    // Bytes nobody waits for (a late echo of a task given up on, or a service that talks by itself): the
    // stream can no longer be matched to tasks.
    if (!p || p.got + chunk.length > p.expected.length) {
      this.fail(new EchoMismatchError(`${chunk.length} bytes more than were sent came back`));
      this.socket.destroy();
      return;
    }
    if (!chunk.equals(p.expected.subarray(p.got, p.got + chunk.length))) {
      this.fail(
        new EchoMismatchError(`the bytes that came back differ from those sent (from byte ${p.got} on)`),
      );
      this.socket.destroy();
      return;
    }
    p.got += chunk.length;
    if (p.got === p.expected.length) {
      this.pending = undefined;
      p.resolve();
    }
  }
}
