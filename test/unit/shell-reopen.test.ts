/**
 * The persistent shell's life cycle against a scripted SSH connection (no sshd): a shell that closes while
 * a queued command reopens it, and that reopening fails. Seen in CI: a provision interrupted at once
 * closed its shells while a queued read reopened one; the old channel's close handler chained on the
 * failing new opening, and that unheard rejection crashed the CLI (exit 1 instead of 130).
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ShellExecutor } from '../../src/lib/remote/shell.js';
import type { SshPool, SshTarget } from '../../src/lib/remote/ssh.js';

class FakeChannel extends EventEmitter {
  readonly stderr = new EventEmitter();
  /** Its shell was sent its prelude (the executor listens to it by then). */
  written = false;
  constructor(private readonly answers: boolean) {
    super();
  }
  write(text: string): boolean {
    this.written = true;
    if (!this.answers) return true;
    const ready = /printf '%s\\n' (@edgectl-ready-\S+)/.exec(text);
    if (ready) setImmediate(() => this.emit('data', Buffer.from(`${ready[1]}\n`)));
    const mark = /printf '%s %d %d %d\\n' (\S+)/.exec(text);
    if (mark) setImmediate(() => this.emit('data', Buffer.from(`${mark[1]} 0 0 0\n`)));
    return true;
  }
  end(): void {}
  destroy(): void {
    this.emit('close');
  }
}

const target: SshTarget = {
  name: 'fake',
  address: '198.18.0.99',
  ssh: { user: 'root', port: 22, acceptNewHostKeys: false, sudo: false, connectTimeoutMs: 1000 },
};

describe('ShellExecutor', () => {
  it('fails a command whose shell cannot reopen, with no rejection left unheard', async () => {
    const channels: FakeChannel[] = [];
    const client = {
      exec(_command: string, cb: (err: Error | undefined, ch: FakeChannel) => void) {
        // The first session answers; the second (the reopening) never gets past its login shell.
        const ch = new FakeChannel(channels.length === 0);
        channels.push(ch);
        setImmediate(() => cb(undefined, ch));
      },
    };
    const pool = { connect: async () => ({ client }), options: {} } as unknown as SshPool;
    const unheard: unknown[] = [];
    const onUnhandled = (reason: unknown) => unheard.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const shell = new ShellExecutor(pool, target);
      expect((await shell.run(['true'])).code).toBe(0);
      const closing = shell.close();
      const queued = shell.run(['true']).then(
        () => 'ran',
        (e: unknown) => e,
      );
      while (!channels[1]?.written) await new Promise((r) => setImmediate(r));
      // The connection goes: both sessions end, the old one first.
      channels[0]!.emit('close');
      channels[1]!.emit('close');
      await closing;
      expect(await queued).toBeInstanceOf(Error);
      expect(String(await queued)).toMatch(/ended before it started/);
      await new Promise((r) => setTimeout(r, 50));
      expect(unheard).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
