/**
 * The testbed key's line in a host's authorized_keys: how it is written, found and removed. Pure argv
 * builders; the scripts take their values as "$1"..., never spliced into their text.
 *
 * - The line is edgectl's by its last field, the marker `edgectl-testbed:TESTBED`, compared whole (as
 *   `edgectl-testbed-TESTBED`, the marker of older versions, also is): testbed `lab` never touches the
 *   line of `lab-2`, and lines edgectl did not write are never touched.
 * - The key may do one thing: run the testbed's receiver (`command=`, see migration/commands.ts), from the
 *   servers' data addresses (`from=`), with nothing else (`restrict`: no forwarding, no pty, no ~/.ssh/rc).
 * - The file is replaced whole: a new copy beside it (same directory, the owner and mode of the old one,
 *   0600 and the directory's owner for a new file), flushed to disk, renamed over it. On any failure the
 *   old file is left as it was (the copy removed), and the script says so on stderr and exits 1.
 * - Writers take turns on a lock file beside it (`flock`): testbeds provisioned at once, hosts sharing a
 *   home over NFS. Not on the file itself: the rename replaces it, and a writer waiting on the old one
 *   would then read a file nobody locks.
 */
/** The file: the lab's sshd names its own in EDGECTL_AUTHORIZED_KEYS; real hosts use the user's. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, for the remote shell
const AUTH_FILE = '${EDGECTL_AUTHORIZED_KEYS:-$HOME/.ssh/authorized_keys}';

/** The last field of the testbed key's line (its comment). */
export function testbedKeyMarker(testbed: string): string {
  return `edgectl-testbed:${testbed}`;
}

/** The marker of the lines edgectl wrote before it restricted the key (removed when found). */
export function legacyKeyMarker(testbed: string): string {
  return `edgectl-testbed-${testbed}`;
}

export interface KeyLine {
  /** `TYPE BASE64` (a comment after them is dropped). */
  publicKey: string;
  /** Addresses or CIDR blocks the key may come from. */
  from: readonly string[];
  /** The only command the key may run. */
  command: string;
  marker: string;
}

/** `from="A,B",restrict,command="CMD" TYPE BASE64 MARKER`. */
export function authorizedKeyLine(k: KeyLine): string {
  const [type, blob] = k.publicKey.trim().split(/\s+/);
  if (!type || !blob) throw new Error(`not a public key: ${k.publicKey.slice(0, 40)}`);
  // Values from the validated inventory: a quote, a space or a newline here would be a bug.
  const unsafe = [...k.from, k.command, k.marker, type, blob].find((v) => /["\s\\]/.test(v) || v === '');
  if (unsafe !== undefined || k.from.length === 0 || k.from.some((a) => a.includes(',')))
    throw new Error(`cannot write an authorized_keys line with ${JSON.stringify(unsafe ?? k.from)}`);
  return `from="${k.from.join(',')}",restrict,command="${k.command}" ${type} ${blob} ${k.marker}`;
}

/**
 * Reads the file: prints `EXACT ALL`, how many lines are `line` exactly, and how many carry one of the
 * two markers as their last field (`0 0` without a file).
 */
export function probeKeyArgv(line: string, marker: string, legacy: string): string[] {
  const script = [
    `f=${AUTH_FILE}`,
    '[ -f "$f" ] || { echo "0 0"; exit 0; }',
    // ENVIRON, not awk -v: -v would read backslashes in the values as escapes.
    'l=$1 m=$2 o=$3 LC_ALL=C awk \'$NF == ENVIRON["m"] || $NF == ENVIRON["o"] { n++; if ($0 == ENVIRON["l"]) e++ } END { print e + 0, n + 0 }\' "$f"',
  ].join('\n');
  return ['sh', '-c', script, 'authorized-keys', line, marker, legacy];
}

/**
 * Rewrites the file without any line whose last field is `marker` or `legacy`, then with `line` at its
 * end (none with line ''). See the module's comment for how.
 */
export function writeKeyArgv(line: string, marker: string, legacy: string): string[] {
  const script = [
    'set -eu',
    `f=${AUTH_FILE}`,
    't=',
    'fail() { [ -z "$t" ] || rm -f "$t"; printf "edgectl: %s; %s is left as it was\\n" "$1" "$f" >&2; exit 1; }',
    'd=$(dirname "$f")',
    // A new ~/.ssh: 0700, owned like the directory it is in (the home).
    'if [ ! -d "$d" ]; then',
    '  mkdir -m 700 "$d" || fail "cannot create $d"',
    '  chown "$(stat -c %u:%g "$(dirname "$d")")" "$d" || fail "cannot give $d the owner of its parent"',
    'fi',
    // A symbolic link stays: the file it names is the one replaced.
    'f=$(readlink -f -- "$f") || fail "cannot resolve $f"',
    'd=$(dirname "$f")',
    'umask 077',
    // Tried in a subshell first: a failed redirection of `exec` would end the shell before `fail`.
    '( : >>"$f.edgectl-lock" ) 2>/dev/null || fail "cannot open the lock $f.edgectl-lock"',
    'exec 9>>"$f.edgectl-lock"',
    'flock 9 || fail "cannot lock $f.edgectl-lock"',
    't=$(mktemp "$f.edgectl-XXXXXX") || fail "cannot create a file in $d"',
    'if [ -e "$f" ]; then',
    '  chown "$(stat -c %u:%g "$f")" "$t" && chmod "$(stat -c %a "$f")" "$t" || fail "cannot give the new copy the owner and mode of the file"',
    '  m=$2 o=$3 LC_ALL=C awk \'$NF != ENVIRON["m"] && $NF != ENVIRON["o"]\' "$f" >"$t" || fail "cannot write the new copy"',
    'else',
    '  chown "$(stat -c %u:%g "$d")" "$t" && chmod 600 "$t" || fail "cannot give the new file the owner of $d"',
    'fi',
    'if [ -n "$1" ]; then printf "%s\\n" "$1" >>"$t" || fail "cannot write the new copy"; fi',
    'sync "$t" || fail "cannot flush the new copy to disk"',
    'mv -f "$t" "$f" || fail "cannot rename the new copy over the file"',
    't=',
    // The rename is done; the directory's flush only makes it durable sooner.
    'sync "$d" 2>/dev/null || true',
  ].join('\n');
  return ['sh', '-c', script, 'authorized-keys', line, marker, legacy];
}
