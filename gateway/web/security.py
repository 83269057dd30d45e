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
import hashlib
import hmac
import ipaddress
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from gateway.clock import Clock
from gateway.doors.errors import UnknownDoor
from gateway.web.auth import CredentialVersions
from gateway.web.common import BadRequest
from gateway.web.strictjson import BodyRejected, read_strict_json

log = logging.getLogger(__name__)
Key = TypeVar("Key")

# -- throttling ---------------------------------------------------------------------------

FREE_FAILURES = 5  # failures that cost nothing: typing mistakes
BASE_DELAY_S = 1.0  # the wait after the 5th failure; doubles with each further one
MAX_DELAY_S = 300.0  # the longest wait between two attempts: never a lockout
FORGET_AFTER_S = 24 * 3600.0  # a counter quiet this long starts afresh (its episode ends)
MAX_ADDRESSES = 10_000  # per-address counters kept: memory stays bounded
NAME_BUCKETS = 1024  # counters shared by the names that are not accounts
OTHER_ALARM_INTERVAL_S = 600.0  # at most one alarm per 10 min for addresses and non-accounts
SWEEP_INTERVAL_S = 60.0  # how often quiet counters are looked for
TRUSTED_PER_ACCOUNT = 8  # addresses remembered per account for having logged in to it
TRUST_S = 30 * 24 * 3600.0  # how long such an address is remembered


def delay_after(failures: int) -> float:
    """Seconds an account or address must wait after its latest failure before trying again."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(MAX_DELAY_S, BASE_DELAY_S * 2.0 ** (failures - FREE_FAILURES))


def address_key(address: str) -> str:
    """What the per-address rule counts: an IPv4 address, or an IPv6 /64 (one host or
    home router has a whole /64 and may pick any address in it)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(slots=True)
class _Counter:
    failures: int = 0
    last: float = 0.0  # monotonic time of the latest counted attempt
    alarmed: bool = False  # this episode was journaled (or counted toward an alarm)

    def wait(self, now: float) -> float:
        return max(0.0, self.last + delay_after(self.failures) - now)

    def take_back(self) -> None:
        self.failures = max(0, self.failures - 1)


@dataclass(frozen=True)
class Refusal:
    """Why a login attempt was refused before its password was even checked."""

    account: str | None
    retry_after_s: int

    @property
    def message(self) -> str:
        return f"too many failed logins; try again in {self.retry_after_s} s"


@dataclass(frozen=True)
class LoginAlarm:
    """An episode of failed logins the site must hear about: journaled once as an alarm
    event, not once per attempt."""

    name: str  # the account under attack, or the name tried ("" for basic auth)
    address: str  # the client address of the failure that started the episode
    failures: int
    via: str  # which login: "native", "actatek", "http_unlock", ...
    account_attacked: bool  # an existing account is waiting (else an address or a name)
    more_episodes: int = 0  # other address/name episodes since the previous such alarm

    @property
    def trace(self) -> str:
        if self.account_attacked:
            what = f"{self.failures} failed logins for this account"
        else:
            what = f"{self.failures} failed logins from {self.address}"
        latest = self.via or "a failure"
        trace = (
            f"{what} (latest: {latest} from {self.address}); each further attempt waits, "
            f"up to {MAX_DELAY_S:.0f} s; no lockout"
        )
        if self.more_episodes:
            trace += f"; {self.more_episodes} more addresses or names since the previous alarm"
        return trace


AlarmSink = Callable[[LoginAlarm], None]


def _forget_quiet(counters: dict[Key, _Counter], now: float) -> None:
    for key in [k for k, c in counters.items() if now - c.last > FORGET_AFTER_S]:
        del counters[key]


class _AddressCounters:
    """Per-address counters, at most `MAX_ADDRESSES`. When full, the counter with the
    fewest failures (the oldest among equals) goes: to push out an address that is
    guessing, an attacker must first fill the table with addresses that failed as often,
    i.e. already own as many addresses, which is what the eviction would have given them."""

    def __init__(self) -> None:
        self._counters: dict[str, _Counter] = {}

    def get(self, key: str) -> _Counter | None:
        return self._counters.get(key)

    def count(self, key: str, now: float) -> None:
        counter = self._counters.get(key)
        if counter is None:
            if len(self._counters) >= MAX_ADDRESSES:
                weakest = min(self._counters.items(), key=lambda kv: (kv[1].failures, kv[1].last))
                del self._counters[weakest[0]]
            counter = self._counters[key] = _Counter()
        counter.failures += 1
        counter.last = now

    def take_back(self, key: str) -> None:
        counter = self._counters.get(key)
        if counter is not None:
            counter.take_back()
            if counter.failures == 0:
                del self._counters[key]

    def forget_quiet(self, now: float) -> None:
        _forget_quiet(self._counters, now)

    def waiting(self, now: float) -> int:
        return sum(1 for c in self._counters.values() if c.wait(now) > 0)

    def __len__(self) -> int:
        return len(self._counters)


