/**
 * The downtime probe against services on loopback that stop answering and come back: it must end the
 * gap at the first answer after it, even when the side that comes back first swallowed earlier attempts.
 */
import { createServer as createHttpServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { probeGap } from '../../src/lib/mu/probe.js';
import { closeFakeServices, type FakeService, fakeService } from '../helpers/fake-service.js';

afterEach(closeFakeServices);

/** Probes a source that answers and a destination that stays silent (a restore in progress: connections
 * taken, nothing answered); `onReady` breaks and mends them. */
async function probe(
  attemptTimeoutMs: number,
  timeoutMs: number,
  onReady: (from: FakeService, to: FakeService) => void,
  onDone: (from: FakeService, to: FakeService) => void = () => {},
) {
  const from = await fakeService(true);
  const to = await fakeService(false);
  const result = await probeGap({
    from: { address: '127.0.0.1', port: from.port },
    to: { address: '127.0.0.1', port: to.port },
    intervalMs: 10,
    attemptTimeoutMs,
    timeoutMs,
    onReady: () => onReady(from, to),
  });
  onDone(from, to);
  return result;
}

/** The probe's own clock (the timestamps it returns are on it). */
const now = () => performance.timeOrigin + performance.now();

describe('the downtime probe', () => {
  it('works over a path longer than its attempt timeout: it waits longer until it has seen the round trip', async () => {
    const from = await fakeService(true);
    const to = await fakeService(true);
    from.delayMs = 400;
    to.delayMs = 400;
    let crashedAt = 0;
    const result = await probeGap({
      from: { address: '127.0.0.1', port: from.port },
      to: { address: '127.0.0.1', port: to.port },
      intervalMs: 10,
      attemptTimeoutMs: 100,
      timeoutMs: 10_000,
      onReady: () =>
        setTimeout(() => {
          crashedAt = now();
          from.crash();
        }, 500),
    });
    expect(result.answeredBy).toBe('to');
    expect(result.lastOkBeforeMs).toBeLessThanOrEqual(crashedAt);
    // The first answer after the gap is one 400 ms round trip after the first attempt at the destination.
    expect(result.downtimeMs).toBeGreaterThanOrEqual(400);
    // That answer's own time on the path is reported: its round trip, part of the downtime.
    expect(result.answerMs).toBeGreaterThanOrEqual(400);
    expect(result.answerMs).toBeLessThanOrEqual(result.downtimeMs!);
    // Its request's own round trip, once connected: the path's 400 ms.
    expect(result.roundTripMs).toBeGreaterThanOrEqual(400);
    expect(result.roundTripMs).toBeLessThanOrEqual(result.answerMs!);
  });

  it('sees the destination at its first answer, though it swallowed the attempts before', async () => {
    let crashedAt = 0;
    let answeringAt = 0;
    let swallowedWhenDone = 0;
    // Attempts wait up to 1 s; the destination stays silent for 600 ms of it.
    const result = await probe(
      1_000,
      10_000,
      (from, to) => {
        setTimeout(() => {
          crashedAt = now();
          from.crash();
          setTimeout(() => {
            answeringAt = now();
            to.answering = true;
          }, 600);
        }, 100);
      },
      (_from, to) => {
        swallowedWhenDone = to.swallowedOpen;
      },
    );
    expect(result.answeredBy).toBe('to');
    // The measured gap brackets the service's own: the last answer came before the crash, the first
    // after the destination began to answer.
    expect(crashedAt).toBeGreaterThan(0);
    expect(answeringAt).toBeGreaterThan(crashedAt);
    expect(result.lastOkBeforeMs).toBeLessThanOrEqual(crashedAt);
    expect(result.firstOkAfterMs).toBeGreaterThanOrEqual(answeringAt);
    expect(result.downtimeMs).toBe((result.firstOkAfterMs ?? 0) - (result.lastOkBeforeMs ?? 0));
    // It did not wait for the attempts the destination swallowed (they still hung when the probe ended):
    // a fresh attempt's answer ended the gap, not an attempt timeout.
    expect(swallowedWhenDone).toBeGreaterThan(0);
    expect(result.failures).toBeGreaterThan(0);
  });

  it("carries the state check: the source's last counter and digest, then the destination asked at it", async () => {
    const ring = new Map([
      [6, 'a'.repeat(32)],
      [7, 'b'.repeat(32)],
      [8, 'c'.repeat(32)],
    ]);
    const result = await probe(200, 10_000, (from, to) => {
      from.digests = ring;
      to.digests = ring;
      from.counter = 7;
      // The source stops at counter 7; the destination answers having moved on to 8 (a task came).
      setTimeout(() => {
        from.answering = false;
        from.crash();
        to.counter = 8;
        to.answering = true;
      }, 100);
    });
    expect(result.answeredBy).toBe('to');
    expect(result.state).toEqual({
      before: { counter: 7, digest: 'b'.repeat(32) },
      after: { counter: 7, digest: 'b'.repeat(32) },
    });
  });

  it('asks nothing of the destination when the source keeps no digest, and says a silent question failed', async () => {
    const plain = await probe(200, 10_000, (from, to) => {
      from.counter = 3;
      setTimeout(() => {
        from.crash();
        to.answering = true;
      }, 100);
    });
    expect(plain.state).toEqual({ before: { counter: 3, digest: null }, after: null });
    const to = await fakeService(false);
    const { askStateAt } = await import('../../src/lib/mu/probe.js');
    expect(await askStateAt({ address: '127.0.0.1', port: to.port }, 3, 50, 2)).toEqual({
      error: expect.stringMatching(/^no answer to a ping with at 3 in 2 attempts of 50 ms/),
    });
  });

  it('says the source answered again when the service came back there (a rollback)', async () => {
    let crashedAt = 0;
    let restartedAt = 0;
    const result = await probe(200, 10_000, (from) => {
      setTimeout(() => {
        crashedAt = now();
        from.crash();
      }, 50);
      setTimeout(() => {
        restartedAt = now();
        void from.restart();
      }, 300);
    });
    expect(result.answeredBy).toBe('from');
    // The gap spans the source's whole absence.
    expect(result.lastOkBeforeMs).toBeLessThanOrEqual(crashedAt);
    expect(result.firstOkAfterMs).toBeGreaterThanOrEqual(restartedAt);
  });

  it('gives up when neither side answers in time', async () => {
    const result = await probe(100, 400, (from) => setTimeout(() => from.crash(), 20));
    expect(result.answeredBy).toBeNull();
    expect(result.downtimeMs).toBeNull();
    expect(result.firstOkAfterMs).toBeNull();
  });
});

describe('the downtime probe of services that do not speak edgectl', () => {
  /** An HTTP service on loopback answering GET /health with `status()`. */
  async function httpService(status: () => number) {
    const server = createHttpServer((req, res) => {
      res.writeHead(req.url === '/health' ? status() : 404);
      res.end('x');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      port: (server.address() as { port: number }).port,
      close: () => {
        server.closeAllConnections();
        server.close();
      },
    };
  }

  it('http: the gap lasts until a 2xx answer; a 5xx answer is not one', async () => {
    let code = 200;
    const from = await httpService(() => code);
    const to = await httpService(() => code);
    try {
      let brokeAt = 0;
      let mendedAt = 0;
      const result = await probeGap({
        from: { address: '127.0.0.1', port: from.port },
        to: { address: '127.0.0.1', port: to.port },
        probe: { kind: 'http', path: '/health' },
        intervalMs: 10,
        attemptTimeoutMs: 200,
        timeoutMs: 5_000,
        onReady: () =>
          setTimeout(() => {
            brokeAt = now();
            code = 503; // both answer, but not 2xx: still down
            setTimeout(() => {
              mendedAt = now();
              code = 204;
            }, 300);
          }, 100),
      });
      expect(result.probe).toBe('http:/health');
      expect(result.answeredBy).not.toBeNull();
      expect(result.lastOkBeforeMs).toBeLessThanOrEqual(brokeAt);
      expect(result.firstOkAfterMs).toBeGreaterThanOrEqual(mendedAt);
      expect(result.downtimeMs).toBeGreaterThanOrEqual(300);
    } finally {
      from.close();
      to.close();
    }
  });

  it('tcp: a connection accepted ends the gap, at the side that accepts', async () => {
    const from = await fakeService(true);
    const to = await fakeService(true);
    to.crash();
    let restartedAt = 0;
    const result = await probeGap({
      from: { address: '127.0.0.1', port: from.port },
      to: { address: '127.0.0.1', port: to.port },
      probe: { kind: 'tcp' },
      intervalMs: 10,
      attemptTimeoutMs: 200,
      timeoutMs: 5_000,
      onReady: () =>
        setTimeout(() => {
          from.crash();
          setTimeout(() => {
            restartedAt = now();
            void to.restart();
          }, 250);
        }, 100),
    });
    expect(result.probe).toBe('tcp');
    expect(result.answeredBy).toBe('to');
    expect(result.firstOkAfterMs).toBeGreaterThanOrEqual(restartedAt);
    expect(result.downtimeMs).toBeGreaterThanOrEqual(250);
  });
});
