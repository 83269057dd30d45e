"""Anti-passback URLs: after a grant, tell other devices who passed (Akuvox reference 003).

The Akuvox "authentication device" sends up to 10 URLs per user after a successful
authentication, e.g.
`http://admin:pw@10.0.0.35/fcgi/OpenDoor?action=OpenDoor&DoorNum=1&AntiPassbackMode=$antipassbackmode&Name=$name&UnlockType=$unlocktype&Code=$code`.
We do the same per reader (`apb_urls`): `$antipassbackmode` is "Entry"/"Exit" from the
reader's direction, `$name` the user's name, `$unlocktype` the credential kind in Akuvox
words, `$code` the credential value (a card in the reader's display format); every value
is percent-encoded.

Fire and forget: `notify` returns at once, each URL is a background task with a short
deadline, and a failure only becomes an `upstream` event (`apb_url_failed`). A PIN is the
code only over https (the receiver needs it to find the user, but it must not cross the
LAN in clear); to an http URL the request is not sent and the event says why. Logs and
events show the URL with the PIN as `****` and no password.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from yarl import URL

from gateway.cardnumbers import to_display
from gateway.clock import Clock
from gateway.model import Credential, Event, shown_credential
from gateway.settings import ReaderSettings
from gateway.upstream.http import client_ssl, failure_kind, new_session
from gateway.upstream.template import hide_password

log = logging.getLogger(__name__)

APB_TIMEOUT_S = 3.0
MAX_IN_FLIGHT = 64  # more than this means the receivers are down: shed, do not pile up
CONNECTIONS = 16
# The Akuvox names of the unlock methods (as their web UI titles them: "RF Card",
# "PIN", "QR Code", "License Plate").
UNLOCK_TYPES: dict[str, str] = {
    "card": "RF Card",
    "pin": "PIN",
    "qr": "QR Code",
    "plate": "License Plate",
}
APB_MODES: dict[str, str] = {"in": "Entry", "out": "Exit"}
_VARIABLE = re.compile(r"\$(antipassbackmode|unlocktype|name|code)")


@dataclass(frozen=True)
class ApbValues:
    """The four `$variables` of one notification (raw, not yet encoded), and the code as
    logs and events show it (a PIN masked, a QR code as its fingerprint)."""

    antipassbackmode: str
    name: str
    unlocktype: str
    code: str
    shown_code: str

    def fill(self, url: str, for_log: bool = False) -> str:
        """`url` with each `$variable` replaced by its percent-encoded value (with
        `for_log`, `$code` becomes `shown_code`, its `****` or `sha256:` left readable)."""
        code = quote(self.shown_code, safe="*:") if for_log else quote(self.code, safe="")
        values = {
            "antipassbackmode": quote(self.antipassbackmode, safe=""),
            "name": quote(self.name, safe=""),
            "unlocktype": quote(self.unlocktype, safe=""),
            "code": code,
        }
        return _VARIABLE.sub(lambda m: values[m.group(1)], url)


def apb_values(reader: ReaderSettings, credential: Credential, user_name: str) -> ApbValues:
    """The values for a grant at `reader`; ValueError if the card cannot be shown in the
    reader's display format (a wrong number could open a door for someone else)."""
    code = credential.value
    if credential.kind == "card" and reader.card_display_format:
        code = to_display(code, reader.card_display_format)
    return ApbValues(
        antipassbackmode=APB_MODES[reader.direction],
        name=user_name,
        unlocktype=UNLOCK_TYPES.get(credential.kind, credential.kind),
        code=code,
        shown_code=shown_credential(credential.kind, code),
    )


class AntiPassbackNotifier:
    """Sends every reader's `apb_urls` after a grant, in the background."""

    def __init__(
        self,
        emit: Callable[[Event], None],
        clock: Clock,
        ssl_setting: ssl.SSLContext | bool | None = None,
        timeout_s: float = APB_TIMEOUT_S,
    ) -> None:
        self._emit = emit
        self._clock = clock
        self._ssl = client_ssl(True, "") if ssl_setting is None else ssl_setting
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.failed = 0

    def notify(self, reader: ReaderSettings, credential: Credential, user_name: str) -> None:
        """Start one request per URL of `reader`; returns at once (call inside the loop)."""
        if not reader.apb_urls:
            return
        try:
            values = apb_values(reader, credential, user_name)
        except ValueError:
            for url in reader.apb_urls:
                self._failed(reader, credential, hide_password(url), "card_format")
            return
        for url in reader.apb_urls:
            self._start(reader, credential, url, values)

    def _start(
        self, reader: ReaderSettings, credential: Credential, url: str, values: ApbValues
    ) -> None:
        shown = hide_password(values.fill(url, for_log=True))
        if credential.kind == "pin" and "$code" in url and urlsplit(url).scheme != "https":
            self._failed(reader, credential, shown, "pin_needs_https")
            return
        if len(self._tasks) >= MAX_IN_FLIGHT:
            self._failed(reader, credential, shown, "overloaded")
            return
        task = asyncio.get_running_loop().create_task(
            self._send(reader, credential, values.fill(url), shown)
        )
        self._tasks.add(task)  # keep a reference: the loop only holds weak ones
        task.add_done_callback(self._tasks.discard)

    async def _send(
        self, reader: ReaderSettings, credential: Credential, url: str, shown: str
    ) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                status = await self._get(url)
        except Exception as exc:  # every failure is an event, none reaches the door
            self._failed(reader, credential, shown, failure_kind(exc))
            return
        if 200 <= status < 300:
            self.sent += 1
            log.info("anti-passback URL sent: %s", shown)
        else:
            self._failed(reader, credential, shown, f"http_{status}")

    async def _get(self, url: str) -> int:
        """GET `url` (user:password@ in it is sent as basic auth); the status code."""
        if self._session is None or self._session.closed:
            self._session = new_session(self._ssl, self._timeout_s, CONNECTIONS)
        async with self._session.get(URL(url, encoded=True), allow_redirects=False) as response:
            return response.status

    def _failed(self, reader: ReaderSettings, credential: Credential, shown: str, why: str) -> None:
        self.failed += 1
        log.warning("anti-passback URL failed (%s): %s", why, shown)
        event = Event(
            type="upstream",
            time=self._clock.time(),
            door=reader.door,
            reader=reader.name,
            credential_kind=credential.kind,
            credential=credential.display_value,
            reason="apb_url_failed",
            trace=f"apb:GET {shown} > {why}",
        )
        try:
            self._emit(event)
        except Exception:  # a journal problem must not break the next notification
            log.exception("could not record an anti-passback failure")

    def status(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "in_flight": len(self._tasks)}

    async def close(self, grace_s: float = 1.0) -> None:
        """Let requests in flight finish for up to `grace_s`, cancel the rest, close."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
