"""The attack tests run against the in-process gateways of tests/web (simulated hardware,
real SQLite, real HTTP on loopback, a manual clock)."""

from tests.web.conftest import client, start  # noqa: F401 (fixtures)
