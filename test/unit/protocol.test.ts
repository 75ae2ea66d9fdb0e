import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  decodeAnswer,
  decodeTask,
  encodeAnswer,
  encodeFrame,
  encodeTask,
  FrameDecoder,
  FrameTooLargeError,
  isAnswerError,
  MAX_FRAME_BYTES,
  makePayload,
  ProtocolError,
  RESULT_MAX_BYTES,
} from '../../src/lib/mu/protocol.js';

/** The services' own codec (plain JS), to check both sides agree byte for byte. */
interface JsFraming {
  encodeTask(header: object, payload?: Uint8Array): Buffer;
  decodeTask(body: Buffer): { header: Record<string, unknown>; payload: Buffer };
  encodeAnswer(answer: object): Buffer;
  FrameDecoder: new (max?: number) => { push(chunk: Buffer): void; next(): Buffer | undefined };
  MAX_FRAME_BYTES: number;
}
const framingPath = fileURLToPath(new URL('../../apps/lib/framing.mjs', import.meta.url));
const js = (await import(framingPath)) as JsFraming;

function drain(decoder: { next(): Buffer | undefined }): Buffer[] {
  const out: Buffer[] = [];
  for (let body = decoder.next(); body !== undefined; body = decoder.next()) out.push(body);
  return out;
}

/** Feeds `bytes` to a decoder in chunks cut at `cuts` and returns every frame body. */
function feed(bytes: Buffer, cuts: number[], decoder = new FrameDecoder()): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    decoder.push(bytes.subarray(at, cut));
    out.push(...drain(decoder));
    at = cut;
  }
  return out;
}

