#!/usr/bin/env bash
# make image-smoke: the image layer's own steps on a Debian bookworm arm64 root, booted.
#
#     image/smoke.sh [DEB]      DEB: the door-gateway .deb (default: the newest
#                               dist/door-gateway_*_arm64.deb that `make deb` made)
#
# The official image tools and the Raspberry Pi archive cannot be reached here, so this
# proves what can be proven without them: image/scripts/customize.sh, the very script the
# rpi-image-gen layer calls, applied to a debootstrapped bookworm arm64 root (the cached
# one of scripts/debian-root.sh, with OpenSSH and OpenSSL added as the image's base has
# them), then booted with systemd-nspawn under qemu-user. It checks that at boot
#   * the console shows the door-gateway block (page address, SSH state, the admin
#     password or where it went) and the login prompt's /run/issue.d has the same text;
#   * SSH is installed but neither enabled nor running;
#   * door-gateway.service is enabled.
# The daemon itself cannot run in the container (no GPIO chip), so the one-time password
# line is proven by tests/test_image_scripts.py instead, against the daemon's own output.
#
# Needs root. The cached root is never written to: the changes go to an overlay under
# /var/tmp that is removed at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
log() { echo "image-smoke: $*" >&2; }
die() {
  log "FAILED: $*"
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (chroot, mount, systemd-nspawn)"
deb=${1:-}
if [ -z "$deb" ]; then
  deb=$(find dist -maxdepth 1 -name 'door-gateway_*_arm64.deb' -printf '%T@ %p\n' 2>/dev/null |
    sort -rn | head -n 1 | cut -d' ' -f2-)
fi
[ -f "${deb:-}" ] || die "no door-gateway .deb for arm64: run 'make deb' first"
deb=$(realpath "$deb")
[ -f scripts/debian-root.sh ] || die "scripts/debian-root.sh (the cached Debian root) is missing"

started=$(date +%s)
base=$(bash scripts/debian-root.sh arm64 | tail -n 1)
[ -x "$base/lib/systemd/systemd" ] || die "scripts/debian-root.sh gave no root: '$base'"

work=$(mktemp -d /var/tmp/door-gateway-image-smoke.XXXXXX)
root=$work/root
cleanup() {
  mountpoint -q "$root" && umount "$root"
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/upper" "$work/ovl" "$root"
if ! mount -t overlay overlay \
  -o "lowerdir=$base,upperdir=$work/upper,workdir=$work/ovl" "$root" 2>/dev/null; then
  log "no overlayfs here: copying the root instead"
  cp -a --reflink=auto "$base/." "$root/"
fi

log "the image's base: OpenSSH server (enabled, as rpi-image-gen's openssh-server layer leaves it), OpenSSL"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q openssh-server openssl >&2 ||
  die "apt-get install openssh-server in the root"
systemctl --root="$root" enable ssh.service >&2

log "applying image/scripts/customize.sh with $(basename "$deb")"
DOORGW_DEB=$deb bash image/scripts/customize.sh "$root" >&2 || die "customize.sh failed"

# A probe that runs once the console message has been shown, writes what it sees, and
# powers the container off.
cat >"$root/usr/local/sbin/image-smoke-probe" <<'PROBE'
#!/bin/sh
{
  echo "ssh-enabled: $(systemctl is-enabled ssh.service)"
  echo "ssh-active: $(systemctl is-active ssh.service)"
  echo "gateway-enabled: $(systemctl is-enabled door-gateway.service)"
  echo "console-result: $(systemctl show -P Result door-gateway-console.service)"
  echo "--- issue"
  cat /run/issue.d/50-door-gateway.issue
} >/var/tmp/image-smoke.txt 2>&1
systemctl poweroff --no-block
PROBE
chmod 0755 "$root/usr/local/sbin/image-smoke-probe"
cat >"$root/etc/systemd/system/image-smoke-probe.service" <<'UNIT'
[Unit]
After=door-gateway-console.service
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/image-smoke-probe
[Install]
WantedBy=multi-user.target
UNIT
systemctl --root="$root" enable image-smoke-probe.service >&2
# No GPIO in the container: the daemon restarts in a loop; the console need not wait long.
mkdir -p "$root/etc/systemd/system/door-gateway-console.service.d"
printf '[Service]\nEnvironment=DOORGW_CONSOLE_WAIT_S=30\n' \
  >"$root/etc/systemd/system/door-gateway-console.service.d/smoke.conf"

log "booting the root with systemd-nspawn (console in $work/console.log)"
timeout 900 systemd-nspawn --quiet --boot --directory="$root" --register=no --keep-unit \
  --console=read-only --timezone=off --machine="image-smoke-$$" \
  </dev/null >"$work/console.log" 2>&1 || true

console=$work/console.log
result=$root/var/tmp/image-smoke.txt
[ -f "$result" ] || { tail -n 40 "$console" >&2; die "the probe did not run: the boot did not finish"; }
cat "$result" >&2
grep -q '=== door-gateway ===' "$console" || { tail -n 40 "$console" >&2; die "no door-gateway block on the console"; }
grep -q 'Status page:  https://' "$console" || die "the console does not show the status page's address"
grep -q "Technician 'admin'" "$console" || die "the console says nothing about the admin password"
grep -q '=== door-gateway ===' "$result" || die "the login prompt (/run/issue.d) lacks the block"
grep -qx 'ssh-enabled: disabled' "$result" || die "SSH is not disabled"
grep -qx 'ssh-active: inactive' "$result" || die "SSH is running"
grep -qx 'gateway-enabled: enabled' "$result" || die "door-gateway.service is not enabled"
log "passed in $(($(date +%s) - started)) s: console message, login prompt, SSH off, gateway enabled"
