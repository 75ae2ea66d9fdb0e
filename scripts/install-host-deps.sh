#!/usr/bin/env bash
# install-host-deps.sh - install the system packages an edgectl lab host needs.
#
# This script is the single source of truth for "what must be on a host of
# role X". edgectl runs it on remote hosts over SSH (`bash -s -- --role edge`),
# so it is deliberately one self-contained file.
#
# Usage: install-host-deps.sh [--role cloud|edge|ap|mu|controller|all] [--check]
#                             [--edgectl PATH] [--delay-source FILE] [--pages-source FILE]
#
#   --role ROLE  what the host is used for (default: all)
#                  cloud, edge      servers: Docker, a working CRIU, rsync, xdelta3, ...
#                                   edgectl-delay and edgectl-pages (below)
#                  ap               access points: networking + sshd, edgectl-delay
#                  mu               mobile users: networking + sshd, and a node >= 20
#                                   and an edgectl that runs (offload and the
#                                   migration probe run `edgectl mu ...` there)
#                  controller, all  everything (the controller also runs the local lab,
#                                   and the test suites: attr, acl, libcap2-bin)
#   --check      only report what is missing; install nothing
#   --edgectl PATH  role mu: the edgectl the controller runs here (hosts.yml's
#                hosts[].edgectlPath); default $EDGECTL_BIN, else edgectl in PATH
#   --delay-source FILE  the C source of edgectl-delay (default: native/edgectl-delay.c
#                beside this script's folder; piped to `bash -s`, as provision
#                --install-deps runs it, the source comes in EDGECTL_DELAY_SOURCE_B64)
#   --pages-source FILE  the C source of edgectl-pages, likewise (default:
#                native/edgectl-pages.c; piped: EDGECTL_PAGES_SOURCE_B64)
#
# Exit codes: 0 ok (or nothing missing), 1 something missing (--check) or the
# installation failed, 2 usage error / not root, 3 not a Debian/Ubuntu host
# (the missing tools are listed, nothing is installed), 4 role mu: a node >= 20
# or an edgectl is missing and this script cannot install it from the host's
# own package sources (what to do is printed on stdout; nothing is downloaded
# from anywhere else).
#
# Progress goes to stderr prefixed with [install-host-deps]; the final summary
# (or the --check report) goes to stdout.
#
# What it does, in order:
#   1. installs the role's Debian packages that are missing (one `apt-get update`
#      only if something is missing; recommends are not installed). Nothing is
#      started or enabled: a policy-rc.d keeps package scripts from starting
#      services, a daemon they start anyway is stopped, and the systemd units
#      they enable (docker, containerd, ssh) are disabled again;
#   2. for server roles, makes sure the `criu` found in PATH really works on the
#      running kernel (`criu check` plus a dump/restore of a process holding a
#      listening TCP socket). If the distribution's criu fails, CRIU 4.2 from
#      Debian unstable is unpacked with its own libc into a private prefix
#      (/opt/edgectl/criu) behind a wrapper /usr/local/sbin/criu; the system's
#      own libc and packages stay untouched;
#   3. adds `tcp-close` and `skip-in-flight` to /etc/criu/runc.conf (runc reads
#      CRIU options from it; without them a container holding an established
#      TCP connection, or one not yet accepted, cannot be checkpointed);
#   4. for wired roles (cloud, edge, ap), builds edgectl-delay, the packet-delay
#      helper that emulates link latency on kernels without netem (NFQUEUE), from
#      its C source with gcc and libnetfilter-queue into /usr/local/sbin; it is
#      rebuilt only when the source's hash differs from the one the installed
#      binary reports (`edgectl-delay --version`);
#   5. for server roles (cloud, edge, controller, all), builds edgectl-pages, the
#      page codec of `migrate --codec pages` (delta migrations), from its C source
#      with gcc alone into /usr/local/sbin, rebuilt on the same rule;
#   6. for role mu, makes sure `node --version` is >= 20 (installing the
#      distribution's `nodejs` only where its candidate is >= 20: Debian 12's
#      is 18, so there it says what to do and exits 4) and that the edgectl
#      the controller will run here answers `--version` (else it prints how to
#      put one there and exits 4);
#   7. prints the path and version of each tool.
# A second run finds everything in place and changes nothing.

set -euo pipefail

# ---------------------------------------------------------------------------
# Package lists: the ONE place that says what each role needs.
# ---------------------------------------------------------------------------

# Every role: networking tools and an SSH server (edgectl drives hosts over SSH).
# iputils-ping: the monitor's link probe (`ping -U`, the user-to-user RTT, which includes the delay
# edgectl-delay applies where packets arrive; busybox ping has no -U).
readonly PKGS_BASE=(iptables iproute2 openssh-server iputils-ping)
# Servers (cloud, edge) additionally run containers and migrate them.
# busybox-static is used to build small container images from local files.
readonly PKGS_SERVER=(docker.io criu rsync xdelta3 busybox-static)
# The controller drives the other hosts.
readonly PKGS_CONTROLLER=(openssh-client)
# The controller also runs edgectl's test suites: they set and read the xattrs, POSIX ACLs and file
# capabilities a migration carries (attr, acl, libcap2-bin). Their unit tier also builds edgectl-pages
# under AddressSanitizer: gcc (PKGS_DELAY) brings libasan and libubsan with it.
readonly PKGS_TESTS=(attr acl libcap2-bin)
# Wired hosts (cloud, edge, ap) build edgectl-delay, the link-latency helper for kernels without netem;
# servers also build edgectl-pages with its gcc and libc6-dev (it needs no other library).
readonly PKGS_DELAY=(gcc libc6-dev libnetfilter-queue-dev)

# A command each package provides: used to report what is missing on hosts
# that have no dpkg (non-Debian distributions).
declare -rA PKG_COMMAND=(
  [iptables]=iptables [iproute2]=ip [openssh-server]=sshd [openssh-client]=ssh [iputils-ping]=ping
  [docker.io]=dockerd [criu]=criu [rsync]=rsync [xdelta3]=xdelta3 [busybox-static]=busybox
  [gcc]=gcc [libc6-dev]=gcc [libnetfilter-queue-dev]=gcc
  [attr]=setfattr [acl]=setfacl [libcap2-bin]=setcap
)

