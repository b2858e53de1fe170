#!/usr/bin/env bash
# Runs COMMAND (default: the README's test command) in a fresh minimal Debian 12 root, so that a dependency only the
# developer's machine happens to have makes it fail. Builds the root with `debootstrap --variant=minbase bookworm`
# into a temporary folder, copies the checkout's HEAD in with `git archive`, mounts /proc, /sys, /dev, and runs COMMAND
# there with `chroot` under a clean environment. Removes the root on every exit path and exits with COMMAND's status.
#
# Usage (as root): tools/fresh-root.sh [COMMAND]
# Variables:
#   IOPO_DEBIAN_MIRROR           the Debian archive to bootstrap from (default: the host's, from its apt sources)
#   IOPO_DEBIAN_SECURITY_MIRROR  the security archive (default: the host's; "none" leaves it out)
#   IOPO_FRESH_ROOT_TMP          where the temporary root goes (default /var/tmp; needs about 6 GB)
#   IOPO_FRESH_ROOT_CACHE        a folder that keeps downloaded .debs between runs (default: none, as in CI)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
command=${1:-"tools/install-deps.sh && tools/test.sh"}
suite=bookworm
say() { echo "fresh-root: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  say "needs root (debootstrap, mount and chroot); run it with sudo"
  exit 2
fi
if ! command -v debootstrap >/dev/null; then
  say "debootstrap is missing; installing it with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
fi

# Every enabled "deb" entry of the host's apt sources as "URI SUITE" lines, from one-line .list files and deb822
# .sources files alike. The mirror is the host's, never one written here: the machine knows which one it can reach.
apt_entries() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -e 's/#.*//' "$f" | awk '$1 == "deb" {
      i = 2
      if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
      print $i, $(i + 1) }'
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'function flush(   u, s, nu, ns, U, S) {
           if (f["types"] ~ /(^| )deb( |$)/ && tolower(f["enabled"]) !~ /^ *no/) {
             nu = split(f["uris"], U, " "); ns = split(f["suites"], S, " ")
             for (u = 1; u <= nu; u++) for (s = 1; s <= ns; s++) print U[u], S[s]
           }
           delete f; key = ""
         }
         /^[ \t]*#/ { next }
         /^[ \t]*$/ { flush(); next }
         /^[ \t]/ { if (key != "") f[key] = f[key] " " $0; next }
         { key = tolower($1); sub(/:$/, "", key); v = $0; sub(/^[^:]*:/, "", v); f[key] = v }
         END { flush() }' "$f"
  done
}
# The main archive is the entry of a plain release suite (bookworm, stable); the security archive the *-security one.
mirror=${IOPO_DEBIAN_MIRROR:-$(apt_entries | awk '$2 !~ /-/ { print $1; exit }')}
security=${IOPO_DEBIAN_SECURITY_MIRROR:-$(apt_entries | awk '$2 ~ /-security$/ { print $1; exit }')}
if [ -z "$mirror" ]; then
  say "found no Debian archive in /etc/apt/sources.list or /etc/apt/sources.list.d/; set IOPO_DEBIAN_MIRROR"
  exit 2
fi
[ -n "$security" ] || { say "found no security archive in the host's apt sources; leaving it out"; security=none; }

work=""
root=""
child=""
cleanup() {
  local status=$? pid m left
  # A second Ctrl-C must not stop cleanup while the host's /dev and /proc are still mounted in the root.
  trap - EXIT
  trap '' INT TERM
  set +e
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill -TERM -- "-$child" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$child" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$child" 2>/dev/null
  fi
  if [ -n "$work" ] && [ -d "$work" ]; then
    # Whatever still runs inside the root (a daemon a test left behind, debootstrap's dpkg) would keep mounts busy.
    for pid in /proc/[0-9]*; do
      [ "$(readlink "$pid/root" 2>/dev/null)" = "$root" ] && kill -KILL "${pid#/proc/}" 2>/dev/null
    done
    # Everything mounted under the root, deepest first: ours, and any debootstrap left when it was interrupted.
    for m in $(awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r); do
      umount "$m" 2>/dev/null || umount -l "$m" || say "could not unmount $m"
    done
    left=$(awk -v r="$root" '$2 == r || index($2, r "/") == 1' /proc/mounts)
    trap - INT TERM
    if [ -n "$left" ]; then
      # Removing the folder now would reach through a mount into the host's /dev or /proc.
      say "left $work in place: still mounted: $left"
    else
      rm -rf --one-file-system "$work"
    fi
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Long steps run in their own process group, in the background, so that a signal reaches the trap at once (bash
# defers traps until a foreground child ends) and cleanup can stop the step's whole tree.
run_step() {
  setsid "$@" &
  child=$!
  local status=0
  wait "$child" || status=$?
  child=""
  return "$status"
}

work=$(mktemp -d "${IOPO_FRESH_ROOT_TMP:-/var/tmp}/iopo-fresh-root.XXXXXX")
work=$(cd "$work" && pwd -P) # as /proc/PID/root and /proc/mounts spell it
root=$work/root
say "root $root, Debian $suite from $mirror (security: $security)"

bootstrap=(debootstrap --variant=minbase)
case $mirror in https:*) bootstrap+=(--include=ca-certificates) ;; esac
if [ -n "${IOPO_FRESH_ROOT_CACHE:-}" ]; then
  mkdir -p "$IOPO_FRESH_ROOT_CACHE/partial"
  cache=$(cd "$IOPO_FRESH_ROOT_CACHE" && pwd)
  bootstrap+=(--cache-dir="$cache")
fi
start=$SECONDS
run_step "${bootstrap[@]}" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  status=$?
  tail -n 30 "$work/debootstrap.log" >&2
  say "debootstrap failed"
  exit "$status"
}
say "debootstrap done in $((SECONDS - start)) s"

