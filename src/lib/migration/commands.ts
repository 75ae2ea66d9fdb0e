/**
 * The commands a migration runs on the source and destination servers, as pure argv builders. Each
 * script takes its paths as positional arguments ("$1", ...), never spliced into its text.
 *
 * A snapshot directory holds `criu/` (the checkpoint images, hard-linked out of Docker's checkpoint
 * directory) and `rootfs.tar` (the container's writable layer: the overlay upper directory, whiteouts,
 * every xattr and POSIX ACL included: TAR_FLAGS_ARGV), so that files the app wrote move with it.
 *
 * Everything a migration writes on a server is private to root: a checkpoint holds a process's whole
 * memory. The scripts run under `umask 077` (CRIU, xdelta3, tar, cp and mkdir create 0600 files and 0700
 * directories under it; tar -x as root keeps the archive's modes, which are these), and the staging root
 * itself is 0700, which keeps every file beneath it from other users whatever its own mode.
 *
 * What arrives from the other server (the pre-migration image, the delta) is not trusted: each codec's
 * patch refuses names that leave its directory and anything but regular files and directories (no
 * symbolic link followed, no device read), and so does placing a snapshot for a restore.
 */
import { shellJoin } from '../remote/quote.js';
import { receiveCommand, TAR_FLAGS_ARGV } from './receiver.js';

export {
  RECEIVER_VERSION,
  receiveCommand,
  receiverPath,
  receiverScript,
  TAR_FLAGS_ARGV,
} from './receiver.js';

/** Where every migration keeps its files on a host: 0700 (makeStagingArgv). */
export const STAGING_ROOT = '/var/lib/edgectl/migrations';

/** Where the migrations of a testbed keep their files on a host (each in a directory of its own). */
export function stagingRoot(testbed: string): string {
  return `${STAGING_ROOT}/${testbed}`;
}

/** A migration's key, unique across state databases: migration ids start at 1 in every database, so the
 * database's instance id (16 hex digits) comes first. */
export function migrationKey(instanceId: string, migrationId: number): string {
  return `${instanceId}-${migrationId}`;
}

const MIGRATION_KEY_RE = /^[0-9a-f]{16}-[1-9][0-9]*$/;

/**
 * Where a migration keeps its files on a host (`src` and `dst` differ: lab hosts share one filesystem),
 * by its key (migrationKey): the path says which database's migration it is, so that nothing removes
 * another's. The layout is the receiver's (`KEY/dst/LEAF`: receiverScript); removeStagingArgv removes
 * a side and then the key's directory once it is empty. The key is checked, as the path goes to `rm -rf`.
 */
export function stagingDir(testbed: string, key: string, side: 'src' | 'dst'): string {
  if (!MIGRATION_KEY_RE.test(key)) throw new Error(`not a migration key: ${JSON.stringify(key)}`);
  return `${STAGING_ROOT}/${testbed}/${key}/${side}`;
}

/**
 * Creates a migration's staging directory (beneath `root`), private: it and every directory up to the
 * root made 0700, also those an earlier edgectl left 0755 (a staging directory of the same testbed and
 * id can be there from another state database).
 */
export function makeStagingArgv(dir: string, root: string = STAGING_ROOT): string[] {
  if (!dir.startsWith(`${root}/`)) throw new Error(`staging directory ${dir} is not beneath ${root}`);
  const script = [
    'set -eu',
    'umask 077',
    'root=$1; dir=$2',
    'mkdir -p "$dir"',
    'd=$dir',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion
    'while [ "$d" != "$root" ]; do chmod 0700 "$d"; d=${d%/*}; done',
    'chmod 0700 "$root"',
  ].join('\n');
  return ['sh', '-c', script, 'staging', root, dir];
}

/**
 * Shell code: fails (exit 3) when anything under the directories given is not a regular file or a
 * directory (a symbolic link would be followed by what reads or writes through it, a device read), or
 * has a control character in its name (the scripts read names a line at a time). Names are printed with
 * control characters as '?'.
 */