# Fallback CRIU (used only where the distribution's criu fails on the running
# kernel, e.g. Debian 12's criu 3.17 on Linux >= 6.13 and Debian 13's criu 4.1
# on Linux >= 6.16). PACKAGE/SUITE pairs, fetched from the mirror the host
# already uses; criu and its closest libraries come from unstable, the rest
# (including a libc new enough for them) from trixie. Known good: CRIU 4.2.1.
readonly CRIU_PRIVATE_PKGS=(
  criu/sid libcompel1/sid libnet9/sid libnl-3-200/sid
  libc6/trixie libgnutls30t64/trixie libnftables1/trixie libprotobuf-c1/trixie
  libbsd0/trixie libuuid1/trixie libmd0/trixie libp11-kit0/trixie libidn2-0/trixie
  libunistring5/trixie libtasn1-6/trixie libnettle8t64/trixie libhogweed6t64/trixie
  libgmp10/trixie libjansson4/trixie libmnl0/trixie libnftnl11/trixie
  libxtables12/trixie libffi8/trixie libgcc-s1/trixie libzstd1/trixie
  libbrotli1/trixie zlib1g/trixie
)
readonly CRIU_PRIVATE_SUITES=(sid trixie)
readonly CRIU_PRIVATE_MIN_MAJOR=4
readonly CRIU_PREFIX=/opt/edgectl/criu
readonly CRIU_WRAPPER=/usr/local/sbin/criu
readonly CRIU_WRAPPER_MARK='edgectl-private-criu'
readonly CRIU_RUNC_CONF=/etc/criu/runc.conf

# edgectl-delay: where it is installed (edgectl's provision starts it from there).
readonly DELAY_BIN=/usr/local/sbin/edgectl-delay
# edgectl-pages: where it is installed (the migration's pages codec runs it from there).
readonly PAGES_BIN=/usr/local/sbin/edgectl-pages

# The C helpers this script builds, by name: where each is installed, the macro its version is
# compiled into, the variable provision --install-deps hands its source in, the option naming
# its source file, and what its build needs beyond `gcc -O2 -Wall -Wextra`.
declare -rA HELPER_BIN=([edgectl-delay]=$DELAY_BIN [edgectl-pages]=$PAGES_BIN)
declare -rA HELPER_MACRO=([edgectl-delay]=EDGECTL_DELAY_VERSION [edgectl-pages]=EDGECTL_PAGES_VERSION)
declare -rA HELPER_ENV=([edgectl-delay]=EDGECTL_DELAY_SOURCE_B64 [edgectl-pages]=EDGECTL_PAGES_SOURCE_B64)
declare -rA HELPER_OPTION=([edgectl-delay]=--delay-source [edgectl-pages]=--pages-source)
declare -rA HELPER_CFLAGS=([edgectl-delay]='' [edgectl-pages]='-Wno-format-truncation')
declare -rA HELPER_LIBS=([edgectl-delay]='-lnetfilter_queue -lnfnetlink' [edgectl-pages]='')

# Role mu runs edgectl itself: a node of at least this major version (package.json's engines).
readonly NODE_MIN_MAJOR=20

# Tools listed in the final summary.
readonly SUMMARY_TOOLS=(docker dockerd criu rsync xdelta3 iptables tc ip ping sshd ssh busybox edgectl-delay edgectl-pages)

# Use the standard root PATH, so that the tools found here are the ones that
# dockerd, runc (which looks up `criu` in PATH) and SSH sessions will find.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C

readonly LOG_PREFIX='[install-host-deps]'
readonly START_SECONDS=$SECONDS

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

log() { printf '%s %s\n' "$LOG_PREFIX" "$*" >&2; }
die() {
  local code=1
  if [[ $1 =~ ^[0-9]+$ ]]; then code=$1; shift; fi
  log "ERROR: $*"
  exit "$code"
}

usage() {
  sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" 2>/dev/null ||
    echo "usage: install-host-deps.sh [--role cloud|edge|ap|mu|controller|all] [--check]"
}

# Things to undo when the script exits, however it exits: the CRIU test
# process while it lives, temporary directories, a temporary policy-rc.d.
TEST_PID=''
CLEANUP_PATHS=()
readonly POLICY_RC=/usr/sbin/policy-rc.d
POLICY_RC_OURS=0
remove_our_policy_rc() {
  if ((POLICY_RC_OURS)); then rm -f -- "$POLICY_RC"; POLICY_RC_OURS=0; fi
}
cleanup() {
  local path
  if [[ -n $TEST_PID ]]; then kill -KILL "$TEST_PID" 2>/dev/null || true; fi
  remove_our_policy_rc
  for path in "${CLEANUP_PATHS[@]}"; do
    rm -rf -- "$path"
  done
}
trap cleanup EXIT

contains() { # contains WORD LIST...
  local w=$1 x
  shift
  for x in "$@"; do [[ $x == "$w" ]] && return 0; done
  return 1
}

pkg_installed() {
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true) == installed ]]
}

# Print the last Error/Warn lines of a CRIU log (or its tail) to stderr.
show_log() {
  local file=$1
  [[ -f $file ]] || return 0
  # (CRIU always logs a harmless "Can't setup RLIMIT_NOFILE" where it may not raise that limit.)
  { grep -E '^(Error|Warn)|Error \(' "$file" | grep -v RLIMIT_NOFILE || tail -n 5 "$file"; } | tail -n 8 |
    sed "s/^/$LOG_PREFIX     /" >&2
}

