"""The cross-check pass: relations between keys, judged on values the schema pass accepted.

Unique names and GPIO pins, readers that name a door, keys a reader kind needs or cannot
use, what the hardware backend allows, keys that only mean something together. A check
reads the validated dataclasses (`Located.value`); a key that failed its own check is
already reported, so a relation involving it is not judged (`Located.ok`), and a table
whose required key failed is not built, so it takes part in no relation until it is
fixed. Messages echo what the file writes (`Located.found`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from gateway.accounts import MIN_PASSWORD_LEN, SIMULATION_PASSWORD
from gateway.config.floors import check_floors
from gateway.config.notifications import check_notifications
from gateway.config.report import NOTHING, Report, hint
from gateway.config.schema import Checked, KeySpec, Located, Table, key_specs
from gateway.config.wiegand_formats import check_reader_formats, check_wiegand_formats
from gateway.passwords import weakness
from gateway.settings import (
    GPIO,
    GPIO_TEXT,
    OSDP_BAUDRATES,
    READER_KINDS,
    RELAY_PULSE_NORMAL_MAX_S,
    RIGHT_ID_TEXT,
    AccessSettings,
    DemoUser,
    DeviceSettings,
    DoorSettings,
    FloorSettings,
    ForwardingSettings,
    HardwareSettings,
    HttpUnlockSettings,
    InputActionSettings,
    LockoutSettings,
    MqttSettings,
    NotificationSettings,
    ReaderSettings,
    RescueSettings,
    SimulationSettings,
    TechnicianSettings,
    UpstreamSettings,
    WebSettings,
    WiegandFormatSettings,
)
from gateway.settings_spec import fmt_number, is_loopback_listen

UPSTREAM_PLACEHOLDERS: tuple[str, ...] = (
    "QRCode",
    "Card",
    "CardCode",
    "Pin",
    "PINCode",
    "Face",
    "FaceData",
    "DeviceID",
    "Token",
    "Type",
    "Time",
    "Session",  # door-gateway extension: a random id shared by both two-factor requests
    "Step",  # door-gateway extension: 1 or 2 in a two-factor exchange
)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

# Which reader keys each kind uses (besides the common ones), and which of them a real
# (gpio) backend cannot do without: as each ReaderSettings field declares (`UsedBy`).
_READER_KEYS = key_specs(ReaderSettings)
READER_COMMON_KEYS: tuple[str, ...] = tuple(s.name for s in _READER_KEYS if s.used_by is None)
READER_KIND_KEYS: dict[str, tuple[str, ...]] = {
    kind: tuple(s.name for s in _READER_KEYS if s.used_by and kind in s.used_by.kinds)
    for kind in READER_KINDS
}
READER_GPIO_REQUIRED: dict[str, tuple[str, ...]] = {
    kind: required
    for kind in READER_KINDS
    if (
        required := tuple(
            s.name for s in _READER_KEYS if s.used_by and kind in s.used_by.required_on_gpio
        )
    )
}
_READER_SPECS = {spec.name: spec for spec in _READER_KEYS}
# What a message asks for when a reader lacks a key its kind needs on real hardware.
_REQUIRED_READER_TEXT: dict[str, str] = {
    s.name: s.used_by.required_text or (s.check.expected if s.check else "a value")
    for s in _READER_KEYS
    if s.used_by and s.used_by.required_on_gpio
}

# Which key wires each input an input action can watch.
_ACTION_INPUT_PINS: dict[str, str] = {
    "contact": "contact_pin",
    "rex": "rex_pin",
    "tamper": "tamper_pin",
    "doorbell": "doorbell_pin",
}


def cross_check(checked: Checked, report: Report) -> None:
    """Every check that relates keys to each other, in the order messages are listed."""
    backend = _backend(checked)
    _check_unique(checked, DoorSettings, "name", report)
    _check_unique(checked, ReaderSettings, "name", report)
    _check_unique(checked, TechnicianSettings, "username", report)
    _check_unique(checked, DemoUser, "user_id", report)
    _check_pins(checked, report)
    _check_reader_doors(checked, report)
    _check_reader_kinds(checked, backend, report)
    _check_door_relays(checked, backend, report)
    _check_door_options(checked, backend, report)
    _check_backend(checked, backend, report)
    _check_upstream(checked, report)
    _check_http_unlock(checked, backend, report)
    _check_web_tls(checked, backend, report)
    _check_not_below(checked.section(LockoutSettings), "lock_s", "max_lock_s", report)
    _check_not_below(checked.section(ForwardingSettings), "retry_initial_s", "retry_max_s", report)
    _check_demo_cards(checked, report)
    _check_public_pins(checked, report)
    _check_mqtt(checked, report)
    _check_pin_lengths(checked, report)
    check_wiegand_formats(checked, report)
    _check_unique(checked, WiegandFormatSettings, "name", report)
    check_reader_formats(checked, report)
    _check_secure_cards(checked, report)
    check_notifications(checked, report)
    _check_not_below(
        checked.section(NotificationSettings), "retry_initial_s", "retry_max_s", report
    )
    _check_osdp_buses(checked, report)
    _check_unique(checked, FloorSettings, "name", report)
    check_floors(checked, backend, report)
    _check_rescue_reader(checked, report)


def _backend(checked: Checked) -> str | None:
    """The file's hardware backend, or None when [hardware] is missing or wrong."""
    hardware = checked.section(HardwareSettings)
    if hardware is None or not hardware.ok("backend"):
        return None
    return hardware.value.backend


