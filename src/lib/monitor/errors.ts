import { EdgectlError, ExitCode } from '../errors.js';

/** A reading the monitor could not take or make sense of (a host's /proc, a probe's output). */
export class MonitorError extends EdgectlError {
  constructor(message: string, hint?: string) {
    super('MONITOR', ExitCode.remote, message, hint ? { hint } : {});
  }
}
