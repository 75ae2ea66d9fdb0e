/**
 * The TypeScript side of the bundled services' framing (apps/PROTOCOL.md; apps/lib/framing.mjs is the
 * services' side):
 *
 *   frame  = u32 BE length | body (at most MAX_FRAME_BYTES)
 *   task   = frame whose body is  u32 BE headerLength | header JSON {id, user?, op?} | payload
 *   answer = frame whose body is  JSON {id, service, counter, procMs, bytes, checksum?, fileLines?} or {id, error}
 */

export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
export const MAX_HEADER_BYTES = 64 * 1024;
export const MAX_USER_LENGTH = 256;

export type TaskOp = 'task' | 'ping';

export interface TaskHeader {
  /** Chosen by the client, echoed by the answer: a non-negative integer. */
  id: number;
  user?: string;
  /** `ping` answers the current counter without counting (default `task`). */
  op?: TaskOp;
  /** With a ping: also answer `stateAt`, the digest of the state after task `at` (apps/PROTOCOL.md). */
  at?: number;
}

export interface Task {
  header: TaskHeader & { op: TaskOp };
  payload: Buffer;
}

export interface AnswerOk {
  id: number;
  service: string;
  counter: number;
  procMs: number;
  bytes: number;
  checksum?: string;
  fileLines?: number;
  /** The client's address as the service saw it (after NAT on the way). */
  peer?: string;
  op?: 'ping';
  /** A ping's answer: the digest of the service's state after `counter` tasks, as it came (not checked). */
  digest?: string;
  /** A ping's answer to `at`: the digest of the state after task `at`, as it came (not checked). */
  stateAt?: { counter: number; digest: string };
  /**
   * The rest of the answer: what the service found (face: faces, gallery; detect: objects, tally; width,
   * height, rss), passed through as it came, when its JSON is at most RESULT_MAX_BYTES.
   */
  result?: Record<string, unknown>;
}

/** The largest service result kept from an answer (its JSON); a larger one is left out. */
export const RESULT_MAX_BYTES = 64 * 1024;
/** The answer's fields of the protocol itself: everything else is the service's result. */
const PROTOCOL_FIELDS = new Set([
  'id',
  'service',
  'counter',
  'procMs',
  'bytes',
  'checksum',
  'fileLines',
  'peer',
  'op',
  'error',
  'digest',
  'stateAt',
]);

/** The fields of an answer that are not the protocol's, if any and not too large. */
function serviceResult(raw: Record<string, unknown>): Record<string, unknown> | undefined {
  const rest = Object.fromEntries(Object.entries(raw).filter(([k]) => !PROTOCOL_FIELDS.has(k)));
  if (Object.keys(rest).length === 0) return undefined;
  return Buffer.byteLength(JSON.stringify(rest)) <= RESULT_MAX_BYTES ? rest : undefined;
}

export interface AnswerError {
  id: number | null;
  error: string;
}

export type Answer = AnswerOk | AnswerError;

export function isAnswerError(answer: Answer): answer is AnswerError {
  return 'error' in answer;
}

/** The stream broke the framing or a message is malformed. */
export class ProtocolError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

/** A length prefix over the limit: nothing after it on that stream can be framed. */
export class FrameTooLargeError extends ProtocolError {
  readonly length: number;
  readonly limit: number;
  constructor(length: number, limit: number) {
    super('FRAME_TOO_LARGE', `frame of ${length} bytes exceeds the limit of ${limit} bytes`);
    this.name = 'FrameTooLargeError';
    this.length = length;
    this.limit = limit;
  }
}

