#!/usr/bin/env bash
# Make the packaged configuration reachable from the LAN: set [web] listen in ROOT's
# /etc/door-gateway/gateway.toml (the package's default listens on loopback only).
#
#     image/scripts/configure-gateway.sh ROOT LISTEN      e.g. 0.0.0.0:8443
set -euo pipefail

root=${1:?usage: configure-gateway.sh ROOT LISTEN}
listen=${2:?usage: configure-gateway.sh ROOT LISTEN}
config=$root/etc/door-gateway/gateway.toml
[ -f "$config" ] || { echo "configure-gateway: $config missing: is the package installed?" >&2; exit 1; }
case $listen in
  *[!0-9A-Za-z.:\[\]-]*) echo "configure-gateway: not an address: $listen" >&2; exit 1 ;;
esac

# Only the `listen` line of the [web] table changes; everything else stays as packaged.
tmp=$(mktemp "$config.XXXXXX")
awk -v listen="$listen" '
  /^\[/ { in_web = ($0 == "[web]") }
  in_web && /^listen *=/ { print "listen = \"" listen "\""; done = 1; next }
  { print }
  END { if (!done) exit 3 }
' "$config" >"$tmp" || { rm -f "$tmp"; echo "configure-gateway: no [web] listen line in $config" >&2; exit 1; }
chmod --reference="$config" "$tmp"
chown --reference="$config" "$tmp"
mv "$tmp" "$config"
