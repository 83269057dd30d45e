"""Schemathesis against /api/v1/openapi.json on a running gateway: every documented
operation, positive and negative inputs, bounded and derandomized (the same requests on
every run). No 5xx, no traceback, and every answer as documented."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.app import Gateway
from gateway.web import security
from tests.web.conftest import basic, settings_for

EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    ignored_auth,
]


def rejected_or_too_large(ctx: Any, response: Any, case: Any) -> bool | None:
    """Negative data must be refused; 413 (a mutated body over the endpoint's size limit)
    is a refusal too, which schemathesis's own list of rejection codes lacks."""
    if response.status_code == 413:
        return True
    return negative_data_rejection(ctx, response, case)  # type: ignore[no-any-return]


class ThreadedGateway:
    """A gateway serving from its own event loop in a thread: schemathesis calls are
    synchronous (requests), so the server must run beside them, not under them."""

    def __init__(self, state_dir: Path) -> None:
        self.settings = settings_for(state_dir)
        self.base = f"http://{self.settings.web.listen}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.gateway = self.run(self._start())

    async def _start(self) -> Gateway:
        gateway = Gateway(self.settings)
        await gateway.start()
        return gateway

    def run(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout=30)

    def headers_for(self, path: str) -> dict[str, str]:
        """Fresh credentials per call (a fuzzed logout must not end the next call's session),
        with the login throttle cleared (fuzzed wrong passwords must not hide the rest)."""
        return self.run(self._headers(path))  # type: ignore[no-any-return]

    async def _headers(self, path: str) -> dict[str, str]:
        throttle = self.gateway.web_app[security.THROTTLE]
        throttle._accounts.clear()  # test-only reset of the in-memory counters
        throttle._names.clear()
        throttle._addresses = security._AddressCounters()
        if path.startswith("/fcgi/"):
            return basic()
        version = self.gateway.stores.technicians.technician_credential_version("admin")
        assert version is not None
        token = self.gateway.tokens.issue("admin", "SUPERADMIN", version)
        return {"Authorization": f"Bearer {token}"}

    def stop(self) -> None:
        self.run(self.gateway.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedGateway]:
    running = ThreadedGateway(tmp_path_factory.mktemp("fuzz") / "state")
    yield running
    running.stop()


# A stream answers for as long as the client listens: its inputs (filters, positions,
# refusals) are tested in tests/web/test_event_stream.py instead.
NEVER_ENDS = frozenset({"/api/v1/events/stream"})


def operations(served: ThreadedGateway) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{served.base}/api/v1/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    return [operation for operation in found if operation.path not in NEVER_ENDS]


def real_targets(operation: Any) -> dict[str, Any]:
    """Fixed values that reach real doors (random door names and numbers are all 404)."""
    if "{name}" in operation.path:
        return {"path_parameters": {"name": "front"}}
    if operation.path == "/fcgi/OpenDoor":
        return {"query": {"action": "OpenDoor", "DoorNum": "1"}}
    return {}


@pytest.mark.parametrize(
    ("mode", "real"),
    [
        (GenerationMode.POSITIVE, False),
        (GenerationMode.NEGATIVE, False),
        (GenerationMode.POSITIVE, True),
    ],
    ids=["positive", "negative", "positive-real-doors"],
)
def test_fuzz_every_operation(served: ThreadedGateway, mode: GenerationMode, real: bool) -> None:
    checks = [*CHECKS, rejected_or_too_large] if mode is GenerationMode.NEGATIVE else CHECKS
    for operation in operations(served):
        fixed = real_targets(operation) if real else {}

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode, **fixed))
        def run(case: Any) -> None:
            headers = served.headers_for(case.operation.path)
            response = case.call(base_url=served.base, headers=headers, timeout=20)
            assert "Traceback" not in response.text and 'File "' not in response.text
            case.validate_response(
                response,
                checks=checks,
                headers=headers,
                transport_kwargs={"base_url": served.base, "headers": headers},
            )

        run()
    # The fuzzing opened and locked doors at random: the daemon is still answering.
    status = served.run(_status(served.gateway))
    assert set(status["doors"]) == {"front", "back"}


async def _status(gateway: Gateway) -> dict[str, Any]:
    return gateway.status_board.status()
