#!/usr/bin/env bash
# Build (once) a Debian root that the system test boots under systemd-nspawn, and print
# its path on the last line of stdout.
#
#     scripts/debian-root.sh [ARCH]        ARCH: arm64 (default, a Raspberry Pi), armhf, amd64
#
# The root is a minbase Debian bookworm with systemd, dbus and python3, made by debootstrap
# (a foreign architecture runs through qemu-user-static and binfmt_misc). It is cached
# outside the source tree, under $DOOR_GATEWAY_TEST_CACHE (default
# /var/cache/door-gateway-test), in a directory named after a hash of everything that
# goes into it: a changed package list builds a new root, an unchanged one is reused.
# A root is only used once it is complete (a marker written last); a missing or broken
# one is rebuilt; a lock keeps two runs from building or refreshing it at once. A root
# nobody has used for two weeks is removed. The package lists inside are refreshed when
# older than a day, so `apt install` finds what the archive serves today.
#
# Needs root (debootstrap, chroot); installs the Debian packages it needs when missing.
set -euo pipefail

arch=${1:-arm64}
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${DOOR_GATEWAY_TEST_CACHE:-/var/cache/door-gateway-test}
# A stock system (Raspberry Pi OS Lite has these) plus sqlite3, with which the test reads
# the event journal. Nothing the package depends on beyond that: apt must find it from the
# package's Depends at test time, so a missing one fails the test.
packages=systemd,systemd-sysv,dbus,python3,ca-certificates,sqlite3
recipe_version=1 # bump when this script changes what it builds
lists_max_age_min=1440

log() { echo "debian-root: $*" >&2; }
die() {
  log "$*"
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap and chroot)"

case "$arch" in
  arm64) qemu=aarch64 ;;
  armhf) qemu=arm ;;
  amd64) qemu= ;;
  *) die "unknown architecture '$arch' (arm64, armhf or amd64)" ;;
esac

install_host_tools() {
  local wanted=(debootstrap systemd-container)
  [ -n "$qemu" ] && wanted+=(qemu-user-static binfmt-support)
  local missing=()
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}

# A foreign root's programs run through qemu: binfmt_misc must be mounted and the
# interpreter registered with the F flag (opened now, so it works inside the container).
enable_binfmt() {
  [ -n "$qemu" ] || return 0
  local dir=/proc/sys/fs/binfmt_misc
  [ -e "$dir/register" ] || mount -t binfmt_misc binfmt_misc "$dir" ||
    die "cannot mount binfmt_misc on $dir"
  [ -e "$dir/qemu-$qemu" ] || update-binfmts --enable "qemu-$qemu" >&2 ||
    die "cannot register qemu-$qemu with binfmt_misc"
  grep -q '^enabled' "$dir/qemu-$qemu" || die "qemu-$qemu is registered but disabled"
  grep -q '^flags:.*F' "$dir/qemu-$qemu" ||
    die "qemu-$qemu is registered without the F flag: it would not run inside a container"
}

root_works() {
  local root=$1
  [ -f "$root/.door-gateway-root-complete" ] &&
    [ -x "$root/lib/systemd/systemd" ] &&
    chroot "$root" /usr/bin/python3 -c 'import sqlite3' 2>/dev/null
}

build_root() {
  local root=$1 started
  started=$(date +%s)
  local work="$root.partial"
  rm -rf "$work"
  log "debootstrap $suite $arch into $work (a few minutes)"
  debootstrap --arch="$arch" --variant=minbase --include="$packages" \
    "$suite" "$work" "$mirror" >&2 || die "debootstrap failed (see above)"
  # A container boots quicker and quieter without units that have nothing to do there.
  chroot "$work" systemctl mask -q \
    systemd-timesyncd.service getty@tty1.service console-getty.service \
    systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_all.timer fstrim.timer 2>/dev/null || true
  echo door-gateway-test >"$work/etc/hostname"
  rm -f "$work/var/cache/apt/archives/"*.deb
  touch "$work/.door-gateway-root-complete"
  mv "$work" "$root"
  log "built $root in $(($(date +%s) - started)) s"
}

refresh_lists() {
  local root=$1
  if [ -n "$(find "$root/.door-gateway-root-complete" -mmin -"$lists_max_age_min")" ] &&
    [ -n "$(find "$root/var/lib/apt/lists" -maxdepth 1 -name '*_Packages' -print -quit)" ]; then
    return 0
  fi
  log "refreshing the package lists in $root"
  # resolv.conf: the chroot uses the host's resolver for apt.
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  chroot "$root" apt-get update -qq >&2 || die "apt-get update in $root failed"
  touch "$root/.door-gateway-root-complete"
}

install_host_tools
enable_binfmt
mkdir -p "$cache"
key=$(printf '%s\n' "$recipe_version" "$suite" "$arch" "$mirror" "$packages" |
  sha256sum | cut -c1-12)
root="$cache/$suite-$arch-$key"

exec 9>"$cache/.lock-$suite-$arch"
flock -w 1800 9 || die "another run has held $cache/.lock-$suite-$arch for 30 minutes"
if ! root_works "$root"; then
  [ -e "$root" ] && log "$root is incomplete or broken: rebuilding" && rm -rf "$root"
  build_root "$root"
  root_works "$root" || die "the new root $root does not work (python3 in chroot)"
fi
refresh_lists "$root"
touch "$root/.door-gateway-root-used"
# Roots of other package lists may belong to another checkout: removed only when unused
# for two weeks.
find "$cache" -mindepth 2 -maxdepth 2 -name .door-gateway-root-used -mtime +14 -printf '%h\0' |
  xargs -0 -r rm -rf
echo "$root"
