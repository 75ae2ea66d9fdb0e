/**
 * The receiving end of a migration's data channels: the only command the testbed key may run on a server
 * (the forced command of its authorized_keys line, installed by provision), and the archive flags both
 * ends of every migration archive use.
 */
import { createHash } from 'node:crypto';
import { shellJoin } from '../remote/quote.js';

/**
 * GNU tar's flags for a container's writable layer (and the data channels' archives, made here and
 * unpacked by the receiver): every extended
 * attribute. `--xattrs` alone archives them all but restores only user.* (tar's default when extracting),
 * so the include pattern is given to both ends: user.*, security.capability (tar restores it after the
 * owner, whose change would clear it), overlay's trusted.overlay.* (opaque directories, redirects;
 * whiteouts are character devices 0/0, carried as such), and POSIX ACLs as their system.posix_acl_*
 * attributes: numeric ids, like the owners. Not `--acls`: tar 1.34 (Debian 12) writes those by user name
 * even with --numeric-owner, and a container's uids have no names on the host.
 */
export const TAR_FLAGS_ARGV = ['--xattrs', '--xattrs-include=*', '--numeric-owner'];

/**
 * The receiver: what the testbed key may do on a server, as the forced command of its line in
 * authorized_keys (provision installs it at receiverPath). It takes one request, `edgectl-receive VERSION
 * DIR` (SSH_ORIGINAL_COMMAND, never parsed by a shell), where DIR is ROOT/ID/dst/LEAF: ROOT the testbed's
 * staging root, ID a migration's directory, LEAF one channel's (letters, digits, `.`, `_` and `-` only,
 * never starting with a dot: no `..`, no slash, no space). It makes the directory, new (made by nobody
 * else before, so that nothing an earlier session unpacked, a link out of the staging, can be followed),
 * 0700 (tar leaves it so), prints `ready` and runs `tar -x` into it with TAR_FLAGS_ARGV. Anything else is refused with a
 * message on stderr and exit 2. VERSION: a hash of the script, so that a migration with another
 * edgectl's tar flags fails at once, saying to provision again, instead of unpacking differently.
 */
const RECEIVER_TEMPLATE = [
  '#!/bin/sh',
  '# edgectl: the receiver of migration data for the testbed key (the forced command of its line in',
  '# authorized_keys). It unpacks one data channel into a new directory of the staging root, nothing else.',
  'set -eu',
  'umask 077',
  "root='@ROOT@'",
  "version='@VERSION@'",
  'refuse() { printf "edgectl-receive: %s\\n" "$1" >&2; exit 2; }',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions
  'cmd=${SSH_ORIGINAL_COMMAND-}',
  'case $cmd in',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions
  '  "edgectl-receive $version $root/"*) rest=${cmd#"edgectl-receive $version $root/"} ;;',
  '  "edgectl-receive $version "*) refuse "not a directory of $root" ;;',
  '  "edgectl-receive "*) refuse "this receiver is of another edgectl version ($version): run edgectl provision with the edgectl that migrates" ;;',
  '  *) refuse "this key only receives migration data; refused: $(printf %.100s "$cmd" | tr -c "[:alnum:]/._ -" "?")" ;;',
  'esac',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions
  'id=${rest%%/*}',
  'case $rest in',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions
  '  "$id/dst/"*) leaf=${rest#"$id/dst/"} ;;',
  '  *) refuse "not ID/dst/LEAF under $root" ;;',
  'esac',
  // Character lists spelled out: a range like a-z can match other characters in some locales.
  'an=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  'case $id in ""|[!$an]*|*[!$an._-]*) refuse "bad migration directory name" ;; esac',
  'case $leaf in ""|[!$an]*|*[!$an._-]*) refuse "bad channel directory name" ;; esac',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions
  '[ ${#id} -le 64 ] && [ ${#leaf} -le 64 ] || refuse "name too long"',
  'dir=$root/$id/dst/$leaf',
  'mkdir -p "$root/$id/dst"',
  'mkdir "$dir" 2>/dev/null || refuse "$dir exists already, or cannot be made (a channel\'s directory is always new)"',
  'echo ready',
  // --no-overwrite-dir: the archive's `.` would give the directory the mode of the sender's (0755 there).
  `exec tar ${shellJoin(TAR_FLAGS_ARGV)} --no-overwrite-dir -x -C "$dir"`,
  '',
].join('\n');

/** The receiver's version: changes with its script (and so with TAR_FLAGS_ARGV). */
export const RECEIVER_VERSION = createHash('sha256').update(RECEIVER_TEMPLATE).digest('hex').slice(0, 12);

/** The receiver for the staging root `root` (stagingRoot(testbed) on the servers), as installed. */
export function receiverScript(root: string): string {
  if (!/^\/[A-Za-z0-9._/-]+$/.test(root)) throw new Error(`not a staging root: ${root}`);
  return RECEIVER_TEMPLATE.replace('@ROOT@', root).replace('@VERSION@', RECEIVER_VERSION);
}

/** Where provision installs a testbed's receiver on every server (root's, 0755). */
export function receiverPath(testbed: string): string {
  return `/usr/local/lib/edgectl/receive-${testbed}`;
}

/** What a data channel asks of the receiver: `dir` made anew and the archive unpacked into it. */
export function receiveCommand(dir: string): string {
  return `edgectl-receive ${RECEIVER_VERSION} ${dir}`;
}
