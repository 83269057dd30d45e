"""PIN entry: turn single key presses from a keypad into one PIN credential.

The ESPHome `key_collector` idea: digits accumulate, `*` clears, `#` submits. An entry left
idle longer than `timeout_s` (a duration: on the monotonic clock) is stale: the next key
starts a fresh entry, and the daemon calls `expire` from a timer so the reader can signal
the reset. The digits are never exposed except inside the submitted Credential; the status
page only sees how many are pending.
"""

from __future__ import annotations

from typing import Any

from gateway.clock import Instant
from gateway.model import Credential

DIGITS = frozenset("0123456789")
CLEAR_KEY = "*"
SUBMIT_KEY = "#"


class PinCollector:
    """Collects key presses of one reader's keypad into PIN credentials."""

    def __init__(self, reader: str, timeout_s: float, min_len: int = 2, max_len: int = 8) -> None:
        if not 1 <= min_len <= max_len:
            raise ValueError(
                f"PIN length bounds must satisfy 1 <= min <= max, got {min_len}..{max_len}"
            )
        self.reader = reader
        self.timeout_s = timeout_s
        self.min_len = min_len
        self.max_len = max_len
        self._digits: list[str] = []
        self._last_key: float | None = None  # monotonic time of the last digit
        self.submitted = 0
        self.rejected = 0  # entries submitted with a length outside [min_len, max_len]
        self.expired = 0  # partial entries dropped after the idle timeout
        self.ignored_keys = 0  # keys that are not a digit, '*' or '#'

    @property
    def pending_digits(self) -> int:
        """How many digits are typed so far (never the digits themselves)."""
        return len(self._digits)

    def deadline(self) -> float | None:
        """When (monotonic) the partial entry goes stale, or None when nothing is pending."""
        if not self._digits or self._last_key is None:
            return None
        return self._last_key + self.timeout_s

    def press(self, key: str, now: Instant) -> Credential | None:
        """Handle one key; return a PIN credential when `#` submits a valid-length entry.

        The credential's timestamp is `now.wall` (when the keypad saw the `#`)."""
        self.expire(now.mono)
        if key in DIGITS:
            # Digits beyond max_len + 1 carry no information (the entry is already too long
            # and will be rejected), so the buffer stays bounded whatever is pressed.
            if len(self._digits) <= self.max_len:
                self._digits.append(key)
            self._last_key = now.mono
            return None
        if key == CLEAR_KEY:
            self._clear()
            return None
        if key == SUBMIT_KEY:
            return self._submit(now.wall)
        self.ignored_keys += 1
        return None

    def _submit(self, now: float) -> Credential | None:
        digits = "".join(self._digits)
        self._clear()
        if not digits:
            return None  # a stray '#' with nothing typed is not a PIN attempt
        if not self.min_len <= len(digits) <= self.max_len:
            self.rejected += 1
            return None
        self.submitted += 1
        return Credential(kind="pin", value=digits, reader=self.reader, timestamp=now)

    def expire(self, now: float) -> bool:
        """Drop a partial entry idle for more than `timeout_s` at monotonic time `now`; True
        when one was dropped."""
        deadline = self.deadline()
        if deadline is None or now <= deadline:
            return False
        self._clear()
        self.expired += 1
        return True

    def _clear(self) -> None:
        self._digits.clear()
        self._last_key = None

    def status(self) -> dict[str, Any]:
        """Plain-dict status for the status page (digit count only, never digits)."""
        return {
            "reader": self.reader,
            "pending_digits": self.pending_digits,
            "submitted": self.submitted,
            "rejected": self.rejected,
            "expired": self.expired,
            "ignored_keys": self.ignored_keys,
        }