const ONLY_FILES_FN = [
  'only_files() {',
  "  odd=$(find \"$@\" \\( ! -type f ! -type d \\) -printf %p -quit | LC_ALL=C tr -c '[:print:]' '?')",
  '  [ -z "$odd" ] || { echo "refused: $odd is not a regular file or directory" >&2; exit 3; }',
  "  odd=$(LC_ALL=C find \"$@\" -name '*[[:cntrl:]]*' -printf %p -quit | LC_ALL=C tr -c '[:print:]' '?')",
  '  [ -z "$odd" ] || { echo "refused: a name with a control character: $odd" >&2; exit 3; }',
  '}',
].join('\n');

/** Docker's directory of a container's checkpoint on its host. */
export function checkpointDir(dockerRoot: string, containerId: string, name: string): string {
  return `${dockerRoot}/containers/${containerId}/checkpoints/${name}`;
}

const TAR_FLAGS = shellJoin(TAR_FLAGS_ARGV);

/** Takes a snapshot: the checkpoint's images and the writable layer. Prints the snapshot's size in bytes. */
export function snapshotArgv(out: string, checkpoint: string, upperDir: string): string[] {
  const script = [
    'set -eu',
    'umask 077',
    'out=$1; ckpt=$2; upper=$3',
    'rm -rf "$out"; mkdir -p "$out"',
    // Hard links where the filesystems allow (no copy), a copy where they do not. Docker's checkpoint has
    // the modes its shim's CRIU gave (0644 under containerd's umask): made private, Docker's copy with it
    // (the same files; Docker reads them as root).
    'cp -al "$ckpt" "$out/criu" 2>/dev/null || { rm -rf "$out/criu"; cp -a "$ckpt" "$out/criu"; }',
    'chmod -R go= "$out/criu"',
    `tar ${TAR_FLAGS} -C "$upper" -cf "$out/rootfs.tar" .`,
    'du -sb "$out" | cut -f1',
  ].join('\n');
  return ['sh', '-c', script, 'snapshot', out, checkpoint, upperDir];
}

/**
 * The difference between two snapshots, file by file: unchanged files are only named, changed ones
 * encoded against their earlier version with xdelta3 (VCDIFF, fastest level: this runs while the service
 * is down; the encoding carries an Adler-32 checksum of each window, which the decoder checks), new ones
 * copied. MANIFEST says how each file of the later snapshot is rebuilt. Prints the delta's size in bytes.
 */
export function deltaArgv(pre: string, final: string, out: string): string[] {
  const script = [
    'set -eu',
    'umask 077',
    'pre=$1; final=$2; out=$3',
    'rm -rf "$out"; mkdir -p "$out"',
    'cd "$final"',
    // One mkdir for every directory, then one cmp per file (unchanged files are only named): this runs
    // while the service is down, and a fork per file per step adds up.
    'find . -type d -exec sh -c \'cd "$0" && mkdir -p "$@"\' "$out" {} +',
    'find . -type f | LC_ALL=C sort > "$out/.files"',
    // The encoders run in the background, beside the comparisons, and each is waited for by its PID
    // (so that a failed one fails the script).
    'pids=',
    'while IFS= read -r f; do',
    '  if [ ! -f "$pre/$f" ]; then cp "$f" "$out/$f.full"; echo "full $f"',
    '  elif cmp -s "$pre/$f" "$f"; then echo "same $f"',
    '  else xdelta3 -e -1 -f -s "$pre/$f" "$f" "$out/$f.vcdiff" & pids="$pids $!"; echo "vcdiff $f"; fi',
    'done < "$out/.files" > "$out/MANIFEST"',
    'for p in $pids; do wait "$p"; done',
    'rm "$out/.files"',
    'du -sb "$out" | cut -f1',
  ].join('\n');
  return ['sh', '-c', script, 'delta', pre, final, out];
}

