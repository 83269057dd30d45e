#!/usr/bin/env bash
# The door-gateway layer's own steps, applied to a root file system ROOT (the image
# being built by rpi-image-gen, or the debootstrapped root of `make image-smoke`):
#
#     image/scripts/customize.sh ROOT
#
# Environment (the layer passes its IGconf_doorgw_* variables):
#   DOORGW_DEB            the door-gateway .deb to install (required)
#   DOORGW_SSH            y: SSH enabled; n (default): SSH installed but off
#   DOORGW_LISTEN         [web] listen of the gateway (default 0.0.0.0:8443)
#   DOORGW_READONLY_ROOT  y: read-only root, state on its own partition; n (default)
set -euo pipefail

root=${1:?usage: customize.sh ROOT}
here=$(cd "$(dirname "$0")" && pwd)
deb=${DOORGW_DEB:?DOORGW_DEB must name the door-gateway .deb}

bash "$here/install-package.sh" "$root" "$deb"
bash "$here/configure-gateway.sh" "$root" "${DOORGW_LISTEN:-0.0.0.0:8443}"
bash "$here/gpio-safety.sh" "$root"
bash "$here/firstboot.sh" "$root"
bash "$here/ssh-default.sh" "$root" "${DOORGW_SSH:-n}"
if [ "${DOORGW_READONLY_ROOT:-n}" = y ]; then
  bash "$here/readonly-root.sh" "$root"
fi
echo "door-gateway image layer: applied to $root"
