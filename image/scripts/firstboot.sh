#!/usr/bin/env bash
# Install the console message: at every boot, once the gateway runs, the console (and
# the login prompt, through /run/issue.d) shows the status page's address and the
# certificate's fingerprint, and, on the boot that created it, the one-time password of
# the `admin` technician.
#
#     image/scripts/firstboot.sh ROOT
set -euo pipefail

root=${1:?usage: firstboot.sh ROOT}
files=$(cd "$(dirname "$0")/../files" && pwd)

install -d -m 0755 "$root/usr/local/lib/door-gateway-image"
install -m 0755 "$files/door-gateway-console.sh" "$root/usr/local/lib/door-gateway-image/"
install -m 0644 "$files/door-gateway-console.service" "$root/etc/systemd/system/"
systemctl --root="$root" enable door-gateway-console.service
