#!/usr/bin/env bash
# Checks the systemd unit offline, as systemd on the Pi will read it:
#   - `systemd-analyze verify` in a staged root holding the unit, the host's own units
#     (the targets it orders against) and a stand-in for /usr/bin/door-gateway (verify
#     refuses a unit whose ExecStart is missing); any warning fails, an unknown or
#     misspelt setting included;
#   - `systemd-analyze security --offline=true --threshold=25`: the exposure score must be
#     2.5 ("OK") or lower.
set -euo pipefail

unit=${1:-systemd/door-gateway.service}
name=$(basename "$unit")

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/etc/systemd/system" "$root/lib/systemd"
cp -a /lib/systemd/system "$root/lib/systemd/"
# Stand-ins for the commands the units run: the package's, and procps' kill (ExecReload).
for command in usr/bin/door-gateway opt/door-gateway/bin/door-gateway-rescue bin/kill; do
  mkdir -p "$root/$(dirname "$command")"
  printf '#!/bin/sh\nexit 0\n' > "$root/$command"
  chmod 0755 "$root/$command"
done
cp "$unit" "$root/etc/systemd/system/$name"
# The units it names (OnFailure=, Conflicts=): its siblings in the same directory.
for sibling in "$(dirname "$unit")"/*.service; do
  [ -e "$root/etc/systemd/system/$(basename "$sibling")" ] || cp "$sibling" "$root/etc/systemd/system/"
done

warnings=$(systemd-analyze verify --man=no --root="$root" "$name" 2>&1) || {
  echo "$warnings" >&2
  echo "systemd-analyze verify failed on $unit" >&2
  exit 1
}
if [ -n "$warnings" ]; then
  echo "$warnings" >&2
  echo "systemd-analyze verify warns about $unit" >&2
  exit 1
fi

systemd-analyze security --offline=true --threshold=25 --no-pager "$unit" | tail -n 1