/**
 * Rebuilds the later snapshot at the destination from the earlier one (verified when it arrived) and the
 * delta (xdelta3 checks each window it decodes against its checksum and fails on any mismatch): the
 * earlier snapshot hard-linked whole (one process), then each changed or new file replaced.
 *
 * The delta's names are not trusted (the source wrote them): each is "./" and a relative path whose
 * components are neither empty, "." nor "..", none starting with "-", with no control character; else
 * the script fails (exit 3) before it writes anything. The earlier snapshot and the delta must hold only
 * regular files and directories: no symbolic link for a name to be followed through, in either or in
 * `out` (a copy of the earlier one). Files no longer in the later snapshot are removed only by the names
 * `find` lists in `out`.
 */
export function patchArgv(pre: string, delta: string, out: string): string[] {
  const script = [
    'set -eu',
    'umask 077',
    ONLY_FILES_FN,
    'name_ok() {',
    '  case $1 in ./*) ;; *) return 1 ;; esac',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions
    '  r=${1#./}',
    "  case $r in '' | / | /* | */ | *//* | . | .. | ./* | ../* | */. | */.. | */./* | */../* | -* | */-*) return 1 ;; esac",
    '  case $r in *[[:cntrl:]]*) return 1 ;; esac',
    '}',
    'pre=$1; delta=$2; out=$3',
    'only_files "$pre" "$delta"',
    '[ -f "$delta/MANIFEST" ] && [ -z "$(tail -c 1 "$delta/MANIFEST")" ] || { echo "refused: $delta/MANIFEST is missing or cut short" >&2; exit 3; }',
    'while IFS= read -r line; do',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions
    '  how=${line%% *}; f=${line#* }',
    '  case $how in same | vcdiff | full) ;; *) how= ;; esac',
    '  if [ -z "$how" ] || [ "$f" = "$line" ] || ! name_ok "$f"; then',
    '    echo "refused: a bad line in MANIFEST: $(printf %s "$line" | LC_ALL=C tr -c \'[:print:]\' \'?\')" >&2; exit 3',
    '  fi',
    'done < "$delta/MANIFEST"',
    'rm -rf "$out"',
    'cp -al "$pre" "$out" 2>/dev/null || { rm -rf "$out"; cp -a "$pre" "$out"; }',
    'pids=',
    'while IFS= read -r line; do',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions
    '  how=${line%% *}; f=${line#* }',
    '  case "$how" in',
    '    same) [ -f "$out/$f" ] || { echo "refused: MANIFEST says $f is unchanged, but the earlier snapshot has no such file" >&2; exit 3; } ;;',
    '    vcdiff) rm -f "$out/$f"; xdelta3 -d -f -s "$pre/$f" "$delta/$f.vcdiff" "$out/$f" & pids="$pids $!" ;;',
    '    full) mkdir -p "$(dirname "$out/$f")"; rm -f "$out/$f"; cp "$delta/$f.full" "$out/$f" ;;',
    '  esac',
    'done < "$delta/MANIFEST"',
    'for p in $pids; do wait "$p"; done',
    // Files of the earlier snapshot that the later one no longer has: removed by the names find lists
    // (checked above: no control character, so a line is a name).
    '(cd "$out" && find . -type f | LC_ALL=C sort) > "$out.have"',
    'sed \'s/^[a-z]* //\' "$delta/MANIFEST" | LC_ALL=C sort > "$out.keep"',
    'LC_ALL=C comm -23 "$out.have" "$out.keep" | while IFS= read -r f; do rm -f "$out/$f"; done',
    'rm -f "$out.have" "$out.keep"',
  ].join('\n');
  return ['sh', '-c', script, 'patch', pre, delta, out];
}

/** sha256 of every file under a directory, sorted: the two ends of a transfer must print the same. */
export function manifestArgv(dir: string): string[] {
  return [
    'sh',
    '-c',
    'cd "$1" && find . -type f | LC_ALL=C sort | while IFS= read -r f; do sha256sum "$f"; done',
    'manifest',
    dir,
  ];
}

