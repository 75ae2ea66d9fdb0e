/**
 * A migration's data channels, run on its source: `pre` carries the pre-migration image, `final` what the
 * downtime sends (the delta, or the whole image for full). Each is one SSH session to the destination
 * whose receiver is already running when the data is due (see openChannelArgv). They are closed by the
 * staging's undo and the cleanup (undo.ts), from the journal's facts, like every other leftover.
 */
import type { RunResult } from '../remote/index.js';
import { channelReadyArgv, openChannelArgv, type RsyncTarget, sendArgv } from './commands.js';

export const CHANNELS = ['pre', 'final'] as const;
export type ChannelName = (typeof CHANNELS)[number];

/** Runs a command on the source (failing on a non-zero exit), with a deadline. */
export type SourceExec = (argv: string[], what: string, timeoutMs: number) => Promise<RunResult>;

export class DataChannels {
  private readonly starts = new Map<ChannelName, Promise<void>>();
  private readonly ready = new Map<ChannelName, Promise<void>>();

  constructor(
    private readonly exec: SourceExec,
    private readonly srcStaging: string,
    private readonly dstStaging: string,
    readonly target: RsyncTarget,
  ) {}

  /** A channel's directory on the source and where it unpacks on the destination. */
  of(which: ChannelName): { dir: string; into: string } {
    return which === 'pre'
      ? { dir: `${this.srcStaging}/channel-pre`, into: `${this.dstStaging}/pre` }
      : { dir: `${this.srcStaging}/channel`, into: `${this.dstStaging}/in` };
  }

  /** Every channel's directory on the source (for the journal: a recovery closes them by their pids). */
  get dirs(): string[] {
    return CHANNELS.map((c) => this.of(c).dir);
  }

  /**
   * Starts opening a channel (returns once its session is under way, in the background on the source).
   * A new SSH session from the source to the destination costs a TCP and SSH handshake over the data link
   * and the destination's login shell (1.8 s edge1 -> edge2 on a fresh lab machine): started early, it
   * runs beside other work. Started at most once per channel.
   */
  start(which: ChannelName): Promise<void> {
    let starting = this.starts.get(which);
    if (!starting) {
      const { dir, into } = this.of(which);
      starting = this.exec(
        openChannelArgv(dir, this.target, into, { wait: false }),
        `opening the ${which} data channel`,
        30_000,
      ).then(() => undefined);
      // Awaited later (by whoever sends through it); never an unhandled rejection meanwhile.
      starting.catch(() => {});
      this.starts.set(which, starting);
    }
    return starting;
  }

  /** Waits until a channel is open (starting it if need be): its receiver on the destination runs. */
  whenReady(which: ChannelName, timeoutMs = 180_000): Promise<void> {
    let ready = this.ready.get(which);
    if (!ready) {
      ready = this.start(which).then(() =>
        this.exec(channelReadyArgv(this.of(which).dir), `opening the ${which} data channel`, timeoutMs).then(
          () => undefined,
        ),
      );
      ready.catch(() => {});
      this.ready.set(which, ready);
    }
    return ready;
  }

  /** Sends a directory through a channel (opening it if need be); returns the bytes sent. */
  async send(which: ChannelName, from: string, timeoutMs = 600_000): Promise<number> {
    await this.whenReady(which);
    const r = await this.exec(sendArgv(this.of(which).dir, from), 'sending to the destination', timeoutMs);
    return Number(r.stdout.trim()) || 0;
  }
}
