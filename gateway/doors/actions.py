"""Input actions: when a door input becomes active, an HTTP GET (Akuvox input "HTTP"
action), a pulse of a relay of the gateway (Akuvox "Execute Relay"), a notification file on
an FTP server (Akuvox "FTP") and/or the Akuvox "Email" action.

The door never waits for the request: it runs as a background coroutine with a deadline,
and a failure only becomes an event. Akuvox's "Action Delay" and "Execute If Input Still
Triggered" are `delay_s` and `only_if_still_active`; they apply to every action. The e-mail
action is only a call to `email` (the controller journals `input_action_email`): the
notifications read the journal and mail it, so no mail server is ever on the door's path.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import unquote, urlsplit

from gateway.doors.timers import Later, Timers
from gateway.settings import InputActionSettings
from gateway.urls import loggable_url

log = logging.getLogger(__name__)

HttpGet = Callable[[str], Awaitable[None]]
# (directory URL, file name, content): stores one file on an FTP server.
FtpPut = Callable[[str, str, bytes], Awaitable[None]]
# The notification an FTP action stores: (file name, content), made when it fires.
Notification = Callable[[InputActionSettings], tuple[str, bytes]]
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


async def ftp_put(url: str, name: str, body: bytes) -> None:
    """Store `body` as file `name` in the directory of `url` ("ftp://user:pw@host/dir/";
    "ftps://" logs in and sends over TLS). Raises on any failure; each network step
    times out after ACTION_TIMEOUT_S."""
    await asyncio.to_thread(_ftp_store, url, name, body)


def _ftp_store(url: str, name: str, body: bytes) -> None:
    import ftplib  # imported here: only a gateway with FTP actions needs it

    parts = urlsplit(url)
    tls = parts.scheme == "ftps"
    ftp = ftplib.FTP_TLS(timeout=ACTION_TIMEOUT_S) if tls else ftplib.FTP(timeout=ACTION_TIMEOUT_S)
    with ftp:
        ftp.connect(parts.hostname or "", parts.port or 21)
        ftp.login(unquote(parts.username or "anonymous"), unquote(parts.password or ""))
        if isinstance(ftp, ftplib.FTP_TLS):
            ftp.prot_p()  # the notification travels encrypted too, not only the login
        directory = unquote(parts.path)
        if directory.strip("/"):
            ftp.cwd(directory)
        ftp.storbinary(f"STOR {name}", io.BytesIO(body))


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
        failed: Callable[[InputActionSettings, str, str], None],
        execute_relay: Callable[[InputActionSettings], None] | None = None,
        ftp: tuple[FtpPut, Notification] | None = None,
        email: Callable[[InputActionSettings], None] | None = None,
    ) -> None:
        self._actions = actions
        self._email = email
        self._timers = timers
        self._send = send
        self._is_active = is_active
        self._failed = failed
        self._execute_relay = execute_relay
        self._ftp = ftp
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
        if action.email and self._email is not None:
            self._email(action)
        if action.relay != "none" and self._execute_relay is not None:
            self._execute_relay(action)
        if action.url:
            self._timers.spawn(self._run(action))
        if action.ftp_url:
            self._timers.spawn(self._upload(action))

    async def _run(self, action: InputActionSettings) -> None:
        if self._send is None:
            self._failed(action, action.url, "no HTTP client configured")
            return
        try:
            await asyncio.wait_for(self._send(action.url), ACTION_TIMEOUT_S)
        except Exception as exc:  # any failure is reported, none may reach the door
            self._failed(action, action.url, describe_failure(exc))

    async def _upload(self, action: InputActionSettings) -> None:
        if self._ftp is None:
            self._failed(action, action.ftp_url, "no FTP client configured")
            return
        put, notification = self._ftp
        name, body = notification(action)
        try:
            # Connect, log in, change directory, store: each step has its own timeout.
            await asyncio.wait_for(put(action.ftp_url, name, body), 4 * ACTION_TIMEOUT_S)
        except Exception as exc:  # any failure is reported, none may reach the door
            self._failed(action, action.ftp_url, describe_failure(exc))

    def cancel(self) -> None:
        for delay in self._delays:
            delay.cancel()