# node and edgectl (role mu). `node_version`: what `node --version` prints, or "none".
node_version() { node --version 2>/dev/null || echo none; }
node_ok() {
  local v
  v=$(node --version 2>/dev/null) || return 1
  [[ $v =~ ^v([0-9]+)\. ]] && ((BASH_REMATCH[1] >= NODE_MIN_MAJOR))
}
# The banner of the edgectl the controller runs here (`edgectl/0.1.0 linux-x64 node-v20.20.2`).
edgectl_version() {
  local out
  out=$("$EDGECTL_CMD" --version 2>/dev/null) && [[ $out == edgectl/* ]] && printf '%s\n' "$out"
}

# ---------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------

ROLE=all
CHECK_ONLY=0
EDGECTL_CMD=${EDGECTL_BIN:-edgectl}
# A helper's source file given on the command line, by helper name (see resolve_helper_source).
declare -A HELPER_SOURCE=()
while (($#)); do
  case $1 in
    --role) (($# >= 2)) || die 2 "--role needs a value"; ROLE=$2; shift 2 ;;
    --role=*) ROLE=${1#--role=}; shift ;;
    --edgectl) (($# >= 2)) || die 2 "--edgectl needs a value"; EDGECTL_CMD=$2; shift 2 ;;
    --edgectl=*) EDGECTL_CMD=${1#--edgectl=}; shift ;;
    --delay-source) (($# >= 2)) || die 2 "--delay-source needs a value"; HELPER_SOURCE[edgectl-delay]=$2; shift 2 ;;
    --delay-source=*) HELPER_SOURCE[edgectl-delay]=${1#--delay-source=}; shift ;;
    --pages-source) (($# >= 2)) || die 2 "--pages-source needs a value"; HELPER_SOURCE[edgectl-pages]=$2; shift 2 ;;
    --pages-source=*) HELPER_SOURCE[edgectl-pages]=${1#--pages-source=}; shift ;;
    --check) CHECK_ONLY=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die 2 "unknown argument: $1" ;;
  esac
done

case $ROLE in
  cloud | edge) ROLE_PKGS=("${PKGS_BASE[@]}" "${PKGS_SERVER[@]}" "${PKGS_DELAY[@]}") ;;
  ap) ROLE_PKGS=("${PKGS_BASE[@]}" "${PKGS_DELAY[@]}") ;;
  mu) ROLE_PKGS=("${PKGS_BASE[@]}") ;;
  controller | all) ROLE_PKGS=("${PKGS_BASE[@]}" "${PKGS_SERVER[@]}" "${PKGS_CONTROLLER[@]}" "${PKGS_DELAY[@]}" "${PKGS_TESTS[@]}") ;;
  *) die 2 "unknown role '$ROLE' (expected cloud, edge, ap, mu, controller or all)" ;;
esac
NEEDS_CRIU=0
contains criu "${ROLE_PKGS[@]}" && NEEDS_CRIU=1
NEEDS_EDGECTL=0
[[ $ROLE == mu ]] && NEEDS_EDGECTL=1
NEEDS_DELAY=0
[[ $ROLE != mu ]] && NEEDS_DELAY=1
# Servers (the roles with PKGS_SERVER) migrate containers: the pages codec runs there.
NEEDS_PAGES=0
case $ROLE in cloud | edge | controller | all) NEEDS_PAGES=1 ;; esac

[[ $(id -u) -eq 0 ]] || die 2 "must run as root (try: sudo bash $0 --role $ROLE)"

# ---------------------------------------------------------------------------
# Distribution
# ---------------------------------------------------------------------------

OS_ID='' OS_ID_LIKE='' OS_CODENAME=''
if [[ -r /etc/os-release ]]; then
  # shellcheck disable=SC1091
  OS_ID=$(. /etc/os-release && echo "${ID:-}")
  # shellcheck disable=SC1091
  OS_ID_LIKE=$(. /etc/os-release && echo "${ID_LIKE:-}")
  # shellcheck disable=SC1091
  OS_CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
fi

IS_DEBIAN_LIKE=0
for id in $OS_ID $OS_ID_LIKE; do
  [[ $id == debian || $id == ubuntu ]] && IS_DEBIAN_LIKE=1
done

if ((!IS_DEBIAN_LIKE)); then
  # No apt/dpkg here: report the missing commands and leave the host alone.
  missing=()
  for pkg in "${ROLE_PKGS[@]}"; do
    command -v "${PKG_COMMAND[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg (command ${PKG_COMMAND[$pkg]})")
  done
  if ((NEEDS_EDGECTL)); then
    node_ok || missing+=("node >= $NODE_MIN_MAJOR (node in PATH: $(node_version))")
    edgectl_version >/dev/null || missing+=("an edgectl that runs ('$EDGECTL_CMD --version' failed)")
  fi
  if ((${#missing[@]} == 0)); then
    log "distribution '${OS_ID:-unknown}' is not Debian/Ubuntu, but every tool for role '$ROLE' is present"
    exit 0
  fi
  log "distribution '${OS_ID:-unknown}' (ID_LIKE='${OS_ID_LIKE}') is not Debian/Ubuntu: install these by hand:"
  printf 'missing: %s\n' "${missing[@]}"
  ((NEEDS_CRIU)) && echo "note: criu must pass 'criu check' and dump a process holding a TCP socket on this kernel"
  exit 3
fi

# ---------------------------------------------------------------------------
# CRIU checks
# ---------------------------------------------------------------------------

# Close every file descriptor above 2 that this shell inherited: CRIU refuses
# to dump a process holding descriptors it cannot resolve (e.g. a file opened
# in another mount namespace by whatever started this script).
close_inherited_fds() {
  local fd
  for fd in /proc/"$BASHPID"/fd/*; do
    fd=${fd##*/}
    if ((fd > 2)); then exec {fd}>&-; fi
  done 2>/dev/null
}

# Start a tiny process holding a listening TCP socket on 127.0.0.1, in DIR,
# with only /dev/null as stdin/stdout/stderr.
start_listener() {
  local dir=$1
  local -a cmd
  if [[ -x /usr/bin/python3 ]]; then
    cmd=(/usr/bin/python3 -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1); time.sleep(300)')
  elif command -v busybox >/dev/null && busybox --list 2>/dev/null | grep -qx httpd; then
    # (Debian's busybox nc cannot bind to one address; its httpd can.)
    cmd=(busybox httpd -f -h "$dir" -p "127.0.0.1:$((20000 + RANDOM % 20000))")
  elif command -v node >/dev/null; then
    cmd=(node -e 'require("net").createServer().listen(0, "127.0.0.1"); setTimeout(() => {}, 300000)')
  else
    log "  no python3, busybox httpd or node to start a test TCP listener"
    return 1
  fi
  # In its own session (setsid): CRIU refuses to dump a process whose session
  # leader lies outside its pid namespace ("A session leader of N(N) is
  # outside of its pid namespace"), which is the case whenever this script
  # itself runs inside a pid namespace (as some CI runners do). The subshell is
  # not a process-group leader, so setsid execs in place and $! stays the PID.
  (cd "$dir" && close_inherited_fds && exec setsid "${cmd[@]}") </dev/null >/dev/null 2>&1 &
  TEST_PID=$!
  # Out of the job table: bash reaps it silently (no "Killed" message when the
  # dump kills it) but it stays our child, so its PID is freed right away.
  disown "$TEST_PID"
}

# Kill the test process (if still there) and forget its PID.
kill_test_process() {
  if [[ -n $TEST_PID ]]; then
    kill -KILL "$TEST_PID" 2>/dev/null || true
    wait_gone "$TEST_PID" || log "  warning: test process $TEST_PID did not exit"
    TEST_PID=''
  fi
}

# Is PID listening on a TCP socket? (waits up to 5 s)
wait_listening() {
  local pid=$1 i
  for ((i = 0; i < 50; i++)); do
    if command -v ss >/dev/null; then
      ss -Hltnp 2>/dev/null | grep -q "pid=$pid," && return 0
    else
      [[ -d /proc/$pid ]] && { sleep 1; return 0; }
    fi
    sleep 0.1
  done
  return 1
}

# Wait until PID no longer exists at all (reaped).
wait_reaped() {
  local pid=$1 i
  for ((i = 0; i < 50; i++)); do
    [[ -e /proc/$pid ]] || return 0
    sleep 0.1
  done
  return 1
}

# Wait until PID is gone (or a zombie).
wait_gone() {
  local pid=$1 i state
  for ((i = 0; i < 50; i++)); do
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
    [[ -z $state || $state == Z ]] && return 0
    sleep 0.1
  done
  return 1
}

# Checkpoint a process holding a listening TCP socket with CRIU binary BIN,
# restore it and check it listens again. Catches CRIUs that pass `criu check`
# but cannot dump inet sockets (criu 4.1 on Linux >= 6.16: "sockets: Can't get
# 1:16 opt: Operation not supported").
criu_socket_test() {
  local bin=$1 dir pid
  dir=$(mktemp -d /tmp/edgectl-criu-test.XXXXXX)
  CLEANUP_PATHS+=("$dir")
  start_listener "$dir" || return 1
  pid=$TEST_PID
  if ! wait_listening "$pid"; then
    log "  the test listener (pid $pid) did not start listening"
    kill_test_process
    return 1
  fi
  if ! "$bin" dump -t "$pid" -D "$dir" -o dump.log --shell-job --tcp-established >/dev/null 2>&1; then
    log "  '$bin dump' of a process holding a TCP socket failed:"
    show_log "$dir/dump.log"
    kill_test_process
    return 1
  fi
  # The dump killed the process; its PID must be free again for the restore.
  if ! wait_reaped "$pid"; then
    log "  the dumped test process $pid was not reaped"
    TEST_PID=''
    return 1
  fi
  if ! "$bin" restore -D "$dir" -o restore.log --shell-job --tcp-established -d >/dev/null 2>&1; then
    log "  '$bin restore' of that process failed:"
    show_log "$dir/restore.log"
    kill_test_process # in case it came back half-way
    return 1
  fi
  if ! wait_listening "$pid"; then
    log "  the restored process (pid $pid) does not listen"
    kill_test_process
    return 1
  fi
  kill_test_process
  rm -rf -- "$dir"
}

# Does CRIU binary BIN work on this kernel? (version >= MIN_MAJOR, `criu check`,
# socket dump/restore). Reasons for a failure go to stderr.
criu_works() {
  local bin=$1 min_major=${2:-0} ver out
  [[ -x $bin ]] || { log "  $bin: not installed"; return 1; }
  ver=$("$bin" --version 2>/dev/null | sed -n 's/^Version: *//p' | head -n 1 || true)
  if [[ ! $ver =~ ^([0-9]+)\. ]]; then
    log "  $bin --version printed no version"
    return 1
  fi
  if ((BASH_REMATCH[1] < min_major)); then
    log "  $bin is version $ver, need >= $min_major"
    return 1
  fi
  if ! out=$("$bin" check 2>&1); then
    log "  '$bin check' (version $ver) failed:"
    { grep -E 'Error' <<<"$out" || tail -n 5 <<<"$out"; } | tail -n 5 | sed "s/^/$LOG_PREFIX     /" >&2
    return 1
  fi
  criu_socket_test "$bin" || return 1
  log "  $bin (version $ver): criu check and socket dump/restore pass"
}

# ---------------------------------------------------------------------------
# Private CRIU from Debian unstable
# ---------------------------------------------------------------------------

# Print "URI<TAB>SIGNED-BY" of the host's Debian archive entry: the first
# `deb` source whose suite is the host's codename (so not -security/-updates).
# Reads deb822 *.sources files and one-line *.list / sources.list files.
host_mirror() {
  local codename=$1 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] || continue
    awk -v want="$codename" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled !~ /^no$/ && (" " suites " ") ~ (" " want " ") && uris != "") {
          split(uris, u, " "); sb = (signed ~ /^\//) ? signed : ""
          print u[1] "\t" sb; found = 1; exit
        }
        types = uris = suites = signed = enabled = ""
      }
      /^#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ { next }  # continuation line (e.g. an inline key)
      {
        key = tolower($0); sub(/:.*/, "", key)
        val = $0; sub(/^[^:]*:[ \t]*/, "", val); sub(/[ \t]+$/, "", val)
        if (key == "types") types = val; else if (key == "uris") uris = val
        else if (key == "suites") suites = val; else if (key == "signed-by") signed = val
        else if (key == "enabled") enabled = tolower(val)
      }
      END { if (!found) flush() }' "$f" | head -n 1 | grep . && return 0
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r $f ]] || continue
    awk -v want="$codename" '
      $1 != "deb" { next }
      {
        i = 2; sb = ""
        if ($2 ~ /^\[/) {
          opts = ""
          for (; i <= NF; i++) { opts = opts " " $i; if ($i ~ /\]$/) { i++; break } }
          if (match(opts, /signed-by=[^ \]]+/)) sb = substr(opts, RSTART + 10, RLENGTH - 10)
        }
        if ($(i + 1) == want) { print $i "\t" sb; exit }
      }' "$f" | head -n 1 | grep . && return 0
  done
  return 1
}

