"""The state directory: the database, the device key and the saved states live in it, and
nobody but the service user may look inside (docs/files.md)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

STATE_DIR_MODE = 0o700


def make_state_dir(state_dir: Path) -> None:
    """Create `state_dir` with mode 0700 whatever the umask (missing parents as usual).

    An existing directory is never changed: it is the installer's, and may be one they
    chose for more than door-gateway. When group or others may enter or list it, a warning
    says so with the command to run; the files inside are private either way.
    """
    try:
        state_dir.mkdir(mode=STATE_DIR_MODE, parents=True)
    except FileExistsError:
        _warn_if_open(state_dir)
        return
    os.chmod(state_dir, STATE_DIR_MODE)  # ours, just made: exactly 0700 whatever the umask


def _warn_if_open(state_dir: Path) -> None:
    try:
        mode = stat.S_IMODE(state_dir.stat().st_mode)
    except OSError:
        return  # opening the files inside will name the real problem
    if mode & 0o077:
        log.warning(
            "state directory %s is open to group or others (mode %04o); make it private: "
            "chmod 700 %s",
            state_dir,
            mode,
            state_dir,
        )