class LoginThrottle:
    """Per account and per client address: free failures, then a doubling wait up to a
    ceiling; never a lockout (docs/security.md, "Login throttling").

    Every attempt is counted as a failure when it starts (`begin`) and taken back on
    success, so a burst of parallel guesses cannot slip past the rule while the slow
    password hash runs; a fault while checking (`abandoned`) is not a failure either.
    `account=None` (HTTP basic auth) throttles by address only.

    An address that logged in to an account before (`TRUST_S`) is not held back by that
    account's wait, only by its own: an attacker elsewhere who keeps the account waiting
    at the ceiling cannot keep its technician out (OWASP's "device cookie" idea, by
    address). Its failures still count for the account.

    Memory is bounded without letting an attacker reset a counter by pushing it out: an
    existing account has its own counter (the accounts are a bounded set the site
    creates); names that are not accounts share `NAME_BUCKETS` counters by a keyed hash,
    so they wait like an account does (the answers do not tell which names exist) and no
    flood of names can evict anything; addresses are kept as `_AddressCounters` says.
    """

    def __init__(
        self,
        clock: Clock,
        known: Callable[[str], bool] | None = None,
        alarm: AlarmSink | None = None,
    ) -> None:
        self.clock = clock
        self._known = known or (lambda _account: False)
        self._alarm = alarm or (lambda _alarm: None)
        self._accounts: dict[str, _Counter] = {}
        self._names: dict[int, _Counter] = {}  # bucket -> counter, for non-accounts
        self._bucket_key = secrets.token_bytes(16)  # an attacker cannot aim at a bucket
        self._addresses = _AddressCounters()
        # account -> {address key: monotonic time of its latest successful login}
        self._trusted: dict[str, dict[str, float]] = {}
        self._last_sweep = -math.inf
        self._last_other_alarm = -math.inf
        self._other_episodes = 0  # address/name episodes not journaled yet

    # -- the login handlers' calls

    def begin(self, account: str | None, address: str) -> Refusal | None:
        """Before checking a password: a refusal, or None after counting the attempt."""
        now = self.clock.monotonic()
        self._sweep(now)
        key = address_key(address)
        by_address = self._addresses.get(key)
        wait = by_address.wait(now) if by_address is not None else 0.0
        by_account = self._counter_of(account) if account is not None else None
        if by_account is not None and not self._is_trusted(account, key, now):
            wait = max(wait, by_account.wait(now))
        if wait > 0:
            return Refusal(account, max(1, math.ceil(wait)))
        self._addresses.count(key, now)
        if by_account is not None:
            by_account.failures += 1
            by_account.last = now
        return None

    def succeeded(self, account: str | None, address: str) -> None:
        """The password was right: the account starts afresh (its episode is over), the
        address gets its attempt back (not a clean slate, or one good login would hide
        guesses at other accounts)."""
        key = address_key(address)
        if account is not None:
            if self._accounts.pop(account, None) is None:
                self._counter_of(account).take_back()  # an account created meanwhile
            self._trust(account, key)
        self._addresses.take_back(key)

    def failed(self, account: str | None, address: str, via: str = "") -> None:
        """The password was wrong (already counted by `begin`): journals an alarm when
        this failure starts an episode of waits."""
        by_account = self._counter_of(account) if account is not None else None
        by_address = self._addresses.get(address_key(address))
        self._alarm_if_starting(account, address, via, by_account, by_address)

    def abandoned(self, account: str | None, address: str) -> None:
        """The check failed with a fault (a 500): the attempt does not count at all."""
        if account is not None:
            self._counter_of(account).take_back()
        self._addresses.take_back(address_key(address))

    def count_failure(self, account: str | None, address: str, via: str = "") -> None:
        """A failure for `account` from `address` that was not a login (e.g. a refused
        credential change): counted toward the same waits and alarms as a wrong password."""
        now = self.clock.monotonic()
        self._addresses.count(address_key(address), now)
        if account is not None:
            counter = self._counter_of(account)
            counter.failures += 1
            counter.last = now
        self.failed(account, address, via)

    # -- inside

    def _counter_of(self, account: str) -> _Counter:
        counter = self._accounts.get(account)
        if counter is not None:
            return counter
        if self._known(account):
            return self._accounts.setdefault(account, _Counter())
        return self._names.setdefault(self._bucket(account), _Counter())

    def _is_trusted(self, account: str | None, key: str, now: float) -> bool:
        since = self._trusted.get(account or "", {}).get(key)
        return since is not None and now - since <= TRUST_S

    def _trust(self, account: str, key: str) -> None:
        """Remember that `key` logged in to `account` (only accounts log in: bounded)."""
        trusted = self._trusted.setdefault(account, {})
        trusted.pop(key, None)
        trusted[key] = self.clock.monotonic()
        if len(trusted) > TRUSTED_PER_ACCOUNT:
            del trusted[next(iter(trusted))]  # the least recent

    def _bucket(self, name: str) -> int:
        digest = hashlib.blake2b(
            name.encode("utf-8", "surrogateescape"), key=self._bucket_key, digest_size=8
        ).digest()
        return int.from_bytes(digest, "big") % NAME_BUCKETS

    def _alarm_if_starting(
        self,
        account: str | None,
        address: str,
        via: str,
        by_account: _Counter | None,
        by_address: _Counter | None,
    ) -> None:
        starting = [
            c
            for c in (by_account, by_address)
            if c is not None and c.failures >= FREE_FAILURES and not c.alarmed
        ]
        if not starting:
            return
        for counter in starting:
            counter.alarmed = True
        if by_account in starting and account is not None and account in self._accounts:
            if by_address is not None:
                by_address.alarmed = True  # this alarm names the address too
            assert by_account is not None
            self._alarm(LoginAlarm(account, address, by_account.failures, via, True))
            return
        # An address, or names that are not accounts: one alarm per interval at most, so
        # a botnet cannot fill the journal with alarms; the count says how many more.
        self._other_episodes += 1
        now = self.clock.monotonic()
        if now - self._last_other_alarm < OTHER_ALARM_INTERVAL_S:
            return
        failures = max(c.failures for c in starting)
        more, self._other_episodes = self._other_episodes - 1, 0
        self._last_other_alarm = now
        self._alarm(LoginAlarm(account or "", address, failures, via, False, more))

    def _sweep(self, now: float) -> None:
        """Forget counters quiet for `FORGET_AFTER_S`: their episode is over."""
        if now - self._last_sweep < SWEEP_INTERVAL_S:
            return
        self._last_sweep = now
        self._addresses.forget_quiet(now)
        _forget_quiet(self._accounts, now)
        _forget_quiet(self._names, now)
        for trusted in self._trusted.values():
            for key in [k for k, since in trusted.items() if now - since > TRUST_S]:
                del trusted[key]

    def status(self) -> dict[str, Any]:
        now = self.clock.monotonic()
        return {
            "accounts_waiting": sorted(a for a, c in self._accounts.items() if c.wait(now)),
            "addresses_waiting": self._addresses.waiting(now),
            "addresses_tracked": len(self._addresses),
            "episodes_not_yet_journaled": self._other_episodes,
        }


