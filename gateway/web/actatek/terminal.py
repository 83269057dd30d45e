"""Section 11: terminal functions (capability "terminal": NETWORKADMIN and SUPERADMIN).
11.2 apiversion is in `session`.

Relays and doors (see `gateway.actatek_settings`): relay ONE is a door's lock relay, TWO its
second relay, ALL both; the door is `?door=NAME` (our addition), else the first one.
- `POST opendoor/{sessionid}`: the remote unlock pulse, the same function as the native
  `POST /api/v1/doors/{name}/pulse` (refused in lockdown).
- `POST relay/{sessionid}/{open|close}/{ONE|TWO|ALL}`: open ONE = that pulse (never a
  hold: the door relocks after its delay); close ONE ends a pulse at once; open TWO
  pulses the second relay, close TWO switches it off.
- `PUT relaysetting/{sessionid}` {"id", "option", "delay"} and `GET
  relaysetting/{sessionid}/{ONE|TWO|ALL}`: ONE's delay is the unlock pulse; its only
  option is "disable" ("access_denied" would unlock the door for refused credentials and
  is refused). TWO's option is the second relay's mode (bell_schedule stays as
  configured), its delay the second relay's pulse. Delay 1-20 s, or 1-1800 s for a door
  with an unlock schedule. Persisted; they override the configuration file.
- `PUT autoInOut/{sessionid}` / `GET autoInOut/{sessionid}`: the engine's autoInOut,
  applied from the next decision on and persisted. Modes disable, reject_repeat_login,
  anti_passback, lunch_break, crowd_control; 'enable'/'autoInOut' (automatic IN/OUT
  alternation of one reader) is refused: IN/OUT comes from each reader's direction.
  `lockout_time_min` is the lunch break; `auto_reset` is stored and answered only; our
  `anti_passback` ("hard"/"soft") is accepted and answered too.
- `PUT logUnauthorizedEvent/{sessionid}/{enable}` / `GET ...`: whether getLogs lists
  refused attempts. They are always journaled (security); the flag filters the listing.
  The same flag as logsetting's `log_unAuth_event`.
- `PUT logsetting/{sessionid}` / `GET logsetting/{sessionid}`: `log_size` is the
  journal's bound at once; the other flags filter getLogs or are stored only
  (`gateway.actatek_records.LogSettings`).
- `PUT consent/{sessionid}/{enable}/{display_name}` / `GET consent/{sessionid}`: stored
  and answered (there is no display).
- `GET terminalstatus/{sessionid}`: serialNumber = [device] id, registered users,
  maximumUsers 20000, currentStatus Online / Lockdown / Alarm.
- `GET getCaptureFingerprint/...` and `rtpsetting` (GET and PUT): not supported here (no
  fingerprint sensor, no camera): the common error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from aiohttp import web

from gateway.actatek_records import (
    ONE_OPTIONS,
    RELAY_ACTIONS,
    RELAY_IDS,
    LogSettings,
    RelaySetting,
)
from gateway.settings import AutoInOutSettings
from gateway.web.actatek.answers import ActatekError, seconds, success
from gateway.web.actatek.context import context_of
from gateway.web.actatek.inputs import (
    boolean,
    enable_word,
    integer,
    query_params,
    read_object,
    text,
)
from gateway.web.actatek.sections import add_both
from gateway.web.actatek.session import endpoint, session_of

CAPABILITY = "terminal"
PREFIX = "/cgi-bin/restapi"
NOT_SUPPORTED = "not supported: this terminal has no fingerprint sensor and no camera"
AUTO_MODES = ("disable", "reject_repeat_login", "anti_passback", "lunch_break", "crowd_control")
AUTO_FIELDS = {  # ACTAtek name -> AutoInOutSettings field
    "rejectRepeat_time_sec": "reject_repeat_s",
    "lockout_time_min": "lunch_break_min",
    "crowd_limit_count": "crowd_limit",
}
AUTO_RANGES = {"reject_repeat_s": 86_400, "lunch_break_min": 120, "crowd_limit": 65_535}
AUTO_KEYS = frozenset({"mode", "auto_reset", "crowd_reset_hhmm", "anti_passback", *AUTO_FIELDS})
RELAY_KEYS = frozenset({"id", "option", "delay"})
LOG_BOOLS = (
    "log_unAuth_event",
    "log_Accept_nonRegistered_card",
    "log_photo_Auth_event",
    "log_photo_unAuth_event",
    "log_Accept_nonRegistered_facial",
    "log_case_event",
)
LOG_KEYS = frozenset({"log_event", "log_size", "log_EM_Option", *LOG_BOOLS})


def _door(request: web.Request) -> str:
    """The `door` query parameter, or the first door."""
    name = query_params(request, ("door",)).get("door")
    return str(context_of(request).terminal.door(name))


def _journal(request: web.Request, reason: str, detail: str) -> None:
    context_of(request).record_api(reason, session_of(request).username, detail)


# -- doors and relays -----------------------------------------------------------------


@endpoint(CAPABILITY)
async def open_door(request: web.Request) -> web.Response:
    """POST opendoor/{sessionid}[?door=]."""
    door = _door(request)
    context_of(request).terminal.open_door(door, session_of(request).username)
    first = next(iter(context_of(request).doors))
    return success("Main door opened" if door == first else f"door {door} opened")


@endpoint(CAPABILITY)
async def relay_action(request: web.Request) -> web.Response:
    """POST relay/{sessionid}/{relayaction}/{relayid}[?door=]."""
    action, relay = request.match_info["action"], request.match_info["relay"]
    if action not in RELAY_ACTIONS:
        raise ActatekError("relayaction: expected open or close")
    if relay not in (*RELAY_IDS, "ALL"):
        raise ActatekError("relayid: expected ONE, TWO or ALL")
    door = _door(request)
    terminal = context_of(request).terminal
    terminal.relay_action(door, action, relay, session_of(request).username)
    return success(f"Relay {relay} {'opened' if action == 'open' else 'closed'}")


def _relay_json(setting: RelaySetting) -> dict[str, Any]:
    return {"id": setting.id, "option": setting.option, "delay": seconds(setting.delay)}


@endpoint(CAPABILITY)
async def get_relay_setting(request: web.Request) -> web.Response:
    """GET relaysetting/{sessionid}/{relayid}[?door=]; ALL answers both, as an array."""
    relay = request.match_info["relay"]
    if relay not in (*RELAY_IDS, "ALL"):
        raise ActatekError("relayid: expected ONE, TWO or ALL")
    door = _door(request)
    terminal = context_of(request).terminal
    if relay == "ALL":
        return web.json_response([_relay_json(terminal.relay_setting(door, r)) for r in RELAY_IDS])
    return web.json_response(_relay_json(terminal.relay_setting(door, relay)))


@endpoint(CAPABILITY)
async def set_relay_setting(request: web.Request) -> web.Response:
    """PUT relaysetting/{sessionid}[?door=] {"id", "option", "delay"}."""
    door = _door(request)
    body = await read_object(request, RELAY_KEYS, "relaysetting")
    relay = text(body, "id", 8, required=True)
    if relay not in RELAY_IDS:
        raise ActatekError("id: expected ONE or TWO")
    terminal = context_of(request).terminal
    current = terminal.relay_setting(door, relay)
    given = text(body, "option", 32)
    option = current.option if given is None else given
    if relay == "ONE" and option not in ONE_OPTIONS:
        raise ActatekError("option: relay ONE (the door lock) takes only 'disable' here")
    top = terminal.max_delay(door)
    delay = integer(body, "delay", 1, top)
    wanted = replace(current, option=option, delay=current.delay if delay is None else delay)
    terminal.set_relay_setting(door, wanted)
    detail = f"door={door} relay={relay} option={wanted.option} delay={wanted.delay:g}"
    _journal(request, "relay_setting", detail)
    return success(f"relay setting {relay} updated")


# -- autoInOut ---------------------------------------------------------------------------


def _auto_json(settings: AutoInOutSettings, auto_reset: bool) -> dict[str, Any]:
    return {
        "mode": settings.mode,
        "auto_reset": auto_reset,
        "rejectRepeat_time_sec": settings.reject_repeat_s,
        "lockout_time_min": settings.lunch_break_min,
        "crowd_limit_count": settings.crowd_limit,
        "crowd_reset_hhmm": settings.crowd_reset,
        "anti_passback": settings.anti_passback,
    }


@endpoint(CAPABILITY)
async def get_auto_in_out(request: web.Request) -> web.Response:
    """GET autoInOut/{sessionid}."""
    return web.json_response(_auto_json(*context_of(request).terminal.auto_in_out()))


def _auto_changes(body: Mapping[str, Any]) -> dict[str, Any]:
    """The AutoInOutSettings fields `body` sets."""
    changes: dict[str, Any] = {}
    mode = text(body, "mode", 32)
    if mode is not None:
        if mode in ("enable", "autoInOut"):
            raise ActatekError("mode: automatic IN/OUT is not supported: readers have directions")
        if mode not in AUTO_MODES:
            raise ActatekError(f"mode: expected one of {', '.join(AUTO_MODES)}")
        changes["mode"] = mode
    for name, field in AUTO_FIELDS.items():
        value = integer(body, name, 1, AUTO_RANGES[field])
        if value is not None:
            changes[field] = value
    reset = text(body, "crowd_reset_hhmm", 5)
    if reset is not None:
        if len(reset) != 5:
            raise ActatekError("crowd_reset_hhmm: expected HH:MM from 00:00 to 23:59")
        changes["crowd_reset"] = reset
    passback = text(body, "anti_passback", 8)
    if passback is not None:
        changes["anti_passback"] = passback
    return changes


@endpoint(CAPABILITY)
async def set_auto_in_out(request: web.Request) -> web.Response:
    """PUT autoInOut/{sessionid}: fields left out stay."""
    body = await read_object(request, AUTO_KEYS, "autoInOut")
    terminal = context_of(request).terminal
    current, auto_reset = terminal.auto_in_out()
    wanted = replace(current, **_auto_changes(body))
    terminal.check_auto_in_out(wanted)
    reset = boolean(body, "auto_reset")
    terminal.set_auto_in_out(wanted, auto_reset if reset is None else reset)
    detail = " ".join(f"{key}={value}" for key, value in asdict(wanted).items())
    _journal(request, "auto_in_out_set", detail)
    return success("autoInOut option updated")


# -- logging -------------------------------------------------------------------------------


@endpoint(CAPABILITY)
async def set_log_unauthorized(request: web.Request) -> web.Response:
    """PUT logUnauthorizedEvent/{sessionid}/{enable}."""
    enable = enable_word(request.match_info["enable"])
    context_of(request).terminal.set_log_unauthorized(enable)
    _journal(request, "log_unauthorized_set", f"enable={enable}")
    return success(f"logUnauthorizedEvent set {str(enable).lower()}")


@endpoint(CAPABILITY)
async def get_log_unauthorized(request: web.Request) -> web.Response:
    """GET logUnauthorizedEvent/{sessionid}."""
    settings = context_of(request).terminal.log_settings()
    return web.json_response({"enable": settings.log_unAuth_event})


@endpoint(CAPABILITY)
async def get_log_setting(request: web.Request) -> web.Response:
    """GET logsetting/{sessionid}."""
    return web.json_response(asdict(context_of(request).terminal.log_settings()))


@endpoint(CAPABILITY)
async def set_log_setting(request: web.Request) -> web.Response:
    """PUT logsetting/{sessionid}: fields left out stay."""
    body = await read_object(request, LOG_KEYS, "logsetting")
    changes: dict[str, Any] = {name: boolean(body, name) for name in LOG_BOOLS}
    changes["log_event"] = text(body, "log_event", 32)
    changes["log_size"] = integer(body, "log_size", 1, 10_000_000)
    changes["log_EM_Option"] = text(body, "log_EM_Option", 16)
    terminal = context_of(request).terminal
    wanted: LogSettings = replace(
        terminal.log_settings(), **{k: v for k, v in changes.items() if v is not None}
    )
    terminal.set_log_settings(wanted)
    detail = " ".join(f"{key}={value}" for key, value in asdict(wanted).items())
    _journal(request, "log_setting_set", detail)
    return success("log setting updated")


# -- consent, status, what this terminal does not have ---------------------------------------


@endpoint(CAPABILITY)
async def set_consent(request: web.Request) -> web.Response:
    """PUT consent/{sessionid}/{enable}/{display_name}."""
    enable = enable_word(request.match_info["enable"])
    name = request.match_info["name"]
    if not 1 <= len(name) <= 64 or not name.isprintable():
        raise ActatekError("display_name: expected 1 to 64 printable characters")
    terminal = context_of(request).terminal
    terminal.set_consent(replace(terminal.consent(), enable=enable, display_name=name))
    _journal(request, "consent_set", f"enable={enable}")
    return success(f"Consent is {'enable' if enable else 'disable'}")


@endpoint(CAPABILITY)
async def get_consent(request: web.Request) -> web.Response:
    """GET consent/{sessionid}."""
    consent = context_of(request).terminal.consent()
    return success(enable=consent.enable, display_name=consent.display_name)


@endpoint(CAPABILITY)
async def terminal_status(request: web.Request) -> web.Response:
    """GET terminalstatus/{sessionid}."""
    return web.json_response(context_of(request).terminal.status())


@endpoint(CAPABILITY)
async def not_supported(_request: web.Request) -> web.Response:
    """getCaptureFingerprint and rtpsetting."""
    raise ActatekError(NOT_SUPPORTED)


def add_routes(app: web.Application) -> None:
    routes = (
        ("POST", "opendoor/{sessionid}", open_door),
        ("POST", "relay/{sessionid}/{action}/{relay}", relay_action),
        ("PUT", "relaysetting/{sessionid}", set_relay_setting),
        ("GET", "relaysetting/{sessionid}/{relay}", get_relay_setting),
        ("PUT", "autoInOut/{sessionid}", set_auto_in_out),
        ("GET", "autoInOut/{sessionid}", get_auto_in_out),
        ("PUT", "logUnauthorizedEvent/{sessionid}/{enable}", set_log_unauthorized),
        ("GET", "logUnauthorizedEvent/{sessionid}", get_log_unauthorized),
        ("PUT", "logsetting/{sessionid}", set_log_setting),
        ("GET", "logsetting/{sessionid}", get_log_setting),
        ("PUT", "consent/{sessionid}/{enable}/{name}", set_consent),
        ("GET", "consent/{sessionid}", get_consent),
        ("GET", "terminalstatus/{sessionid}", terminal_status),
        ("GET", "getCaptureFingerprint/{sessionid}", not_supported),
        ("PUT", "rtpsetting/{sessionid}", not_supported),
        ("GET", "rtpsetting/{sessionid}", not_supported),
        ("GET", "rtpsetting/{sessionid}/{relay}", not_supported),
    )
    for method, path, handler in routes:
        add_both(app, method, f"{PREFIX}/{path}", handler)