# The root reaches the network the way the host does: its resolver and host names, its archives (bookworm,
# bookworm-updates and the security suite, as the host has them), and its apt settings. Those can be what makes the
# mirror usable at all: a mirror that serves a dated snapshot needs Acquire::Check-Valid-Until "false". Files that
# hook commands into apt or dpkg (*Invoke*) are the host's own housekeeping and are left out.
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
cp -L /etc/hosts "$root/etc/hosts"
rm -f "$root/etc/apt/sources.list"
{
  printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' "$mirror" "$suite" "$suite"
  printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
  if [ "$security" != none ]; then
    printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$suite"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
  fi
} >"$root/etc/apt/sources.list.d/debian.sources"
# The host's own certificate authorities, the ones in its bundle that no Debian package ships (a TLS-inspecting proxy's,
# a company's): without them the root cannot reach the npm registry where the host can. They go where a local
# administrator puts them, so the root's ca-certificates, installed by tools/install-deps.sh, adds them to its bundle.
mkdir -p "$root/usr/local/share/ca-certificates"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  find /usr/share/ca-certificates -name '*.crt' -print0 2>/dev/null | xargs -0 -r awk '
    /-----BEGIN CERTIFICATE-----/ { b = "" } { b = b $0 } /-----END CERTIFICATE-----/ { gsub(/[ \t\r]/, "", b); print b }' \
    >"$work/known-ca"
  awk -v known="$work/known-ca" -v dir="$root/usr/local/share/ca-certificates" '
    BEGIN { while ((getline line < known) > 0) k[line] = 1 }
    /-----BEGIN CERTIFICATE-----/ { b = ""; pem = "" } { b = b $0; pem = pem $0 "\n" }
    /-----END CERTIFICATE-----/ { gsub(/[ \t\r]/, "", b); if (!(b in k)) printf "%s", pem > (dir "/host-" ++n ".crt") }
    END { if (n) print "fresh-root: the root trusts the host'"'"'s " n " local certificate authorities" > "/dev/stderr" }' \
    /etc/ssl/certs/ca-certificates.crt
fi
[ -f /etc/apt/apt.conf ] && cp /etc/apt/apt.conf "$root/etc/apt/apt.conf"
for f in /etc/apt/apt.conf.d/*; do
  [ -f "$f" ] && ! grep -q 'Invoke' "$f" && cp "$f" "$root/etc/apt/apt.conf.d/"
done

# pip's settings, as apt's above: the host's pip.conf files (certificate, constraints) and, below, its PIP_*
# variables. The CPU torch wheel the peer tests install (tools/peer-venv.sh) lies in the folders PIP_FIND_LINKS names
# (/opt/wheels on these machines), which the root sees read-only at the same paths.
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$root/etc/pip.conf"
[ -d /etc/xdg/pip ] && mkdir -p "$root/etc/xdg" && cp -a /etc/xdg/pip "$root/etc/xdg/pip"
wheel_dirs=()
for link in /opt/wheels ${PIP_FIND_LINKS:-}; do
  link=${link#file://}
  case $link in /*) ;; *) continue ;; esac
  [ -d "$link" ] || continue
  case " ${wheel_dirs[*]} " in *" $link "*) continue ;; esac
  wheel_dirs+=("$link")
done

mount -t proc proc "$root/proc"
mount -t sysfs -o ro sysfs "$root/sys"
mount -t devtmpfs udev "$root/dev" 2>/dev/null || mount --bind /dev "$root/dev"
mkdir -p "$root/dev/pts" "$root/dev/shm"
mount -t devpts devpts "$root/dev/pts" -o newinstance,ptmxmode=0666,mode=0620,gid=5
mount -t tmpfs shm "$root/dev/shm" -o mode=1777,nosuid,nodev
if [ -n "${IOPO_FRESH_ROOT_CACHE:-}" ]; then
  mount --bind "$cache" "$root/var/cache/apt/archives"
fi
for d in "${wheel_dirs[@]}"; do
  mkdir -p "$root$d"
  mount --bind "$d" "$root$d"
  mount -o remount,bind,ro "$root$d"
  say "the root sees $d read-only (pip's find-links)"
done

# CI tests a clean clone; here that is HEAD, so say when the work tree holds more.
if [ -n "$(git -C "$repo" status --porcelain 2>/dev/null)" ]; then
  say "note: $repo has uncommitted changes; testing HEAD ($(git -C "$repo" rev-parse --short HEAD)) without them"
fi
mkdir -p "$root/root/iopo"
git -C "$repo" archive --format=tar HEAD | tar -x -C "$root/root/iopo"

environment=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
  TERM="${TERM:-dumb}")
for v in CI http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY \
         PIP_FIND_LINKS PIP_CERT PIP_DEFAULT_TIMEOUT PIP_DISABLE_PIP_VERSION_CHECK; do
  [ -n "${!v:-}" ] && environment+=("$v=${!v}")
done
say "running in the root: $command"
start=$SECONDS
status=0
run_step chroot "$root" /usr/bin/env -i "${environment[@]}" /bin/bash -c "cd /root/iopo && $command" </dev/null ||
  status=$?
say "command exited with status $status after $((SECONDS - start)) s"
exit "$status"
