"""Security rules every HTTP endpoint shares (docs/security.md).

- Login throttling, one rule for the native login, the ACTAtek login, the password change
  and HTTP basic auth (`LoginThrottle`).
- Body size limits and JSON error answers, whatever the handler (`body_limits`,
  `json_errors`).
- The status page's session cookie (HttpOnly, SameSite=Strict) and its CSRF token
  (`set_session_cookie`, `csrf_protect`).
- Strict JSON bodies and constant-time secret checks (`read_json_object`,
  `check_basic_auth`).

Time is an input: the throttle reads the injected `Clock`, so tests move time.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.atomicfile import state_file_owner, write_atomically
from gateway.clock import Clock
from gateway.web.strictjson import BodyRejected, read_strict_json

log = logging.getLogger(__name__)

# -- throttling ---------------------------------------------------------------------------

FREE_FAILURES = 5  # failures that cost nothing: typing mistakes
BASE_DELAY_S = 1.0  # the wait after the 5th failure; doubles with each further one
MAX_DELAY_S = 300.0  # the longest wait between two attempts
LOCK_AFTER = 20  # consecutive failures of one account that lock it until an admin clears it
ADDRESS_FORGET_S = 24 * 3600.0  # an address quiet this long starts afresh
MAX_TRACKED = 10_000  # counters kept per kind (accounts, addresses): memory stays bounded
LOCKS_FILE = "login-locks.json"


def delay_after(failures: int) -> float:
    """Seconds an account or address must wait after its latest failure before trying again."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(MAX_DELAY_S, BASE_DELAY_S * 2.0 ** (failures - FREE_FAILURES))


@dataclass
class _Counter:
    failures: int = 0
    last: float = 0.0  # monotonic time of the latest failure


@dataclass(frozen=True)
class Refusal:
    """Why a login attempt was refused before its password was even checked."""

    account: str | None
    retry_after_s: int  # 0 when locked
    locked: bool = False

    @property
    def message(self) -> str:
        if self.locked:
            return (
                "account locked after too many failed logins; an administrator unlocks it "
                f"with `door-gateway passwd {self.account}`"
            )
        return f"too many failed logins; try again in {self.retry_after_s} s"


