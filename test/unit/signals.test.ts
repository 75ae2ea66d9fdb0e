/**
 * The base command's signals: SIGHUP (a closed terminal, a dropped SSH session) aborts the command's signal
 * like SIGINT and SIGTERM, the command ends with exit 130 and its envelope, and once the terminal is gone a
 * failing write to it (EIO) no longer kills the process. The signals are emitted in-process.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EdgectlCommand } from '../../src/base-command.js';
import { throwIfInterrupted } from '../../src/lib/errors.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Waits for its signal, then gives up as every command does. */
class Wait extends EdgectlCommand<typeof Wait> {
  static override flags = {};
  async run(): Promise<void> {
    await new Promise((resolve) => this.signal.addEventListener('abort', resolve, { once: true }));
    throwIfInterrupted(this.signal);
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

async function interrupted(signal: NodeJS.Signals) {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
  const before = process.exitCode;
  const errorListeners = process.stderr.listenerCount('error');
  try {
    const running = Wait.run(['--json'], ROOT).catch(() => {});
    await new Promise((r) => setTimeout(r, 50));
    process.emit(signal, signal);
    await running;
    return {
      envelope: JSON.parse(out) as { status: number; error?: { code: string; message: string } },
      stderr: err,
      exitCode: process.exitCode,
      addedErrorListeners: process.stderr.listenerCount('error') - errorListeners,
      listening: process.listenerCount(signal),
    };
  } finally {
    process.exitCode = before;
  }
}

describe('signals', () => {
  it('SIGHUP stops a command like Ctrl+C: exit 130 and the INTERRUPTED envelope, its listener removed at the end', async () => {
    const r = await interrupted('SIGHUP');
    expect(r.exitCode).toBe(130);
    expect(r.envelope.status).toBe(130);
    expect(r.envelope.error).toMatchObject({ code: 'INTERRUPTED', message: 'interrupted (SIGHUP)' });
    expect(r.stderr).toMatch(/SIGHUP: stopping/);
    expect(r.listening).toBe(0);
    // A write to the terminal that is gone fails with EIO as an 'error' event: it is listened to now.
    expect(r.addedErrorListeners).toBe(1);
    expect(() =>
      process.stderr.emit('error', Object.assign(new Error('EIO'), { code: 'EIO' })),
    ).not.toThrow();
  });

  it('SIGTERM as before, leaving the terminal’s errors alone', async () => {
    const r = await interrupted('SIGTERM');
    expect(r.envelope.error).toMatchObject({ code: 'INTERRUPTED', message: 'interrupted (SIGTERM)' });
    expect(r.addedErrorListeners).toBe(0);
  });
});
