"""Credential changes through the ACTAtek API without a PIN or card oracle
(docs/security.md, "No PIN or card oracle").

Refusing a PIN because it is taken tells the caller that someone has that PIN: with
4-digit PINs, 10,000 requests would list every PIN of the site, and a PIN alone opens a
PIN-only door as its owner. So:

- a login without the `users` capability (PERSONALUSER, NETWORKADMIN) changes no
  credential of its own record, whatever the value (`refuse_credentials`): nothing to
  learn from the answer;
- a taken PIN (another user's, or a public PIN) is refused with one message that does
  not say why; a taken card, QR code or plate names its owner only to a login that can
  read every user anyway (`change_credentials`);
- those refusals are counted per account and per address (`CredentialRefusals`): after
  `FREE_REFUSALS` of an account (`ADDRESS_FREE_REFUSALS` of an address, which may be a
  proxy or a NAT shared by several people), every credential change of that account or
  from that address waits, 60 s and doubling up to a day (forgotten after a quiet week),
  and an alarm event is journaled once. They also count toward the login throttle, and a
  successful login does not forgive them;
- credential changes run one at a time (they are serialised by the store anyway), so
  parallel requests cannot outrun the count.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from aiohttp import web

from gateway.clock import Clock
from gateway.model import Event
from gateway.store.errors import CredentialTaken, StoreError
from gateway.web import security
from gateway.web.actatek.answers import ActatekError, common_error
from gateway.web.actatek.context import context_of
from gateway.web.actatek.sections import in_thread
from gateway.web.actatek.session import session_of
from gateway.web.actatek.users_json import NAMES, UserInput

T = TypeVar("T")

FREE_REFUSALS = 3  # refusals that cost nothing: a PIN an administrator did not know was taken
ADDRESS_FREE_REFUSALS = 10  # per address: several accounts may share one (a proxy, a NAT)
FIRST_WAIT_S = 60.0  # the wait after the last free refusal; doubles with each further one
MAX_WAIT_S = 24 * 3600.0
# A week without a refusal starts afresh: longer than the longest wait, or waiting it out
# would also wipe the count.
FORGET_AFTER_S = 7 * 24 * 3600.0
MAX_TRACKED = 10_000  # counters per kind; the oldest goes first (accounts are few)
# What a caller is told when a credential is taken and it may not know by whom.
TAKEN = {
    "pin": "this PIN cannot be used; choose another",
    "card": "this card cannot be used; ask a user administrator",
    "qr": "this QR code cannot be used; ask a user administrator",
    "plate": "this plate cannot be used; ask a user administrator",
}


def wait_after(refusals: int, free: int) -> float:
    """Seconds a credential change must wait after the latest of `refusals` refusals, when
    the first `free` of them cost nothing."""
    if refusals < free:
        return 0.0
    return min(MAX_WAIT_S, FIRST_WAIT_S * 2.0 ** (refusals - free))


@dataclass
class _Count:
    refusals: int = 0
    last: float = 0.0  # monotonic time of the latest refusal


class CredentialRefusals:
    """Refused credential changes per account and per client address, in memory.

    `lock` serialises credential changes: check the wait, write, count a refusal, with no
    other change in between."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._accounts: dict[str, _Count] = {}
        self._addresses: dict[str, _Count] = {}
        self.lock = asyncio.Lock()

    def wait_s(self, account: str, address: str) -> float:
        """How long the next credential change of `account` from `address` must wait."""
        now = self._clock.monotonic()
        by_account = self._wait(self._accounts, account, FREE_REFUSALS, now)
        by_address = self._wait(self._addresses, address, ADDRESS_FREE_REFUSALS, now)
        return max(by_account, by_address)

    def refused(self, account: str, address: str) -> bool:
        """Count a refusal; True when it started the waits of the account or the address
        (the moment to raise the alarm, once per episode)."""
        now = self._clock.monotonic()
        started = False
        for counts, key, free in (
            (self._accounts, account, FREE_REFUSALS),
            (self._addresses, address, ADDRESS_FREE_REFUSALS),
        ):
            count = counts.get(key)
            if count is None:
                if len(counts) >= MAX_TRACKED:
                    del counts[min(counts, key=lambda k: counts[k].last)]
                count = counts[key] = _Count()
            count.refusals += 1
            count.last = now
            started |= count.refusals == free
        return started

    @staticmethod
    def _wait(counts: dict[str, _Count], key: str, free: int, now: float) -> float:
        count = counts.get(key)
        if count is None:
            return 0.0
        if now - count.last >= FORGET_AFTER_S:
            del counts[key]
            return 0.0
        return max(0.0, count.last + wait_after(count.refusals, free) - now)