def _check_unique(checked: Checked, cls: type, key: str, report: Report) -> None:
    """No two `cls` entries (of an array of tables) share the same `key`."""
    seen: dict[str, str] = {}
    for path, value in checked.written(cls, key):
        if path in report.bad_paths:
            continue
        if value in seen:
            report.expected(
                path, f"a {key} not used before", value, f", already used by {seen[value]}"
            )
        else:
            seen[value] = path


# --------------------------------------------------------------------------- pins


def _is_gpio(spec: KeySpec) -> bool:
    return spec.check is GPIO or spec.item_check is GPIO


def _pin_uses(table: Table) -> Iterator[tuple[str, int]]:
    """(key path, GPIO) of every GPIO key the table writes and that passed."""
    for spec in key_specs(table.cls):
        if not (_is_gpio(spec) and table.given(spec.name) and table.ok(spec.name)):
            continue
        value = table.values[spec.name]
        if isinstance(value, tuple):
            for index, pin in enumerate(value):
                yield f"{table.at(spec.name)}[{index}]", pin
        else:
            yield table.at(spec.name), value


def _check_pins(checked: Checked, report: Report) -> None:
    """No GPIO is used twice anywhere in the file; the message names both users."""
    users: dict[int, str] = {}
    tables = [
        *checked.tables_of(DoorSettings),
        *checked.tables_of(ReaderSettings),
        *checked.tables_of(FloorSettings),
    ]
    for table in tables:
        for path, pin in _pin_uses(table):
            if pin in users:
                report.expected(
                    path, "a GPIO not used elsewhere", pin, f", already used by {users[pin]}"
                )
            else:
                users[pin] = path


# --------------------------------------------------------------------------- readers


def _check_reader_doors(checked: Checked, report: Report) -> None:
    """Every reader's `door` names a [[doors]] entry."""
    names = list(dict.fromkeys(name for _, name in checked.written(DoorSettings, "name")))
    for path, door in checked.written(ReaderSettings, "door"):
        if door not in names:
            known = ", ".join(json.dumps(n) for n in names) or "none"
            expected = f"the name of a [[doors]] entry ({known})"
            report.expected(path, expected, door, hint(door, names))


def _check_reader_kinds(checked: Checked, backend: str | None, report: Report) -> None:
    """Keys a reader's kind cannot use, and keys the gpio backend needs for that kind."""
    for reader in checked.tables_of(ReaderSettings):
        if not (reader.given("kind") and reader.ok("kind")):
            continue
        kind = reader.values["kind"]
        usable = READER_COMMON_KEYS + READER_KIND_KEYS[kind]
        for key in reader.raw:
            if key not in usable and key in _READER_SPECS:
                listing = ", ".join(READER_KIND_KEYS[kind])
                report.add(reader.at(key), f'not used by a "{kind}" reader (its keys: {listing})')
        if backend == "gpio":
            _check_required_reader_keys(reader, kind, report)


def _check_required_reader_keys(reader: Table, kind: str, report: Report) -> None:
    """Report the keys a reader's kind needs on real hardware but lacks (or has empty)."""
    for key in READER_GPIO_REQUIRED.get(kind, ()):
        if not reader.ok(key) or reader.values[key] not in (None, "", ()):
            continue
        expected = (
            f'{_REQUIRED_READER_TEXT[key]} (required for a "{kind}" reader with backend "gpio")'
        )
        report.expected(reader.at(key), expected, reader.found(key))


