import { EdgectlError, ExitCode } from '../errors.js';

/** A step of building or removing the lab failed on this machine. */
export class LabError extends EdgectlError {
  constructor(message: string, hint?: string) {
    super('LAB_FAILED', ExitCode.remote, message, hint ? { hint } : {});
  }
}
