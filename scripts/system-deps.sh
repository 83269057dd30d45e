#!/usr/bin/env bash
# Debian packages the project needs: `run` for building and running it (pyscard builds
# from source against libpcsclite), `test` adds the PC/SC daemon and virtual reader the
# tests start. As root they are installed; otherwise the exact apt-get line is printed and
# the make target fails, so nothing is assumed silently. The status page's browser tests
# drive Debian's chromium (never a downloaded browser), with a font to render text;
# `make lint` runs shellcheck on the shell scripts.
# `deb ARCH` is what building the Debian package for ARCH needs (scripts/build-deb.sh):
# debhelper, lintian, a venv for the build tools, and the target's strip.
set -euo pipefail

purpose=${1:-test}
packages=(gcc swig libpcsclite-dev)
if [ "$purpose" = deb ]; then
  packages=(debhelper dpkg-dev lintian git python3-venv)
  case "${2:-arm64}" in
    arm64) packages+=(binutils-aarch64-linux-gnu) ;;
    armhf) packages+=(binutils-arm-linux-gnueabihf) ;;
  esac
fi
# Debian's own python3 needs its venv module and headers as separate packages.
if [ "$(command -v python3)" = /usr/bin/python3 ] && [ "$purpose" != deb ]; then
  packages+=(python3-venv python3-dev)
fi
if [ "$purpose" = test ]; then
  # systemd: systemd-analyze, for the unit's checks (scripts/check-unit.sh);
  # and the shell scripts' linter, which `make lint` runs (shellcheck)
  packages+=(pcscd vsmartcard-vpcd chromium fonts-dejavu-core systemd shellcheck)
  # the MQTT tests and `make fleet` start their own broker on loopback (no service)
  packages+=(mosquitto)
fi

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "Missing Debian packages. Run:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