class AccountLocks:
    """Hard lockouts, kept in a small JSON file in the state dir so that a restart does not
    clear them and `door-gateway passwd NAME` (another process) can.

    The file is read at every check (logins are rare and already slow on purpose), so a
    clear by the CLI takes effect at the next attempt. A damaged file is logged and
    ignored: the delays still apply, and no account is locked out by a disk fault.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.error("login lock file %s ignored: %s", self.path, exc)
            return {}
        locked = data.get("locked") if isinstance(data, dict) else None
        return locked if isinstance(locked, dict) else {}

    def _write(self, locked: Mapping[str, Any]) -> None:
        data = json.dumps({"version": 1, "locked": dict(locked)}, sort_keys=True)
        # `sudo door-gateway passwd`: the file stays the daemon's (the state dir's owner), or
        # the daemon could no longer read the locks and would ignore them all.
        owner = state_file_owner(self.path.parent)
        write_atomically(self.path, data.encode("utf-8"), 0o600, owner=owner)

    def is_locked(self, account: str) -> bool:
        return account in self._read()

    def lock(self, account: str, when: float, failures: int) -> None:
        locked = self._read()
        locked[account] = {"at": when, "failures": failures}
        self._write(locked)

    def clear(self, account: str) -> bool:
        """Unlock `account`; True if it was locked."""
        locked = self._read()
        if locked.pop(account, None) is None:
            return False
        self._write(locked)
        return True

    def accounts(self) -> list[str]:
        return sorted(self._read())


class LoginThrottle:
    """Per account and per client address: free failures, then a doubling wait; per
    account, a hard lock after `LOCK_AFTER` consecutive failures.

    Every attempt is counted as a failure when it starts (`begin`) and the count is taken
    back on success, so a burst of parallel guesses cannot slip past the rule while the
    slow password hash runs. `account=None` (HTTP basic auth) throttles by address only:
    locking the one shared basic-auth account would let anyone shut out the real sender.
    """

    def __init__(
        self,
        clock: Clock,
        locks: AccountLocks | None = None,
        known: Callable[[str], bool] | None = None,
    ) -> None:
        self.clock = clock
        self._locks = locks
        self._known = known or (lambda _account: False)
        self._accounts: dict[str, _Counter] = {}
        self._addresses: dict[str, _Counter] = {}
        # Names that are not accounts are locked in memory only, so that "locked" does not
        # tell a guesser which names exist, and the lock file cannot be filled with junk.
        self._memory_locked: dict[str, float] = {}

    def begin(self, account: str | None, address: str) -> Refusal | None:
        """Before checking a password: a refusal, or None after counting the attempt."""
        now = self.clock.monotonic()
        self._forget_quiet_addresses(now)
        if account is not None and self._is_locked(account):
            return Refusal(account, 0, locked=True)
        wait = self._wait(self._addresses.get(address), now)
        if account is not None:
            wait = max(wait, self._wait(self._accounts.get(account), now))
        if wait > 0:
            return Refusal(account, max(1, math.ceil(wait)))
        self._count(self._addresses, address, now)
        if account is not None:
            self._count(self._accounts, account, now)
        return None

    def succeeded(self, account: str | None, address: str) -> None:
        """The password was right: the account starts afresh, the address gets its attempt
        back (not a clean slate, or one good login would hide guesses at other accounts)."""
        if account is not None:
            self._accounts.pop(account, None)
        counter = self._addresses.get(address)
        if counter is not None:
            counter.failures -= 1
            if counter.failures <= 0:
                del self._addresses[address]

    def failed(self, account: str | None, address: str) -> str | None:
        """The password was wrong (already counted): "login_locked" when this failure locked
        the account, "login_throttled" when it started the waits, else None (for the journal)."""
        counter = self._accounts.get(account) if account is not None else None
        if account is not None and counter is not None and counter.failures >= LOCK_AFTER:
            self._lock(account, counter.failures)
            return "login_locked"
        by_address = self._addresses.get(address)
        started = [c for c in (counter, by_address) if c is not None]
        if any(c.failures == FREE_FAILURES for c in started):
            return "login_throttled"
        return None

    def clear(self, account: str) -> None:
        """An admin unlocked `account` (in this process)."""
        self._accounts.pop(account, None)
        self._memory_locked.pop(account, None)
        if self._locks is not None:
            self._locks.clear(account)

    def _is_locked(self, account: str) -> bool:
        if self._locks is None or not self._known(account):
            return account in self._memory_locked
        self._memory_locked.pop(account, None)  # an account created since: the file rules
        if self._locks.is_locked(account):
            return True
        counter = self._accounts.get(account)
        if counter is not None and counter.failures >= LOCK_AFTER:
            # Locked once, and cleared since by `door-gateway passwd` in another process.
            del self._accounts[account]
        return False

    def _lock(self, account: str, failures: int) -> None:
        if self._locks is not None and self._known(account):
            self._locks.lock(account, self.clock.time(), failures)
            log.warning("technician %r locked after %d failed logins", account, failures)
            return
        if len(self._memory_locked) >= MAX_TRACKED:
            oldest = min(self._memory_locked, key=self._memory_locked.__getitem__)
            del self._memory_locked[oldest]
        self._memory_locked[account] = self.clock.monotonic()

    @staticmethod
    def _wait(counter: _Counter | None, now: float) -> float:
        if counter is None:
            return 0.0
        return max(0.0, counter.last + delay_after(counter.failures) - now)

    @staticmethod
    def _count(counters: dict[str, _Counter], key: str, now: float) -> None:
        counter = counters.get(key)
        if counter is None:
            if len(counters) >= MAX_TRACKED:
                oldest = min(counters, key=lambda k: counters[k].last)
                del counters[oldest]
            counter = counters[key] = _Counter()
        counter.failures += 1
        counter.last = now

    def _forget_quiet_addresses(self, now: float) -> None:
        quiet = [a for a, c in self._addresses.items() if now - c.last > ADDRESS_FORGET_S]
        for address in quiet:
            del self._addresses[address]

    def status(self) -> dict[str, Any]:
        now = self.clock.monotonic()
        return {
            "accounts_failing": len(self._accounts),
            "addresses_waiting": sum(1 for c in self._addresses.values() if self._wait(c, now)),
            "accounts_locked": self._locks.accounts() if self._locks is not None else [],
        }


THROTTLE = web.AppKey("login_throttle", LoginThrottle)

Account = tuple[str, str]  # (username, level)
Verify = Callable[[str, str], Awaitable[Account | None]]
Record = Callable[[str, str, str], None]  # (reason, username, detail): record_api


@dataclass(frozen=True)
class LoginOutcome:
    """The account on success; else the refusal, or neither for a wrong password."""

    account: Account | None = None
    refusal: Refusal | None = None


async def checked_login(
    throttle: LoginThrottle,
    verify: Verify,
    record: Record,
    username: str,
    password: str,
    address: str,
    api: str,
) -> LoginOutcome:
    """One login attempt under the throttle, journaled with who and from where.

    A throttled attempt is not journaled each time (a flood would push real events out of
    the journal); the start of the waits and a lock are, once each.
    """
    refusal = throttle.begin(username, address)
    if refusal is not None:
        return LoginOutcome(refusal=refusal)
    account = await verify(username, password)
    detail = f"{api} from {address}"
    if account is not None:
        throttle.succeeded(username, address)
        record("login", username, detail)
        return LoginOutcome(account=account)
    engaged = throttle.failed(username, address)
    record("login_failed", username, detail)
    if engaged is not None:
        record(engaged, username, detail)
    return LoginOutcome()


def client_address(request: web.Request) -> str:
    """The peer address (a reverse proxy makes every client one address: see docs)."""
    return request.remote or "unknown"


# -- basic auth ---------------------------------------------------------------------------


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets (as UTF-8 bytes)."""
    # surrogateescape: header text may carry undecodable bytes, which must not crash here
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