install_private_criu() {
  local arch multiarch ldso mirror uri keyring tmp suite log_file attempt
  arch=$(dpkg --print-architecture)
  case $arch in
    amd64) multiarch=x86_64-linux-gnu ldso=ld-linux-x86-64.so.2 ;;
    arm64) multiarch=aarch64-linux-gnu ldso=ld-linux-aarch64.so.1 ;;
    *) die "no private CRIU for architecture $arch: install a CRIU that works on Linux $(uname -r) by hand" ;;
  esac
  [[ $OS_ID == debian ]] ||
    die "the distribution's criu does not work on Linux $(uname -r), and the fallback (CRIU from Debian unstable) is only for Debian hosts: install CRIU >= 4.2 by hand"
  mirror=$(host_mirror "$OS_CODENAME") ||
    die "cannot find this host's Debian mirror (a 'deb' entry for suite '$OS_CODENAME' in /etc/apt/sources.list*)"
  uri=${mirror%%$'\t'*}
  keyring=${mirror#*$'\t'}
  [[ -n $keyring && -r $keyring ]] || keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  log "installing CRIU from Debian ${CRIU_PRIVATE_SUITES[*]} into $CRIU_PREFIX (mirror: the host's own, keyring: $keyring)"

  tmp=$(mktemp -d /tmp/edgectl-criu-apt.XXXXXX)
  CLEANUP_PATHS+=("$tmp")
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/debs"
  : >"$tmp/sources.list"
  for suite in "${CRIU_PRIVATE_SUITES[@]}"; do
    printf 'deb [arch=%s signed-by=%s] %s %s main\n' "$arch" "$keyring" "$uri" "$suite" >>"$tmp/sources.list"
  done
  # apt downloads as the unprivileged _apt user where it exists.
  if getent passwd _apt >/dev/null; then chown -R _apt:root "$tmp"; fi

  # A private sources list, package lists and cache: the host's own apt state
  # (sources, lists, archives, dpkg status) is neither read for sources nor changed.
  local -a apt_priv=(
    -o "Dir::Etc::sourcelist=$tmp/sources.list" -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache"
    -o "Dir::Cache::archives=$tmp/cache/archives" -o "APT::Get::List-Cleanup=0"
  )
  # Signatures: the Release files of unstable and trixie are signed with the
  # trixie (and bookworm) automatic archive keys, which Debian 12's
  # debian-archive-keyring (2023.3+deb12u1 and later) already ships. If the
  # check fails anyway, the host's keyring package is upgraded from the host's
  # own (trusted) sources and the update retried. `[trusted=yes]` is never
  # used: an unverified libc would end up running as root.
  log_file=$tmp/apt-update.log
  for attempt in 1 2; do
    if apt-get -q "${apt_priv[@]}" update >"$log_file" 2>&1 &&
      ! grep -qE '^(W|E): .*(GPG error|NO_PUBKEY|not signed|EXPKEYSIG|Failed to fetch)' "$log_file"; then
      break
    fi
    if ((attempt == 1)) && grep -qE 'NO_PUBKEY|GPG error|not signed|EXPKEYSIG' "$log_file"; then
      log "signature check of the ${CRIU_PRIVATE_SUITES[*]} lists failed; upgrading debian-archive-keyring"
      grep -E '^(W|E):' "$log_file" | sed "s/^/$LOG_PREFIX     /" >&2 || true
      apt_update_once
      apt_install --only-upgrade debian-archive-keyring
      continue
    fi
    grep -E '^(W|E):' "$log_file" | sed "s/^/$LOG_PREFIX     /" >&2 || tail -n 20 "$log_file" >&2
    if grep -qE 'NO_PUBKEY|GPG error|not signed|EXPKEYSIG' "$log_file"; then
      die "the ${CRIU_PRIVATE_SUITES[*]} Release files do not verify with $keyring (see above): this host needs a debian-archive-keyring that holds the trixie archive keys"
    fi
    die "apt-get update of the private ${CRIU_PRIVATE_SUITES[*]} list failed (see above)"
  done

  log "downloading ${#CRIU_PRIVATE_PKGS[@]} packages"
  if ! (cd "$tmp/debs" && apt-get -q "${apt_priv[@]}" download "${CRIU_PRIVATE_PKGS[@]}") >"$tmp/download.log" 2>&1; then
    grep -E '^(W|E):' "$tmp/download.log" | sed "s/^/$LOG_PREFIX     /" >&2 || tail -n 20 "$tmp/download.log" >&2
    die "apt-get download of the private CRIU packages failed (see above)"
  fi

  local deb stage loader rel
  stage=$CRIU_PREFIX.new
  rm -rf -- "$stage"
  mkdir -p "$stage"
  CLEANUP_PATHS+=("$stage")
  : >"$tmp/PACKAGES"
  for deb in "$tmp"/debs/*.deb; do
    dpkg-deb -x "$deb" "$stage"
    # shellcheck disable=SC2016 # dpkg's own ${field} syntax
    dpkg-deb --show --showformat='${Package} ${Version}\n' "$deb" >>"$tmp/PACKAGES"
  done
  cp "$tmp/PACKAGES" "$stage/PACKAGES"
  rm -rf -- "$stage/usr/share/doc" "$stage/usr/share/man" "$stage/usr/share/lintian"

  # Where did the dynamic loader land? (merged-/usr suites put it under usr/lib.)
  loader=''
  for rel in "usr/lib/$multiarch/$ldso" "lib/$multiarch/$ldso" "usr/lib64/$ldso" "lib64/$ldso"; do
    if [[ -e $stage/$rel && $(readlink -f "$stage/$rel") == "$stage"/* ]]; then
      loader=$rel
      break
    fi
  done
  [[ -n $loader ]] || die "no dynamic loader $ldso found in the unpacked packages"
  [[ -x $stage/usr/sbin/criu ]] || die "no usr/sbin/criu found in the unpacked packages"

  # Every library criu needs must come from the prefix.
  local missing_libs
  missing_libs=$("$stage/$loader" --list --library-path "$stage/usr/lib/$multiarch:$stage/lib/$multiarch" \
    "$stage/usr/sbin/criu" 2>&1 | grep 'not found' || true)
  [[ -z $missing_libs ]] || die "libraries missing from the private CRIU package set:
$missing_libs"

  # Swap the new prefix into place.
  rm -rf -- "$CRIU_PREFIX.old"
  if [[ -e $CRIU_PREFIX ]]; then mv -- "$CRIU_PREFIX" "$CRIU_PREFIX.old"; fi
  mv -- "$stage" "$CRIU_PREFIX"
  rm -rf -- "$CRIU_PREFIX.old"

  # The wrapper runs criu with the prefix's own loader and libraries, so the
  # host's libc is never replaced and programs criu starts use the host's.
  mkdir -p "$(dirname "$CRIU_WRAPPER")"
  cat >"$CRIU_WRAPPER.tmp" <<EOF
#!/bin/sh
# $CRIU_WRAPPER_MARK: written by edgectl scripts/install-host-deps.sh; do not edit.
# CRIU from Debian unstable with its own libc, unpacked into $CRIU_PREFIX
# (package list: $CRIU_PREFIX/PACKAGES). Remove this file and $CRIU_PREFIX to undo.
P=$CRIU_PREFIX
exec "\$P/$loader" --argv0 "\$0" --library-path "\$P/usr/lib/$multiarch:\$P/lib/$multiarch" "\$P/usr/sbin/criu" "\$@"
EOF
  chmod 0755 "$CRIU_WRAPPER.tmp"
  mv -- "$CRIU_WRAPPER.tmp" "$CRIU_WRAPPER"
  log "installed $CRIU_WRAPPER -> $CRIU_PREFIX/usr/sbin/criu (loader $loader)"
}

is_our_wrapper() { [[ -f $CRIU_WRAPPER ]] && grep -q "$CRIU_WRAPPER_MARK" "$CRIU_WRAPPER"; }

ensure_criu() {
  local cur
  cur=$(command -v criu || true)
  log "checking CRIU on Linux $(uname -r)"
  if [[ -n $cur ]] && criu_works "$cur"; then
    return 0
  fi
  if [[ $cur != /usr/sbin/criu ]] && criu_works /usr/sbin/criu; then
    # The distribution's criu works; a broken private one would shadow it.
    if is_our_wrapper; then
      log "removing the private CRIU wrapper: the distribution's criu works"
      rm -f -- "$CRIU_WRAPPER"
    fi
    [[ $(command -v criu) == /usr/sbin/criu ]] || die "$(command -v criu) shadows the working /usr/sbin/criu"
    return 0
  fi
  if [[ -e $CRIU_WRAPPER ]] && ! is_our_wrapper; then
    die "$CRIU_WRAPPER exists, was not written by this script and does not work: remove it and run again"
  fi
  log "the distribution's criu does not work here: falling back to a private CRIU"
  install_private_criu
  if ! criu_works "$CRIU_WRAPPER" "$CRIU_PRIVATE_MIN_MAJOR"; then
    rm -f -- "$CRIU_WRAPPER"
    die "the private CRIU in $CRIU_PREFIX does not work on Linux $(uname -r) (reasons above); wrapper removed"
  fi
  [[ $(command -v criu) == "$CRIU_WRAPPER" ]] || die "criu in PATH is $(command -v criu), not $CRIU_WRAPPER"
}

# ---------------------------------------------------------------------------
# /etc/criu/runc.conf
# ---------------------------------------------------------------------------

# CRIU options runc must pass on every checkpoint: tcp-close (a container holding an established TCP
# connection cannot be checkpointed otherwise), skip-in-flight (a connection the service has not yet
# accepted when the checkpoint starts fails the dump, "inet: In-flight connection"; skipped, the client
# retries, as over any server restart).
RUNC_CONF_OPTIONS=(tcp-close skip-in-flight)

runc_conf_has() { [[ -f $CRIU_RUNC_CONF ]] && grep -qE "^[[:space:]]*$1[[:space:]]*\$" "$CRIU_RUNC_CONF"; }

runc_conf_ok() {
  local o
  for o in "${RUNC_CONF_OPTIONS[@]}"; do runc_conf_has "$o" || return 1; done
}

ensure_runc_conf() {
  local o
  mkdir -p "$(dirname "$CRIU_RUNC_CONF")"
  for o in "${RUNC_CONF_OPTIONS[@]}"; do
    if runc_conf_has "$o"; then
      log "$CRIU_RUNC_CONF already has $o"
      continue
    fi
    # Keep existing lines; make sure the file ends with a newline before appending.
    if [[ -s $CRIU_RUNC_CONF && -n $(tail -c 1 "$CRIU_RUNC_CONF") ]]; then
      echo >>"$CRIU_RUNC_CONF"
    fi
    echo "$o" >>"$CRIU_RUNC_CONF"
    log "added $o to $CRIU_RUNC_CONF"
  done
}

# ---------------------------------------------------------------------------
# apt
# ---------------------------------------------------------------------------

APT_UPDATED=0
apt_update_once() {
  ((APT_UPDATED)) && return 0
  log "apt-get update"
  apt-get -q -o DPkg::Lock::Timeout=300 update >&2 || die "apt-get update failed"
  APT_UPDATED=1
}

apt_install() {
  local rc=0
  # Keep package scripts from starting services (docker.io and containerd
  # would otherwise start their daemons): invoke-rc.d honours policy-rc.d.
  # An existing policy-rc.d is left as it is; ours goes away afterwards (or in
  # cleanup() if the script dies meanwhile).
  if [[ ! -e $POLICY_RC ]]; then
    printf '#!/bin/sh\n# temporary, from install-host-deps.sh\nexit 101\n' >"$POLICY_RC"
    chmod 0755 "$POLICY_RC"
    POLICY_RC_OURS=1
  fi
  apt-get -q -y -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    install --no-install-recommends "$@" >&2 || rc=$?
  remove_our_policy_rc
  ((rc == 0)) || die "apt-get install $* failed (exit $rc)"
}

# Names of the systemd units enabled in /etc/systemd/system (works without systemd).
enabled_units() {
  find /etc/systemd/system -mindepth 2 -maxdepth 2 -path '*.wants/*' -type l -printf '%f\n' 2>/dev/null |
    sort -u
}

# Disable the units that package scripts enabled during this run (docker.io,
# containerd and openssh-server enable theirs on installation): this script
# starts nothing and enables nothing; the lab starts the daemons it needs.
# `systemctl disable` also works where systemd is not running; once a unit's
# links are gone, package upgrades leave it disabled.
disable_new_units() {
  local before=$1 unit
  for unit in $(comm -13 <(echo "$before") <(enabled_units)); do
    log "disabling $unit (its package's install script enabled it)"
    if command -v systemctl >/dev/null; then
      systemctl disable --quiet "$unit" || log "  warning: could not disable $unit"
    else
      find /etc/systemd/system -mindepth 2 -maxdepth 2 -path "*.wants/$unit" -type l -delete
    fi
  done
}

# Stop any daemon of these names that was not running before ($1: "name:pid ..." snapshot).
DAEMONS=(dockerd containerd docker-proxy)
daemon_snapshot() {
  local name pid
  for name in "${DAEMONS[@]}"; do
    for pid in $(pgrep -x "$name" || true); do printf '%s:%s ' "$name" "$pid"; done
  done
}
stop_new_daemons() {
  local before=" $1 " name pid
  for name in "${DAEMONS[@]}"; do
    for pid in $(pgrep -x "$name" || true); do
      [[ $before == *" $name:$pid "* ]] && continue
      log "stopping $name (pid $pid) started by a package script"
      kill -TERM "$pid" 2>/dev/null || true
      wait_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
    done
  done
}

# ---------------------------------------------------------------------------
# C helpers: edgectl-delay (wired roles), edgectl-pages (servers)
# ---------------------------------------------------------------------------

# The C source of helper NAME, as a file, in HELPER_SRC_FILE[NAME]: its option (--delay-source,
# --pages-source), else its variable (EDGECTL_DELAY_SOURCE_B64, EDGECTL_PAGES_SOURCE_B64: set by
# provision --install-deps, which pipes this script to `bash -s`), else the checkout's native/NAME.c.
declare -A HELPER_SRC_FILE=()
resolve_helper_source() { # resolve_helper_source NAME
  local name=$1 here='' given=${HELPER_SOURCE[$1]:-} env=${HELPER_ENV[$1]}
  if [[ -n $given ]]; then
    [[ -f $given ]] || die 2 "${HELPER_OPTION[$name]} $given: no such file"
    HELPER_SRC_FILE[$name]=$given
  elif [[ -n ${!env:-} ]]; then
    local dir
    dir=$(mktemp -d "/tmp/$name-src.XXXXXX")
    CLEANUP_PATHS+=("$dir")
    base64 -d <<<"${!env}" >"$dir/$name.c" || die "$env is not base64"
    HELPER_SRC_FILE[$name]=$dir/$name.c
  else
    [[ -f ${BASH_SOURCE[0]:-} ]] && here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    [[ -n $here && -f $here/native/$name.c ]] ||
      die 2 "no source for $name: pass ${HELPER_OPTION[$name]} FILE (native/$name.c of an edgectl checkout)"
    HELPER_SRC_FILE[$name]=$here/native/$name.c
  fi
}

# The version a build of the source reports: the first 12 hex digits of its sha256 (edgectl's
# hosts check computes the same from its own copy, to tell a host whose helper is outdated).
helper_wanted_version() { sha256sum "${HELPER_SRC_FILE[$1]}" | cut -c1-12; }
helper_installed_version() { # what `NAME --version` prints after "NAME "
  local name=$1 out
  out=$("${HELPER_BIN[$name]}" --version 2>/dev/null) && [[ $out == "$name "* ]] && printf '%s\n' "${out#"$name "}"
}

# Builds and installs helper NAME unless the installed one was built from this very source.
ensure_helper() { # ensure_helper NAME
  local name=$1 want have dir bin=${HELPER_BIN[$1]}
  local -a cflags libs
  read -r -a cflags <<<"${HELPER_CFLAGS[$name]}"
  read -r -a libs <<<"${HELPER_LIBS[$name]}"
  resolve_helper_source "$name"
  want=$(helper_wanted_version "$name")
  have=$(helper_installed_version "$name" || true)
  if [[ $have == "$want" ]]; then
    log "$name $have ($bin) is current"
    return 0
  fi
  log "building $name $want (installed: ${have:-none})"
  dir=$(mktemp -d "/tmp/$name-build.XXXXXX")
  CLEANUP_PATHS+=("$dir")
  gcc -O2 -Wall -Wextra "${cflags[@]}" -o "$dir/$name" -D"${HELPER_MACRO[$name]}"="\"$want\"" \
    "${HELPER_SRC_FILE[$name]}" "${libs[@]}" >&2 || die "building $name failed"
  # Renamed into place: a helper that runs keeps its own (old) file until provision restarts it.
  install -m 0755 "$dir/$name" "$bin.new"
  mv -f "$bin.new" "$bin"
  [[ $(helper_installed_version "$name" || true) == "$want" ]] || die "the $name just built does not report version $want"
}

# --check: adds helper NAME to the array `missing` unless the installed one was built from this very source.
check_helper() { # check_helper NAME
  local name=$1 want have
  resolve_helper_source "$name"
  want=$(helper_wanted_version "$name")
  have=$(helper_installed_version "$name" || true)
  [[ $have == "$want" ]] || missing+=("$name $want in ${HELPER_BIN[$name]} (installed: ${have:-none})")
}

# ---------------------------------------------------------------------------
# node and edgectl (role mu)
# ---------------------------------------------------------------------------

# The version of `nodejs` the host's own package sources would install ("(none)" when none offers it).
nodejs_candidate() {
  local v
  v=$(apt-cache policy nodejs 2>/dev/null | sed -n 's/^ *Candidate: *//p' | head -n 1)
  printf '%s\n' "${v:-(none)}"
}

