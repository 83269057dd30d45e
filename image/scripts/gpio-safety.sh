#!/usr/bin/env bash
# docs/wiring.md rule 4: with `dtparam=strict_gpiod` the kernel releases the GPIO lines
# of a process that dies, so a gateway killed during an unlock pulse does not leave the
# strike powered until systemd restarts it. Added to the image's config.txt once.
#
#     image/scripts/gpio-safety.sh ROOT
set -euo pipefail

root=${1:?usage: gpio-safety.sh ROOT}
config_txt=$root/boot/firmware/config.txt
if [ ! -f "$config_txt" ]; then
  echo "gpio-safety: no $config_txt (not a Raspberry Pi boot partition): nothing to do"
  exit 0
fi
if ! grep -q '^dtparam=strict_gpiod' "$config_txt"; then
  # [all]: the line must not fall under a board filter such as [pi4] above it.
  printf '\n[all]\n# door-gateway: release the GPIO lines of a process that dies (docs/wiring.md)\n%s\n' \
    'dtparam=strict_gpiod' >>"$config_txt"
fi
