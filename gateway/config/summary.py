"""The one-screen summary `door-gateway check-config FILE` prints for a valid file.

Secrets never appear: the upstream URL is shown without its path and query, public PINs
only as a count.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.settings import DoorSettings, ReaderSettings, Settings
from gateway.settings_spec import fmt_number
from gateway.store.journal import ADMIN_SHARE_DIVISOR


def _seconds(value: float) -> str:
    """5.0 -> "5 s"."""
    return f"{fmt_number(value)} s"


def _pins_text(*named: tuple[str, int | None]) -> list[str]:
    """["exit button GPIO22", ...] for the pins that are set."""
    return [f"{label} GPIO{pin}" for label, pin in named if pin is not None]


def _door_lines(door: DoorSettings, width: int) -> list[str]:
    """Two summary lines for a door: relay and policy, then its inputs and outputs."""
    level = "active high" if door.relay_active_high else "active low"
    relay = (
        f"relay GPIO{door.relay_pin} ({level}, {door.lock_type})"
        if door.relay_pin is not None
        else f"no relay ({door.lock_type})"
    )
    first = (
        f"  {door.name:<{width}}  {relay}, pulse {_seconds(door.relay_pulse_s)}, "
        f"open timeout {_seconds(door.door_open_timeout_s)}, auth {door.auth_mode}, "
        f"offline {door.offline_policy}"
    )
    parts = _pins_text(
        ("contact", door.contact_pin),
        ("exit button", door.rex_pin),
        ("doorbell", door.doorbell_pin),
        ("tamper", door.tamper_pin),
        ("alarm", door.alarm_pin),
        ("second relay", door.second_relay_pin),
    )
    if door.contact_pin is not None:
        parts[0] += " (NC)" if door.contact_normally_closed else " (NO)"
    high = {"exit button": door.rex_trigger_level, "doorbell": door.doorbell_trigger_level}
    parts = [
        f"{part} (triggers high)" if high.get(part.rsplit(" ", 1)[0]) == "high" else part
        for part in parts
    ]
    switched_off = [
        kind
        for kind, on in (
            ("cards", door.cards_enabled),
            ("PINs", door.pins_enabled),
            ("QR codes", door.qr_enabled),
        )
        if not on
    ]
    if switched_off:
        parts.append(f"refuses {', '.join(switched_off)}")
    relays = sum(action.relay != "none" for action in door.input_actions)
    if relays:
        parts.append(f"{relays} input action(s) pulse a relay")
    if door.second_relay_mode != "disable":
        parts.append(f"second relay mode {door.second_relay_mode}")
    if door.unlock_schedule is not None:
        first_person = ", first person in" if door.unlock_schedule_first_person else ""
        parts.append(f"unlock schedule: access right {door.unlock_schedule}{first_person}")
    second = ", ".join(parts) or "no contact, exit button, doorbell, tamper or alarm pins"
    return [first, f"  {'':<{width}}  {second}"]


def _reader_detail(reader: ReaderSettings) -> str:
    """The kind-specific part of a reader's summary line, then its feedback outputs."""
    if reader.kind in ("wiegand", "wiegand_keypad"):
        formats = ", ".join(reader.formats)
        detail = f"D0 GPIO{reader.d0_pin}, D1 GPIO{reader.d1_pin}, formats {formats}"
    elif reader.kind == "serial":
        port = reader.port or "(no port)"
        detail = f"{port} {reader.baudrate} baud, {reader.protocol}, {reader.credential_kind}"
    elif reader.kind == "matrix_keypad":
        rows = ",".join(map(str, reader.row_pins)) or "-"
        cols = ",".join(map(str, reader.col_pins)) or "-"
        detail = f"rows GPIO {rows}, columns GPIO {cols}"
    else:
        detail = f"device {reader.device or '(first found)'}"
    outputs = _pins_text(
        ("green LED", reader.led_green_pin),
        ("red LED", reader.led_red_pin),
        ("beeper", reader.beeper_pin),
    )
    return ", ".join([detail, *outputs])


