#!/usr/bin/env bash
# SSH is off in a door-gateway image unless asked for: a controller that opens doors
# should not offer a login on the network by default. The server stays installed, so
# `sudo systemctl enable --now ssh` at the console turns it on.
#
#     image/scripts/ssh-default.sh ROOT y|n
set -euo pipefail

root=${1:?usage: ssh-default.sh ROOT y|n}
wanted=${2:?usage: ssh-default.sh ROOT y|n}
units=()
for unit in ssh.service ssh.socket; do
  if [ -e "$root/lib/systemd/system/$unit" ] || [ -e "$root/usr/lib/systemd/system/$unit" ]; then
    units+=("$unit")
  fi
done
if [ ${#units[@]} -eq 0 ]; then
  echo "ssh-default: no OpenSSH server in $root: nothing to do"
  exit 0
fi
case $wanted in
  y) systemctl --root="$root" enable ssh.service ;;
  n) systemctl --root="$root" disable "${units[@]}" ;;
  *) echo "ssh-default: expected y or n, got '$wanted'" >&2; exit 1 ;;
esac
