#!/usr/bin/env bash
# Install the door-gateway .deb into ROOT with apt (which fetches its dependencies from
# the root's own archives) and enable its service.
#
#     image/scripts/install-package.sh ROOT DEB
set -euo pipefail

root=${1:?usage: install-package.sh ROOT DEB}
deb=${2:?usage: install-package.sh ROOT DEB}
[ -f "$deb" ] || { echo "install-package: no such package: $deb" >&2; exit 1; }

staging=$(mktemp -d "$root/tmp/door-gateway-deb.XXXXXX")
trap 'rm -rf "$staging"' EXIT
cp "$deb" "$staging/"
inside=/tmp/$(basename "$staging")/$(basename "$deb")
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q \
  -o Dpkg::Options::=--force-confold "$inside"
# The package enables the unit; say so again in case a policy-rc.d or a preset of the
# image builder left it disabled: a gateway image that does not start is of no use.
systemctl --root="$root" enable door-gateway.service