CREDENTIAL_REFUSALS = web.AppKey("credential_refusals", CredentialRefusals)


def credential_fields(new: UserInput) -> list[str]:
    """The API fields of `new` that set a credential (a PIN, a card, QR codes, plates)."""
    given = (("password", new.pin), ("cardsn", new.card), ("keyrecords", new.keys))
    return [name for name, value in given if value is not None]


async def change_credentials(request: web.Request, fields: list[str], save: Callable[[], T]) -> T:
    """Run `save`, a store call that writes credentials, on a worker thread under the rules
    of this module; `fields` names the API fields that carry the change."""
    refusals = request.app[CREDENTIAL_REFUSALS]
    session = session_of(request)
    async with refusals.lock:
        _wait_first(request, refusals, fields)
        try:
            return await in_thread(save)
        except CredentialTaken as exc:
            if exc.kind != "pin" and session.may("users"):
                raise common_error(exc, NAMES) from None  # it can read the owner anyway
            count_refusal(request, refusals, fields)
            raise taken_refusal(exc) from None
        except StoreError as exc:
            raise common_error(exc, NAMES) from exc


async def refuse_credentials(request: web.Request, fields: list[str]) -> NoReturn:
    """A credential change this login may not make: refused whatever the value, counted."""
    refusals = request.app[CREDENTIAL_REFUSALS]
    async with refusals.lock:
        _wait_first(request, refusals, fields)
        count_refusal(request, refusals, fields)
    raise ActatekError(
        f"{', '.join(fields)}: only a user administrator (USERADMIN or SUPERADMIN) sets "
        f"credentials; a {session_of(request).level} login may change only its names here"
    )


def _wait_first(request: web.Request, refusals: CredentialRefusals, fields: list[str]) -> None:
    """Refuse, without looking at the change, while the account or address must wait."""
    wait = refusals.wait_s(session_of(request).username, security.client_address(request))
    if wait > 0:
        raise waiting_refusal(fields, wait)


def waiting_refusal(fields: list[str], wait_s: float) -> ActatekError:
    """The answer to a credential change made `wait_s` seconds too early (not looked at)."""
    return ActatekError(
        f"{', '.join(fields)}: too many refused credential changes; "
        f"try again in {max(1, math.ceil(wait_s))} s"
    )


def taken_refusal(exc: CredentialTaken) -> ActatekError:
    """The answer to a taken credential that does not say whose (always for a PIN)."""
    return ActatekError(f"{NAMES.get(exc.field, exc.field)}: {TAKEN[exc.kind]}")


def count_refusal(request: web.Request, refusals: CredentialRefusals, fields: list[str]) -> None:
    """Journal the refusal (which fields, never a value), count it here and toward the
    login throttle, and raise the alarm when it starts the waits."""
    ctx = context_of(request)
    account = session_of(request).username
    address = security.client_address(request)
    detail = f"actatek {'+'.join(fields)} from {address}"
    ctx.record_api("credential_change_refused", account, detail)
    request.app[security.THROTTLE].count_failure(account, address, "a refused credential change")
    if refusals.refused(account, address):
        trace = (
            f"refused credential changes by {account} from {address} (actatek "
            f"{'+'.join(fields)}): further changes of the account or address wait"
        )
        ctx.emit(
            Event(
                "alarm", ctx.clock.time(), user_id=account, reason="credential_probing", trace=trace
            )
        )
