/**
 * A bundled service as a real process for unit tests: start it from a server.mjs path with a minimal
 * environment, wait for its "listening" line, talk to it over one connection, stop it by its pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { FrameDecoder } from '../../src/lib/mu/protocol.js';

export interface RunningService {
  port: number;
  proc: ChildProcess;
  /** The JSON lines it logged on stderr. */
  logs: Record<string, unknown>[];
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** Kills every service a test file started and did not stop (call in afterAll). */
export function killServices(): void {
  for (const proc of running) proc.kill('SIGKILL');
}

/** Starts `node <entry>` with only PATH, HOST, PORT=0 and `env`; resolves once it listens. */
export function startService(
  entry: string,
  env: Record<string, string>,
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<RunningService> {
  const proc = spawn(process.execPath, [entry], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  running.add(proc);
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      running.delete(proc);
      resolve(code);
    }),
  );
  const logs: Record<string, unknown>[] = [];
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(
      () => reject(new Error(`${entry} did not start: ${buffered}`)),
      options.timeoutMs ?? 30_000,
    );
    proc.stderr!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const entryLog = JSON.parse(line) as Record<string, unknown>;
        logs.push(entryLog);
        if (entryLog['event'] === 'listening') {
          clearTimeout(timer);
          resolve({
            port: entryLog['port'] as number,
            proc,
            logs,
            stop: () => {
              proc.kill('SIGTERM');
              return exited;
            },
          });
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited with ${code}: ${buffered} ${JSON.stringify(logs)}`));
    });
  });
}

/** A task frame with any header (the typed encoder knows only the client's fields). */
export function taskFrame(header: Record<string, unknown>, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const head = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + head.length + payload.length);
  out.writeUInt32BE(4 + head.length + payload.length, 0);
  out.writeUInt32BE(head.length, 4);
  out.set(head, 8);
  out.set(payload, 8 + head.length);
  return out;
}

/** Sends the tasks on one connection and resolves with their answers, in order. */
export function exchange(
  port: number,
  tasks: { header: Record<string, unknown>; payload?: Uint8Array }[],
  timeoutMs = 60_000,
): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const decoder = new FrameDecoder();
    const answers: Record<string, unknown>[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${answers.length} of ${tasks.length} answers within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      for (const body of decoder.frames())
        answers.push(JSON.parse(body.toString()) as Record<string, unknown>);
      if (answers.length >= tasks.length) {
        clearTimeout(timer);
        socket.end();
        resolve(answers);
      }
    });
    for (const task of tasks) socket.write(taskFrame(task.header, task.payload));
  });
}
