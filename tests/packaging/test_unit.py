"""The systemd unit starts on a stock Debian with the package's files, and stays hardened.

An installer notices each of these as a service that does not start (a path that does
not exist: 226/NAMESPACE; a user or group nobody made: 217/USER), or a door left
without its controller for good (a start limit hit).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "door-gateway.service"
RESCUE = ROOT / "systemd" / "door-gateway-rescue.service"  # Super Mode (docs/rescue.md)
DEBIAN = ROOT / "debian"

# Settings whose values are paths the service's mount namespace needs to exist.
PATH_SETTINGS = (
    "ReadWritePaths",
    "ReadOnlyPaths",
    "InaccessiblePaths",
    "ExecPaths",
    "NoExecPaths",
    "BindPaths",
    "BindReadOnlyPaths",
)
# Groups every Debian system has (base-passwd).
STOCK_DEBIAN_GROUPS = {"dialout", "plugdev", "audio", "video"}


def unit_settings(path: Path) -> list[tuple[str, str, str]]:
    """Every `(section, key, value)` of a unit file, repeated keys included."""
    settings = []
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.append((section, key.strip(), value.strip()))
    return settings


def values(key: str) -> list[str]:
    return [value for _, k, value in unit_settings(UNIT) if k == key]


def the_value(key: str) -> str:
    found = values(key)
    assert len(found) == 1, f"{key}= should appear once in the unit, found {found}"
    return found[0]


def package_files() -> dict[str, str]:
    """Installed path -> what provides it, from debian/*.install and *.links."""
    installed = {}
    for line in (DEBIAN / "door-gateway.install").read_text().splitlines():
        source, target = line.split()
        installed["/" + target.rstrip("/") + "/" + Path(source).name] = source
    for line in (DEBIAN / "door-gateway.links").read_text().splitlines():
        target, link = line.split()
        installed["/" + link] = "/" + target
    return installed


def sysusers_lines() -> list[list[str]]:
    lines = (DEBIAN / "door-gateway.sysusers").read_text().splitlines()
    return [line.split() for line in lines if line.strip() and not line.startswith("#")]


def test_every_path_the_unit_mounts_is_optional() -> None:
    """A path missing on the Pi fails the start with 226/NAMESPACE unless `-`-prefixed."""
    for key in PATH_SETTINGS:
        for value in values(key):
            for path in value.split():
                assert path.startswith("-"), f"{key}={path} must be '-'-prefixed"


def test_working_directory_is_the_state_directory() -> None:
    """lgpio and relative paths in the configuration need a writable current directory."""
    assert the_value("WorkingDirectory") == "%S/" + the_value("StateDirectory")


def test_restarts_never_give_up() -> None:
    """A crash is restarted at once; a crash loop (five starts within two minutes) gives
    the door to Super Mode, whose end starts the controller again: the door is never
    left without either for longer than a crash loop takes."""
    assert the_value("Restart") == "always"
    assert the_value("StartLimitIntervalSec") == "2min"
    assert the_value("StartLimitBurst") == "5"
    assert the_value("OnFailure") == RESCUE.name
    # `systemctl restart` during a start fails the start, and so starts the rescue: the
    # rescue must not cancel (replace) the start that the restart has queued.
    assert the_value("OnFailureJobMode") == "fail"
    rescue = dict((key, value) for _, key, value in unit_settings(RESCUE))
    assert rescue["OnFailure"] == UNIT.name
    assert rescue["RuntimeMaxSec"] == "5min" and rescue["Restart"] == "no"
    assert rescue["StartLimitIntervalSec"] == "0"


def test_the_controller_and_the_rescue_never_hold_the_gpio_lines_together() -> None:
    """A GPIO line has one owner: the units conflict, and the controller starts only
    once the rescue has stopped (locked the relay, released the lines)."""
    assert the_value("Conflicts") == RESCUE.name
    assert RESCUE.name in " ".join(values("After")).split()
    rescue = [(key, value) for _, key, value in unit_settings(RESCUE)]
    assert ("Conflicts", UNIT.name) in rescue
    assert not any(section == "Install" for section, _, _ in unit_settings(RESCUE))


def test_systemctl_reload_sends_the_daemon_sighup() -> None:
    """The daemon re-reads its configuration on SIGHUP; `systemctl reload` must send it."""
    assert the_value("ExecReload") == "kill -HUP $MAINPID"
    assert "procps" in (DEBIAN / "control").read_text()  # /bin/kill


def test_the_commands_and_files_it_names_are_installed_by_the_package() -> None:
    installed = package_files()
    for command in values("ExecStartPre") + values("ExecStart"):
        binary = command.split()[0].lstrip("-@:+!")
        assert binary in installed, f"{binary} is not installed by the package"
        config = command.split()[-1]
        assert installed.get(config) == "config/gateway.toml"
    unit_path = "/lib/systemd/system/door-gateway.service"
    assert installed.get(unit_path) == "systemd/door-gateway.service"


def test_its_user_and_groups_exist_on_a_stock_debian_with_the_package() -> None:
    made_users = {fields[1] for fields in sysusers_lines() if fields[0] == "u"}
    made_groups = {fields[1] for fields in sysusers_lines() if fields[0] in ("u", "g")}
    memberships = {fields[2] for fields in sysusers_lines() if fields[0] == "m"}
    assert the_value("User") in made_users
    assert the_value("Group") in made_groups
    for group in the_value("SupplementaryGroups").split():
        assert group in made_groups | STOCK_DEBIAN_GROUPS, f"nothing makes group {group}"
        assert group in memberships, f"the service user is not made a member of {group}"


def test_the_health_checks_can_read_the_clock_state_and_memory() -> None:
    """The self-test and status page ask adjtimex(2) whether the clock is synchronised
    and read /proc/meminfo: a unit that hides them shows a clock that never syncs."""
    assert values("ProtectClock") in ([], ["no"])
    for value in values("SystemCallFilter"):
        assert "@clock" not in value and "adjtimex" not in value
    assert values("ProcSubset") in ([], ["all"])


def test_the_state_directory_is_private() -> None:
    assert the_value("StateDirectoryMode") == "0700"
    assert the_value("UMask") == "0077"
    tmpfiles = (DEBIAN / "door-gateway.tmpfiles").read_text()
    assert "d /var/lib/door-gateway 0700 door-gateway door-gateway -" in tmpfiles


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
@pytest.mark.parametrize("unit", [UNIT, RESCUE], ids=lambda unit: unit.name)
def test_systemd_accepts_it_and_scores_it_ok(unit: Path) -> None:
    """`systemd-analyze verify` has nothing to say, and the exposure is 2.5 or lower."""
    check = subprocess.run(
        ["bash", str(ROOT / "scripts" / "check-unit.sh"), str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    score = float(check.stdout.split(f"{unit.name}:")[1].split()[0])
    assert score <= 2.5


def test_make_unit_check_checks_every_unit() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nunit-check:", 1)[1].split("\n\n", 1)[0]
    assert "systemd/*.service" in recipe and "scripts/check-unit.sh" in recipe


def test_the_rescue_runs_as_the_service_user_with_gpio_only() -> None:
    rescue = dict((key, value) for _, key, value in unit_settings(RESCUE))
    assert (rescue["User"], rescue["Group"]) == (the_value("User"), the_value("Group"))
    assert rescue["SupplementaryGroups"] == "gpio"
    assert rescue["StateDirectory"] == the_value("StateDirectory")
    assert rescue["WorkingDirectory"] == "%S/" + rescue["StateDirectory"]
    assert rescue["RestrictAddressFamilies"] == "AF_UNIX" and rescue["IPAddressDeny"] == "any"
    # PrivateNetwork= fails the start (225/NETWORK) where no network namespace can be made.
    assert "PrivateNetwork" not in rescue
    assert rescue["DeviceAllow"] == "char-gpiochip rw"
    command = rescue["ExecStart"].split()[0]
    assert command == "/opt/door-gateway/bin/door-gateway-rescue"
    assert '"$destdir$venv/bin/door-gateway-rescue"' in (DEBIAN / "build-venv.sh").read_text()
    assert package_files().get("/lib/systemd/system/" + RESCUE.name) == "systemd/" + RESCUE.name
