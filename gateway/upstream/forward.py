"""Event forwarding: push the journal to every active agent, in seq order, nothing lost.

One task per active agent reads the journal from the agent's durable cursor (on a worker
thread: SQLite never runs on the event loop), POSTs the rows as a JSON array of
getFullLogs entries (`forward_payload`), and moves the cursor only after a 2xx. Delivery
is at-least-once: a crash between the 2xx and the cursor commit sends that batch again, so
agents de-duplicate by `logID`/`seq`. Only durable rows are read, so nothing is forwarded
that a power cut could take back.

A failure backs off exponentially (1 s doubling to 5 min by default, with jitter); new
journal rows wake an idle task at once (`notify`, called by the journal writer), and an
idle poll every few seconds is the backstop. docs/forwarding.md has the details.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

import aiohttp
from yarl import URL

from gateway import __version__
from gateway.clock import Clock
from gateway.model import Event
from gateway.settings import ForwardingSettings
from gateway.store.agents import Agent, AgentStore, iso_utc
from gateway.store.journal import EventJournal
from gateway.upstream.forward_payload import TerminalIdentity, batch_body

__all__ = ["Batch", "Forwarder", "TerminalIdentity", "backoff_delay"]

log = logging.getLogger(__name__)

RETRY_JITTER = 0.25  # each back-off is shortened by up to 25% at random
STOP_TIMEOUT_S = 5.0
MAGIC_HEADER = "X-Agent-Magic"
VERSION_HEADER = "X-Agent-Version"
BACKLOG_REASON = "forwarding_backlog"
BACKLOG_CLEARED_REASON = "forwarding_backlog_cleared"

T = TypeVar("T")
State = Literal["starting", "idle", "sending", "backoff"]


def backoff_delay(
    failures: int, initial: float, maximum: float, rng: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after `failures` failures in a row: `initial`, doubling, at most
    `maximum`; shortened by up to `RETRY_JITTER` at random so that agents that failed
    together (a network outage) do not all retry in the same instant."""
    base = min(maximum, initial * 2.0 ** min(max(failures, 1) - 1, 32))
    return base * (1.0 - RETRY_JITTER * rng())


@dataclass(frozen=True)
class Batch:
    """Journal rows after a cursor, ready to POST."""

    count: int
    first_seq: int  # 0 when empty
    last_seq: int  # 0 when empty
    journal_last: int  # the journal's newest seq when the batch was read
    body: bytes


@dataclass
class _Runtime:
    """What the forwarder knows about one agent while its task runs."""

    agent: Agent
    cursor: int
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # new rows, or a change
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # reload from the store
    task: asyncio.Task[None] | None = None
    state: State = "starting"
    failures: int = 0
    next_retry: float | None = None
    floor: int = 0  # rows up to here are delivered or gone: the backlog starts after it
    gap_reported: int = 0
    alarm: bool = False


