// The wire format shared by the bundled services (see ../PROTOCOL.md). No dependencies: this runs inside
// an image that holds nothing but the node binary.
//
//   frame  = u32 BE length | body (length bytes, at most MAX_FRAME_BYTES)
//   task   = frame whose body is  u32 BE headerLength | header (UTF-8 JSON object) | payload
//   answer = frame whose body is  UTF-8 JSON object

export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
export const MAX_HEADER_BYTES = 64 * 1024;
export const MAX_USER_LENGTH = 256;

/** A length prefix larger than the limit: the stream cannot be trusted any further. */
export class FrameTooLargeError extends Error {
  constructor(length, limit) {
    super(`frame of ${length} bytes exceeds the limit of ${limit} bytes`);
    this.name = 'FrameTooLargeError';
    this.code = 'FRAME_TOO_LARGE';
    this.length = length;
    this.limit = limit;
  }
}

/** A well-framed task whose body is malformed; `id` is set when the header could be read. */
export class TaskError extends Error {
  constructor(message, id = null) {
    super(message);
    this.name = 'TaskError';
    this.code = 'BAD_TASK';
    this.id = id;
  }
}

/** One frame: the 4-byte big-endian length, then the body. */
export function encodeFrame(body) {
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

/**
 * Splits a byte stream into frame bodies, whatever the chunking. push() the chunks as they arrive, then
 * call next() until it returns undefined. next() throws FrameTooLargeError when a length prefix is over
 * the limit (frames before it were already returned); the decoder is unusable afterwards.
 */
export class FrameDecoder {
  #chunks = [];
  #buffered = 0;
  #need = -1;
  #limit;
  #failed = null;

  constructor(maxFrameBytes = MAX_FRAME_BYTES) {
    this.#limit = maxFrameBytes;
  }

  /** Bytes received and not yet returned as part of a frame (length prefixes included). */
  get bufferedBytes() {
    return this.#buffered;
  }

  push(chunk) {
    if (this.#failed) throw this.#failed;
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  next() {
    if (this.#failed) throw this.#failed;
    if (this.#need < 0) {
      if (this.#buffered < 4) return undefined;
      const length = this.#take(4).readUInt32BE(0);
      if (length > this.#limit) {
        this.#failed = new FrameTooLargeError(length, this.#limit);
        this.#chunks = [];
        this.#buffered = 0;
        throw this.#failed;
      }
      this.#need = length;
    }
    if (this.#buffered < this.#need) return undefined;
    const body = this.#take(this.#need);
    this.#need = -1;
    return body;
  }

  #take(n) {
    this.#buffered -= n;
    const first = this.#chunks[0];
    if (n === 0) return Buffer.alloc(0);
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0];
      const want = n - filled;
      if (chunk.length <= want) {
        out.set(chunk, filled);
        filled += chunk.length;
        this.#chunks.shift();
      } else {
        out.set(chunk.subarray(0, want), filled);
        this.#chunks[0] = chunk.subarray(want);
        filled += want;
      }
    }
    return out;
  }
}

/** A whole task frame: header is {id, user?, op?}; payload a Buffer/Uint8Array. */
export function encodeTask(header, payload = Buffer.alloc(0)) {
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const bodyLength = 4 + headerBytes.length + payload.length;
  const out = Buffer.allocUnsafe(4 + bodyLength);
  out.writeUInt32BE(bodyLength, 0);
  out.writeUInt32BE(headerBytes.length, 4);
  out.set(headerBytes, 8);
  out.set(payload, 8 + headerBytes.length);
  return out;
}

/** Reads a task body into {header, payload}; throws TaskError naming what is wrong. */
export function decodeTask(body) {
  if (body.length < 4) throw new TaskError(`task of ${body.length} bytes has no 4-byte header length`);
  const headerLength = body.readUInt32BE(0);
  if (headerLength > MAX_HEADER_BYTES) {
    throw new TaskError(
      `task header of ${headerLength} bytes exceeds the limit of ${MAX_HEADER_BYTES} bytes`,
    );
  }
  if (headerLength > body.length - 4) {
    throw new TaskError(
      `task header length ${headerLength} exceeds the ${body.length - 4} bytes that follow it`,
    );
  }
  let header;
  try {
    header = JSON.parse(body.subarray(4, 4 + headerLength).toString('utf8'));
  } catch {
    throw new TaskError('task header is not valid JSON');
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new TaskError('task header is not a JSON object');
  }
  const { id, user, op, at } = header;
  if (!Number.isSafeInteger(id) || id < 0) {
    throw new TaskError('task header "id" must be a non-negative integer');
  }
  if (user !== undefined && (typeof user !== 'string' || user.length > MAX_USER_LENGTH)) {
    throw new TaskError(`task header "user" must be a string of at most ${MAX_USER_LENGTH} characters`, id);
  }
  if (op !== undefined && op !== 'task' && op !== 'ping') {
    throw new TaskError('task header "op" must be "task" or "ping"', id);
  }
  if (at !== undefined && (!Number.isSafeInteger(at) || at < 0)) {
    throw new TaskError('task header "at" must be a non-negative integer', id);
  }
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

/** An answer frame: a JSON object ({id, service, counter, procMs, bytes, ...} or {id, error}). */
export function encodeAnswer(answer) {
  return encodeFrame(Buffer.from(JSON.stringify(answer), 'utf8'));
}

/** The JSON object of an answer body; throws on anything else. */
export function decodeAnswer(body) {
  const answer = JSON.parse(body.toString('utf8'));
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) {
    throw new Error('answer is not a JSON object');
  }
  return answer;
}
