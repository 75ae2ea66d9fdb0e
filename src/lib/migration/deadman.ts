/**
 * The dead-man switch on a migration's source: armed before the final checkpoint freezes the service, it
 * thaws the service after a bound unless the controller commits the migration (or disarms it in a
 * rollback) first. A controller that dies (SIGKILL, a crash, a lost network) can then leave the service
 * frozen for at most that bound. It runs detached from the controller's SSH session (its own session,
 * setsid), so that the session's end does not end it.
 *
 * The controller and the switch race for one file: each renames `armed` (to `committed`, `disarmed` or
 * `fired`), and rename is atomic, so exactly one of them wins. A controller whose commit finds the switch
 * fired knows the source runs again and must not keep the destination.
 */

/** What a switch's directory says. */
export type DeadmanState = 'armed' | 'committed' | 'disarmed' | 'fired' | 'none';

const THAW = [
  // The thaw: only a frozen (paused) container is resumed; the rename decided that it is ours to do.
  'thaw() { st=$("$runc" --root "$root" state "$id" 2>/dev/null | sed -n \'s/.*"status": *"\\([a-z]*\\)".*/\\1/p\')',
  '  [ "$st" = paused ] && "$runc" --root "$root" resume "$id"; }',
].join('\n');

/**
 * Arms the switch in `dir` (run on the source): after `boundS` seconds it thaws the runc container `id`
 * unless `armed` was renamed meanwhile. Prints nothing; the switch's pids are in dir/pid and dir/sleep.pid.
 */
export function armDeadmanArgv(
  dir: string,
  boundS: number,
  runc: { runc: string; root: string },
  containerId: string,
): string[] {
  const inner = [
    'd=$1; bound=$2; runc=$3; root=$4; id=$5',
    THAW,
    'sleep "$bound" & echo $! > "$d/sleep.pid"; wait $! || true',
    'if mv "$d/armed" "$d/fired" 2>/dev/null; then thaw > "$d/fired.log" 2>&1 || true; fi',
  ].join('\n');
  const script = [
    'set -eu',
    'd=$1',
    'umask 077; rm -rf "$d"; mkdir -p "$d"; : > "$d/armed"',
    // Its own session: neither the SSH session's end nor a signal to the controller's group reaches it.
    'setsid sh -c "$6" deadman "$@" </dev/null >/dev/null 2>&1 &',
    'echo $! > "$d/pid"',
  ].join('\n');
  return ['sh', '-c', script, 'arm', dir, String(boundS), runc.runc, runc.root, containerId, inner];
}

/**
 * Commits (`to`: committed) or disarms (`to`: disarmed) the switch: exit 0 when this rename won; exit 3
 * when the switch had fired (the source was thawed). Ends the switch's processes by their pids either way.
 */
export function settleDeadmanArgv(dir: string, to: 'committed' | 'disarmed'): string[] {
  const script = [
    'd=$1; to=$2',
    'won=0; mv "$d/armed" "$d/$to" 2>/dev/null || won=1',
    // The sleeper first: its shell then ends (a dead sleeper's shell finds armed gone, and does nothing).
    'for f in sleep.pid pid; do [ -f "$d/$f" ] && kill "$(cat "$d/$f")" 2>/dev/null; done',
    '[ "$won" = 0 ] && exit 0',
    '[ -e "$d/fired" ] && { echo "the dead-man switch fired: the source was thawed" >&2; exit 3; }',
    '[ -e "$d/$to" ] && exit 0',
    'echo "no armed dead-man switch at $d" >&2; exit 4',
  ].join('\n');
  return ['sh', '-c', script, 'settle', dir, to];
}

/** Prints the switch's state (one of DeadmanState). */
export function deadmanStateArgv(dir: string): string[] {
  const script = [
    'd=$1',
    'for s in armed committed disarmed fired; do [ -e "$d/$s" ] && { echo "$s"; exit 0; }; done',
    'echo none',
  ].join('\n');
  return ['sh', '-c', script, 'deadman-state', dir];
}

export function parseDeadmanState(stdout: string): DeadmanState {
  const s = stdout.trim();
  return s === 'armed' || s === 'committed' || s === 'disarmed' || s === 'fired' ? s : 'none';
}

/** Thaws a runc container if it is frozen (paused); does nothing to a running one. */
export function thawIfPausedArgv(runc: { runc: string; root: string }, containerId: string): string[] {
  const script = ['set -u', 'runc=$1; root=$2; id=$3', THAW, 'thaw || true', 'echo "$st"'].join('\n');
  return ['sh', '-c', script, 'thaw', runc.runc, runc.root, containerId];
}