# --------------------------------------------------------------------------- doors


def _check_door_relays(checked: Checked, backend: str | None, report: Report) -> None:
    """On real hardware every door needs its strike relay."""
    if backend != "gpio":
        return
    for door in checked.tables_of(DoorSettings):  # a door without a valid name too
        if not door.given("relay_pin"):
            expected = f'{GPIO_TEXT} (required with backend "gpio")'
            report.expected(door.at("relay_pin"), expected, NOTHING)


def _check_door_options(checked: Checked, backend: str | None, report: Report) -> None:
    """Door keys that depend on each other: long pulses, the second relay, input actions."""
    doors = {door.value.name: door for door in checked.of(DoorSettings)}
    for door in checked.of(DoorSettings):
        _check_pulse_length(door, report)
        _check_stuck_time(door, report)
        _check_second_relay(door, backend, report)
        actions = checked.of(InputActionSettings, under=door.path)
        _check_input_actions(door, actions, report)
        _check_action_relays(door, actions, doors, report)
        _check_method_switches(door, report)
        if door.value.unlock_schedule_first_person and not door.given("unlock_schedule"):
            report.add(door.at("unlock_schedule_first_person"), "only used with an unlock_schedule")


def _check_pulse_length(door: Located[DoorSettings], report: Report) -> None:
    """Pulses over 20 s only with an unlock schedule (the ACTAtek relay "delay" rule)."""
    pulse = door.value.relay_pulse_s
    if pulse > RELAY_PULSE_NORMAL_MAX_S and not door.given("unlock_schedule"):
        limit = fmt_number(RELAY_PULSE_NORMAL_MAX_S)
        expected = f"a number from 1 to {limit} (up to 1800 only with an unlock_schedule)"
        report.expected(door.at("relay_pulse_s"), expected, door.found("relay_pulse_s"))


def _check_stuck_time(door: Located[DoorSettings], report: Report) -> None:
    """A button held through the action delay must not count as stuck before the action
    checks that it is still pressed (`rex_only_if_still_pressed`)."""
    settings = door.value
    if not settings.rex_only_if_still_pressed or not door.ok("rex_action_delay_s"):
        return
    if not door.ok("button_stuck_s"):
        return
    stuck, delay = settings.button_stuck_s, settings.rex_action_delay_s
    note = "" if door.given("button_stuck_s") else f" (the default is {fmt_number(stuck)})"
    if stuck <= delay:
        expected = (
            f"a number greater than rex_action_delay_s ({fmt_number(delay)}) "
            "with rex_only_if_still_pressed"
        )
        report.expected(door.at("button_stuck_s"), expected, door.found("button_stuck_s"), note)


def _check_second_relay(door: Located[DoorSettings], backend: str | None, report: Report) -> None:
    """A bell schedule needs its access right, the doorbell mode its button; on real
    hardware a mode needs its relay pin."""
    if not door.ok("second_relay_mode"):
        return
    mode = door.value.second_relay_mode
    if mode == "bell_schedule" and not door.given("second_relay_schedule"):
        expected = f'{RIGHT_ID_TEXT} (required with second_relay_mode "bell_schedule")'
        report.expected(door.at("second_relay_schedule"), expected, NOTHING)
    if mode != "bell_schedule" and door.given("second_relay_schedule"):
        report.add(
            door.at("second_relay_schedule"), 'only used with second_relay_mode "bell_schedule"'
        )
    if mode != "disable" and backend == "gpio" and not door.given("second_relay_pin"):
        expected = f'{GPIO_TEXT} (required with second_relay_mode "{mode}")'
        report.expected(door.at("second_relay_pin"), expected, NOTHING)
    if mode == "doorbell" and not door.given("doorbell_pin"):
        # On any backend: without the button nothing could ever pulse the relay.
        expected = (
            f'{GPIO_TEXT} (required with second_relay_mode "doorbell": '
            "the doorbell button that pulses the relay)"
        )
        report.expected(door.at("doorbell_pin"), expected, NOTHING)


def _check_input_actions(
    door: Located[DoorSettings], actions: list[Located[InputActionSettings]], report: Report
) -> None:
    """An input action watches an input that this door has wired."""
    for action in actions:
        name = action.value.input
        pin_key = _ACTION_INPUT_PINS[name]
        if not door.given(pin_key):
            expected = f"an input wired on this door (set {pin_key})"
            report.expected(action.at("input"), expected, name)