def _reader_lines(readers: tuple[ReaderSettings, ...]) -> list[str]:
    """One aligned summary line per reader."""
    name_w = max((len(r.name) for r in readers), default=0)
    kind_w = max((len(r.kind) for r in readers), default=0)
    door_w = max((len(r.door) for r in readers), default=0)
    return [
        f"  {r.name:<{name_w}}  {r.kind:<{kind_w}}  door {r.door:<{door_w}}  "
        f"{r.direction:<3}  {_reader_detail(r)}"
        for r in readers
    ]


def _upstream_line(settings: Settings) -> str:
    """ "off", or where verify requests go (scheme, host and port only: the user:password
    of a URL and its query may carry a secret)."""
    upstream = settings.upstream
    if not upstream.url:
        return "Upstream    off (decisions from the local cache only)"
    parts = urlsplit(upstream.url)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    port = f":{parts.port}" if parts.port is not None else ""
    return (
        f"Upstream    on: {parts.scheme}://{host}{port} (mode {upstream.mode}, "
        f"timeout {_seconds(upstream.timeout_s)}, methods {', '.join(upstream.methods)}, "
        f"device id {upstream.device_id})"
    )


def _web_line(settings: Settings) -> str:
    """Where the web server listens and how many technicians the file defines."""
    count = len(settings.web.technicians)
    clear = sum(1 for tech in settings.web.technicians if tech.password)
    note = f", {clear} with a clear-text password (simulation)" if clear else ""
    plural = "" if count == 1 else "s"
    scheme = {"auto": "HTTPS (self-signed)", "files": "HTTPS", "off": "plain HTTP"}
    return (
        f"Web         {scheme[settings.web_tls]} on {settings.web.listen}, {count} "
        f"technician{plural} in the file{note}"
    )


def _public_pins_text(count: int) -> str:
    if count == 0:
        return "no public PINs"
    return f"{count} public PIN{'' if count == 1 else 's'} (not shown)"


def summary(settings: Settings) -> str:
    """A one-screen human summary, as printed by `door-gateway check-config FILE`."""
    device, access = settings.device, settings.access
    lines = [
        f"{settings.path}: configuration OK",
        f'Device      {device.id} "{device.name}", timezone {device.timezone}',
        f"State dir   {device.state_dir}",
        f"Hardware    {settings.hardware.backend} backend",
        f"Doors ({len(settings.doors)})",
    ]
    width = max(len(door.name) for door in settings.doors)
    for door in settings.doors:
        lines.extend(_door_lines(door, width))
    lines.append(f"Readers ({len(settings.readers)})")
    lines.extend(_reader_lines(settings.readers))
    if settings.wiegand_formats:
        custom = ", ".join(f"{f.name} ({f.length} bits)" for f in settings.wiegand_formats)
        lines.append(f"Formats     custom Wiegand formats: {custom}")
    auto = access.auto_in_out
    lines += [
        _upstream_line(settings),
        _web_line(settings),
        f"Journal     keeps the newest {settings.journal.max_events} events, and "
        f"{settings.journal.max_events // ADMIN_SHARE_DIVISOR} administrative ones beside them",
        f"Access      two-factor timeout {_seconds(access.two_factor_timeout_s)}, keypad lockout "
        f"after {access.lockout.max_failures} wrong PINs in {_seconds(access.lockout.window_s)}, "
        f"auto in/out {auto.mode}, {_public_pins_text(len(access.public_pins))}",
    ]
    if settings.floors:
        lines.append(_floors_line(settings))
    if settings.simulated:
        lines.append(f"Simulation  {len(settings.simulation.demo_users)} demo users")
    return "\n".join(lines)


def _floors_line(settings: Settings) -> str:
    """The lift's floors, the readers that enable them, for how long, the defaults."""
    floors = ", ".join(
        f"{f.name} GPIO{f.pin}{'' if f.active_high else ' (active low)'}"
        if f.pin is not None
        else f"{f.name} (no pin)"
        for f in settings.floors
    )
    readers = ", ".join(r.name for r in settings.readers if r.lift) or "no lift reader"
    defaults = ", ".join(settings.lift.default_floors) or "none"
    return (
        f"Floors      {floors}; enabled {_seconds(settings.lift.floor_enable_s)} after a grant "
        f"at {readers}; default floors {defaults}"
    )
