import { dirname, join, resolve } from 'node:path';
import { Command, Flags, type Interfaces } from '@oclif/core';
import { applyColor } from './lib/cli/color.js';
import { errorEnvelope, successEnvelope, toEdgectlError } from './lib/envelope.js';
import { errorMessage, InterruptedError } from './lib/errors.js';
import { type Inventory, loadInventory } from './lib/inventory/index.js';
import { SshPool, shellJoin, terminalPassphrasePrompt } from './lib/remote/index.js';
import { openState, type StateDb } from './lib/state/index.js';

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof EdgectlCommand)['baseFlags'] & T['flags']
>;

/**
 * The base of every edgectl command: the shared flags, the JSON envelope on stdout under --json,
 * human output and progress on stderr, and one place that turns errors into output and exit codes.
 */
export abstract class EdgectlCommand<T extends typeof Command = typeof Command> extends Command {
  static override enableJsonFlag = true;

  /** Flags every command has. */
  static readonly globalFlags = {
    verbose: Flags.boolean({
      summary: 'Print every remote command and its timing on stderr.',
      default: false,
      helpGroup: 'GLOBAL',
    }),
    'no-color': Flags.boolean({
      summary: 'Print no colour (also: NO_COLOR set to anything).',
      default: false,
      helpGroup: 'GLOBAL',
    }),
  };

  /** The inventory and the state database: every command that reads them. */
  static readonly inventoryFlags = {
    hosts: Flags.string({
      char: 'f',
      summary: 'The testbed inventory.',
      env: 'EDGECTL_HOSTS',
      default: 'hosts.yml',
      helpGroup: 'GLOBAL',
    }),
    state: Flags.string({
      summary: 'The state database (default: .edgectl/state.db beside the hosts file).',
      env: 'EDGECTL_STATE',
      helpGroup: 'GLOBAL',
    }),
  };

  /**
   * Commands that read neither hosts.yml nor the state database (experiment report, the mu plumbing)
   * set `static override baseFlags = EdgectlCommand.globalFlags` so their help does not offer them.
   */
  static override baseFlags: typeof EdgectlCommand.globalFlags &
    Partial<typeof EdgectlCommand.inventoryFlags> = {
    ...EdgectlCommand.inventoryFlags,
    ...EdgectlCommand.globalFlags,
  };

  protected flags!: BaseFlags<T>;
  /**
   * Aborted on the first SIGINT, SIGTERM or SIGHUP (reason: an InterruptedError). Library calls take it and
   * finish or undo what they have under way before giving up; a third signal quits at once.
   */
  protected readonly interrupt = new AbortController();
  private signals = 0;
  private readonly onSignal = (name: NodeJS.Signals): void => {
    // SIGHUP: the terminal (or the SSH session to this machine) is gone, and every later write to it fails
    // with EIO, an 'error' event that would kill the process in the middle of its undo (seen with a pty
    // closed under node 20). What it writes from now on is lost anyway. (nohup is no shelter: node resets
    // SIGHUP to its default at start-up; tmux, screen or setsid are.)
    if (name === 'SIGHUP') for (const out of [process.stdout, process.stderr]) out.on('error', () => {});
    this.signals++;
    if (this.signals === 1) {
      if (!this.signalEndsNormally)
        process.stderr.write(
          `\n${name}: stopping; what is under way is finished or undone first (twice more to quit at once, leaving it half done)\n`,
        );
      this.interrupt.abort(new InterruptedError(name));
    } else if (this.signals >= 3) {
      process.stderr.write(`${name}: quitting now; things may be left half done\n`);
      process.exit(130);
    } else {
      process.stderr.write(`${name}: still finishing or undoing; once more to quit at once\n`);
    }
  };
  /**
   * True where the first Ctrl+C is how the command is meant to end (logs --follow): it ends without the
   * "stopping…" notice. The second and third signals behave as everywhere.
   */
  protected signalEndsNormally = false;
  protected readonly warnings: string[] = [];
  /** The exit status a command that returns a result wants (e.g. "not ready"), 0 by default. */
  protected status = 0;

  override async init(): Promise<void> {
    await super.init();
    const { flags } = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (this.ctor as typeof EdgectlCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    });
    this.flags = flags as BaseFlags<T>;
    applyColor((flags as { 'no-color'?: boolean })['no-color'] === true);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    process.on('SIGHUP', this.onSignal);
  }

  /** The AbortSignal that Ctrl+C (SIGINT), SIGTERM and SIGHUP abort. */
  protected get signal(): AbortSignal {
    return this.interrupt.signal;
  }

  protected get hostsFile(): string {
    return resolve(this.flags.hosts ?? 'hosts.yml');
  }

  protected get stateFile(): string {
    return this.flags.state
      ? resolve(this.flags.state)
      : join(dirname(this.hostsFile), '.edgectl', 'state.db');
  }

  /** The state database (created and migrated on first use). The caller closes it. */
  protected openState(): StateDb {
    return openState(this.stateFile);
  }

  protected async loadInventory(): Promise<Inventory> {
    const inv = await loadInventory(this.flags.hosts ?? 'hosts.yml');
    for (const w of inv.warnings ?? []) this.warn(w);
    return inv;
  }

  /** A pool of SSH connections that logs every command under --verbose. The caller closes it. */
  protected sshPool(): SshPool {
    return new SshPool({
      // The passphrase of an encrypted key is asked for on a terminal only: never under --json (a script).
      ...(process.stdin.isTTY && !this.jsonEnabled() ? { passphrasePrompt: terminalPassphrasePrompt() } : {}),
      onRun: (host, r) =>
        this.verbose(
          `[${host}] ${shellJoin(r.argv)} -> ${r.timedOut ? 'timed out' : r.code} (${r.ms.toFixed(0)} ms)`,
        ),
    });
  }

  /** Human output: stderr under --json, stdout otherwise. */
  protected say(message: string): void {
    if (this.jsonEnabled()) process.stderr.write(`${message}\n`);
    else process.stdout.write(`${message}\n`);
  }

  /** Progress and diagnostics: always stderr, never part of the JSON document. */
  protected note(message: string): void {
    process.stderr.write(`${message}\n`);
  }

  protected verbose(message: string): void {
    if (this.flags?.verbose) process.stderr.write(`${message}\n`);
  }

  override warn(input: string | Error): string | Error {
    const text = typeof input === 'string' ? input : input.message;
    this.warnings.push(text);
    process.stderr.write(`Warning: ${text}\n`);
    return input;
  }

  override toSuccessJson(result: unknown): unknown {
    return successEnvelope(result, this.warnings, this.status);
  }

  override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  }

  protected override async finally(err: Error | undefined): Promise<void> {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    process.off('SIGHUP', this.onSignal);
    if (!err && this.status !== 0) process.exitCode = this.status;
    await super.finally(err);
  }

  override async catch(err: Error & { exitCode?: number }): Promise<never> {
    // oclif's own exit (this.exit) and help requests pass straight through.
    if ((err as { code?: string }).code === 'EEXIT') throw err;
    const e = toEdgectlError(err);
    process.exitCode = e.exitCode;
    if (this.jsonEnabled()) {
      this.logJson(errorEnvelope(e, this.warnings));
    } else {
      process.stderr.write(`Error: ${e.message}\n`);
      if (e.hint) process.stderr.write(`Try: ${e.hint}\n`);
      if (this.flags?.verbose && e.cause) process.stderr.write(`${errorMessage(e.cause)}\n`);
      if (e.code === 'INTERNAL' && err.stack) process.stderr.write(`${err.stack}\n`);
    }
    return this.exit(e.exitCode);
  }
}