_AUTH_MODE_NEEDS: dict[str, tuple[str, ...]] = {
    "card": ("cards_enabled",),
    "pin": ("pins_enabled",),
    "card+pin": ("cards_enabled", "pins_enabled"),
    "pin+card": ("cards_enabled", "pins_enabled"),
}


def _check_method_switches(door: Located[DoorSettings], report: Report) -> None:
    """A door's auth_mode cannot ask for a kind of credential the door switched off."""
    if not door.ok("auth_mode"):
        return
    mode = door.value.auth_mode
    for switch in _AUTH_MODE_NEEDS.get(mode, ()):
        if door.ok(switch) and not getattr(door.value, switch):
            expected = f'true with auth_mode "{mode}" (that mode asks for it)'
            report.expected(door.at(switch), expected, door.found(switch))


def _check_action_relays(
    door: Located[DoorSettings],
    actions: list[Located[InputActionSettings]],
    doors: dict[str, Located[DoorSettings]],
    report: Report,
) -> None:
    """An input action does something (a URL, a relay, an upload, an e-mail); its relay
    exists; a button's "only if still active" delay ends before the button would count as
    stuck."""
    for action in actions:
        value = action.value
        if not action.ok("url") or not action.ok("relay"):
            continue
        if value.url == "" and value.relay == "none" and value.ftp_url == "" and not value.email:
            expected = (
                'a URL, a relay = "lock" or "second", an ftp_url or email = true (an action '
                "that does something)"
            )
            report.expected(action.at("url"), expected, NOTHING)
        if value.relay == "none" and action.given("relay_door"):
            report.add(action.at("relay_door"), 'only used with relay = "lock" or "second"')
        target = doors.get(value.relay_door or door.value.name)
        if value.relay != "none" and action.ok("relay_door") and target is None:
            report.expected(
                action.at("relay_door"), "the name of a [[doors]] entry", action.found("relay_door")
            )
        if value.relay == "second" and target is not None and not target.given("second_relay_pin"):
            expected = f"{GPIO_TEXT} (required: an input action pulses this second relay)"
            report.expected(target.at("second_relay_pin"), expected, NOTHING)
        _check_action_stuck_time(door, action, report)


def _check_action_stuck_time(
    door: Located[DoorSettings], action: Located[InputActionSettings], report: Report
) -> None:
    value = action.value
    if value.input not in ("rex", "doorbell") or not value.only_if_still_active:
        return
    stuck = door.value.button_stuck_s
    if action.ok("delay_s") and door.ok("button_stuck_s") and value.delay_s >= stuck:
        expected = (
            f"a number smaller than button_stuck_s ({fmt_number(stuck)}) with "
            "only_if_still_active: a button held longer counts as stuck and never acts"
        )
        report.expected(action.at("delay_s"), expected, action.found("delay_s"))


# --------------------------------------------------------------------------- backend


def _check_backend(checked: Checked, backend: str | None, report: Report) -> None:
    """Clear-text passwords and [simulation] are for the simulated backend only."""
    if backend != "gpio":
        return
    for tech in checked.of(TechnicianSettings):
        if tech.value.password != "":
            report.add(
                tech.at("password"),
                "clear-text passwords are only accepted with the simulated backend; "
                f"use `door-gateway passwd {tech.value.username}`",
            )
    if checked.section(SimulationSettings) is not None:
        report.add(
            "simulation",
            'expected no [simulation] section with [hardware] backend = "gpio" '
            '(it is only accepted with backend = "simulated"), found one',
        )


# --------------------------------------------------------------------------- services


def _check_upstream(checked: Checked, report: Report) -> None:
    """URL placeholders are known ones; general mode verifies QR codes only."""
    upstream = checked.section(UpstreamSettings)
    if upstream is None:
        return
    settings = upstream.value
    if upstream.ok("url"):
        for name in _PLACEHOLDER.findall(settings.url):
            if name not in UPSTREAM_PLACEHOLDERS:
                known = ["{" + p + "}" for p in UPSTREAM_PLACEHOLDERS]
                close = hint(f"{{{name}}}", known)
                report.expected(
                    "upstream.url", f"placeholders among {' '.join(known)}", f"{{{name}}}", close
                )
    general = upstream.ok("mode") and settings.mode == "general"
    if general and upstream.ok("methods") and settings.methods != ("qr",):
        expected = '["qr"] with mode "general" (General integration verifies QR codes only)'
        report.expected("upstream.methods", expected, upstream.found("methods", settings.methods))
    _check_upstream_auth(upstream, report)
    _check_upstream_tls(upstream, report)
    _check_not_below(upstream, "breaker_open_s", "breaker_max_open_s", report)