class Forwarder:
    """Pushes the journal to the agents of `agents`; one task per active agent."""

    def __init__(
        self,
        journal: EventJournal,
        agents: AgentStore,
        settings: ForwardingSettings,
        emit: Callable[[Event], None],
        terminal: TerminalIdentity,
        directions: Mapping[str, str],
        clock: Clock,
        *,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._journal = journal
        self._agents = agents
        self.settings = settings
        self._emit = emit
        self._terminal = terminal
        self._directions = dict(directions)
        self._clock = clock
        self._rng = rng
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="forward")
        self._runtimes: dict[int, _Runtime] = {}
        self._session: aiohttp.ClientSession | None = None
        self._last_seq = 0
        self._stopped = False

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP client and start a task for every active agent."""
        self._session = aiohttp.ClientSession(headers={"User-Agent": f"door-gateway/{__version__}"})
        self._last_seq = await self._in_thread(self._journal.last_seq)
        await self.agents_changed()

    async def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Cancel every task and wait (at most `timeout` s) for the worker threads, so
        the journal and the agent store can be closed afterwards."""
        self._stopped = True
        tasks = [rt.task for rt in self._runtimes.values() if rt.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        if self._session is not None:
            await self._session.close()
        shutdown = asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
        try:
            await asyncio.wait_for(shutdown, timeout)
        except TimeoutError:
            log.warning("forwarding: a store call still runs after %.0f s", timeout)

    def notify(self, seq: int) -> None:
        """A row with `seq` is durable in the journal: wake the idle tasks (on the loop)."""
        self._last_seq = max(self._last_seq, seq)
        for runtime in self._runtimes.values():
            runtime.wake.set()

    async def agents_changed(self) -> None:
        """Agents were registered, unregistered, paused or asked for an init sync: start,
        stop or reload their tasks. Call after every write to the agents table."""
        if self._stopped:
            return
        agents = await self._in_thread(self._agents.list)
        wanted = {agent.id: agent for agent in agents if agent.active}
        for agent_id in list(self._runtimes):
            if agent_id not in wanted:
                self._drop(agent_id)
        for agent in wanted.values():
            runtime = self._runtimes.get(agent.id)
            if runtime is None:
                self._spawn(agent)
            else:
                runtime.changed.set()
                runtime.wake.set()

    def _spawn(self, agent: Agent) -> None:
        runtime = _Runtime(agent, agent.cursor, alarm=agent.backlog_alarm)
        runtime.changed.set()  # the first turn takes a pending init sync
        runtime.task = asyncio.create_task(self._run(runtime), name=f"forward-{agent.id}")
        runtime.task.add_done_callback(lambda _: self._ended(runtime))
        self._runtimes[agent.id] = runtime

    def _drop(self, agent_id: int) -> None:
        runtime = self._runtimes.pop(agent_id)
        if runtime.task is not None:
            runtime.task.cancel()

    def _ended(self, runtime: _Runtime) -> None:
        # A task ends when its agent is gone or paused; a later agents_changed restarts it.
        if self._runtimes.get(runtime.agent.id) is runtime:
            del self._runtimes[runtime.agent.id]

    # -- the management API's helpers (store call on a worker thread, then reload) --------

    async def register(
        self,
        url: str,
        *,
        agent_version: str | None = None,
        magic: str | None = None,
        init_sync: bool = False,
    ) -> Agent:
        """ACTAtek `register Agent`: see `AgentStore.register`; the task starts at once."""
        agent = await self._in_thread(
            lambda: self._agents.register(
                url,
                now=self._clock.time(),
                agent_version=agent_version,
                magic=magic,
                init_sync=init_sync,
            )
        )
        await self.agents_changed()
        return agent

    async def unregister(self, url: str) -> Agent:
        """ACTAtek `unregister Agent`; `NotFoundError` for an unknown URL."""
        agent = await self._in_thread(self._agents.unregister, url)
        await self.agents_changed()
        return agent

    async def list_agents(self) -> list[Agent]:
        """ACTAtek `get Registered Agents` (render with `Agent.as_reference()`)."""
        return await self._in_thread(self._agents.list)

    async def request_init_sync(self, url: str) -> Agent:
        """Send the whole journal to this agent again."""
        agent = await self._in_thread(self._agents.request_init_sync, url)
        await self.agents_changed()
        return agent

    async def set_active(self, url: str, active: bool) -> Agent:
        """Pause or resume an agent (a paused agent does not hold back retention)."""
        agent = await self._in_thread(self._agents.set_active, url, active)
        await self.agents_changed()
        return agent

    # -- one agent's task -----------------------------------------------------------------

    async def _run(self, runtime: _Runtime) -> None:
        while True:
            try:
                if not await self._turn(runtime):
                    return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a store error must not end forwarding for good
                log.exception("forwarding to %s failed", runtime.agent.public_url)
                runtime.failures += 1
                runtime.agent = _with_check(runtime.agent, self._clock.time(), exc)
                await self._back_off(runtime)

    async def _turn(self, runtime: _Runtime) -> bool:
        """Reload if asked, read a batch, push it or wait; False when the agent is gone."""
        if runtime.changed.is_set():
            runtime.changed.clear()
            if not await self._reload(runtime):
                return False
        runtime.wake.clear()  # before reading: a row appended from now on wakes us again
        batch = await self._in_thread(self._read_batch, runtime.cursor)
        self._observe(runtime, batch)
        await self._check_backlog(runtime)
        if batch.count == 0:
            runtime.state = "idle"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(runtime.wake.wait(), self.settings.idle_poll_s)
        elif not await self._push(runtime, batch):
            await self._back_off(runtime)
        return True

    async def _reload(self, runtime: _Runtime) -> bool:
        agent = await self._in_thread(self._agents.take_init_sync, runtime.agent.id)
        if agent is None or not agent.active:
            return False
        if agent.init_sync:
            log.info("forwarding: sending the whole journal to %s", agent.public_url)
        runtime.agent, runtime.cursor, runtime.alarm = agent, agent.cursor, agent.backlog_alarm
        return True

    def _read_batch(self, cursor: int) -> Batch:
        """On a worker thread: the rows after `cursor`, as the POST body."""
        events = self._journal.read(cursor, self.settings.batch_size)
        journal_last = self._journal.last_seq()
        if not events:
            return Batch(0, 0, 0, journal_last, b"")
        labels = self._agents.user_labels(e.user_id for e in events if e.user_id)
        body = batch_body(events, labels, self._terminal, self._directions)
        return Batch(len(events), events[0].seq, events[-1].seq, journal_last, body)

    def _observe(self, runtime: _Runtime, batch: Batch) -> None:
        """Track the journal's end and the backlog floor; report rows lost to overflow."""
        self._last_seq = max(self._last_seq, batch.journal_last)
        if batch.count == 0:
            runtime.floor = batch.journal_last  # nothing after the cursor is left to send
            return
        runtime.floor = batch.first_seq - 1
        if batch.first_seq > runtime.cursor + 1 and runtime.gap_reported != batch.first_seq:
            runtime.gap_reported = batch.first_seq
            log.warning(
                "forwarding: seq %d-%d were dropped before %s had them (journal_overflow)",
                runtime.cursor + 1,
                batch.first_seq - 1,
                runtime.agent.public_url,
            )

    async def _push(self, runtime: _Runtime, batch: Batch) -> bool:
        """POST one batch; on a 2xx move the durable cursor. True on a 2xx."""
        runtime.state = "sending"
        ok, status = await self._post(runtime.agent, batch.body)
        now = self._clock.time()
        agent_id = runtime.agent.id
        if not ok:
            runtime.failures += 1
            runtime.agent = _checked(runtime.agent, now, ok, status)
            await self._in_thread(self._agents.record_failure, agent_id, now, status)
            return False
        stored = await self._in_thread(
            self._agents.record_success, agent_id, batch.last_seq, now, status
        )
        runtime.failures = 0
        runtime.agent = _checked(runtime.agent, now, ok, status)
        if stored:
            runtime.cursor = batch.last_seq
        else:  # an init sync was requested (or the agent removed) while we were sending
            runtime.changed.set()
        return True

    async def _post(self, agent: Agent, body: bytes) -> tuple[bool, str]:
        """(2xx?, "HTTP 200" / "timeout" / the error's type). Never the error's text: it
        may echo the URL and its password."""
        assert self._session is not None, "start() first"
        url, authorization = _split_auth(agent.url)
        headers = {"Content-Type": "application/json", VERSION_HEADER: agent.agent_version}
        if authorization is not None:
            headers["Authorization"] = authorization
        if agent.magic:
            headers[MAGIC_HEADER] = agent.magic
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        try:
            async with self._session.post(
                url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                return 200 <= response.status < 300, f"HTTP {response.status}"
        except TimeoutError:
            return False, "timeout"
        except (aiohttp.ClientError, ValueError) as exc:
            return False, type(exc).__name__

    async def _back_off(self, runtime: _Runtime) -> None:
        """Wait before the next attempt; a change to the agent (a new URL) cuts it short."""
        delay = backoff_delay(
            runtime.failures,
            self.settings.retry_initial_s,
            self.settings.retry_max_s,
            self._rng,
        )
        runtime.state = "backoff"
        runtime.next_retry = self._clock.time() + delay
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.changed.wait(), delay)
        runtime.next_retry = None

    # -- the backlog alarm ----------------------------------------------------------------

    def _backlog(self, runtime: _Runtime) -> int:
        return max(0, self._last_seq - max(runtime.cursor, runtime.floor))

    async def _check_backlog(self, runtime: _Runtime) -> None:
        """Raise `forwarding_backlog` once past the threshold; clear it once the backlog
        is back to half the threshold (hysteresis: no flapping around the line)."""
        backlog, threshold = self._backlog(runtime), self.settings.backlog_alarm
        if not runtime.alarm and backlog > threshold:
            await self._set_alarm(runtime, True, backlog)
        elif runtime.alarm and backlog <= threshold // 2:
            await self._set_alarm(runtime, False, backlog)

    async def _set_alarm(self, runtime: _Runtime, on: bool, backlog: int) -> None:
        runtime.alarm = on
        reason = BACKLOG_REASON if on else BACKLOG_CLEARED_REASON
        trace = (
            f"agent {runtime.agent.id} {runtime.agent.public_url}: {backlog} events waiting "
            f"(cursor {runtime.cursor}, alarm above {self.settings.backlog_alarm})"
        )
        # Journal first, then remember: a crash in between repeats the alarm, never loses it.
        self._emit(Event("alarm", self._clock.time(), reason=reason, trace=trace))
        await self._in_thread(self._agents.set_backlog_alarm, runtime.agent.id, on)

    # -- status ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Per agent (by public URL): cursor, backlog, last push and attempt, back-off."""
        return {
            "last_seq": self._last_seq,
            "journal_overflowed": self._journal.overflowed,
            "agents": {
                rt.agent.public_url: self._agent_status(rt) for rt in self._runtimes.values()
            },
        }

    def _agent_status(self, runtime: _Runtime) -> dict[str, Any]:
        agent = runtime.agent
        return {
            "id": agent.id,
            "url": agent.public_url,
            "state": runtime.state,
            "cursor": runtime.cursor,
            "backlog": self._backlog(runtime),
            "backlog_alarm": runtime.alarm,
            "last_update": None if agent.last_update is None else iso_utc(agent.last_update),
            "last_check": None if agent.last_check is None else iso_utc(agent.last_check),
            "last_check_ok": agent.last_check_ok,
            "last_check_status": agent.last_check_status,
            "failures": runtime.failures,
            "next_retry": None if runtime.next_retry is None else iso_utc(runtime.next_retry),
        }

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)


def _split_auth(url: str) -> tuple[URL, str | None]:
    """The URL without user info, and the basic `Authorization` header it implies.

    Built by hand: aiohttp deprecates its `auth=` argument, and its replacement helper
    is newer than the aiohttp versions we support.
    """
    parsed = URL(url)  # user and password come back percent-decoded
    if parsed.user is None:
        return parsed, None
    pair = f"{parsed.user}:{parsed.password or ''}".encode()
    return parsed.with_user(None), "Basic " + base64.b64encode(pair).decode("ascii")


def _checked(agent: Agent, now: float, ok: bool, status: str) -> Agent:
    """The agent's in-memory copy after an attempt (the store has the same values)."""
    last_update = now if ok else agent.last_update
    return replace(
        agent, last_update=last_update, last_check=now, last_check_ok=ok, last_check_status=status
    )


def _with_check(agent: Agent, now: float, exc: BaseException) -> Agent:
    return _checked(agent, now, False, f"internal error: {type(exc).__name__}")