/** A small deterministic PRNG for chunk boundaries. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

describe('task framing', () => {
  it('round-trips a task: header, user, op and binary payload', () => {
    const payload = Buffer.from([0, 1, 2, 255, 0, 10, 13]);
    const frame = encodeTask({ id: 42, user: 'mu1' }, payload);
    expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
    const [body] = feed(frame, []);
    const task = decodeTask(body!);
    expect(task.header).toEqual({ id: 42, user: 'mu1', op: 'task' });
    expect(Buffer.compare(task.payload, payload)).toBe(0);
    expect(decodeTask(feed(encodeTask({ id: 0, op: 'ping' }), [])[0]!).header).toEqual({ id: 0, op: 'ping' });
    expect(decodeTask(feed(encodeTask({ id: 1 }, new Uint8Array(0)), [])[0]!).payload.length).toBe(0);
  });

  it('is byte-for-byte the framing the services use', () => {
    const payload = makePayload(1000, 7);
    const header = { id: 9, user: 'mu2', op: 'task' as const };
    expect(Buffer.compare(encodeTask(header, payload), js.encodeTask(header, payload))).toBe(0);
    const answer = { id: 9, service: 'compute', counter: 3, procMs: 1.5, bytes: 1000, checksum: 'abcdef01' };
    expect(Buffer.compare(encodeAnswer(answer), js.encodeAnswer(answer))).toBe(0);
    const body = feed(encodeTask({ id: 5, user: 'x' }, payload), [])[0]!;
    expect(js.decodeTask(body).header).toEqual(decodeTask(body).header);
    expect(js.MAX_FRAME_BYTES).toBe(MAX_FRAME_BYTES);
  });

  it('rejects malformed task bodies with a reason, like the services do', () => {
    const cases: [Buffer, RegExp][] = [
      [Buffer.from([0, 0]), /no 4-byte header length/],
      [Buffer.concat([u32(10), Buffer.from('{}')]), /exceeds the 2 bytes/],
      [Buffer.concat([u32(70_000), Buffer.alloc(70_000)]), /exceeds the limit of 65536/],
      [Buffer.concat([u32(5), Buffer.from('nope!')]), /not valid JSON/],
      [Buffer.concat([u32(2), Buffer.from('[]')]), /not a JSON object/],
      [withHeader({ id: -1 }), /"id" must be a non-negative integer/],
      [withHeader({ id: 1.5 }), /"id"/],
      [withHeader({ id: '3' }), /"id"/],
      [withHeader({}), /"id"/],
      [withHeader({ id: 1, op: 'stop' }), /"op" must be "task" or "ping"/],
      [withHeader({ id: 1, user: 7 }), /"user" must be a string/],
      [withHeader({ id: 1, user: 'u'.repeat(257) }), /"user"/],
    ];
    for (const [body, reason] of cases) {
      expect(() => decodeTask(body)).toThrow(reason);
      expect(() => decodeTask(body)).toThrow(ProtocolError);
      expect(() => js.decodeTask(body)).toThrow(reason);
    }
    expect(decodeTask(withHeader({ id: 3, extra: true })).header).toEqual({ id: 3, op: 'task' });
  });

  it('refuses to encode a task over the frame limit', () => {
    expect(() => encodeTask({ id: 1 }, Buffer.alloc(MAX_FRAME_BYTES))).toThrow(FrameTooLargeError);
  });
});

describe('FrameDecoder', () => {
  const frames = [
    encodeTask({ id: 1 }, makePayload(10, 1)),
    encodeFrame(Buffer.alloc(0)),
    encodeTask({ id: 2, user: 'u' }, makePayload(70_000, 2)),
    encodeAnswer({ id: 3, error: 'x' }),
    encodeTask({ id: 4 }, makePayload(3, 4)),
  ];
  const stream = Buffer.concat(frames);
  const bodies = b64(frames.map((f) => f.subarray(4)));

  it('returns every frame from one chunk, in order', () => {
    expect(b64(feed(stream, []))).toEqual(bodies);
  });

  it('handles any chunking: byte by byte, and random cuts', () => {
    const byByte = Array.from({ length: stream.length - 1 }, (_, i) => i + 1);
    const small = Buffer.concat(frames.filter((_, i) => i !== 2));
    expect(
      b64(
        feed(
          small,
          byByte.filter((c) => c < small.length),
        ),
      ),
    ).toEqual(bodies.filter((_, i) => i !== 2));
    const random = rng(12345);
    for (let round = 0; round < 50; round++) {
      const cuts = Array.from({ length: 1 + Math.floor(random() * 20) }, () =>
        Math.floor(random() * stream.length),
      );
      cuts.sort((a, b) => a - b);
      expect(b64(feed(stream, cuts))).toEqual(bodies);
    }
  });

  it('agrees with the services decoder on the same chunks', () => {
    const random = rng(999);
    for (let round = 0; round < 20; round++) {
      const cuts = Array.from({ length: 8 }, () => Math.floor(random() * stream.length)).sort(
        (a, b) => a - b,
      );
      const jsDecoder = new js.FrameDecoder();
      const out: Buffer[] = [];
      let at = 0;
      for (const cut of [...cuts, stream.length]) {
        jsDecoder.push(stream.subarray(at, cut));
        out.push(...drain(jsDecoder));
        at = cut;
      }
      expect(b64(out)).toEqual(bodies);
    }
  });

  it('counts what it holds and waits for the rest of a split length prefix', () => {
    const decoder = new FrameDecoder();
    decoder.push(stream.subarray(0, 2));
    expect(decoder.next()).toBeUndefined();
    expect(decoder.bufferedBytes).toBe(2);
    decoder.push(stream.subarray(2, 6));
    expect(decoder.next()).toBeUndefined();
    decoder.push(stream.subarray(6));
    expect(b64([...decoder.frames()])).toEqual(bodies);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('fails on an oversized length prefix after returning the frames before it, and stays failed', () => {
    for (const Decoder of [FrameDecoder, js.FrameDecoder]) {
      const decoder = new Decoder(1000);
      const ok = encodeFrame(Buffer.alloc(1000, 1));
      decoder.push(Buffer.concat([ok, u32(1001), Buffer.alloc(10)]));
      expect(decoder.next()?.length).toBe(1000);
      expect(() => decoder.next()).toThrow(/frame of 1001 bytes exceeds the limit of 1000 bytes/);
      expect(() => decoder.push(ok)).toThrow(/exceeds the limit/);
      expect(() => decoder.next()).toThrow(/exceeds the limit/);
    }
    const decoder = new FrameDecoder();
    decoder.push(u32(0xffffffff));
    const err = (() => {
      try {
        decoder.next();
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(FrameTooLargeError);
    expect(err).toMatchObject({ code: 'FRAME_TOO_LARGE', length: 0xffffffff, limit: MAX_FRAME_BYTES });
  });
});

describe('answers', () => {
  it('decodes ok, ping and error answers', () => {
    const ok = {
      id: 1,
      service: 'compute',
      counter: 5,
      procMs: 2.5,
      bytes: 10,
      checksum: '0badf00d',
      fileLines: 5,
    };
    const decoded = decodeAnswer(encodeAnswer(ok).subarray(4));
    expect(decoded).toEqual(ok);
    expect(isAnswerError(decoded)).toBe(false);
    const pingAnswer = { id: 0, service: 'simple', counter: 0, procMs: 0, bytes: 0, op: 'ping' as const };
    expect(decodeAnswer(encodeAnswer(pingAnswer).subarray(4))).toEqual(pingAnswer);
    const error = decodeAnswer(Buffer.from('{"id":null,"error":"frame too big"}'));
    expect(error).toEqual({ id: null, error: 'frame too big' });
    expect(isAnswerError(error)).toBe(true);
  });

  it("passes a service's own fields on as its result, the protocol's fields and an oversized result left out", () => {
    const base = { id: 2, service: 'detect', counter: 2, procMs: 310.5, bytes: 51234, peer: '198.18.11.1' };
    const found = { width: 640, height: 427, objects: [{ class: 'person', score: 0.8, box: [1, 2, 3, 4] }] };
    const answer = { ...base, digest: 'ab'.repeat(16), ...found, tally: { person: 1 } };
    // A ping's digest and stateAt are the protocol's own: kept as such (the probe reads them), not a result.
    expect(decodeAnswer(encodeAnswer(answer).subarray(4))).toEqual({
      ...base,
      digest: 'ab'.repeat(16),
      result: { ...found, tally: { person: 1 } },
    });
    const stateAt = { counter: 1, digest: 'cd'.repeat(16) };
    expect(decodeAnswer(encodeAnswer({ ...base, stateAt } as never).subarray(4))).toEqual({
      ...base,
      stateAt,
    });
    expect(decodeAnswer(encodeAnswer({ ...base, stateAt: 'x' } as never).subarray(4))).toEqual(base);
    expect(decodeAnswer(encodeAnswer(base).subarray(4))).not.toHaveProperty('result');
    const huge = {
      ...base,
      objects: Array.from({ length: 5000 }, (_, i) => ({ class: `c${i}`, box: [i, i, i, i] })),
    };
    expect(JSON.stringify(huge.objects).length).toBeGreaterThan(RESULT_MAX_BYTES);
    expect(decodeAnswer(encodeAnswer(huge).subarray(4))).toEqual(base);
  });

  it('rejects bodies that are not answers', () => {
    const bad = [
      ['not json', /not valid JSON/],
      ['[1]', /not a JSON object/],
      ['{"id":"1","service":"s","counter":1,"procMs":0,"bytes":0}', /"id"/],
      ['{"id":null,"service":"s","counter":1,"procMs":0,"bytes":0}', /null "id"/],
      ['{"id":1,"counter":1,"procMs":0,"bytes":0}', /"service"/],
      ['{"id":1,"service":"s","counter":"1","procMs":0,"bytes":0}', /"counter"/],
      ['{"id":1,"service":"s","counter":1,"bytes":0}', /"procMs"/],
      ['{"id":1,"service":"s","counter":1,"procMs":0}', /"bytes"/],
      ['{"id":1,"service":"s","counter":1,"procMs":0,"bytes":0,"fileLines":"2"}', /"fileLines"/],
    ] as const;
    for (const [text, reason] of bad) {
      expect(() => decodeAnswer(Buffer.from(text))).toThrow(reason);
    }
  });
});

describe('makePayload', () => {
  it('is deterministic per seed and sized exactly', () => {
    expect(makePayload(0, 1).length).toBe(0);
    expect(makePayload(5, 1).length).toBe(5);
    expect(makePayload(1001, 3)).toEqual(makePayload(1001, 3));
    expect(makePayload(1001, 3)).not.toEqual(makePayload(1001, 4));
  });
});

/** Buffers compared as strings: much faster for vitest than byte-wise deep equality. */
function b64(list: Buffer[]): string[] {
  return list.map((b) => b.toString('base64'));
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

function withHeader(header: object): Buffer {
  const bytes = Buffer.from(JSON.stringify(header));
  return Buffer.concat([u32(bytes.length), bytes]);
}