def _check_upstream_auth(upstream: Located[UpstreamSettings], report: Report) -> None:
    """One way of authenticating at most: basic auth (keys or URL) or a bearer token."""
    settings = upstream.value
    in_url = _url_has_userinfo(settings.url)
    basic = settings.username != "" or settings.password != ""
    if settings.password != "" and settings.username == "" and upstream.ok("username"):
        report.add("upstream.password", "only used with a username")
    if basic and in_url:
        report.add("upstream.username", "not used with user:password@ in the url (use one)")
    if settings.bearer_token != "" and (basic or in_url):
        report.add("upstream.bearer_token", "not used with basic auth (use one)")


def _url_has_userinfo(url: str) -> bool:
    """True when the URL carries user[:password]@ before its host."""
    try:
        return "@" in urlsplit(url).netloc
    except ValueError:
        return False


def _check_mqtt(checked: Checked, report: Report) -> None:
    """TLS files need mqtts://, a client certificate its key; the back-off ceiling is not
    below the first wait; a password needs a username."""
    mqtt = checked.section(MqttSettings)
    if mqtt is None:
        return
    settings = mqtt.value
    plain = not settings.url.startswith("mqtts://")
    for key in ("ca_file", "cert_file", "key_file"):
        if getattr(settings, key) != "" and plain and mqtt.ok("url"):
            report.add(f"mqtt.{key}", 'only used with an "mqtts://" url')
    if settings.cert_file != "" and settings.key_file == "" and mqtt.ok("key_file"):
        report.add("mqtt.cert_file", "needs key_file (the certificate's private key)")
    if settings.key_file != "" and settings.cert_file == "" and mqtt.ok("cert_file"):
        report.add("mqtt.key_file", "needs cert_file (the client certificate)")
    if settings.password != "" and settings.username == "" and mqtt.ok("username"):
        report.add("mqtt.password", "only used with a username")
    _check_not_below(mqtt, "retry_initial_s", "retry_max_s", report)


def _check_upstream_tls(upstream: Located[UpstreamSettings], report: Report) -> None:
    """A CA file needs verification on."""
    if upstream.value.ca_file != "" and not upstream.value.verify_tls:
        report.add("upstream.ca_file", "only used with verify_tls = true")


def _check_not_below(section: Located[Any] | None, low: str, high: str, report: Report) -> None:
    """Key `high` of a section is not below its key `low` (a longest and a first period)."""
    if section is None or not (section.ok(low) and section.ok(high)):
        return
    first, ceiling = getattr(section.value, low), getattr(section.value, high)
    if ceiling < first:
        expected = f"a number not below {low} ({fmt_number(first)})"
        report.expected(section.at(high), expected, section.found(high, ceiling))


def _check_web_tls(checked: Checked, backend: str | None, report: Report) -> None:
    """HTTPS files only with tls = "files" (and then both); plain HTTP only on loopback,
    unless asked for: a page opened over the LAN would send passwords in clear."""
    web = checked.section(WebSettings)
    if web is None or not web.ok("tls"):
        return
    settings = web.value
    tls = settings.tls or ("off" if backend == "simulated" else "auto")
    for key in ("cert_file", "key_file"):
        given = getattr(settings, key) != ""
        if tls == "files" and not given and web.ok(key):
            report.add(web.at(key), 'required with tls = "files" (a PEM file)')
        if tls != "files" and given:
            report.add(web.at(key), 'only used with tls = "files"')
    plain = tls == "off" and not settings.allow_plain_http and web.ok("listen")
    if plain and not is_loopback_listen(settings.listen):
        report.add(
            web.at("tls"),
            f'"off" serves plain HTTP on {settings.listen}, where passwords cross the '
            'network in clear: use tls = "auto" (or "files"), listen on loopback, or set '
            "allow_plain_http = true",
        )
    if settings.allow_plain_http and tls != "off":
        report.add(web.at("allow_plain_http"), 'only used with tls = "off"')