THROTTLE = web.AppKey("login_throttle", LoginThrottle)

Account = tuple[str, str]  # (username, level)
Verify = Callable[[str, str], Awaitable[Account | None]]
Record = Callable[[str, str, str], None]  # (reason, username, detail): record_api


@dataclass(frozen=True)
class LoginOutcome:
    """The account on success (with the credential version read before the password was
    checked: a session lives only while it stays so); else the refusal, or neither for a
    wrong password."""

    account: Account | None = None
    refusal: Refusal | None = None
    credential_version: int = 0


async def checked_login(
    throttle: LoginThrottle,
    verify: Verify,
    record: Record,
    username: str,
    password: str,
    address: str,
    api: str,
    accounts: CredentialVersions,
) -> LoginOutcome:
    """One login attempt under the throttle, journaled with who and from where.

    A throttled attempt is not journaled each time (a flood would push real events out of
    the journal); the start of an episode of waits is journaled once, as an alarm. A fault
    while checking (the answer is a 500) is not counted as a failure.
    """
    refusal = throttle.begin(username, address)
    if refusal is not None:
        return LoginOutcome(refusal=refusal)
    try:
        # Read before the check: a change made meanwhile (another process) then makes the
        # new session stale at once, never the other way round.
        version = accounts.technician_credential_version(username)
        account = await verify(username, password)
    except Exception:
        throttle.abandoned(username, address)
        raise
    detail = f"{api} from {address}"
    if account is not None and version is not None:
        throttle.succeeded(username, address)
        record("login", username, detail)
        return LoginOutcome(account=account, credential_version=version)
    throttle.failed(username, address, api)
    record("login_failed", username, detail)
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


async def read_json_object(
    request: web.Request, max_bytes: int, allowed: frozenset[str]
) -> dict[str, Any]:
    """The body as a JSON object: UTF-8, at most `max_bytes`, no duplicate keys, no
    NaN/Infinity, and no key outside `allowed` (a typo must not be silently ignored)."""
    try:
        body = await read_strict_json(request, max_bytes)
    except BodyRejected as exc:
        raise BadRequest(exc.message, exc.status) from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; expected {', '.join(sorted(allowed))}")
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
        raise BadRequest(f"{name}: expected a string of {min_len} to {max_len} characters")
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
    """Outside the ACTAtek API (which has its own): a handler's refusal (`BadRequest`) is
    answered in its API's shape with its status, a door name the door commands do not
    know (`UnknownDoor`) with 404; aiohttp's HTML/text errors and crashes
    become JSON, never a traceback."""
    try:
        return await handler(request)
    except BadRequest as exc:
        return error_body(request.path, exc.status, exc.message)
    except UnknownDoor as exc:  # the door commands' refusal of a name
        return error_body(request.path, 404, str(exc))
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