def parse_basic_auth(header: str) -> tuple[str, str] | None:
    """`Basic base64(user:password)` -> (user, password); None when absent or malformed."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded or len(encoded) > 1024:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and a header that is not ASCII
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def check_basic_auth(header: str, username: str, password: str) -> bool:
    """True when `header` carries exactly these credentials; both parts are always compared,
    so the time taken does not tell which one was wrong."""
    given = parse_basic_auth(header)
    if given is None or not username or not password:
        return False
    user_ok = same_secret(given[0], username)
    password_ok = same_secret(given[1], password)
    return user_ok and password_ok


# -- strict JSON bodies -------------------------------------------------------------------


class BodyError(Exception):
    """The body is refused; `status` is 400 or 413."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def read_json_object(
    request: web.Request, max_bytes: int, allowed: frozenset[str]
) -> dict[str, Any]:
    """The body as a JSON object: UTF-8, at most `max_bytes`, no duplicate keys, no
    NaN/Infinity, and no key outside `allowed` (a typo must not be silently ignored)."""
    try:
        body = await read_strict_json(request, max_bytes)
    except BodyRejected as exc:
        raise BodyError(exc.message, exc.status) from exc
    if not isinstance(body, dict):
        raise BodyError("body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BodyError(f"unknown field {unknown[0]!r}; expected {', '.join(sorted(allowed))}")
    return body


def text_field(
    body: Mapping[str, Any], name: str, max_len: int, min_len: int = 1, printable: bool = True
) -> str:
    """A required string of `min_len`..`max_len` characters (printable unless told)."""
    value = body.get(name)
    if (
        not isinstance(value, str)
        or not min_len <= len(value) <= max_len
        or (printable and not value.isprintable())
    ):
        raise BodyError(f"{name}: expected a string of {min_len} to {max_len} characters")
    return value


# -- body limits and JSON errors ------------------------------------------------------------

MAX_BODY_BYTES = 4 * 1024 * 1024  # the largest body anywhere (an ACTAtek face photo)
NO_DATA_BYTES = 1024  # endpoints that take no user data: room for a stray "{}" only
BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyLimits(dict[tuple[str, str], int]):
    """(METHOD, route path as registered) -> the most body bytes that endpoint takes."""


BODY_LIMITS = web.AppKey("body_limits", BodyLimits)


def error_body(path: str, status: int, message: str) -> web.Response:
    """An error in the shape of the API the path belongs to."""
    if path.startswith("/fcgi/"):
        return web.json_response({"result": "error", "reason": message}, status=status)
    return web.json_response({"status": "error", "message": message}, status=status)


def body_limit(request: web.Request) -> int:
    """The most bytes this request's endpoint accepts."""
    route = request.match_info.route
    resource = route.resource
    path = resource.canonical if resource is not None else ""
    limits = request.app.get(BODY_LIMITS)
    limit = limits.get((request.method, path)) if limits is not None else None
    if limit is not None:
        return limit
    return NO_DATA_BYTES if request.method in BODYLESS_METHODS else MAX_BODY_BYTES


@web.middleware
async def body_limits(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """413 before the handler runs when the declared length is over the endpoint's limit.

    A chunked body has no declared length: the handlers read it with their own bound."""
    limit = body_limit(request)
    if request.content_length is not None and request.content_length > limit:
        return too_large(request, limit)
    return await handler(request)


def too_large(request: web.Request, limit: int) -> web.Response:
    """413, and the connection is closed after it: reading megabytes of a refused body to
    keep the connection alive would only help whoever sends them."""
    return error_body(request.path, 413, f"request body larger than {limit} bytes")


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Outside the ACTAtek API (which has its own): aiohttp's HTML/text errors and crashes
    become JSON, never a traceback."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return too_large(request, MAX_BODY_BYTES)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = "unknown endpoint" if exc.status == 404 else exc.reason
        response = error_body(request.path, exc.status, message)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("HTTP fault on %s %s", request.method, request.path)
        return error_body(request.path, 500, "internal error")


# -- the status page's session cookie and CSRF token -------------------------------------

SESSION_COOKIE = "dg_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_EXPECTED = web.RequestKey("csrf_expected", str)  # set when a cookie authenticated


def set_session_cookie(response: web.StreamResponse, token: str, secure: bool) -> None:
    """The login token as the status page's cookie: JavaScript cannot read it (HttpOnly),
    other sites' pages cannot make the browser send it (SameSite=Strict); `Secure` when the
    page was served over TLS. A session cookie: it dies with the browser."""
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="Strict", secure=secure, path="/"
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")


@web.middleware
async def csrf_protect(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A state-changing request authenticated by the cookie must carry the session's CSRF
    token in `X-CSRF-Token`: a form on another site can make the browser send the cookie
    but cannot read the token. Bearer-token requests need none (no browser adds them)."""
    expected = request.get(CSRF_EXPECTED)
    if expected is not None and request.method not in SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER, "")
        if not same_secret(given, expected):
            return error_body(request.path, 403, f"missing or wrong {CSRF_HEADER} header")
    return await handler(request)