def _check_http_unlock(checked: Checked, backend: str | None, report: Report) -> None:
    """Enabled needs both credentials; a real door never takes the simulation's password.

    Messages name the rule, never the value: the password is a secret."""
    section = checked.section(HttpUnlockSettings)
    if section is None or not section.value.enabled:
        return
    for key in ("username", "password"):
        if getattr(section.value, key) == "" and section.ok(key):
            report.add(
                section.at(key), "required with enabled = true (the sending device's basic auth)"
            )
    password = section.value.password
    if not section.ok("password"):
        return
    if 0 < len(password) < MIN_PASSWORD_LEN:
        report.add(
            "http_unlock.password", f"expected at least {MIN_PASSWORD_LEN} characters, found fewer"
        )
    elif backend == "gpio" and password == SIMULATION_PASSWORD:
        report.add(
            "http_unlock.password",
            'the simulation\'s well-known password is refused with backend = "gpio"',
        )
    elif backend == "gpio" and password:
        problem = weakness(password, _known_names(checked, section))
        if problem is not None:
            report.add("http_unlock.password", f"too easy to guess: {problem}")


def _known_names(checked: Checked, section: Located[HttpUnlockSettings]) -> list[str]:
    """The device's name and id as written, and the user name: words a password must not use."""
    device = [value for key in ("name", "id") for _, value in checked.written(DeviceSettings, key)]
    user = section.found("username")
    return [*device, *([user] if isinstance(user, str) else [])]


# --------------------------------------------------------------------------- people


def _check_demo_cards(checked: Checked, report: Report) -> None:
    """No card belongs to two demo users."""
    owners: dict[str, str] = {}
    for user in checked.of(DemoUser):
        for index, card in enumerate(user.value.cards):
            path = f"{user.at('cards')}[{index}]"
            if card.upper() in owners:
                note = f", already used by {owners[card.upper()]}"
                report.expected(path, "a card not given to another user", card, note)
            else:
                owners[card.upper()] = path


def _check_pin_lengths(checked: Checked, report: Report) -> None:
    """The PIN settings: fewest not above most; the file's public PINs and demo users'
    PINs have an allowed length (messages give lengths, never the PINs)."""
    access = checked.section(AccessSettings)
    if access is None:
        return
    _check_not_below(access, "public_pin_min_digits", "public_pin_max_digits", report)
    _check_not_below(access, "pin_min_digits", "pin_max_digits", report)
    settings = access.value
    public = (settings.public_pin_min_digits, settings.public_pin_max_digits)
    private = (settings.pin_min_digits, settings.pin_max_digits)
    if access.ok("public_pins"):
        for index, pin in enumerate(settings.public_pins):
            _check_pin_length(f"access.public_pins[{index}]", pin, public, "public_pin", report)
    for user in checked.of(DemoUser):
        if user.value.pin and user.ok("pin"):
            _check_pin_length(user.at("pin"), user.value.pin, private, "pin", report)


def _check_pin_length(
    path: str, pin: str, digits: tuple[int, int], keys: str, report: Report
) -> None:
    low, high = digits
    if low <= high and not low <= len(pin) <= high:
        report.add(
            path,
            f"expected a PIN of {low} to {high} digits ([access] {keys}_min_digits and "
            f"{keys}_max_digits), found one of {len(pin)} digits",
        )


def _check_public_pins(checked: Checked, report: Report) -> None:
    """No public PIN twice, none a demo user's PIN; messages point at keys, never at PINs."""
    access = checked.section(AccessSettings)
    if access is None or not access.ok("public_pins"):
        return
    demo_pins = {user.value.pin: user.at("pin") for user in checked.of(DemoUser) if user.value.pin}
    seen: dict[str, str] = {}
    for index, pin in enumerate(access.value.public_pins):
        path = f"access.public_pins[{index}]"
        if pin in seen:
            report.add(path, f"expected a PIN not listed before, found the same PIN as {seen[pin]}")
        elif pin in demo_pins:
            report.add(path, f"expected a PIN no user has, found the PIN of {demo_pins[pin]}")
        seen.setdefault(pin, path)