export interface RsyncTarget {
  user: string;
  address: string;
  port: number;
  key: string;
  knownHosts: string;
  /** A control socket: the first transfer opens an SSH connection that later ones reuse (no handshake
   * while the service is down). Closed with closeMasterArgv. */
  controlPath: string;
}

function sshOptions(to: RsyncTarget): string[] {
  return [
    '-i',
    to.key,
    '-o',
    `UserKnownHostsFile=${to.knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=10',
    '-o',
    'ServerAliveInterval=5',
    '-o',
    'ServerAliveCountMax=2',
    '-o',
    'ControlMaster=auto',
    '-o',
    `ControlPath=${to.controlPath}`,
    '-o',
    'ControlPersist=300',
    '-p',
    String(to.port),
  ];
}

/**
 * A data channel (run on the source): one carries the pre-migration image, one what the downtime sends;
 * both open before the final checkpoint. One SSH session to the destination whose remote side, the
 * testbed's receiver (the forced command of the testbed key: a `tar -x` into `toDir`, see receiverScript),
 * is already running, fed from a FIFO in `chan`. A new SSH session costs the destination its login shell
 * (a user's ~/.bashrc: 0.1-2 s on real machines); this pays it before the service stops. A `sleep` holds the FIFO open for writing so
 * that the session starts now; `send` writes the archive, then ends the holder: the receiver sees the end
 * of its input, unpacks the rest and exits. Prints nothing; fails when the receiver does not come up.
 */
export function openChannelArgv(
  chan: string,
  to: RsyncTarget,
  toDir: string,
  options: { wait?: boolean } = {},
): string[] {
  const receiver = receiveCommand(toDir);
  const script = [
    'set -eu',
    'umask 077',
    'c=$1; shift',
    'rm -rf "$c"; mkdir -p "$c"; mkfifo "$c/pipe"',
    '( "$@" <"$c/pipe" >"$c/out" 2>"$c/err" & echo $! >"$c/ssh.pid"; wait $! && r=0 || r=$?; echo $r >"$c/rc.new"; mv "$c/rc.new" "$c/rc" ) </dev/null >/dev/null 2>&1 &',
    'sleep 3600 >"$c/pipe" </dev/null 2>/dev/null & echo $! >"$c/holder.pid"',
    ...(options.wait === false ? [] : [CHANNEL_READY]),
  ].join('\n');
  return [
    'sh',
    '-c',
    script,
    'channel',
    chan,
    'ssh',
    ...sshOptions(to),
    `${to.user}@${to.address}`,
    receiver,
  ];
}

/** Shell code: waits until the channel in $c is ready (its receiver said so: its login shell is done), or fails when its session ended. */
const CHANNEL_READY = [
  'i=0',
  'until grep -qx ready "$c/out" 2>/dev/null; do',
  '  if [ -f "$c/rc" ]; then echo "the receiver on the destination did not start (exit $(cat "$c/rc")): $(tail -c 500 "$c/err")" >&2; exit 1; fi',
  '  i=$((i + 1)); [ "$i" -lt 12000 ] || { echo "the receiver on the destination did not start within 120 s" >&2; exit 1; }',
  '  sleep 0.01',
  'done',
].join('\n');

/**
 * Waits until a channel opened with `openChannelArgv(..., { wait: false })` is ready (run on the source):
 * its session starts while other work runs on the source's shell, and this waits only when the data is due.
 */
export function channelReadyArgv(chan: string): string[] {
  const script = [
    'set -eu',
    'c=$1',
    '[ -p "$c/pipe" ] || { echo "no data channel at $c" >&2; exit 1; }',
    CHANNEL_READY,
  ].join('\n');
  return ['sh', '-c', script, 'channel-ready', chan];
}

/**
 * Sends a directory through the open channel (run on the source) and waits until the destination has
 * unpacked it all. Prints the bytes sent (the archive's size).
 */
export function sendArgv(chan: string, from: string): string[] {
  const script = [
    'set -eu',
    'umask 077',
    'c=$1; from=$2',
    '[ -p "$c/pipe" ] && [ ! -f "$c/rc" ] || { echo "the data channel to the destination is not open: $(tail -c 500 "$c/err" 2>/dev/null)" >&2; exit 1; }',
    `tar ${TAR_FLAGS} --totals -C "$from" -cf - . 2>"$c/totals" >"$c/pipe"`,
    'kill "$(cat "$c/holder.pid")" 2>/dev/null || true',
    'until [ -f "$c/rc" ]; do sleep 0.002; done',
    'r=$(cat "$c/rc")',
    '[ "$r" = 0 ] || { echo "the destination did not receive the data (exit $r): $(tail -c 500 "$c/err")" >&2; exit 1; }',
    'sed -n \'s/^Total bytes written: \\([0-9]*\\).*/\\1/p\' "$c/totals"',
  ].join('\n');
  return ['sh', '-c', script, 'send', chan, from];
}

/** Ends a channel, used or not (its session and the FIFO's holder), and removes its files. */
export function closeChannelArgv(chan: string): string[] {
  const script = [
    'c=$1',
    'for f in holder.pid ssh.pid; do [ -f "$c/$f" ] && kill "$(cat "$c/$f")" 2>/dev/null; done',
    'rm -rf "$c"',
    'true',
  ].join('\n');
  return ['sh', '-c', script, 'close-channel', chan];
}

/**
 * The rsync codec's delta, computed at the source against its own copy of the pre-migration image (the
 * destination's copy was verified identical): rsync's block delta written as a batch file, not applied
 * (`--only-write-batch`). `-I`: files of the same size and mtime second are compared too. Prints the
 * batch's size in bytes.
 */
export function rsyncBatchArgv(pre: string, final: string, out: string): string[] {
  const script = [
    'set -eu',
    'umask 077',
    'pre=$1; final=$2; out=$3',
    'rm -rf "$out"; mkdir -p "$out"',
    'rsync -a -I --delete --no-whole-file --only-write-batch="$out/batch" "$final/" "$pre/"',
    'rm -f "$out/batch.sh"',
    'du -sb "$out" | cut -f1',
  ].join('\n');
  return ['sh', '-c', script, 'rsync-delta', pre, final, out];
}

/**
 * Applies an rsync batch at the destination: the pre-migration image there becomes the final one (rsync
 * checks each rebuilt file against the whole-file checksum the batch carries).
 *
 * The batch is the source's: not trusted. rsync's receiver refuses a name with a ".." component or an
 * absolute one in it ("ABORTING due to unsafe pathname from sender", exit 4: its file list is checked as
 * it is from any sender; tried with crafted batches in test/unit/delta-corpus.test.ts). But it creates
 * whatever the batch lists: the batch's -l and -D override the reader's own ("Setting the --devices (-D)
 * option to match the batchfile"), so --no-links cannot keep symbolic links out. Those pointing out of
 * the tree are skipped (--safe-links), the others made to lead nowhere (--munge-links), and anything but
 * regular files and directories is refused afterwards: a snapshot holds nothing else.
 */
export function rsyncPatchArgv(pre: string, delta: string): string[] {
  const script = [
    'set -eu',
    'umask 077',
    ONLY_FILES_FN,
    'pre=$1; batch=$2',
    // The pre-migration image came from the source too: no link in it for rsync to write through.
    'only_files "$pre"',
    'rsync -a -I --delete --safe-links --munge-links --read-batch="$batch" "$pre/"',
    'only_files "$pre"',
  ].join('\n');
  return ['sh', '-c', script, 'rsync-patch', pre, `${delta}/batch`];
}

/** Ends the shared SSH connection of a migration. */
export function closeMasterArgv(to: RsyncTarget): string[] {
  return ['ssh', ...sshOptions(to), '-O', 'exit', `${to.user}@${to.address}`];
}

/**
 * Shell code that puts a checkpoint's images ($1, absolute) where Docker restores from ($2): hard links
 * (a copy across filesystems), except the memory pages: those become symbolic links to the file in $1.
 * Docker hands a checkpoint to containerd through its content store, as a tar, and containerd unpacks
 * it into a temporary directory before runc restores it: a symbolic link crosses as a link, so the
 * pages (nearly all of the image) are neither archived, hashed nor copied while the service is down
 * (measured on the lab of a 2-core VM: 64 MB of state restored in 0.42 s instead of 1.44-1.55 s). The
 * link is relative, climbing to / from wherever containerd unpacks (".." stops at /): an absolute one
 * was not found by CRIU, which reads the pages after it has entered the container's mount namespace.
 */
const PLACE_CHECKPOINT_FN = [
  'place_checkpoint() {',
  // Docker's checkpoint directory as private as the images (Docker and CRIU read them as root).
  '  umask 077',
  '  rm -rf "$2"; mkdir -p "$(dirname "$2")"',
  '  cp -al "$1" "$2" 2>/dev/null || { rm -rf "$2"; cp -a "$1" "$2"; }',
  `  up=${'../'.repeat(32)}`,
  '  for f in "$1"/pages-*.img; do',
  '    [ -f "$f" ] || continue',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions
  '    ln -sfn "$up${f#/}" "$2/${f##*/}"',
  '  done',
  '}',
].join('\n');

/** Puts a checkpoint's images in Docker's checkpoint directory of a container (see PLACE_CHECKPOINT_FN). */
export function placeCheckpointArgv(images: string, checkpoint: string): string[] {
  const script = ['set -eu', PLACE_CHECKPOINT_FN, 'place_checkpoint "$1" "$2"'].join('\n');
  return ['sh', '-c', script, 'place-checkpoint', images, checkpoint];
}

/** Puts a snapshot in place for a restore: the writable layer into the new container's upper directory
 * (with its owners, modes, xattrs and ACLs: TAR_FLAGS_ARGV), the images into Docker's checkpoint
 * directory of the new container. The snapshot came from the other server: it must hold only regular
 * files and directories (CRIU would read through a symbolic link or from a device, as root). */
export function placeSnapshotArgv(snapshot: string, upperDir: string, checkpoint: string): string[] {
  const script = [
    'set -eu',
    ONLY_FILES_FN,
    PLACE_CHECKPOINT_FN,
    'snap=$1; upper=$2; ckpt=$3',
    'only_files "$snap"',
    `tar ${TAR_FLAGS} -C "$upper" -xpf "$snap/rootfs.tar"`,
    'place_checkpoint "$snap/criu" "$ckpt"',
  ].join('\n');
  return ['sh', '-c', script, 'place', snapshot, upperDir, checkpoint];
}

/**
 * Removes one side of a migration's staging (with its transfers' control socket beside it), then the
 * migration's directory (stagingDir's KEY) once neither side is left in it: nothing of the migration stays.
 */
export function removeStagingArgv(dir: string): string[] {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion
  const script = ['d=$1', 'rm -rf "$d" "$d.ssh" || exit 1', 'rmdir "${d%/*}" 2>/dev/null', 'true'].join('\n');
  return ['sh', '-c', script, 'remove-staging', dir];
}

export function removeDirArgv(dir: string): string[] {
  return ['rm', '-rf', dir];
}

/**
 * Tells the destination host the restored container's MAC address for its IP, on whatever interface
 * routes to it (Docker's bridge). While CRIU restores the container, the host's first ARP request for it
 * goes unanswered, and the kernel holds every packet to it until its next request, a second later
 * (measured on the lab of a 2-core VM: the service answered 0.5-0.7 s after the restore returned,
 * whatever its size).
 */
export function primeNeighbourArgv(ip: string, mac: string): string[] {
  const script = [
    'set -eu',
    'ip=$1; mac=$2',
    `dev=$(ip -o route get "$ip" | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p')`,
    '[ -n "$dev" ] || { echo "no route to $ip" >&2; exit 1; }',
    'ip neigh replace "$ip" lladdr "$mac" dev "$dev" nud reachable',
  ].join('\n');
  return ['sh', '-c', script, 'neighbour', ip, mac];
}

/** Shell code: `bundle_of PID` prints the task bundle of a container's init (its shim's working directory). */
const BUNDLE_OF_FN = [
  'bundle_of() {',
  '  ppid=$(sed -n \'s/^PPid:[[:space:]]*//p\' "/proc/$1/status")',
  '  readlink "/proc/$ppid/cwd"',
  '}',
].join('\n');

/** Shell code: `criu_seconds LOG` prints CRIU's own time in a log of it, its last timestamp (seconds). */
const CRIU_SECONDS_FN = 'criu_seconds() { sed -n \'s/^(\\([0-9.]*\\)).*/\\1/p\' "$1" | tail -n 1; }';

/**
 * What runs a container on its host, found from its process: containerd's shim (the container's init's
 * parent) runs in the task's bundle directory, whose options.json names runc's binary and state root.
 * Prints the bundle directory, then options.json. CRIU's restore log is in the bundle's work/.
 */
export function runtimeOfArgv(pid: number): string[] {
  const script = [
    'set -eu',
    BUNDLE_OF_FN,
    'bundle=$(bundle_of "$1")',
    '[ -f "$bundle/options.json" ] || { echo "no containerd shim bundle at $bundle (the parent of process $1)" >&2; exit 1; }',
    'echo "$bundle"',
    'cat "$bundle/options.json"',
  ].join('\n');
  return ['sh', '-c', script, 'runtime', String(pid)];
}

/** runc as containerd's shim runs it for a container: its binary and the state root of the namespace. */
export interface RuncRuntime {
  runc: string;
  root: string;
}

/**
 * Reads runtimeOfArgv's output. The namespace is the bundle's parent directory's name (containerd's
 * layout: .../io.containerd.runtime.v2.task/NAMESPACE/ID); runc's root without one in options.json is
 * containerd's default for the runc shim. Undefined where the runtime is not runc.
 */
export function parseRuntime(stdout: string): RuncRuntime | undefined {
  const [bundle, ...rest] = stdout.trim().split('\n');
  const ns = bundle?.split('/').at(-2);
  if (!bundle || !ns) return undefined;
  let options: { binary_name?: unknown; root?: unknown };
  try {
    options = rest.join('\n').trim() === '' ? {} : (JSON.parse(rest.join('\n')) as typeof options);
  } catch {
    return undefined;
  }
  const runc =
    typeof options.binary_name === 'string' && options.binary_name !== '' ? options.binary_name : 'runc';
  if (!/(^|\/)runc$/.test(runc)) return undefined;
  const root =
    typeof options.root === 'string' && options.root !== '' ? options.root : '/run/containerd/runc';
  return { runc, root: `${root}/${ns}` };
}

/** CRIU's time in seconds as printed by runcCheckpointArgv or criuRestoreSecondsArgv (undefined: not known). */
export function parseSeconds(line: string | undefined): number | undefined {
  const v = Number(line?.trim());
  return line !== undefined && line.trim() !== '' && Number.isFinite(v) ? v : undefined;
}

export interface RuncCheckpoint {
  /** runc's binary (as the shim calls it) and its state root for the container's namespace. */
  runc: string;
  root: string;
  containerId: string;
  /** Where CRIU writes the images (created afresh). */
  images: string;
  /** CRIU's work directory: its dump.log and stats. */
  work: string;
  /** After the dump: the container runs on (the pre-migration checkpoint), or stays frozen (the final
   * one: runc pauses it first, and CRIU leaves it as it found it). */
  after: 'run' | 'freeze';
  /** Also archive the container's writable layer into `snapshot`/rootfs.tar (the final checkpoint). */
  snapshot?: { dir: string; upperDir: string };
}

/**
 * A checkpoint by runc itself, under the container Docker created: CRIU writes its images straight
 * into `images`, where Docker's API would pass them through containerd's content store as a tar and
 * unpack them again. `freeze`: the container is paused (cgroup freezer) first and stays frozen after
 * the dump, so that it neither runs on nor exits: Docker does none of an exit's work (unmounts, network
 * teardown) during the downtime, and a rollback is a thaw (runcResumeArgv); a failed dump thaws it at
 * once. Prints the checkpoint's wall time in ns, then CRIU's own (the last timestamp of its log, in
 * seconds), then the snapshot's size in bytes.
 */
export function runcCheckpointArgv(c: RuncCheckpoint): string[] {
  const script = [
    'set -eu',
    CRIU_SECONDS_FN,
    // CRIU's images (0644 by its own rule) and the layer's tar come out 0600 under this umask.
    'umask 077',
    'runc=$1; root=$2; id=$3; img=$4; work=$5; freeze=$6; snap=$7; upper=$8',
    'rm -rf "$img" "$work"; mkdir -p "$img" "$work"',
    't0=$(date +%s%N)',
    'if [ "$freeze" = 1 ]; then "$runc" --root "$root" pause "$id"; fi',
    'if ! "$runc" --root "$root" checkpoint --image-path "$img" --work-path "$work" --leave-running "$id"; then',
    '  [ "$freeze" = 1 ] && "$runc" --root "$root" resume "$id"',
    '  echo "runc checkpoint failed; CRIU said: $(grep -i error "$work/dump.log" 2>/dev/null | tail -n 5)" >&2; exit 1',
    'fi',
    't1=$(date +%s%N)',
    `[ -z "$snap" ] || tar ${TAR_FLAGS} -C "$upper" -cf "$snap/rootfs.tar" .`,
    'echo $((t1 - t0))',
    'criu_seconds "$work/dump.log"',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion
    'du -sb "${snap:-$img}" | cut -f1',
  ].join('\n');
  return [
    'sh',
    '-c',
    script,
    'checkpoint',
    c.runc,
    c.root,
    c.containerId,
    c.images,
    c.work,
    c.after === 'freeze' ? '1' : '0',
    c.snapshot?.dir ?? '',
    c.snapshot?.upperDir ?? '',
  ];
}

/** Thaws a container that a final checkpoint left frozen (a rollback: the service runs on, as it was). */
export function runcResumeArgv(r: RuncRuntime, containerId: string): string[] {
  return [r.runc, '--root', r.root, 'resume', containerId];
}

/** Ends a frozen container for good: SIGKILL is pending when it thaws, so none of its code runs again. */
export function runcKillFrozenArgv(r: RuncRuntime, containerId: string): string[] {
  const script = [
    'runc=$1; root=$2; id=$3',
    '"$runc" --root "$root" kill "$id" KILL',
    '"$runc" --root "$root" resume "$id"',
    'true',
  ].join('\n');
  return ['sh', '-c', script, 'kill-frozen', r.runc, r.root, containerId];
}

/** CRIU's own time (s) in a restore: the last timestamp of restore.log in the task's work directory. */
export function criuRestoreSecondsArgv(pid: number): string[] {
  const script = [
    'set -eu',
    BUNDLE_OF_FN,
    CRIU_SECONDS_FN,
    'criu_seconds "$(bundle_of "$1")/work/restore.log"',
  ].join('\n');
  return ['sh', '-c', script, 'criu-restore', String(pid)];
}

/** The page codec (native/edgectl-pages.c) at the source: the delta of `final` against `pre`. Prints its size. */
export function pagesDiffArgv(bin: string, pre: string, final: string, out: string): string[] {
  const script = ['set -eu', 'rm -rf "$4"', 'exec "$1" diff "$2" "$3" "$4"'].join('\n');
  return ['sh', '-c', script, 'pages-diff', bin, pre, final, out];
}

/** The page codec at the destination: `out` rebuilt from `pre` and the delta (each file's hash checked). */
export function pagesPatchArgv(bin: string, pre: string, delta: string, out: string): string[] {
  const script = ['set -eu', 'rm -rf "$4"', 'exec "$1" patch "$2" "$3" "$4"'].join('\n');
  return ['sh', '-c', script, 'pages-patch', bin, pre, delta, out];
}
