#!/usr/bin/env bash
# Read-only root with the gateway's state on its own partition (layer option
# doorgw.readonly_root = y):
#   * the root file system is mounted read-only under a RAM overlay (overlayroot, the
#     mechanism of raspi-config's "Overlay File System"): a power cut cannot damage it,
#     and whatever is written outside the state partition is gone at the next boot;
#   * /var/lib/door-gateway is an ext4 partition labelled DGSTATE, created at the first
#     boot in the free space after the root partition (door-gateway-state-partition);
#   * the gateway does not start without that partition mounted (its state would be
#     lost at the next reboot otherwise): the door stays locked and the console says why.
#
#     image/scripts/readonly-root.sh ROOT
set -euo pipefail

root=${1:?usage: readonly-root.sh ROOT}
files=$(cd "$(dirname "$0")/../files" && pwd)
units=$root/etc/systemd/system

DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q overlayroot
# Active from the second boot on: the first boot creates the state partition first.
echo 'overlayroot="tmpfs:recurse=0"' >"$root/etc/overlayroot.local.conf.pending"

install -m 0755 "$files/door-gateway-state-partition.sh" "$root/usr/local/lib/door-gateway-image/"
install -m 0644 "$files/door-gateway-state-partition.service" "$units/"

# The mount, by label, with no device files, set-uid or programs on it.
mount_unit=$(chroot "$root" systemd-escape --path --suffix=mount /var/lib/door-gateway)
cat >"$units/$mount_unit" <<'UNIT'
# The gateway's state partition (door-gateway image, read-only root).
[Unit]
Description=door-gateway state partition
After=door-gateway-state-partition.service
Requires=door-gateway-state-partition.service

[Mount]
What=/dev/disk/by-label/DGSTATE
Where=/var/lib/door-gateway
Type=ext4
Options=noatime,nodev,nosuid,noexec
UNIT

install -d -m 0755 "$units/door-gateway.service.d"
cat >"$units/door-gateway.service.d/50-state-partition.conf" <<'UNIT'
# Read-only root: the state lives on its own partition; never run without it.
[Unit]
RequiresMountsFor=/var/lib/door-gateway
UNIT

# Logs in RAM, bounded: the root is read-only and the state partition is for the state.
install -d -m 0755 "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=32M\n' \
  >"$root/etc/systemd/journald.conf.d/50-door-gateway-readonly.conf"
