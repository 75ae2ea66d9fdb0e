/**
 * Runs an outside planner program: one process per call, started without a shell, in a process group of
 * its own (so a time limit ends whatever it started too), the request written to its standard input, the
 * answer read from its standard output. Its standard error is kept (the last STDERR_TAIL_BYTES) for the
 * message when it fails. Nothing it writes is trusted: the output is bounded, parsed, and checked by zod
 * here and against the constraints by check.ts.
 */
import { spawn } from 'node:child_process';
import { errorMessage } from '../errors.js';
import {
  DEFAULT_PLANNER_TIMEOUT_MS,
  type PlannerAnswer,
  PlannerError,
  type PlannerRequest,
  plannerAnswerSchema,
} from './custom.js';

/** The most an answer may hold (bytes): a decision is ~100 bytes, so this is far beyond any real testbed. */
export const MAX_ANSWER_BYTES = 4 * 2 ** 20;
/** How much of the planner's standard error the message keeps (its end: where a traceback names the line). */
export const STDERR_TAIL_BYTES = 2048;
/** How long a killed planner's pipes may stay open before the call ends without them (ms). */
const KILL_GRACE_MS = 1000;

export interface ExecPlannerOptions {
  /** The planner's name (for the messages). */
  name?: string;
  timeoutMs?: number;
  maxAnswerBytes?: number;
  cwd?: string;
  signal?: AbortSignal;
}

/** Validates an answer (already parsed JSON); a PlannerError naming the first problems when it is not one. */
export function parseAnswer(name: string, data: unknown): PlannerAnswer {
  const r = plannerAnswerSchema.safeParse(data);
  if (r.success) return r.data;
  const first = r.error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`)
    .join('; ');
  throw new PlannerError(name, 'answer', `its answer is not a planner answer: ${first}`);
}

/**
 * Runs `argv` with the request on its standard input and returns its answer, parsed and validated. Throws a
 * PlannerError: `start` (the program could not be started), `timeout` (killed after timeoutMs), `crash`
 * (non-zero exit or a signal: the tail of its standard error in the message), `output` (too much output,
 * or not one JSON document), `answer` (JSON, but not an answer).
 */
export async function runExecPlanner(
  argv: readonly string[],
  request: PlannerRequest,
  options: ExecPlannerOptions = {},
): Promise<PlannerAnswer> {
  const name = options.name ?? 'exec';
  const timeoutMs = options.timeoutMs ?? DEFAULT_PLANNER_TIMEOUT_MS;
  const maxBytes = options.maxAnswerBytes ?? MAX_ANSWER_BYTES;
  const [program, ...args] = argv;
  if (!program) throw new PlannerError(name, 'start', 'no program to run');
  const stdout = await new Promise<Buffer>((resolvePromise, reject) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(program, args, {
        stdio: ['pipe', 'pipe', 'pipe'],
        // Its own process group: the time limit ends the planner and anything it started.
        detached: true,
        ...(options.cwd ? { cwd: options.cwd } : {}),
      });
    } catch (err) {
      reject(new PlannerError(name, 'start', `cannot start ${program}: ${errorMessage(err)}`));
      return;
    }
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = Buffer.alloc(0);
    let failure: PlannerError | null = null;
    let settled = false;
    const kill = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone (or its group is): nothing to end.
        try {
          child.kill('SIGKILL');
        } catch {}
      }
    };
    const fail = (e: PlannerError) => {
      failure ??= e;
      kill();
      // A process that left the group (setsid) may still hold the pipes open, and 'close' would never come:
      // the call ends anyway, its pipes dropped.
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(() => reject(failure));
      }, KILL_GRACE_MS).unref();
    };
    const timer = setTimeout(
      () => fail(new PlannerError(name, 'timeout', `timed out after ${timeoutMs} ms (killed)`)),
      timeoutMs,
    );
    const onAbort = () => fail(new PlannerError(name, 'crash', 'interrupted'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      f();
    };
    child.stdout?.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > maxBytes) {
        fail(
          new PlannerError(
            name,
            'output',
            `wrote more than ${maxBytes} bytes to its standard output (killed)`,
          ),
        );
        return;
      }
      out.push(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      err = Buffer.concat([err, chunk]);
      if (err.length > STDERR_TAIL_BYTES) err = err.subarray(err.length - STDERR_TAIL_BYTES);
    });
    // A planner that exits without reading its input closes the pipe under us: not our failure.
    child.stdin?.on('error', () => {});
    child.on('error', (e) => {
      finish(() => reject(new PlannerError(name, 'start', `cannot start ${program}: ${errorMessage(e)}`)));
    });
    child.on('close', (code, sig) => {
      finish(() => {
        if (failure) return reject(failure);
        const tail = err.toString('utf8').trim();
        const said = tail ? `: ${tail.split('\n').slice(-5).join(' | ')}` : '';
        if (code !== 0)
          return reject(
            new PlannerError(
              name,
              'crash',
              `${program} ${sig ? `was killed by ${sig}` : `exited with ${code}`}${said}`,
              { details: { exitCode: code, signal: sig, stderr: tail } },
            ),
          );
        resolvePromise(Buffer.concat(out));
      });
    });
    child.stdin?.end(`${JSON.stringify(request)}\n`);
  });
  let data: unknown;
  try {
    data = JSON.parse(stdout.toString('utf8'));
  } catch (e) {
    const text = stdout.toString('utf8').trim();
    throw new PlannerError(
      name,
      'output',
      `its standard output is not one JSON document (${errorMessage(e)})${text ? `: ${JSON.stringify(text.slice(0, 120))}` : ': it was empty'}`,
    );
  }
  return parseAnswer(name, data);
}

/** Calls a planner function with the same time limit as a program's (it cannot be killed: its answer is ignored). */
export async function runFunctionPlanner(
  fn: (r: PlannerRequest) => PlannerAnswer | Promise<PlannerAnswer>,
  request: PlannerRequest,
  options: { name?: string; timeoutMs?: number } = {},
): Promise<PlannerAnswer> {
  const name = options.name ?? 'function';
  const timeoutMs = options.timeoutMs ?? DEFAULT_PLANNER_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new PlannerError(name, 'timeout', `timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    // A deep copy: the function may change what it is given; the plan's input must not change.
    const answer = await Promise.race([Promise.resolve().then(() => fn(structuredClone(request))), limit]);
    return parseAnswer(name, answer);
  } catch (err) {
    if (err instanceof PlannerError) throw err;
    throw new PlannerError(name, 'crash', `threw: ${errorMessage(err)}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}
