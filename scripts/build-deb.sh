#!/usr/bin/env bash
# Builds the Debian package for one architecture (arm64 by default; armhf, amd64) with
# dpkg-buildpackage, checks it with lintian, and leaves it in dist/:
#   scripts/build-deb.sh [ARCH]  ->  dist/door-gateway_VERSION_ARCH.deb
# VERSION is debian/changelog's (e.g. 0.1.0-1), whose upstream part must be
# pyproject.toml's version. Needs network to PyPI (the wheels) and, as root, installs
# the Debian build tools it lacks (scripts/system-deps.sh deb).
set -euo pipefail

arch=${1:-arm64}
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh deb "$arch"

version=$(dpkg-parsechangelog --show-field Version)
project_version=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
if [ "${version%-*}" != "$project_version" ]; then
  echo "debian/changelog is at $version but pyproject.toml at $project_version:" \
    "add a changelog entry (dch -v $project_version-1)" >&2
  exit 1
fi

# dpkg-buildpackage writes beside the source tree: build a copy under build/ so the
# results stay inside the project. The copy is what git tracks, plus new files not ignored.
build=build/deb-$arch
rm -rf "$build"
source_dir="$build/door-gateway-${version%-*}"
mkdir -p "$source_dir" dist
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' path; do
  [ -e "$path" ] && printf '%s\0' "$path"
done | tar --null -T - -cf - | tar -xf - -C "$source_dir"

# -d: the build dependencies are checked by system-deps.sh (a cross build would ask for
# the target architecture's python3, which the build does not run).
(cd "$source_dir" && dpkg-buildpackage -a"$arch" -b -us -uc -d)

deb="door-gateway_${version}_${arch}.deb"
cp "$build/$deb" "dist/$deb"
# Clean at warning level; each override is justified in debian/door-gateway.lintian-overrides.
lintian --fail-on error,warning "dist/$deb"
echo "dist/$deb"