def _check_secure_cards(checked: Checked, report: Report) -> None:
    """A DESFire reader needs its key, and reads either a DESFire file or a MIFARE block."""
    for reader in checked.tables_of(ReaderSettings):
        if not (reader.given("desfire_app_id") and reader.ok("desfire_app_id")):
            continue
        if not reader.values["desfire_app_id"]:
            continue
        if reader.ok("desfire_key") and not reader.values.get("desfire_key"):
            expected = "32 hex digits, the AES key (required with desfire_app_id)"
            report.expected(reader.at("desfire_key"), expected, reader.found("desfire_key"))
        if reader.given("mifare_sector"):
            report.add(reader.at("desfire_app_id"), "not with mifare_sector: read one or the other")
        _check_desfire_key_size(reader, report)
    _check_plus_readers(checked, report)


def _check_desfire_key_size(reader: Table, report: Report) -> None:
    """The key's length is the one its cipher (`desfire_crypto`) has; never echoed."""
    crypto = reader.values.get("desfire_crypto", "aes")
    key = reader.values.get("desfire_key")
    if not (reader.ok("desfire_key") and reader.ok("desfire_crypto") and key):
        return
    digits = {"aes": 32, "des": 16, "2k3des": 32, "3k3des": 48}[crypto]
    if len(key) != digits:
        report.add(
            reader.at("desfire_key"),
            f"expected {digits} hex digits for desfire_crypto {crypto!r}, found {len(key)}",
        )


def _check_plus_readers(checked: Checked, report: Report) -> None:
    """A MIFARE Plus reader needs a key, reads one secure card kind, and within its block."""
    for reader in checked.tables_of(ReaderSettings):
        if not (reader.given("mfp_block") and reader.ok("mfp_block")):
            continue
        if reader.ok("mfp_keys") and not reader.values.get("mfp_keys"):
            expected = "1 to 3 AES keys of 32 hex digits (required with mfp_block)"
            report.expected(reader.at("mfp_keys"), expected, reader.found("mfp_keys"))
        if reader.given("mifare_sector") or reader.values.get("desfire_app_id"):
            report.add(reader.at("mfp_block"), "not with mifare_sector or desfire_app_id")
        offset, length = reader.values.get("mfp_offset", 0), reader.values.get("mfp_length", 16)
        if reader.ok("mfp_offset") and reader.ok("mfp_length") and offset + length > 16:
            report.add(reader.at("mfp_length"), "mfp_offset + mfp_length: beyond the 16-byte block")


# --------------------------------------------------------------------------- OSDP buses


def _check_osdp_buses(checked: Checked, report: Report) -> None:
    """OSDP readers: a baud rate OSDP offers, one baud rate per port (one control panel
    drives a port), and no two readers at the same address on one port."""
    rates: dict[str, tuple[str, int]] = {}
    addresses: dict[tuple[str, int], str] = {}
    for reader in checked.tables_of(ReaderSettings):
        if reader.values.get("kind") != "osdp" or not reader.ok("kind"):
            continue
        port, rate = reader.values["port"], reader.values["baudrate"]
        if reader.ok("baudrate") and rate not in OSDP_BAUDRATES:
            listing = ", ".join(str(r) for r in OSDP_BAUDRATES)
            report.expected(reader.at("baudrate"), f"an OSDP baud rate ({listing})", rate)
        elif reader.ok("port") and reader.ok("baudrate"):
            first = rates.setdefault(port, (reader.at("baudrate"), rate))
            if first[1] != rate:
                report.expected(
                    reader.at("baudrate"),
                    f"{first[1]}, the rate of {first[0]} on the same port",
                    rate,
                )
        if reader.ok("port") and reader.ok("osdp_address"):
            where = (port, reader.values["osdp_address"])
            if where in addresses:
                found = reader.values["osdp_address"]
                report.expected(
                    reader.at("osdp_address"),
                    "an address not used on this port",
                    found,
                    f", already used by {addresses[where]}",
                )
            else:
                addresses[where] = reader.at("osdp_address")


def _check_rescue_reader(checked: Checked, report: Report) -> None:
    """Super Mode's reader is a Wiegand reader of the file (the rescue reads only those)."""
    rescue = checked.section(RescueSettings)
    if rescue is None or not rescue.ok("reader") or rescue.value.reader == "":
        return
    wiegand = [
        reader.value.name
        for reader in checked.of(ReaderSettings)
        if reader.value.kind in ("wiegand", "wiegand_keypad")
    ]
    name = rescue.value.reader
    if name not in wiegand:
        known = ", ".join(json.dumps(n) for n in wiegand) or "none"
        expected = f'the name of a "wiegand" or "wiegand_keypad" [[readers]] entry ({known})'
        report.expected(rescue.at("reader"), expected, name, hint(name, wiegand))
