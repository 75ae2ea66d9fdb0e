/**
 * Whether a user's agent (`edgectl mu run`) runs on its machine, asked from the controller over SSH: the
 * same test `runningAgent` makes on that machine (the pid file, and a live process whose command line is
 * `... mu run ...`), as one short shell script, so that no edgectl need answer on the far side.
 */
import { agentPidFile } from './agent.js';

// $1: the pid file. Prints the pid of a live agent, nothing otherwise; exits 0 either way (a non-zero exit
// means the check itself failed). A pid file left by an agent that died, or whose pid now belongs to another
// process, is no agent: /proc/PID/cmdline is what proves it.
const SCRIPT = [
  'pid=$(cat -- "$1" 2>/dev/null) || exit 0',
  'case $pid in ""|*[!0-9]*) exit 0 ;; esac',
  `if tr '\\000' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q 'mu run'; then echo "$pid"; fi`,
  'exit 0',
].join('\n');

/** The argv that prints the pid of the user's live agent on its machine (nothing when none runs). */
export function agentStatusArgv(testbed: string, user: string): string[] {
  return ['sh', '-c', SCRIPT, 'sh', agentPidFile(testbed, user)];
}

/** The pid in that argv's output, or undefined when no agent runs. */
export function parseAgentStatus(stdout: string): number | undefined {
  const text = stdout.trim();
  if (!/^\d+$/.test(text)) return undefined;
  const pid = Number(text);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}
