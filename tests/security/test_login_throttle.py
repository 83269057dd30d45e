"""Login throttling without a permanent lockout (OWASP authentication cheat sheet).

The attacks: twenty wrong passwords from rotating addresses locked a SUPERADMIN until
someone ran `door-gateway passwd` on the device; 10,000 logins with other names pushed an
attacked account's counter out of a bounded dict; a fault while checking a password (a
500) counted as a wrong password.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from gateway.web import security
from tests.fakes import ManualClock
from tests.web.conftest import Answer, Client

NATIVE = "/api/v1/login"
ACTATEK = "/cgi-bin/restapi/login"


async def login_from(client: Client, address: str, password: str, path: str = NATIVE) -> Answer:
    """One login as `admin`, sent from the loopback address `address` (127.0.0.0/8)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        body = {"username": "admin", "password": password}
        async with http.post(client.base + path, json=body) as resp:
            return resp.status, await resp.json(), resp.headers


async def fail_patiently(client: Client, address: str, path: str = NATIVE) -> None:
    """One wrong password from `address`, after waiting as long as the gateway asks."""
    status, body, headers = await login_from(client, address, "not-the-password", path)
    if "Retry-After" in headers:
        client.clock.advance(int(headers["Retry-After"]))
        status, body, headers = await login_from(client, address, "not-the-password", path)
    assert "Retry-After" not in headers
    if path == NATIVE:
        assert status == 401, body
    else:
        assert (status, body["message"]) == (400, "login failed")


async def test_twenty_wrong_passwords_from_rotating_addresses_lock_nobody_out(
    client: Client,
) -> None:
    for n in range(20):
        await fail_patiently(client, f"127.0.0.{n + 2}")
    # The account waits (even a right password is refused without being checked) ...
    status, body, headers = await login_from(client, "127.0.0.100", "simulate")
    assert status == 429, body
    wait = int(headers["Retry-After"])
    assert 0 < wait <= security.MAX_DELAY_S
    # ... but only for the back-off: no lock that needs `door-gateway passwd`.
    client.clock.advance(wait)
    status, body, _ = await login_from(client, "127.0.0.100", "simulate")
    assert status == 200, body
    # The site was told once for the whole episode, as an alarm naming the account.
    alarms = await client.events(type="alarm", reason="login_throttled")
    assert [a["user_id"] for a in alarms] == ["admin"]
    assert "127.0.0." in alarms[0]["trace"]
    assert await client.events(reason="login_locked") == []


async def test_a_technician_gets_in_from_a_known_address_while_others_keep_guessing(
    client: Client,
) -> None:
    assert (await login_from(client, "127.0.2.1", "simulate"))[0] == 200  # their desk
    for n in range(30):  # someone keeps the account at the longest wait
        await fail_patiently(client, f"127.0.3.{n + 2}")
    assert (await login_from(client, "127.0.2.99", "simulate"))[0] == 429  # a new address
    status, body, _ = await login_from(client, "127.0.2.1", "simulate")
    assert status == 200, body  # at once, from where they logged in before


async def test_the_actatek_login_never_locks_either(client: Client) -> None:
    for n in range(25):
        await fail_patiently(client, f"127.0.1.{n + 2}", ACTATEK)
    client.clock.advance(security.MAX_DELAY_S)
    status, body, _ = await login_from(client, "127.0.1.200", "simulate", ACTATEK)
    assert (status, body["status"]) == (200, "success"), body


def fail(throttle: security.LoginThrottle, account: str | None, address: str) -> None:
    """A wrong password, counted as the login handlers count it."""
    assert throttle.begin(account, address) is None
    throttle.failed(account, address)


def try_wrong(throttle: security.LoginThrottle, account: str, address: str) -> None:
    """A wrong password if the throttle lets it be tried at all (a flood does not wait)."""
    if throttle.begin(account, address) is None:
        throttle.failed(account, address)


def fail_patiently_at(
    throttle: security.LoginThrottle, clock: ManualClock, account: str, address: str
) -> None:
    """A wrong password, after waiting as long as the throttle asks."""
    refusal = throttle.begin(account, address)
    if refusal is not None:
        clock.advance(refusal.retry_after_s)
        assert throttle.begin(account, address) is None
    throttle.failed(account, address)


def attack_admin(throttle: security.LoginThrottle, clock: ManualClock) -> None:
    """Six wrong passwords for admin from six addresses: admin must now wait 2 s."""
    for n in range(6):
        fail_patiently_at(throttle, clock, "admin", f"198.51.100.{n}")
    assert throttle.begin("admin", "198.51.100.99") is not None


