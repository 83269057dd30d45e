"""The way from the readers to the doors, built in order: each reader's feedback (LEDs and
beeper), the upstream side (verify on a miss, anti-passback URLs), what a grant sets off
besides the door (elevator floors, web relay URLs), the access pipeline, then the reader
drivers, each started and its feedback attached to its door.

Each close goes on the caller's `AsyncExitStack` as its part is built, so a stop closes
the readers first, then the pipeline (open upstream questions journaled as `shutdown`),
the after-grant actions (every lift floor disabled, web relay URLs given a moment), the
upstream clients, and the feedback last.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.access.engine import AccessEngine
from gateway.access.pins import PinHasher
from gateway.clock import Clock
from gateway.doors.controller import DoorController
from gateway.doors.floors import FloorOutputs
from gateway.doors.timers import LoopTimers
from gateway.feedback import FeedbackMirror, ReaderFeedback, build_feedback
from gateway.grant_actions import AfterGrant
from gateway.hw.factory import Hardware
from gateway.hw.readers import ReaderContext, ReaderDriver, start_reader
from gateway.model import Event, GrantActions
from gateway.pipeline import AccessPipeline, StoreFirst, Upstream, build_upstream
from gateway.settings import Settings
from gateway.upstream.http import client_ssl
from gateway.upstream.web_relay import WebRelaySender


@dataclass(frozen=True)
class ReaderChain:
    """The running readers and what carries their credentials to the doors."""

    feedback: dict[str, ReaderFeedback]  # by reader name
    upstream: Upstream
    pipeline: AccessPipeline
    readers: dict[str, ReaderDriver]  # by reader name
    after_grant: AfterGrant | None = None  # floors and web relay URLs


def start_reader_chain(
    settings: Settings,
    hardware: Hardware,
    clock: Clock,
    tz: ZoneInfo,
    engine: AccessEngine,
    doors: Mapping[str, DoorController],
    hasher: PinHasher,
    emit: Callable[[Event], None],
    engine_changed: Callable[[], None],
    stack: AsyncExitStack,
    store_first: StoreFirst | None = None,
    grant_actions: Callable[[str], GrantActions] | None = None,
) -> ReaderChain:
    """Build the chain for every configured reader and start the readers (a reader that
    fails to start shows offline); every close goes on `stack`. Runs on the loop."""
    loop = asyncio.get_running_loop()
    feedback: dict[str, ReaderFeedback] = {}
    for reader in settings.readers:
        feedback[reader.name] = build_feedback(reader, hardware, LoopTimers(loop))
        stack.callback(feedback[reader.name].close)
    upstream = build_upstream(settings, tz, clock, hasher.hash, emit)
    stack.push_async_callback(upstream.close)
    after_grant = None
    if grant_actions is not None:
        after_grant = build_after_grant(settings, hardware, clock, emit, grant_actions)
        stack.push_async_callback(after_grant.close)  # every floor disabled on stop
    pipeline = AccessPipeline(
        loop,
        clock,
        engine,
        {r.name: r for r in settings.readers},
        doors,
        feedback,
        emit,
        engine_changed,
        settings.access.two_factor_timeout_s,
        upstream,
        store_first,
        after_grant,
    )
    stack.push_async_callback(pipeline.close)  # open upstream questions: `shutdown`
    context = ReaderContext(
        hardware,
        loop,
        pipeline,
        clock,
        settings.wiegand_formats,
        emit,
        Path(settings.device.state_dir),
    )
    readers: dict[str, ReaderDriver] = {}
    for reader in settings.readers:
        readers[reader.name] = start_reader(reader, context)
        stack.callback(readers[reader.name].close)
        doors[reader.door].attach_feedback(feedback[reader.name])
        driver = readers[reader.name]
        if isinstance(driver, FeedbackMirror):  # a reader that shows feedback itself (OSDP)
            feedback[reader.name].add_mirror(driver)
    return ReaderChain(feedback, upstream, pipeline, readers, after_grant)


def build_after_grant(
    settings: Settings,
    hardware: Hardware,
    clock: Clock,
    emit: Callable[[Event], None],
    grant_actions: Callable[[str], GrantActions],
) -> AfterGrant:
    """The floors (when `[[floors]]` are configured: every output disabled now) and the
    web relay sender (on the upstream client's TLS settings), behind one after-grant hook."""
    loop = asyncio.get_running_loop()
    floors = None
    if settings.floors:
        floors = FloorOutputs(
            settings.floors, settings.lift, hardware, LoopTimers(loop), clock, emit
        )
    up = settings.upstream
    web_relay = WebRelaySender(emit, clock, ssl_setting=client_ssl(up.verify_tls, up.ca_file))
    return AfterGrant(grant_actions, floors, web_relay)
