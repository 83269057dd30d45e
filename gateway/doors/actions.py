"""Input actions: when a door input becomes active, an HTTP GET (Akuvox input "HTTP"
action) and/or a pulse of a relay of the gateway (Akuvox "Execute Relay").

The door never waits for the request: it runs as a background coroutine with a deadline,
and a failure only becomes an event. Akuvox's "Action Delay" and "Execute If Input Still
Triggered" are `delay_s` and `only_if_still_active`; they apply to both actions.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

from gateway.doors.timers import Later, Timers
from gateway.settings import InputActionSettings
from gateway.urls import loggable_url

log = logging.getLogger(__name__)

HttpGet = Callable[[str], Awaitable[None]]
ACTION_TIMEOUT_S = 10.0


async def http_get(url: str) -> None:
    """GET `url` with aiohttp (user:password in the URL is sent as basic auth).

    Raises on a connection error, a timeout or an HTTP status of 400 and above.
    """
    import aiohttp  # imported here: only a gateway with input actions needs a client

    timeout = aiohttp.ClientTimeout(total=ACTION_TIMEOUT_S)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url) as response,
    ):
        response.raise_for_status()


def safe_url(url: str) -> str:
    """The URL without user, password and query: what may appear in events and logs."""
    return loggable_url(url)


def describe_failure(exc: BaseException) -> str:
    """The exception's type (and HTTP status), never its text: that may echo the URL."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    status = getattr(exc, "status", None)
    return f"{type(exc).__name__} (HTTP {status})" if status else type(exc).__name__


class InputActions:
    """Schedules and sends the input actions of one door."""

    def __init__(
        self,
        actions: tuple[InputActionSettings, ...],
        timers: Timers,
        send: HttpGet | None,
        is_active: Callable[[str], bool],
        failed: Callable[[InputActionSettings, str], None],
        execute_relay: Callable[[InputActionSettings], None] | None = None,
    ) -> None:
        self._actions = actions
        self._timers = timers
        self._send = send
        self._is_active = is_active
        self._failed = failed
        self._execute_relay = execute_relay
        self._delays = [Later(timers) for _ in actions]

    def input_changed(self, name: str, active: bool) -> None:
        """Arm (or re-arm) the actions of input `name` when it becomes active."""
        if not active:
            return
        for action, delay in zip(self._actions, self._delays, strict=True):
            if action.input != name:
                continue
            if action.delay_s <= 0:
                self._fire(action)
            else:
                delay.after(action.delay_s, functools.partial(self._fire, action))

    def _fire(self, action: InputActionSettings) -> None:
        if action.only_if_still_active and not self._is_active(action.input):
            log.info("input action on %s skipped: no longer active", action.input)
            return
        if action.relay != "none" and self._execute_relay is not None:
            self._execute_relay(action)
        if action.url:
            self._timers.spawn(self._run(action))

    async def _run(self, action: InputActionSettings) -> None:
        if self._send is None:
            self._failed(action, "no HTTP client configured")
            return
        try:
            await asyncio.wait_for(self._send(action.url), ACTION_TIMEOUT_S)
        except Exception as exc:  # any failure is reported, none may reach the door
            self._failed(action, describe_failure(exc))

    def cancel(self) -> None:
        for delay in self._delays:
            delay.cancel()
