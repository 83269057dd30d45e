"""The Debian package's declarations agree with the project: what an installer would
otherwise find out on the Pi (a library missing at start, a package named for another
version)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEBIAN = ROOT / "debian"


def project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        table = tomllib.load(file)["project"]
    assert isinstance(table, dict)
    return table


def depends() -> str:
    control = (DEBIAN / "control").read_text()
    binary = control.split("\nPackage: door-gateway\n")[1]
    return binary.split("\nDepends:")[1].split("\nRecommends:")[0]


def test_the_package_version_is_the_project_version() -> None:
    first_line = (DEBIAN / "changelog").read_text().splitlines()[0]
    version = re.match(r"door-gateway \(([^)]+)\)", first_line)
    assert version is not None
    assert version.group(1).rsplit("-", 1)[0] == project()["version"]


def test_pyscard_comes_from_debian_with_the_library_it_loads() -> None:
    """The one dependency the package's environment does not carry."""
    requirements = project()["dependencies"]
    assert isinstance(requirements, list)
    assert any(r.startswith("pyscard") for r in requirements)
    assert "python3-pyscard" in depends()
    assert "libpcsclite1" in depends()


def test_cryptography_finds_its_cffi_backend_in_debian() -> None:
    """cffi is left out of the environment (no armhf wheel): Debian's must be there."""
    requirements = project()["dependencies"]
    assert isinstance(requirements, list)
    if any(r.startswith("cryptography") for r in requirements):
        assert "cffi-*|pycparser-*) ;;" in (DEBIAN / "build-venv.sh").read_text()
        assert "python3-cffi-backend" in depends()


def test_the_python_it_runs_on_is_the_one_its_wheels_are_for() -> None:
    """The environment's compiled wheels are cp311: apt must refuse another Python."""
    build = (DEBIAN / "build-venv.sh").read_text()
    assert "python_version=3.11" in build
    assert "python3 (>= 3.11)" in depends()
    assert "python3 (<< 3.12)" in depends()
