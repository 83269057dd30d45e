"""Fixtures for the PC/SC tests: one private pcscd+vpcd for the session, readers, cards."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.pcsc.daemon import PcscDaemon, missing_requirements


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscDaemon]:
    """pcscd with vpcd, started once; tests that stop it must start it again.

    Not skipped when it cannot run: a missing daemon would otherwise hide a broken reader.
    """
    reason = missing_requirements()
    if reason is not None:
        pytest.fail(reason, pytrace=False)
    daemon = PcscDaemon(tmp_path_factory.mktemp("pcscd"))
    # libpcsclite reads this once, at the first PC/SC call of the process: only these
    # tests use pyscard in-process, and this fixture runs before their first call.
    previous = os.environ.get("PCSCLITE_CSOCK_NAME")
    os.environ["PCSCLITE_CSOCK_NAME"] = str(daemon.socket_path)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
        if previous is None:
            os.environ.pop("PCSCLITE_CSOCK_NAME", None)
        else:
            os.environ["PCSCLITE_CSOCK_NAME"] = previous
