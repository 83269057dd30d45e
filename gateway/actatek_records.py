"""The values the ACTAtek terminal functions speak in (`gateway.actatek_settings`): relay and
log settings, consent, the reference's allowed options, and the refusal `TerminalError`.

Plain values with no I/O (a contract module, `scripts/check_layers.py`): the terminal
endpoints import them at run time and reach the functions themselves through their context.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.store.log_records import LogView

RELAY_IDS = ("ONE", "TWO")
RELAY_ACTIONS = ("open", "close")
ONE_OPTIONS = ("disable",)  # 'access_denied' on the lock relay would open for refusals
TWO_OPTIONS = ("disable", "access_granted", "access_denied", "doorbell", "bell_schedule")
SCHEDULE_MAX_DELAY_S = 1800
LOG_EVENTS = ("disable", "user_event", "audit_event", "user_audit_event")
LOG_SIZES = (10_000, 75_000, 100_000, 500_000, 1_000_000)
EM_OPTIONS = ("FullSN", "ID", "FC_ID")
AUTO_RESET_KEY = "auto_reset"


class TerminalError(Exception):
    """A terminal function refused (the message says why; nothing changed)."""


@dataclass(frozen=True)
class RelaySetting:
    """ACTAtek relay setting: `option` and `delay` (seconds) of relay ONE or TWO."""

    id: str
    option: str
    delay: float


@dataclass(frozen=True)
class LogSettings:
    """ACTAtek log settings (field names exactly as the reference spells them, so that the
    JSON body maps onto them one to one).

    `log_size` bounds the journal. The journal always records everything; the flags only
    decide what getLogs lists (`view`). Photo, facial and EM options are stored and
    answered, with no effect: there is no camera, and logs never show card numbers.
    """

    log_size: int
    log_event: str = "user_audit_event"
    log_unAuth_event: bool = True
    log_Accept_nonRegistered_card: bool = True
    log_photo_Auth_event: bool = False
    log_photo_unAuth_event: bool = False
    log_Accept_nonRegistered_facial: bool = False
    log_case_event: bool = True
    log_EM_Option: str = "FullSN"

    def view(self) -> LogView:
        """What getLogs shows under these settings."""
        return LogView(
            user_events=self.log_event in ("user_event", "user_audit_event"),
            audit_events=self.log_event in ("audit_event", "user_audit_event"),
            unauthorized=self.log_unAuth_event,
            unregistered_cards=self.log_Accept_nonRegistered_card,
            case_events=self.log_case_event,
        )


@dataclass(frozen=True)
class Consent:
    """The consent message shown on the terminal (stored and answered: no display here)."""

    enable: bool
    display_name: str


def check_log_settings(settings: LogSettings) -> None:
    """`TerminalError` unless every value is one the reference allows."""
    if settings.log_event not in LOG_EVENTS:
        raise TerminalError(f"log_event: expected one of {', '.join(LOG_EVENTS)}")
    if settings.log_size not in LOG_SIZES:
        raise TerminalError(f"log_size: expected one of {', '.join(map(str, LOG_SIZES))}")
    if settings.log_EM_Option not in EM_OPTIONS:
        raise TerminalError(f"log_EM_Option: expected one of {', '.join(EM_OPTIONS)}")