def test_ten_thousand_other_names_do_not_reset_an_attacked_account() -> None:
    clock = ManualClock()
    throttle = security.LoginThrottle(clock, known=lambda name: name == "admin")
    attack_admin(throttle, clock)
    for n in range(10_000):  # each from its own address, as a botnet would
        try_wrong(throttle, f"user{n}", f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    refusal = throttle.begin("admin", "203.0.113.7")
    assert refusal is not None and refusal.retry_after_s >= 1


def test_ten_thousand_other_addresses_do_not_reset_a_guessing_address() -> None:
    clock = ManualClock()
    throttle = security.LoginThrottle(clock, known=lambda _name: False)
    for n in range(6):  # one address tries six names: it must now wait
        fail_patiently_at(throttle, clock, f"name{n}", "192.0.2.66")
    for n in range(10_000):
        try_wrong(throttle, f"other{n}", f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    assert throttle.begin(None, "192.0.2.66") is not None


def test_a_name_that_is_no_account_waits_like_an_account() -> None:
    """The answers do not tell which technician names exist."""
    clock = ManualClock()
    throttle = security.LoginThrottle(clock, known=lambda name: name == "admin")
    for name in ("admin", "ghost"):
        for n in range(5):
            fail(throttle, name, f"198.18.{len(name)}.{n}")
        refusal = throttle.begin(name, "198.18.200.1")
        assert refusal is not None and refusal.retry_after_s == 1, name


class Failing:
    """A password check that breaks (a database fault) instead of answering."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, _username: str, _password: str) -> Any:
        self.calls += 1
        raise RuntimeError("disk I/O error")


async def test_a_fault_while_checking_a_password_is_not_a_failed_login(client: Client) -> None:
    real = client.gateway.accounts.verify_login
    broken = Failing()
    client.gateway.accounts.verify_login = broken  # type: ignore[method-assign]
    for _ in range(4):
        assert (await client.login())[0] == 500
        status, body, _ = await client.call(
            "POST", ACTATEK, json={"username": "admin", "password": "simulate"}
        )
        assert (status, body["message"]) == (500, "internal error")
    assert broken.calls == 8
    client.gateway.accounts.verify_login = real  # type: ignore[method-assign]
    # Eight 500s: neither the account nor the address was made to wait.
    assert (await client.login())[0] == 200
    assert await client.events(reason="login_failed") == []


def test_an_alarm_once_per_episode_and_again_after_it_ends() -> None:
    clock = ManualClock()
    alarms: list[security.LoginAlarm] = []
    throttle = security.LoginThrottle(clock, lambda name: name == "admin", alarms.append)
    for n in range(40):  # one long episode from many addresses
        fail_patiently_at(throttle, clock, "admin", f"198.51.100.{n}")
    assert [(a.name, a.account_attacked, a.failures) for a in alarms] == [("admin", True, 5)]
    clock.advance(security.MAX_DELAY_S)
    assert throttle.begin("admin", "198.51.100.1") is None
    throttle.succeeded("admin", "198.51.100.1")  # the right password ends the episode
    for n in range(5):
        fail_patiently_at(throttle, clock, "admin", f"198.51.101.{n}")
    assert len(alarms) == 2


def test_many_guessing_addresses_raise_few_alarms_that_say_how_many() -> None:
    clock = ManualClock()
    alarms: list[security.LoginAlarm] = []
    throttle = security.LoginThrottle(clock, alarm=alarms.append)
    for n in range(50):  # fifty addresses, five wrong basic-auth guesses each: fifty episodes
        for _ in range(5):
            fail(throttle, None, f"192.0.2.{n}")
    assert len(alarms) == 1 and not alarms[0].account_attacked
    clock.advance(security.OTHER_ALARM_INTERVAL_S)
    for _ in range(5):
        fail(throttle, None, "192.0.2.200")
    assert len(alarms) == 2 and alarms[1].more_episodes == 49
    assert "49 more addresses or names" in alarms[1].trace


def test_other_failures_count_toward_the_same_waits() -> None:
    """The hook for failures that are not logins (a refused credential change)."""
    clock = ManualClock()
    alarms: list[security.LoginAlarm] = []
    throttle = security.LoginThrottle(clock, lambda name: name == "tech", alarms.append)
    for _ in range(security.FREE_FAILURES):
        throttle.count_failure("tech", "10.1.1.1", "credential_change")
    refusal = throttle.begin("tech", "10.9.9.9")
    assert refusal is not None and refusal.retry_after_s == 1
    assert [(a.name, a.via) for a in alarms] == [("tech", "credential_change")]


def test_an_ipv6_host_cannot_dodge_the_address_rule_by_changing_address() -> None:
    throttle = security.LoginThrottle(ManualClock())
    for n in range(5):  # any address in one /64 is the same client
        fail(throttle, f"name{n}", f"2001:db8:1:2::{n + 1:x}")
    assert throttle.begin("name9", "2001:db8:1:2:ffff::9") is not None
    assert throttle.begin("name9", "2001:db8:1:3::1") is None  # another /64
    assert security.address_key("::ffff:192.0.2.1") == "192.0.2.1"
