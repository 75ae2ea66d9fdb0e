export interface RunOptions {
  /** Data written to the command's standard input (then closed). */
  stdin?: string | Buffer;
  /** Kill the command after this many milliseconds (default: no limit). */
  timeoutMs?: number;
  /** Extra environment variables for the command. */
  env?: Record<string, string>;
  /** Run through sudo when the host's ssh user is not root and the inventory asks for sudo (default true). */
  sudo?: boolean;
  /** Called with each chunk of stdout as it arrives (the whole output is still returned). */
  onStdout?: (chunk: string) => void;
}

export interface RunResult {
  argv: readonly string[];
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time of the command in milliseconds, as seen by the controller. */
  ms: number;
  timedOut: boolean;
}

/**
 * The seam through which edgectl runs every command on every host: an argv in, a result out.
 * A non-zero exit code is a result, not an exception; `runChecked` turns it into one.
 */
export interface Executor {
  /** The host name this executor runs on (as in hosts.yml), or "local". */
  readonly host: string;
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
}

/** A command left running on a host, its standard input and output open (a long-lived agent). */
export interface RemoteProcess {
  /** Writes to the command's standard input. */
  write(data: string): void;
  /** Closes its standard input (the command sees end of file). */
  end(): void;
  /**
   * Drops the SSH channel at once: the command's stdin ends and its stdout breaks, as when the session
   * is killed; it is the command's job to notice and clean up.
   */
  close(): void;
  /** Resolves when the channel closes: the exit code (255 when it closed without one) and the stderr. */
  readonly done: Promise<{ code: number; stderr: string; ms: number }>;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  sudo?: boolean;
  /** Each chunk of stdout as it arrives (not kept). */
  onStdout: (chunk: string) => void;
}
