"""The service log: one line per message, control characters escaped, floods summarised.

`door-gateway run` logs to its standard error, which systemd hands to the journal
(`journalctl -u door-gateway`). Two rules keep that log useful under attack
(docs/security.md, "Denial of service"):

- **Escaped** (`SafeFormatter`): a value a client chose cannot start a line of its own, move
  a terminal's cursor or reverse text (`gateway.safetext`). A traceback keeps its lines,
  each escaped and indented, so that none of them (an exception's message may quote a
  client's value over several lines) can pass for a record of its own.
- **Rate-limited** (`RepeatFilter`): the first `burst` records of one message (same logger,
  level and format string) per `interval_s` pass; the rest are counted, and the next one to
  pass after the interval says how many were suppressed, as the kernel's printk does. A
  flood of "too many open files" once wrote 27 MB of stderr in 10 s.

Time is an input: the filter reads an injected monotonic clock.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from gateway.safetext import escape_controls

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
BURST = 10  # records of one message that pass per interval
INTERVAL_S = 60.0
MAX_KEYS = 512  # distinct messages tracked; beyond, new ones share one window
_OVERFLOW_KEY = ("", 0, "")


class SafeFormatter(logging.Formatter):
    """A formatter whose message line is one line, control characters escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return _continuation(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _continuation(super().formatStack(stack_info))


def _continuation(text: str) -> str:
    """Lines that belong to the record above: escaped, and indented by two spaces."""
    return "\n".join("  " + escape_controls(line) for line in text.split("\n"))


@dataclass
class _Window:
    start: float
    passed: int = 0
    suppressed: int = 0


class RepeatFilter(logging.Filter):
    """Lets the first `burst` records of a message through per `interval_s`; see module."""

    def __init__(
        self,
        burst: int = BURST,
        interval_s: float = INTERVAL_S,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst, self.interval_s, self.max_keys = burst, interval_s, max_keys
        self._clock = clock
        self._windows: dict[tuple[str, int, str], _Window] = {}
        self.suppressed_total = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        key = self._key(record, now)
        window = self._windows.get(key)
        if window is None or now - window.start >= self.interval_s:
            if window is not None and window.suppressed:
                _note_suppressed(record, window.suppressed, now - window.start)
            window = self._windows[key] = _Window(now)
        if window.passed < self.burst:
            window.passed += 1
            return True
        window.suppressed += 1
        self.suppressed_total += 1
        return False

    def _key(self, record: logging.LogRecord, now: float) -> tuple[str, int, str]:
        """The message's identity: its format string (not the values), first line only (an
        asyncio error's message is preformatted, its first line says what happened)."""
        key = (record.name, record.levelno, str(record.msg).split("\n", 1)[0][:200])
        if key in self._windows or len(self._windows) < self.max_keys:
            return key
        # Full: forget quiet messages (their counts, if any, are lost), else share one window.
        for old in [k for k, w in self._windows.items() if now - w.start >= self.interval_s]:
            del self._windows[old]
        return key if len(self._windows) < self.max_keys else _OVERFLOW_KEY


def _note_suppressed(record: logging.LogRecord, count: int, over_s: float) -> None:
    note = f" [{count} similar messages suppressed over the previous {over_s:.0f} s]"
    record.msg = record.getMessage() + note
    record.args = None


def log_handler(
    stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic
) -> logging.Handler:
    """The daemon's handler: to `stream` (standard error), escaped and rate-limited."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(SafeFormatter(LOG_FORMAT))
    handler.addFilter(RepeatFilter(clock=clock))
    return handler


def configure_logging(level: str) -> None:
    """Send every logger's records at `level` or above through `log_handler()`."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(log_handler())
    root.setLevel(level.upper())
