import { EdgectlError, ExitCode } from '../errors.js';

/** Another edgectl works on this user's service (deploy, undeploy or migrate): nothing was done. */
export class LockBusyError extends EdgectlError {
  constructor(
    readonly testbed: string,
    readonly user: string,
    /** 'controller' (this machine's lock, beside the state database) or the server's name. */
    readonly where: string,
    /** Who holds it, as the holder described itself (pid, machine, command, since), when known. */
    readonly holder: string | undefined,
  ) {
    super(
      'LOCKED',
      ExitCode.usage,
      `${user}'s service (testbed ${testbed}) is busy: another edgectl holds its lock ${where === 'controller' ? 'on this machine' : `on ${where}`}${holder ? ` (${holder})` : ''}`,
      {
        hint: 'wait until that one ends, then try again. A deploy, undeploy or migrate holds the lock while it runs; the lock goes with its process (and, on a server, with its SSH session), so there is nothing to remove by hand',
        details: { testbed, user, where, holder: holder ?? null },
      },
    );
  }
}