/** A frame: the body's length as u32 big-endian, then the body. */
export function encodeFrame(body: Uint8Array): Buffer {
  if (body.length > 0xffffffff)
    throw new ProtocolError('FRAME_TOO_LARGE', `frame body of ${body.length} bytes`);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

/** A whole task frame (length prefix included), ready to write to the socket. */
export function encodeTask(header: TaskHeader, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const bodyLength = 4 + headerBytes.length + payload.length;
  if (headerBytes.length > MAX_HEADER_BYTES) {
    throw new ProtocolError('HEADER_TOO_LARGE', `task header of ${headerBytes.length} bytes`);
  }
  if (bodyLength > MAX_FRAME_BYTES) {
    throw new FrameTooLargeError(bodyLength, MAX_FRAME_BYTES);
  }
  const out = Buffer.allocUnsafe(4 + bodyLength);
  out.writeUInt32BE(bodyLength, 0);
  out.writeUInt32BE(headerBytes.length, 4);
  out.set(headerBytes, 8);
  out.set(payload, 8 + headerBytes.length);
  return out;
}

/** Reads a task body (as a service would); throws ProtocolError('BAD_TASK') naming what is wrong. */
export function decodeTask(body: Buffer): Task {
  const bad = (message: string) => new ProtocolError('BAD_TASK', message);
  if (body.length < 4) throw bad(`task of ${body.length} bytes has no 4-byte header length`);
  const headerLength = body.readUInt32BE(0);
  if (headerLength > MAX_HEADER_BYTES) {
    throw bad(`task header of ${headerLength} bytes exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  }
  if (headerLength > body.length - 4) {
    throw bad(`task header length ${headerLength} exceeds the ${body.length - 4} bytes that follow it`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(body.subarray(4, 4 + headerLength).toString('utf8'));
  } catch {
    throw bad('task header is not valid JSON');
  }
  if (!isObject(raw)) throw bad('task header is not a JSON object');
  const { id, user, op, at } = raw;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
    throw bad('task header "id" must be a non-negative integer');
  }
  if (user !== undefined && (typeof user !== 'string' || user.length > MAX_USER_LENGTH)) {
    throw bad(`task header "user" must be a string of at most ${MAX_USER_LENGTH} characters`);
  }
  if (op !== undefined && op !== 'task' && op !== 'ping')
    throw bad('task header "op" must be "task" or "ping"');
  if (at !== undefined && (typeof at !== 'number' || !Number.isSafeInteger(at) || at < 0))
    throw bad('task header "at" must be a non-negative integer');
  return {
    header: {
      id,
      ...(user !== undefined ? { user } : {}),
      op: op ?? 'task',
      ...(at !== undefined ? { at } : {}),
    },
    payload: body.subarray(4 + headerLength),
  };
}

/** An answer frame (length prefix included). */
export function encodeAnswer(answer: Answer): Buffer {
  return encodeFrame(Buffer.from(JSON.stringify(answer), 'utf8'));
}

/** Reads and checks an answer body; throws ProtocolError('BAD_ANSWER') for anything that is not one. */
export function decodeAnswer(body: Buffer): Answer {
  const bad = (message: string) => new ProtocolError('BAD_ANSWER', message);
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    throw bad(`answer is not valid JSON: ${JSON.stringify(body.subarray(0, 80).toString('utf8'))}`);
  }
  if (!isObject(raw)) throw bad('answer is not a JSON object');
  const id = raw['id'];
  if (id !== null && (typeof id !== 'number' || !Number.isSafeInteger(id)))
    throw bad('answer "id" is not an integer');
  if (raw['error'] !== undefined) {
    return { id, error: String(raw['error']) };
  }
  if (id === null) throw bad('answer without error has a null "id"');
  const { service, counter, procMs, bytes, checksum, fileLines, peer, op, digest, stateAt } = raw;
  if (typeof service !== 'string') throw bad('answer "service" is not a string');
  if (typeof counter !== 'number' || !Number.isSafeInteger(counter))
    throw bad('answer "counter" is not an integer');
  if (typeof procMs !== 'number' || !Number.isFinite(procMs)) throw bad('answer "procMs" is not a number');
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes))
    throw bad('answer "bytes" is not an integer');
  if (checksum !== undefined && typeof checksum !== 'string') throw bad('answer "checksum" is not a string');
  if (fileLines !== undefined && (typeof fileLines !== 'number' || !Number.isSafeInteger(fileLines))) {
    throw bad('answer "fileLines" is not an integer');
  }
  const result = serviceResult(raw);
  return {
    id,
    service,
    counter,
    procMs,
    bytes,
    ...(checksum !== undefined ? { checksum } : {}),
    ...(fileLines !== undefined ? { fileLines } : {}),
    ...(typeof peer === 'string' ? { peer } : {}),
    ...(op === 'ping' ? { op: 'ping' as const } : {}),
    ...(typeof digest === 'string' ? { digest } : {}),
    ...(isObject(stateAt) && typeof stateAt['counter'] === 'number' && typeof stateAt['digest'] === 'string'
      ? { stateAt: { counter: stateAt['counter'], digest: stateAt['digest'] } }
      : {}),
    ...(result !== undefined ? { result } : {}),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Splits a byte stream into frame bodies, whatever the chunking: push() each chunk as it arrives, then
 * call next() until it returns undefined. next() throws FrameTooLargeError when a length prefix is over
 * the limit (every frame before it has been returned already); the decoder stays failed after that.
 * Chunks are kept as a list and joined once per frame, so a big frame in many small reads costs one copy.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private need = -1;
  private failed: FrameTooLargeError | undefined;

  constructor(readonly maxFrameBytes: number = MAX_FRAME_BYTES) {}

  /** Bytes received and not yet returned in a frame (length prefixes included). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (this.failed) throw this.failed;
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  next(): Buffer | undefined {
    if (this.failed) throw this.failed;
    if (this.need < 0) {
      if (this.buffered < 4) return undefined;
      const length = this.take(4).readUInt32BE(0);
      if (length > this.maxFrameBytes) {
        this.failed = new FrameTooLargeError(length, this.maxFrameBytes);
        this.chunks = [];
        this.buffered = 0;
        throw this.failed;
      }
      this.need = length;
    }
    if (this.buffered < this.need) return undefined;
    const body = this.take(this.need);
    this.need = -1;
    return body;
  }

  /** Every complete frame now buffered (push first). */
  *frames(): Generator<Buffer> {
    for (let body = this.next(); body !== undefined; body = this.next()) yield body;
  }

  private take(n: number): Buffer {
    this.buffered -= n;
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const want = n - filled;
      if (chunk.length <= want) {
        out.set(chunk, filled);
        filled += chunk.length;
        this.chunks.shift();
      } else {
        out.set(chunk.subarray(0, want), filled);
        this.chunks[0] = chunk.subarray(want);
        filled += want;
      }
    }
    return out;
  }
}

/** Deterministic pseudo-random bytes (xorshift32; the same as apps/client.mjs), different per seed. */
export function makePayload(size: number, seed: number): Buffer {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = (seed ^ 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return Buffer.from(words.buffer, 0, size);
}
