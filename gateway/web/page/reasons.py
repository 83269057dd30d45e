"""Every journal reason in words: what happened, and what a technician can do about it.

The journal keeps short codes (`user_inactive`, `forced_open`); the status page shows each
beside its explanation, so a technician who has never read the documentation can tell
why a card was denied. This is the one table of them (a test walks the source and fails
when a reason the code can emit has no entry here). `{user}`, `{door}` and `{reader}` are
filled from the event ("user 1003", "door front"); a sentence is capitalised after.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.model import StoredEvent


@dataclass(frozen=True)
class Explanation:
    """One reason: `what` happened (one line), and what `todo` (empty: nothing to do)."""

    what: str
    todo: str = ""


_ENROL = "enrol the card for a user (Readers → learn a card), or check the number"
_UPSTREAM = "check the verify server and the network to it (dashboard: Upstream)"
_API = "Done through the management API; nothing to do if it was expected."

REASONS: dict[str, Explanation] = {
    # -- access decisions (the rules, the engine) ---------------------------------------
    "granted": Explanation("Access granted to {user}: the door was told to unlock."),
    "unknown_credential": Explanation(
        "Nobody has this credential: it is not enrolled on this gateway.", _ENROL
    ),
    "credential_disabled": Explanation(
        "This credential is disabled for {user}.", "enable the credential, or issue a new one"
    ),
    "method_off": Explanation(
        "This kind of credential (card, PIN or QR code) is switched off at {door}.",
        "use another credential, or switch the kind on (cards_enabled, pins_enabled, qr_enabled)",
    ),
    "plate_outside_window": Explanation(
        "This licence plate of {user} is only valid within a time window, and now is not in it.",
        "check the plate's window (valid from / until) in the user's record",
    ),
    "user_inactive": Explanation(
        "{user} is inactive.", "activate the user, or check their validity dates"
    ),
    "user_expired": Explanation(
        "{user} has expired: their validity date is past.", "extend the user's validity date"
    ),
    "door_not_permitted": Explanation(
        "{user} may not use {door}.", "add the door to the user or to one of their access groups"
    ),
    "outside_schedule": Explanation(
        "{user} may use {door}, but not at this time.",
        "check the user's schedule and holidays, and the gateway's clock and time zone",
    ),
    "auth_mode": Explanation(
        "{door} needs another kind of credential (e.g. a card and a PIN, or a PIN only).",
        "present what the door asks for; check the door's auth_mode",
    ),
    "awaiting_second_factor": Explanation(
        "First factor accepted: {door} waits for the same user's PIN or card.",
        "present the second factor within the time allowed",
    ),
    "second_factor_timeout": Explanation(
        "The second factor came too late: the first one had expired.",
        "present both again, the second one sooner",
    ),
    "second_factor_mismatch": Explanation(
        "The card and the PIN belong to different users.", "present one user's card and PIN"
    ),
    "keypad_locked": Explanation(
        "The keypad of {reader} is locked after too many wrong PINs: the PIN was not checked.",
        "wait for the lockout to end, then type the right PIN",
    ),
    "keypad_locked_out": Explanation(
        "Too many wrong PINs: {reader}'s keypad is locked for a while.",
        "wait; if nobody expected it, someone may be guessing PINs",
    ),
    "totp_rejected": Explanation(
        "The one-time code was wrong or expired.", "use a fresh code; check the gateway's clock"
    ),
    "unknown_door": Explanation(
        "The reader's door is not in the configuration.", "check the reader's door in the file"
    ),
    "unknown_user": Explanation(
        "The device named a user this gateway does not know.", "enrol the user, or check its ID"
    ),
    "ambiguous_name": Explanation(
        "The device named a user by a name several users share.", "use the user ID instead"
    ),
    "anti_passback": Explanation(
        "Anti-passback: {user} already went this way and has not come back through.",
        "pass the other way first, or reset anti-passback",
    ),
    "repeat_rejected": Explanation(
        "The same user again too soon after the last entry.", "wait, then present again"
    ),
    "lunch_break": Explanation(
        "{user} went out for lunch less than the minimum break ago.", "wait for the break"
    ),
    "crowd_limit": Explanation(
        "The room is full (crowd control): nobody more may enter.", "wait for someone to leave"
    ),
    "lockdown": Explanation(
        "{door} is in lockdown: it opens for nobody.", "end the lockdown on the dashboard"
    ),
    "shutdown": Explanation(
        "The gateway was stopping: doors open for nobody then.", "present again once it is up"
    ),
    "card_not_desfire": Explanation(
        "The card on {reader} did not answer as a DESFire card: a copy of a card's number "
        "(UID) or another kind of card, so nothing opened.",
        "use a card issued for this site (docs/desfire.md)",
    ),
    "card_no_application": Explanation(
        "The card on {reader} has no application holding this site's credential.",
        "issue the card (docs/desfire.md), or check the reader's desfire_app_id",
    ),
    "card_auth_failed": Explanation(
        "The card on {reader} did not prove that it holds this site's key (a copy, or a "
        "card of another site), so nothing opened.",
        "if the card is genuine, check the reader's key and key number against how the "
        "card was issued",
    ),
    "card_read_failed": Explanation(
        "The card on {reader} could not be read securely (taken away too soon, or an "
        "answer garbled or altered), so nothing opened.",
        "present the card again and hold it still; if it repeats, check the reader's file settings",
    ),
    "card_load_key_failed": Explanation(
        "Reader {reader} refused the MIFARE key, so the card could not be read.",
        "check that the reader can load keys (PC/SC part 3), or use another reader",
    ),
    "internal_error": Explanation(
        "The decision failed inside the gateway, so the door stayed locked (fail closed).",
        "look at the gateway's log (journalctl -u door-gateway) and report it",
    ),
    # -- the upstream verify server ------------------------------------------------------
    "upstream_denied": Explanation(
        "The verify server answered: deny.", "ask the server's admin about this credential"
    ),
    "upstream_timeout": Explanation(
        "The verify server did not answer in time, so the door stayed locked.", _UPSTREAM
    ),
    "upstream_unreachable": Explanation(
        "The verify server could not be reached, so the door stayed locked.", _UPSTREAM
    ),
    "upstream_tls": Explanation(
        "The verify server's TLS certificate was refused, so the door stayed locked.",
        "check the server's certificate and the gateway's clock",
    ),
    "upstream_bad_answer": Explanation(
        "The verify server's answer could not be read, so the door stayed locked.",
        "check the server's answer format (docs/upstream.md)",
    ),
    "upstream_too_large": Explanation(
        "The verify server's answer was too large, so the door stayed locked.",
        "check the server's answer",
    ),
    "upstream_error": Explanation(
        "Asking the verify server failed, so the door stayed locked.", _UPSTREAM
    ),
    "rules_loading": Explanation(
        "The gateway was still loading its rules after a start and the database did not "
        "answer in time for this credential, so the door stayed locked.",
        "present it again in a moment; if it keeps happening, check the disk and the "
        "database (selftest)",
    ),
    "upstream_offline": Explanation(
        "The verify server is down (breaker open) and this door denies unknown credentials "
        "while it is.",
        _UPSTREAM,
    ),
    "upstream_card_format": Explanation(
        "This card's format cannot be sent to the verify server.",
        "enrol the card locally, or set the reader's card format",
    ),
    "offline_grant": Explanation(
        "The verify server is down and this door lets unknown credentials in while it is.",
        _UPSTREAM,
    ),
    "apb_url_failed": Explanation(
        "The anti-passback server could not be told about a passage.", _UPSTREAM
    ),
    "web_relay_sent": Explanation(
        "A web relay URL of {user} was sent after their grant (the trace: its number, the answer)."
    ),
    "web_relay_failed": Explanation(
        "A web relay URL of {user} could not be sent after their grant (it is not retried).",
        "check the device at the URL's address, the network to it and the user's URL "
        "(the trace gives its number in the user's list)",
    ),
    "floors_enabled": Explanation(
        "The lift's floors of {user} were enabled after their grant at {reader} (the "
        "trace lists them)."
    ),
    "floors_fault": Explanation(
        "The lift's floors could not be enabled for {user}: every floor was disabled.",
        "check the floor relays' wiring (output_failed) or the gateway's database "
        "(store_unavailable)",
    ),
    # -- the door ------------------------------------------------------------------------
    "unlocked": Explanation("{door} unlocked: the strike fired (relay switched)."),
    "locked": Explanation("{door} locked: the strike is off (relay back to locked)."),
    "grant_refused": Explanation(
        "{door} refused to unlock for a grant (lockdown or stopping).",
        "end the lockdown if the door should open",
    ),
    "granted_not_opened": Explanation(
        "Access was granted but nobody opened {door} before it locked again."
    ),
    "door_opened": Explanation("{door} was opened (the contact)."),
    "door_closed": Explanation("{door} was closed (the contact)."),
    "door_open_at_startup": Explanation(
        "{door} was open when the gateway started.", "close the door; check the contact"
    ),
    "held_open_prealarm": Explanation(
        "{door} has been open for long: it will alarm soon.", "close the door"
    ),
    "exit_button": Explanation("Someone pressed {door}'s exit button."),
    "exit_button_cancelled": Explanation(
        "The exit button's unlock was cancelled (released early, or the door in lockdown)."
    ),
    "schedule_unlocked": Explanation("{door} unlocked by its unlock schedule."),
    "schedule_locked": Explanation("{door} locked again by its unlock schedule."),
    "lockdown_on": Explanation("{door} put in lockdown: it opens for nobody."),
    "lockdown_off": Explanation("{door}'s lockdown ended."),
    "doorbell": Explanation("Someone rang {door}'s bell."),
    "bell_on": Explanation("The second relay (bell) switched on."),
    "bell_off": Explanation("The second relay (bell) switched off."),
    "remote": Explanation("{door} unlocked by a remote command."),
    "remote_close": Explanation("{door} locked by a remote command."),
    "input_action_email": Explanation(
        "An input of {door} triggered its e-mail action: the notifications mail it."
    ),
    "input_action_failed": Explanation(
        "An input's action (a URL called on a button or contact) failed.",
        "check the action's URL and the network",
    ),
    "input_relay": Explanation(
        "An input's action pulsed a relay (the trace says which, and whether it did).",
        "nothing if expected; a refusal names why (lockdown, no second relay)",
    ),
    "input_fault": Explanation(
        "An input of {door} is chattering or stuck.", "check that input's wiring and switch"
    ),
    "input_ok": Explanation("An input of {door} works normally again."),
    # -- alarms --------------------------------------------------------------------------
    "forced_open": Explanation(
        "ALARM: {door} was opened without a grant or the exit button (forced open).",
        "check the door; then acknowledge the alarm on the dashboard",
    ),
    "held_open": Explanation("ALARM: {door} has been held open too long.", "close the door"),
    "held_open_cleared": Explanation("{door} is closed again: the held-open alarm ended."),
    "tamper": Explanation(
        "ALARM: the tamper switch tripped (a reader or box was opened).",
        "check the reader and the box; then acknowledge the alarm",
    ),
    "tamper_cleared": Explanation("The tamper switch is back to normal."),
    "alarm_acknowledged": Explanation("The door's alarms were acknowledged."),
    "credential_probing": Explanation(
        "ALARM: many credential changes were refused in a row: someone may be probing.",
        "check who uses that account",
    ),
    "forwarding_backlog": Explanation(
        "ALARM: events wait to be forwarded to an agent.", "check the agent and the network"
    ),
    "forwarding_backlog_cleared": Explanation("The forwarding backlog is gone."),
    "notification_failed": Explanation(
        "ALARM: e-mail notifications cannot be sent: the mail server failed; they wait.",
        "check the [smtp] settings, the mail server and the network (status: notifications)",
    ),
    "notification_recovered": Explanation(
        "E-mail notifications are sent again: what waited was mailed."
    ),
    # -- OSDP readers (docs/osdp.md) -----------------------------------------------------
    "osdp_offline": Explanation(
        "ALARM: OSDP reader {reader} stopped answering (offline longer than allowed).",
        "check its RS-485 wiring, power, address and baud rate; a cut wire looks like this",
    ),
    "osdp_online": Explanation("OSDP reader {reader} is back online over Secure Channel."),
    "osdp_secure_channel_lost": Explanation(
        "ALARM: OSDP reader {reader} lost its Secure Channel while answering (a bad MAC or "
        "a downgrade attempt): its reads are refused.",
        "check the bus for a device that should not be there; then the reader itself",
    ),
    "osdp_secure_channel_refused": Explanation(
        "ALARM: OSDP reader {reader} answers but does not set up Secure Channel with its "
        "key: its reads are refused.",
        "a replaced or reset reader needs install mode once (docs/osdp.md); otherwise "
        "someone may have swapped it",
    ),
    "osdp_insecure_read": Explanation(
        "ALARM: OSDP reader {reader} sent a card or keys without Secure Channel and its "
        "own key: refused (fail closed).",
        "check the reader's Secure Channel (status page); a device may be injecting reads",
    ),
    "osdp_tamper": Explanation(
        "ALARM: OSDP reader {reader} reports its tamper switch (opened or pulled off).",
        "check the reader; then acknowledge the alarm",
    ),
    "osdp_tamper_cleared": Explanation("OSDP reader {reader}'s tamper switch is back to normal."),
    "osdp_power_failure": Explanation(
        "OSDP reader {reader} reports a power failure.", "check the reader's power supply"
    ),
    "osdp_power_restored": Explanation("OSDP reader {reader}'s power is back to normal."),
    # -- the gateway itself --------------------------------------------------------------
    "rescue_granted": Explanation(
        "Super Mode: the rescue unit opened {door} for {user} while the gateway was down.",
        "find out why the gateway was down (its system journal); nothing to do about the card",
    ),
    "rescue_denied": Explanation(
        "Super Mode: the rescue unit refused this card (not on the rescue list) while the "
        "gateway was down.",
        "to let a card through in Super Mode, list its user in [rescue] users",
    ),
    "rescue_ended": Explanation(
        "Super Mode ended: the rescue unit ran while the gateway was down (the span is in "
        "the trace).",
        "read the gateway's system journal for why it was down (journalctl -u door-gateway)",
    ),
    "started": Explanation("The gateway started."),
    "stopping": Explanation("The gateway is stopping: the doors go to their safe state."),
    "state_discarded": Explanation(
        "The saved door state could not be read and was ignored.", "nothing, unless it repeats"
    ),
    "clock_stepped": Explanation(
        "The gateway's clock jumped.", "check its time synchronisation (dashboard: System)"
    ),
    "journal_gap": Explanation(
        "Some events could not be written and are missing.", "check the disk (dashboard)"
    ),
    "journal_overflow": Explanation(
        "Too many events at once: some were dropped.", "check the disk and what floods it"
    ),
    "admin_events_dropped": Explanation("Old administrative events were removed (retention)."),
    "events_summarised": Explanation("Many like administrative events, counted as one."),
    "demo_user_added": Explanation("The demonstration user was added."),
    "initial_admin_created": Explanation("The first technician account was created."),
    "public_pins_changed": Explanation("The public PINs were changed in the configuration."),
    # -- technicians and the APIs --------------------------------------------------------
    "login": Explanation("A technician logged in."),
    "login_failed": Explanation(
        "A login failed (wrong username or password).", "if nobody expected it, check who tried"
    ),
    "login_throttled": Explanation(
        "Logins were slowed down after repeated failures.", "check who tries to log in"
    ),
    "login_refused": Explanation("A login was refused.", "check the account and its state"),
    "logout": Explanation("A technician logged out."),
    "password_changed": Explanation("A technician changed their password."),
    "password_change_failed": Explanation("A password change failed (wrong current password)."),
    "password_set": Explanation("A technician's password was set from the command line."),
    "technician_enabled": Explanation("A technician account was enabled."),
    "technician_disabled": Explanation("A technician account was disabled."),
    "technician_deleted": Explanation("A technician account was deleted."),
    "technician_level_set": Explanation("A technician's level (role) was changed."),
    "http_unlock_auth_failed": Explanation(
        "A remote unlock request had wrong credentials.", "check the device that sent it"
    ),
    "remote_pulse": Explanation("A technician unlocked a door remotely (pulse)."),
    "mqtt_command": Explanation(
        "A door command from the MQTT broker was carried out (the trace says which).",
        "nothing, if it was expected; the broker's ACL says who may send commands",
    ),
    "mqtt_command_refused": Explanation(
        "A door command from the MQTT broker was refused (the trace says why).",
        "enable the command in [mqtt] commands if it is wanted; otherwise check who can "
        "publish to the command topics (the broker's ACL)",
    ),
    "remote_unlock": Explanation("A device unlocked a door over HTTP."),
    "remote_unlock_refused": Explanation(
        "A device's unlock request was refused (lockdown or stopping)."
    ),
    "selftest": Explanation("A technician ran the self-test."),
    "relay_click_test": Explanation(
        "Someone ran `door-gateway selftest --click`: every relay was pulsed once.",
        "nothing, if it was expected (the doors unlocked briefly)",
    ),
    "card_enrolled": Explanation("A card was enrolled for a user from the readers page."),
    "user_activated": Explanation("A user was activated."),
    "user_deactivated": Explanation("A user was deactivated."),
    "user_deleted": Explanation("A user was deleted."),
    "user_message_set": Explanation("A user's message was set."),
    "user_message_deleted": Explanation("A user's message was deleted."),
    "credential_change_refused": Explanation(
        "A credential change was refused.", "check the request's account and data"
    ),
    "totp_issued": Explanation("A one-time code was issued for a user."),
    "totp_secret_created": Explanation("A one-time-code secret was created for a user."),
    "myself_updated": Explanation("A technician updated their own account."),
    "access_group_added": Explanation(_API),
    "access_group_updated": Explanation(_API),
    "access_group_deleted": Explanation(_API),
    "access_right_added": Explanation(_API),
    "access_right_updated": Explanation(_API),
    "access_right_deleted": Explanation(_API),
    "department_added": Explanation(_API),
    "department_updated": Explanation(_API),
    "department_deleted": Explanation(_API),
    "holidays_added": Explanation(_API),
    "holidays_deleted": Explanation(_API),
    "jobcode_added": Explanation(_API),
    "jobcode_updated": Explanation(_API),
    "jobcode_deleted": Explanation(_API),
    "jobcode_setting_updated": Explanation(_API),
    "trigger_updated": Explanation(_API),
    "trigger_cleared": Explanation(_API),
    "agent_registered": Explanation("A forwarding agent was registered."),
    "agent_unregistered": Explanation("A forwarding agent was removed."),
    "auto_in_out_set": Explanation("The automatic in/out rules (anti-passback...) changed."),
    "consent_set": Explanation(_API),
    "log_setting_set": Explanation(_API),
    "log_unauthorized_set": Explanation(_API),
    "log_added": Explanation("An event was added through the API."),
    "logs_deleted": Explanation("Access log entries were deleted through the API."),
    "logs_reset": Explanation("The access log was reset through the API."),
    "relay_action": Explanation("A relay was switched through the API."),
    "relay_setting": Explanation("A relay's settings were changed through the API."),
    "time_set": Explanation(
        "The gateway's clock was set through the API.", "check the time is right"
    ),
    "ntp_set": Explanation("The time server settings were changed through the API."),
}

# Reasons made of a fixed start and a variable end (`upstream_http_503`).
PREFIXES: dict[str, Explanation] = {
    "upstream_http_": Explanation(
        "The verify server answered with an HTTP error, so the door stayed locked.",
        "check the verify server (its log, its URL)",
    ),
    "user_": Explanation("A user was added or changed through the API."),
}


@dataclass(frozen=True)
class Said:
    """An explanation filled in for one event."""

    what: str
    todo: str


def explanation(reason: str) -> Explanation | None:
    """The table's entry for `reason` (exact first, then by its start), or None."""
    found = REASONS.get(reason)
    if found is not None:
        return found
    for start, entry in PREFIXES.items():
        if reason.startswith(start):
            return entry
    return None


def explain(
    reason: str, user_id: str | None = None, door: str | None = None, reader: str | None = None
) -> Said:
    """`reason` in words for one event; an unknown reason is said as its words."""
    entry = explanation(reason)
    if entry is None:
        return Said(reason.replace("_", " ") if reason else "", "")
    names = {
        "user": f"user {user_id}" if user_id else "the user",
        "door": f"door {door}" if door else "the door",
        "reader": f"reader {reader}" if reader else "the reader",
    }
    what = entry.what.format(**names)
    return Said(what[:1].upper() + what[1:], entry.todo)


def explain_event(event: StoredEvent) -> Said:
    """A journal row's reason in words (the template filter `explain`)."""
    return explain(event.reason or event.type, event.user_id, event.door, event.reader)


def as_json() -> dict[str, dict[str, dict[str, str]]]:
    """The tables for the page's script, which fills them in as `explain` does."""
    return {
        "reasons": {code: _entry(e) for code, e in REASONS.items()},
        "prefixes": {start: _entry(e) for start, e in PREFIXES.items()},
    }


def _entry(entry: Explanation) -> dict[str, str]:
    return {"what": entry.what, "todo": entry.todo}
