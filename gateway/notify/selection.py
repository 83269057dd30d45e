"""Which journal events are mailed: every event of the configured types, every event with
one of the configured reasons; never the mailer's own outage events (the delayed mail
itself says that the mail server was down)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.model import StoredEvent
from gateway.settings import NotificationSettings

__all__ = ["FAILED_REASON", "RECOVERED_REASON", "Selection"]

FAILED_REASON = "notification_failed"
RECOVERED_REASON = "notification_recovered"
OWN_REASONS = frozenset({FAILED_REASON, RECOVERED_REASON})


@dataclass(frozen=True)
class Selection:
    """The events to mail, from `[notifications] event_types` and `reasons`."""

    types: frozenset[str]
    reasons: frozenset[str]

    @classmethod
    def from_settings(cls, settings: NotificationSettings) -> Selection:
        return cls(frozenset(settings.event_types), frozenset(settings.reasons))

    def wants(self, event: StoredEvent) -> bool:
        """True when `event` is to be mailed."""
        if event.reason in OWN_REASONS:
            return False
        return event.type in self.types or event.reason in self.reasons
