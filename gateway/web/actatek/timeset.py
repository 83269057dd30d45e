"""Section 10: NTP (capability "ntp") and the terminal's date and time (capability "time").

- `GET ntp/{sessionid}` -> {"serveraddr": "0.pool.ntp.org 1.pool.ntp.org", "enable": true}.
- `PUT ntp/{sessionid}` {"serveraddr", "enable"}: fields left out stay. `serveraddr` is
  1 to 8 host names or IP addresses separated by spaces.
- `GET time/{sessionid}` -> {"currentTime": local time without 'Z', "timezone": "..."}.
- Setting the time: the reference's Path for it is `PUT ntp/{sessionid}` (the same as for
  NTP), with {"currentTime", "timezone"}; that is honoured, told apart by the fields (a
  body mixing both kinds is refused), and `PUT time/{sessionid}` is accepted as well.
  `currentTime` with 'Z' is UTC, without it local time; years 2000-2099. Refused while
  NTP is enabled (NTP would undo it; timedatectl refuses too).
- `timezone` is [device] timezone of the configuration file: schedules, local log times
  and the crowd-control reset all use it, so it is answered, and a PUT may repeat it, but
  another zone is refused (change the file and restart).

What happens on the device: `gateway.timeset` (timedatectl and systemd-timesyncd on a Pi;
an offset shown by the API, and nothing else, in simulation).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import datetime
from typing import TypeVar

from aiohttp import web

from gateway.device_time import NtpSetting
from gateway.web.actatek.answers import ActatekError, success
from gateway.web.actatek.context import context_of
from gateway.web.actatek.inputs import boolean, parse_xsd_time, read_object, text
from gateway.web.actatek.session import endpoint, session_of

NTP_FIELDS = frozenset({"serveraddr", "enable"})
TIME_FIELDS = frozenset({"currentTime", "timezone"})
MAX_SERVERS = 8
YEARS = (2000, 2099)
T = TypeVar("T")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _require(request: web.Request, capability: str) -> None:
    session = session_of(request)
    if not session.may(capability):
        raise ActatekError(f"{session.level} may not do this")


def _is_host(host: str) -> bool:
    """An IPv4/IPv6 address or a DNS name of RFC 1123 labels."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        labels = host.rstrip(".").split(".")
        return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def _servers(raw: str) -> tuple[str, ...]:
    servers = tuple(raw.split())
    if not 1 <= len(servers) <= MAX_SERVERS or not all(_is_host(s) for s in servers):
        raise ActatekError(
            f"serveraddr: expected 1 to {MAX_SERVERS} host names or addresses, space-separated"
        )
    return servers


@endpoint("ntp")
async def get_ntp(request: web.Request) -> web.Response:
    """GET ntp/{sessionid}."""
    setting = await context_of(request).terminal.system_time.ntp()
    return web.json_response({"serveraddr": " ".join(setting.servers), "enable": setting.enabled})


async def _set_ntp(request: web.Request, body: Mapping[str, object]) -> web.Response:
    _require(request, "ntp")
    raw = text(body, "serveraddr", 255)
    enable = boolean(body, "enable")
    system = context_of(request).terminal.system_time
    current = await system.ntp()
    wanted = NtpSetting(
        current.servers if raw is None else _servers(raw),
        current.enabled if enable is None else enable,
    )
    await system.set_ntp(wanted)
    detail = f"servers={' '.join(wanted.servers)} enable={wanted.enabled}"
    context_of(request).record_api("ntp_set", session_of(request).username, detail)
    return success("NTP Server setting updated")


@endpoint(None)
async def put_ntp(request: web.Request) -> web.Response:
    """PUT ntp/{sessionid}: the NTP setting, or (the reference's 10.4 Path) the time."""
    session = session_of(request)
    if not (session.may("ntp") or session.may("time")):
        raise ActatekError(f"{session.level} may not do this")
    body = await read_object(request, NTP_FIELDS | TIME_FIELDS, "ntp")
    if set(body) & NTP_FIELDS and set(body) & TIME_FIELDS:
        raise ActatekError("set the NTP servers and the time in two requests")
    if set(body) & TIME_FIELDS:
        return await _set_time(request, body)
    return await _set_ntp(request, body)


@endpoint("time")
async def put_time(request: web.Request) -> web.Response:
    """PUT time/{sessionid} (our alias of the reference's PUT ntp with a time)."""
    return await _set_time(request, await read_object(request, TIME_FIELDS, "time"))


async def _set_time(request: web.Request, body: Mapping[str, object]) -> web.Response:
    _require(request, "time")
    ctx = context_of(request)
    zone = text(body, "timezone", 64)
    if zone is not None and zone != ctx.settings.device.timezone:
        raise ActatekError(
            f"timezone: this terminal's zone is {ctx.settings.device.timezone} "
            "([device] timezone in the configuration file)"
        )
    raw = text(body, "currentTime", 40)
    if raw is None:
        return success("Time setting updated")  # only the (unchanged) zone was given
    when = parse_xsd_time("currentTime", raw, ctx.terminal.tz)
    if not YEARS[0] <= when.when.year <= YEARS[1]:
        raise ActatekError(f"currentTime: expected a year from {YEARS[0]} to {YEARS[1]}")
    await ctx.terminal.system_time.set_time(when.when.timestamp())
    ctx.record_api("time_set", session_of(request).username, f"time={when.journal_time()}")
    return success("Time setting updated")


@endpoint("time")
async def get_time(request: web.Request) -> web.Response:
    """GET time/{sessionid}."""
    ctx = context_of(request)
    now = await ctx.terminal.system_time.now()
    local = datetime.fromtimestamp(now, ctx.terminal.tz).strftime("%Y-%m-%dT%H:%M:%S")
    return web.json_response({"currentTime": local, "timezone": ctx.settings.device.timezone})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/cgi-bin/restapi/ntp/{sessionid}", get_ntp)
    app.router.add_put("/cgi-bin/restapi/ntp/{sessionid}", put_ntp)
    app.router.add_get("/cgi-bin/restapi/time/{sessionid}", get_time)
    app.router.add_put("/cgi-bin/restapi/time/{sessionid}", put_time)
