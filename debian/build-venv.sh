#!/usr/bin/env bash
# Builds the package's Python environment for a Debian architecture into a staging tree:
#   debian/build-venv.sh DEB_ARCH DESTDIR
# gives DESTDIR/opt/door-gateway, a virtual environment for Debian bookworm's python3
# (3.11) on that architecture, made on any build machine (an x86_64 one builds arm64 and
# armhf): nothing is compiled for the target. Dependencies are resolved here once, pure-
# Python ones made into wheels here, and every wheel with compiled code is downloaded
# from PyPI as the same release built for the target (manylinux). pyscard is the one
# dependency with no such wheel: it comes from Debian (python3-pyscard), which the
# environment sees through its system site packages, as does cffi's run-time part
# (python3-cffi-backend, for cryptography). See docs/packaging.md.
set -euo pipefail

deb_arch=$1
destdir=$2
venv=/opt/door-gateway
python_version=3.11
glibc_minor=36  # Debian bookworm's glibc 2.36: the newest manylinux tag it runs

case "$deb_arch" in
  arm64) machine=aarch64 ;;
  armhf) machine=armv7l ;;
  amd64) machine=x86_64 ;;
  *) echo "build-venv: no wheels for Debian architecture $deb_arch" >&2; exit 1 ;;
esac

here=$(cd "$(dirname "$0")/.." && pwd)
work=${BUILD_VENV_WORK:-$here/build/venv-$deb_arch}
rm -rf "$work"
mkdir -p "$work/host" "$work/target"

# The build machine's pip configuration (mirrors, constraints) must not change what goes
# into the package: only PyPI, through pip's own cache.
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CONSTRAINT PIP_REQUIRE_VIRTUALENV
# A small venv of build tools, with a current pip, from Debian's python3 (the target's).
/usr/bin/python3 -m venv "$work/tools"
tools_pip="$work/tools/bin/pip"
"$tools_pip" install --quiet --upgrade pip

# The project itself, and what it needs at run time with the [pi] extra, pyscard left out.
"$tools_pip" wheel --quiet --no-deps --wheel-dir "$work/target" "$here"
"$work/tools/bin/python" - "$here/pyproject.toml" > "$work/requirements.txt" <<'PY'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
for requirement in project["dependencies"] + project["optional-dependencies"]["pi"]:
    if not requirement.lower().startswith("pyscard"):
        print(requirement)
PY
# Resolved on the build machine: the same releases for every architecture.
"$tools_pip" wheel --quiet --wheel-dir "$work/host" --requirement "$work/requirements.txt"

platforms=(--platform "manylinux2014_$machine" --platform "linux_$machine")
for minor in $(seq 17 "$glibc_minor"); do
  platforms+=(--platform "manylinux_2_${minor}_$machine")
done
target_tags=(--python-version "$python_version" --implementation cp --abi "cp${python_version/./}")

# The same release as host wheel $1, built for the target.
target_wheel() {
  local distribution release
  distribution=${1%%-*}
  release=$(echo "$1" | cut -d- -f2)
  "$tools_pip" download --quiet --no-deps --only-binary=:all: "${platforms[@]}" \
    "${target_tags[@]}" --dest "$work/target" "$distribution==$release"
}

for wheel in "$work"/host/*.whl; do
  name=$(basename "$wheel")
  case "$name" in
    # cryptography's C binding needs only cffi's _cffi_backend at run time, which
    # Debian's python3-cffi-backend provides (PyPI has no armhf wheel of cffi);
    # pycparser is cffi's, for building bindings, never used at run time.
    cffi-*|pycparser-*) ;;
    # libosdp (OSDP readers) has no armv7l wheel on PyPI: the armhf package goes without
    # it, and an OSDP reader configured there shows offline with the reason.
    libosdp-*)
      if [ "$machine" = armv7l ]; then
        echo "build-venv: no armv7l wheel of libosdp: OSDP readers unavailable on armhf" >&2
      else
        target_wheel "$name"
      fi
      ;;
    *-none-any.whl) cp "$wheel" "$work/target/" ;;
    *) target_wheel "$name" ;;
  esac
done

site="$destdir$venv/lib/python$python_version/site-packages"
rm -rf "${destdir:?}$venv"
"$tools_pip" install --quiet --no-deps --no-index --no-compile --only-binary=:all: \
  "${platforms[@]}" "${target_tags[@]}" --target "$site" "$work"/target/*.whl
# Scripts pip wrote name the build machine's interpreter; the package has its own.
rm -rf "${site:?}/bin"

# The virtual environment around it: Debian's python3, and Debian's python3-pyscard.
mkdir -p "$destdir$venv/bin"
ln -s /usr/bin/python3 "$destdir$venv/bin/python3"
ln -s python3 "$destdir$venv/bin/python"
cat > "$destdir$venv/pyvenv.cfg" <<CFG
home = /usr/bin
include-system-site-packages = true
version = $python_version
CFG
# -I: the daemon's working directory (its state directory) is never on sys.path, and no
# PYTHON* variable of the caller's environment changes what runs.
cat > "$destdir$venv/bin/door-gateway" <<'SCRIPT'
#!/bin/sh
exec /opt/door-gateway/bin/python3 -I -m gateway "$@"
SCRIPT
chmod 0755 "$destdir$venv/bin/door-gateway"
# Super Mode's process (door-gateway-rescue.service): the rescue package alone, never the
# daemon's command line, so nothing the daemon imports can stop the rescue from starting.
cat > "$destdir$venv/bin/door-gateway-rescue" <<'SCRIPT'
#!/bin/sh
exec /opt/door-gateway/bin/python3 -I -m gateway.rescue "$@"
SCRIPT
chmod 0755 "$destdir$venv/bin/door-gateway-rescue"
ls "$work/target" > "$destdir$venv/wheels.txt"