# Installs the distribution's nodejs where the host's sources offer one >= NODE_MIN_MAJOR; else says
# what to do and exits 4. Nothing comes from anywhere but the host's configured package sources.
ensure_node() {
  local cand ver
  if node_ok; then
    log "node $(node_version) ($(command -v node))"
    return 0
  fi
  log "node in PATH: $(node_version); role mu needs >= $NODE_MIN_MAJOR"
  apt_update_once
  cand=$(nodejs_candidate)
  ver=${cand#*:} # (an epoch, if any)
  if [[ $ver =~ ^([0-9]+)\. ]] && ((BASH_REMATCH[1] >= NODE_MIN_MAJOR)); then
    log "installing nodejs $cand from the host's package sources"
    apt_install nodejs
    node_ok || die "nodejs $cand is installed, but 'node --version' says: $(node_version)"
    log "node $(node_version) ($(command -v node))"
    return 0
  fi
  echo "missing: node >= $NODE_MIN_MAJOR (node in PATH: $(node_version); this host's package sources offer nodejs $cand)"
  echo "note: Debian 12 ships nodejs 18, Debian 13 ships 20. Install a node >= $NODE_MIN_MAJOR on this host from a source you trust (as 'node' in /usr/local/bin or /usr/bin), then run this script again."
  log "no node >= $NODE_MIN_MAJOR in this host's package sources: not installing one (exit 4)"
  exit 4
}

# Is the edgectl the controller runs here runnable? If not, says exactly how to put one there and exits 4.
ensure_edgectl() {
  local out here checkout=''
  if out=$(edgectl_version); then
    log "edgectl: $EDGECTL_CMD ($out)"
    return 0
  fi
  # (Piped to `bash -s`, as provision --install-deps runs it, the script has no file and no checkout.)
  if [[ -f ${BASH_SOURCE[0]:-} ]]; then here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd); else here=''; fi
  if [[ -n $here && -f $here/package.json && -f $here/bin/run.js ]] && grep -q '"name": "edgectl"' "$here/package.json"; then
    checkout=$here
  fi
  echo "missing: an edgectl that runs here ('$EDGECTL_CMD --version' failed; offload and the migration probe run it on this host)"
  if [[ -n $checkout ]]; then
    echo "to use the edgectl checkout this script is in ($checkout):"
    echo "  (cd $checkout && npm ci && npm run build) && ln -sf $checkout/bin/run.js /usr/local/bin/edgectl"
    echo "  (or, instead of the link, set this host's hosts[].edgectlPath in hosts.yml to $checkout/bin/run.js)"
  else
    echo "from the controller's edgectl checkout (after 'npm ci' and 'npm run build' there), copy it to this host:"
    echo "  tar -czf - package.json oclif.manifest.json bin dist apps node_modules | ssh root@THIS-HOST 'mkdir -p /opt/edgectl && tar -xzf - -C /opt/edgectl'"
    echo "  (its node_modules holds a native module: the controller and this host need the same CPU architecture and node major version)"
    echo "then link it into PATH here: ln -sf /opt/edgectl/bin/run.js /usr/local/bin/edgectl"
    echo "  (or, instead of the link, set this host's hosts[].edgectlPath in hosts.yml to /opt/edgectl/bin/run.js)"
  fi
  echo "and run this script again (--edgectl PATH checks that edgectl)."
  log "no runnable edgectl for role mu (exit 4)"
  exit 4
}

# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------

tool_version() {
  local tool=$1 out=''
  case $tool in
    docker | dockerd) out=$("$tool" --version 2>&1) ;;
    criu) out=$(criu --version 2>&1 | sed -n 's/^Version: */criu /p') ;;
    rsync) out=$(rsync --version 2>&1 | head -n 1) ;;
    xdelta3) out=$(xdelta3 -V 2>&1 | head -n 1) ;;
    iptables) out=$(iptables --version 2>&1) ;;
    tc | ip | ping) out=$("$tool" -V 2>&1) ;;
    sshd) out="openssh-server $(dpkg-query -W -f='${Version}' openssh-server 2>/dev/null || echo '?')" ;;
    ssh) out=$(ssh -V 2>&1) ;;
    busybox) out=$(busybox 2>&1 | head -n 1) ;;
    edgectl-delay | edgectl-pages) out=$("$tool" --version 2>&1) ;;
  esac
  printf '%s' "${out%%$'\n'*}"
}

print_summary() {
  local tool path
  echo "role: $ROLE   kernel: $(uname -r)   ${OS_ID} ${OS_CODENAME}"
  for tool in "${SUMMARY_TOOLS[@]}"; do
    if path=$(command -v "$tool"); then
      printf '%-13s %-30s %s\n' "$tool" "$path" "$(tool_version "$tool" || true)"
    else
      printf '%-13s %-30s %s\n' "$tool" '-' 'not installed'
    fi
  done
  # /usr/local/bin may hold a newer standalone docker client ahead of the package's.
  if [[ -x /usr/bin/docker && $(command -v docker) != /usr/bin/docker ]]; then
    printf '%-13s %-30s %s\n' '' /usr/bin/docker "$(/usr/bin/docker --version 2>&1) (docker.io's client, shadowed)"
  fi
  if [[ -f $CRIU_PREFIX/PACKAGES && $(command -v criu) == "$CRIU_WRAPPER" ]]; then
    echo "criu runs from $CRIU_PREFIX ($(grep -c . "$CRIU_PREFIX/PACKAGES") packages, see $CRIU_PREFIX/PACKAGES)"
  fi
  if runc_conf_ok; then echo "$CRIU_RUNC_CONF: ${RUNC_CONF_OPTIONS[*]}"; fi
  if ((NEEDS_EDGECTL)); then
    printf '%-13s %-30s %s\n' node "$(command -v node || echo -)" "$(node_version)"
    printf '%-13s %-30s %s\n' edgectl "$EDGECTL_CMD" "$(edgectl_version || echo 'does not run')"
  fi
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

log "role '$ROLE' on ${OS_ID} ${OS_CODENAME} (Linux $(uname -r))$( ((CHECK_ONLY)) && echo ', check only')"

INITIAL_DAEMONS=$(daemon_snapshot)

# Packages (criu is judged by whether a working criu is in PATH, not by its package).
MISSING_PKGS=()
for pkg in "${ROLE_PKGS[@]}"; do
  [[ $pkg == criu ]] && continue
  pkg_installed "$pkg" || MISSING_PKGS+=("$pkg")
done

if ((CHECK_ONLY)); then
  missing=()
  for pkg in "${MISSING_PKGS[@]}"; do missing+=("package $pkg"); done
  if ((NEEDS_CRIU)); then
    log "checking CRIU on Linux $(uname -r)"
    cur=$(command -v criu || true)
    if [[ -z $cur ]] || ! criu_works "$cur"; then
      missing+=("a criu that works on Linux $(uname -r) (criu in PATH: ${cur:-none})")
    fi
    runc_conf_ok || missing+=("${RUNC_CONF_OPTIONS[*]} in $CRIU_RUNC_CONF")
  fi
  if ((NEEDS_DELAY)); then check_helper edgectl-delay; fi
  if ((NEEDS_PAGES)); then check_helper edgectl-pages; fi
  if ((NEEDS_EDGECTL)); then
    node_ok || missing+=("node >= $NODE_MIN_MAJOR (node in PATH: $(node_version); the package sources offer nodejs $(nodejs_candidate))")
    edgectl_version >/dev/null || missing+=("an edgectl that runs ('$EDGECTL_CMD --version' failed)")
  fi
  if ((${#missing[@]})); then
    printf 'missing: %s\n' "${missing[@]}"
    log "${#missing[@]} thing(s) missing for role '$ROLE'"
    exit 1
  fi
  echo "role $ROLE: nothing missing"
  log "nothing missing for role '$ROLE'"
  exit 0
fi

# Install the distribution's criu package only while no working criu is in PATH.
if ((NEEDS_CRIU)) && ! pkg_installed criu; then
  cur=$(command -v criu || true)
  if [[ -z $cur ]] || ! { log "checking the criu in PATH ($cur)"; criu_works "$cur"; }; then
    MISSING_PKGS+=(criu)
  fi
fi

if ((${#MISSING_PKGS[@]})); then
  log "installing: ${MISSING_PKGS[*]}"
  apt_update_once
  before=$(daemon_snapshot)
  units_before=$(enabled_units)
  apt_install "${MISSING_PKGS[@]}"
  stop_new_daemons "$before"
  disable_new_units "$units_before"
else
  log "all packages for role '$ROLE' are installed"
fi

if ((NEEDS_CRIU)); then
  ensure_criu
  ensure_runc_conf
fi

if ((NEEDS_DELAY)); then
  ensure_helper edgectl-delay
fi

if ((NEEDS_PAGES)); then
  ensure_helper edgectl-pages
fi

if ((NEEDS_EDGECTL)); then
  ensure_node
  ensure_edgectl
fi

# This script must leave no daemon running that it started.
if pids=$(pgrep -x dockerd); then
  for pid in $pids; do
    [[ " $INITIAL_DAEMONS " == *" dockerd:$pid "* ]] || die "dockerd (pid $pid) was started during this run and is still running"
  done
  log "note: dockerd was already running before this script (pids: $(echo "$pids" | paste -sd ' '))"
else
  log "no dockerd running (none started)"
fi

print_summary
log "done in $((SECONDS - START_SECONDS)) s"
