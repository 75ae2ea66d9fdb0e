import { afterEach, describe, expect, it } from 'vitest';
import { performHandover } from '../../src/lib/mu/handover.js';
import { closeFakeServices, fakeService } from '../helpers/fake-service.js';
import { fakeUserHost } from '../helpers/fake-user-host.js';

afterEach(closeFakeServices);

/** The mu host: the user's MARK rule on ap1's table (0x1bbe), every command recorded. */
const fakeHost = () => fakeUserHost({ address: '127.0.0.1', table: 0x1bbe });

const now = () => performance.timeOrigin + performance.now();

describe('a handover at an instant', () => {
  it('cuts the link at that instant, though the service does not answer the ping before it', async () => {
    // Silent until the handover is under way: a migration's frozen source, then its destination.
    const service = await fakeService(false);
    setTimeout(() => {
      service.answering = true;
    }, 300);
    const port = service.port;
    const startAt = now() + 150;
    const outcome = await performHandover(fakeHost(), {
      user: 'mu1',
      address: '127.0.0.1',
      tables: { ap1: 0x1bbe, ap2: 0x1bbf },
      to: 'ap2',
      blackoutMs: 50,
      endpoint: { address: '127.0.0.1', port },
      attemptTimeoutMs: 3000,
      startAt,
    });
    // Not after the ping's 3 s time limit: at the instant (timers may be a little late, never early).
    expect(outcome.downMs).toBeGreaterThanOrEqual(startAt - 1);
    expect(outcome.downMs).toBeLessThan(startAt + 500);
  });

  it('without an instant, waits for that ping first (the command line’s handover)', async () => {
    const service = await fakeService(false);
    setTimeout(() => {
      service.answering = true;
    }, 500);
    const port = service.port;
    const started = now();
    const outcome = await performHandover(fakeHost(), {
      user: 'mu1',
      address: '127.0.0.1',
      tables: { ap1: 0x1bbe, ap2: 0x1bbf },
      to: 'ap2',
      blackoutMs: 50,
      endpoint: { address: '127.0.0.1', port },
      attemptTimeoutMs: 400,
    });
    expect(outcome.downMs - started).toBeGreaterThanOrEqual(390);
  });

  it('measures the gap against the service: from the answer before the link went down to the first after it', async () => {
    const service = await fakeService(true);
    const host = fakeHost();
    const outcome = await performHandover(host, {
      user: 'mu1',
      address: '127.0.0.1',
      tables: { ap1: 0x1bbe, ap2: 0x1bbf },
      to: 'ap2',
      blackoutMs: 100,
      endpoint: { address: '127.0.0.1', port: service.port },
      attemptTimeoutMs: 400,
    });
    expect(outcome).toMatchObject({ from: 'ap1', to: 'ap2', aborted: false, leaked: 0 });
    // The fake host does not drop packets: the gap is the blackout and the switch, give or take a ping.
    expect(outcome.gapMs).toBeGreaterThanOrEqual(outcome.linkDownMs);
    expect(outcome.gapMs).toBeLessThan(outcome.linkDownMs + 200);
    expect(outcome.answerGapMs).toBeGreaterThanOrEqual(outcome.gapMs ?? Number.NaN);
    expect(host.ran.some((c) => c.includes('-R EDGECTL-MU') && c.includes('0x1bbf'))).toBe(true);
  });
});
