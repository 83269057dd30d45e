"""Typed settings: what `gateway.config` produces from a TOML file, and what it accepts.

Every field here is a key of `config/gateway.toml` (same name, same nesting), declared
once: its type, its default and, in `Annotated[...]`, its range or pattern, whether it is
a secret and which reader kinds use it (the words are in `gateway.settings_spec`). The
loader in `gateway.config` walks these declarations: adding a key is adding a field.

No `from __future__ import annotations` here: the annotations carry the checks, so they
are evaluated once, at import, where a mistake in one fails at once.
"""

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Annotated, Literal
from urllib.parse import urlsplit

from gateway.cardnumbers import CARD_FORMATS
from gateway.model import (
    ADMIN_LEVELS,
    EVENT_TYPES,
    MAX_PUBLIC_PINS,
    PRIVATE_PIN_DIGITS,
    PUBLIC_PIN_DIGITS,
)
from gateway.settings_spec import (
    NOT_A_KEY,
    SECRET,
    Check,
    UsedBy,
    at_most,
    distinct,
    integer,
    is_bit_range,
    is_header_token,
    is_hostname,
    is_http_url,
    is_keymap,
    is_line_pattern,
    is_readable_file,
    is_time_format,
    is_timezone,
    matching,
    number,
    one_of,
    split_listen,
    timezones,
)

HardwareBackend = Literal["gpio", "simulated"]
ReaderKind = Literal["wiegand", "wiegand_keypad", "serial", "nfc", "pcsc", "matrix_keypad", "osdp"]
READER_KINDS: tuple[str, ...] = (
    "wiegand",
    "wiegand_keypad",
    "serial",
    "nfc",
    "pcsc",
    "matrix_keypad",
    "osdp",
)
AuthMode = Literal["any", "card", "pin", "card+pin", "pin+card"]
AUTH_MODES: tuple[str, ...] = ("any", "card", "pin", "card+pin", "pin+card")
OfflinePolicy = Literal["deny", "grant"]
AutoInOutMode = Literal[
    "disable", "anti_passback", "reject_repeat_login", "lunch_break", "crowd_control"
]
AUTO_IN_OUT_MODES: tuple[str, ...] = (
    "disable",
    "anti_passback",
    "reject_repeat_login",
    "lunch_break",
    "crowd_control",
)

GPIO_MIN, GPIO_MAX = 0, 27  # BCM numbers of the 40-pin header's GPIOs
MAX_FRAME_BITS = 128  # longer Wiegand bursts are noise, not a frame
WIEGAND_MIN_BITS = 16  # a custom format shorter than this would collide with keypad bursts
KEYPAD_BURST_BITS: tuple[int, ...] = (4, 8)
MAX_APB_URLS = 10  # the Akuvox authentication device's limit
MAX_INPUT_ACTIONS = 8
UPSTREAM_METHODS: tuple[str, ...] = ("card", "pin", "qr", "face")

# ----------------------------------------------------------------- checks shared by keys

NAME_TEXT = "a name of 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
NAME = matching(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", NAME_TEXT)
GPIO_TEXT = f"a BCM GPIO number from {GPIO_MIN} to {GPIO_MAX}"
GPIO = Check(GPIO_TEXT, lambda v: GPIO_MIN <= v <= GPIO_MAX)
GPIO_PINS_TEXT = "an array of 1 to 8 distinct BCM GPIO numbers"
RIGHT_ID_TEXT = "an access right id (an integer from 0)"
HTTP_URL = Check('an "http://" or "https://" URL with a host', lambda v: v != "" and is_http_url(v))
BIT_INDEX = integer(0, MAX_FRAME_BITS - 1)
BIT_RANGE_TEXT = "[first, last], two bit indices with first <= last"


def card_format_check(empty: str) -> Check:
    """Empty (`empty` says what that means) or one of gateway.cardnumbers' display formats."""
    listing = ", ".join(json.dumps(name) for name in CARD_FORMATS)
    text = f"empty ({empty}) or a card display format ({listing})"
    return Check(text, lambda v: v == "" or v in CARD_FORMATS, lambda: CARD_FORMATS)


# Key types used by several keys.
Name = Annotated[str, NAME]
GpioPin = Annotated[int, GPIO]
GpioPins = Annotated[tuple[GpioPin, ...], distinct(GPIO_PINS_TEXT, 1, 8)]
RightId = Annotated[int, Check(RIGHT_ID_TEXT, lambda v: 0 <= v <= 2**31 - 1)]
HttpUrl = Annotated[str, HTTP_URL]
BitIndex = Annotated[int, BIT_INDEX]
BitRange = Annotated[tuple[BitIndex, ...], Check(BIT_RANGE_TEXT, is_bit_range)]
Positive = Annotated[float, Check("a number greater than 0", lambda v: v > 0)]


@dataclass(frozen=True)
class DeviceSettings:
    id: Name = "door-gateway"
    name: str = "Door gateway"
    timezone: Annotated[
        str, Check('an IANA time zone name such as "Europe/London"', is_timezone, timezones)
    ] = "UTC"
    state_dir: Annotated[str, Check("a non-empty string", lambda v: v != "")] = (
        "/var/lib/door-gateway"
    )
    # The service log's level; SIGHUP applies a new one without a restart.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


@dataclass(frozen=True)
class HardwareSettings:
    backend: HardwareBackend = "gpio"


LockType = Literal["fail_secure", "fail_safe"]
SecondRelayMode = Literal["disable", "access_granted", "access_denied", "doorbell", "bell_schedule"]
DoorInput = Literal["contact", "rex", "tamper", "doorbell"]
# Akuvox "Trigger Electrical Level": the level at which a push button counts as pressed.
TriggerLevel = Literal["low", "high"]
# Akuvox "Execute Relay": which relay of a door an input action pulses.
ActionRelay = Literal["none", "lock", "second"]
RELAY_PULSE_NORMAL_MAX_S = 20.0  # longer pulses only with an unlock schedule (as ACTAtek)


def is_ftp_url(url: str) -> bool:
    """Empty, or an ftp(s) URL with a host."""
    if url == "":
        return True
    try:
        parts = urlsplit(url)
        return parts.scheme in ("ftp", "ftps") and bool(parts.hostname)
    except ValueError:
        return False


@dataclass(frozen=True)
class InputActionSettings:
    """What happens when a door input becomes active (Akuvox "Action To Execute"): an HTTP
    GET to `url`, an e-mail (`email`, sent by [notifications]), or both."""

    input: DoorInput
    # http:// or https://; user:password@ in the URL is sent as basic auth; "" = no HTTP
    url: Annotated[
        str,
        Check(
            'empty (no HTTP action) or an "http://" or "https://" URL with a host',
            lambda v: v == "" or HTTP_URL.test(v),
        ),
    ] = ""
    delay_s: Annotated[float, number(0, 3600)] = 0.0  # Akuvox "Action Delay"
    only_if_still_active: bool = False  # Akuvox "Execute If Input Still Triggered"
    # Akuvox "Execute Relay": pulse this relay ("lock" or "second") of `relay_door`
    relay: ActionRelay = "none"
    relay_door: Annotated[
        str, Check("empty (this door) or a [[doors]] name", lambda v: v == "" or NAME.test(v))
    ] = ""
    # Akuvox input "FTP" action: a small notification file stored in this directory of an
    # FTP server ("ftps://" for TLS); user:password@ in the URL logs in; "" = no upload
    ftp_url: Annotated[
        str,
        Check('empty (no upload) or an "ftp://" or "ftps://" URL with a host', is_ftp_url),
    ] = ""
    email: bool = False  # Akuvox "Email": journal input_action_email, mailed by [notifications]


@dataclass(frozen=True)
class DoorSettings:
    name: Name
    relay_pin: GpioPin | None = None  # BCM GPIO number of the strike relay
    relay_active_high: bool = True
    # 1..20, or up to 1800 with an unlock_schedule (a cross-check)
    relay_pulse_s: Annotated[float, number(1, 1800)] = 5.0
    door_open_timeout_s: Annotated[float, number(1, 3600)] = 30.0
    auth_mode: AuthMode = "any"
    offline_policy: OfflinePolicy = "deny"
    contact_pin: GpioPin | None = None
    contact_normally_closed: bool = True
    rex_pin: GpioPin | None = None
    doorbell_pin: GpioPin | None = None  # a doorbell push button: journaled, drives "doorbell"
    tamper_pin: GpioPin | None = None
    tamper_normally_closed: bool = False  # true: closed while intact, so a cut wire alarms
    alarm_pin: GpioPin | None = None
    # fail_secure: relay energised = unlocked (strikes); fail_safe: energised = locked (maglocks)
    lock_type: LockType = "fail_secure"
    contact_debounce_s: Annotated[float, number(0, 1)] = 0.05
    button_debounce_s: Annotated[float, number(0, 1)] = 0.05  # exit button, doorbell, tamper
    # an exit button or doorbell active longer is "stuck"
    button_stuck_s: Annotated[float, number(5, 3600)] = 30.0
    relock_on_close: bool = True
    # warning lead time before held-open; 0 = none
    held_open_prealarm_s: Annotated[float, number(0, 3600)] = 10.0
    rex_unlocks: bool = True  # false: the exit button only shunts the alarm (free egress)
    rex_action_delay_s: Annotated[float, number(0, 60)] = 0.0
    rex_only_if_still_pressed: bool = False
    second_relay_pin: GpioPin | None = None
    second_relay_active_high: bool = True
    second_relay_mode: SecondRelayMode = "disable"
    second_relay_pulse_s: Annotated[float, number(0.1, 60)] = 1.0
    second_relay_schedule: RightId | None = None  # access right id for "bell_schedule"
    unlock_schedule: RightId | None = None  # access right id whose slots keep it unlocked
    unlock_schedule_first_person: bool = False  # only after the first grant in the slots
    input_actions: Annotated[
        tuple[InputActionSettings, ...],
        at_most(f"at most {MAX_INPUT_ACTIONS} [[doors.input_actions]] entries", MAX_INPUT_ACTIONS),
    ] = ()
    # Akuvox "Trigger Electrical Level" of the exit button and the doorbell: "low" (a
    # normally-open button to GND) or "high" (a normally-closed button to GND)
    rex_trigger_level: TriggerLevel = "low"
    doorbell_trigger_level: TriggerLevel = "low"
    # Which credential kinds open this door (the Akuvox card, PIN and "Open Relay via QR
    # Code" switches); a switched-off kind is denied as "method_off" before any lookup
    cards_enabled: bool = True
    pins_enabled: bool = True
    qr_enabled: bool = True


WIEGAND: tuple[str, ...] = ("wiegand", "wiegand_keypad")
CARD_READERS: tuple[str, ...] = ("serial", "nfc", "pcsc")  # a UID made into a card number
OSDP: tuple[str, ...] = ("osdp",)
OSDP_BAUDRATES = (9600, 19200, 38400, 57600, 115200)  # what OSDP v2 PDs offer (SIA OSDP 2.2)


MAX_MFP_KEYS = 3
MFP_KEY = matching("[0-9A-Fa-f]{32}", "32 hex digits (a 16-byte AES key)")


@dataclass(frozen=True)
class ReaderSettings:
    name: Name
    kind: ReaderKind
    door: Annotated[str, Check("the name of a [[doors]] entry", NAME.test)]  # a [[doors]] name
    direction: Literal["in", "out"] = "in"
    # Wiegand / Wiegand keypad
    d0_pin: Annotated[GpioPin | None, UsedBy(WIEGAND, required_on_gpio=WIEGAND)] = None
    d1_pin: Annotated[GpioPin | None, UsedBy(WIEGAND, required_on_gpio=WIEGAND)] = None
    formats: Annotated[
        tuple[Annotated[str, Check("the name of a Wiegand format", NAME.test)], ...],
        distinct("an array of 1 to 8 distinct Wiegand formats", 1, 8),
        UsedBy(WIEGAND + OSDP),
    ] = ("H10301",)
    keypad_burst_bits: Annotated[
        tuple[
            Annotated[int, Check("4 or 8 (bits per key press)", lambda v: v in KEYPAD_BURST_BITS)],
            ...,
        ],
        distinct("an array of distinct bit counts", 1, 2),
        UsedBy(("wiegand_keypad",)),
    ] = (4, 8)
    # the installer crossed DATA0/DATA1 and cannot rewire
    swap_d0_d1: Annotated[bool, UsedBy(WIEGAND)] = False
    # keypads that send a whole PIN as one frame of this format
    pin_frame_format: Annotated[
        str,
        Check("empty or the name of a Wiegand format", lambda v: v == "" or NAME.test(v)),
        UsedBy(("wiegand_keypad",)),
    ] = ""
    # Serial readers
    port: Annotated[
        str,
        UsedBy(
            ("serial", *OSDP),
            required_on_gpio=("serial", *OSDP),
            required_text='a serial port such as "/dev/ttyUSB0"',
        ),
    ] = ""
    baudrate: Annotated[int, integer(50, 4_000_000), UsedBy(("serial", *OSDP))] = 9600
    protocol: Annotated[Literal["rdm6300", "line"], UsedBy(("serial",))] = "line"
    credential_kind: Annotated[Literal["card", "qr", "plate"], UsedBy(("serial",))] = "card"
    # regex a scanned line must match; group 1 (or all) is the value
    line_pattern: Annotated[
        str,
        Check("a regular expression with at most one group", is_line_pattern),
        UsedBy(("serial",)),
    ] = ""
    # How a card-reading serial/NFC/PC-SC reader's UID becomes the canonical number:
    # bytes in reader order or reversed, then only the last `card_bytes` (0 = all).
    card_byte_order: Annotated[Literal["normal", "reversed"], UsedBy(CARD_READERS)] = "normal"
    card_bytes: Annotated[int, integer(0, 10), UsedBy(CARD_READERS)] = 0
    # the same card held on the reader is reported once
    debounce_s: Annotated[float, number(0, 60), UsedBy(CARD_READERS)] = 1.0
    # NFC (nfcpy device path, e.g. "tty:AMA0:pn532", "usb") and PC/SC (reader name filter)
    device: Annotated[
        str,
        UsedBy(
            ("nfc", "pcsc"),
            required_on_gpio=("nfc",),
            required_text='an nfcpy device such as "usb" or "tty:AMA0:pn532"',
        ),
    ] = ""
    # PC/SC "encrypted card" mode: read this MIFARE Classic sector/block instead of the UID
    mifare_sector: Annotated[int | None, integer(0, 15), UsedBy(("pcsc",))] = None
    mifare_block: Annotated[int, integer(0, 3), UsedBy(("pcsc",))] = 0
    mifare_key: Annotated[
        str,
        matching("|[0-9A-Fa-f]{12}", "empty or 12 hex digits (a 6-byte MIFARE key)"),
        SECRET,
        UsedBy(("pcsc",)),
    ] = ""
    mifare_key_type: Annotated[Literal["A", "B"], UsedBy(("pcsc",))] = "A"
    # PC/SC DESFire mode (docs/desfire.md): the credential is read from a file of this
    # application after authentication (AES, or desfire_crypto), not the UID ("" = not this mode)
    desfire_app_id: Annotated[
        str,
        matching("|[0-9A-Fa-f]{6}", "empty or 6 hex digits (a DESFire application id)"),
        UsedBy(("pcsc",)),
    ] = ""
    desfire_key_number: Annotated[int, integer(0, 13), UsedBy(("pcsc",))] = 0
    desfire_key: Annotated[
        str,
        matching(
            "|([0-9A-Fa-f]{16}){1,3}",
            "empty or 32 hex digits (a 16-byte AES key; DES 16, 3K3DES 48 digits)",
        ),
        SECRET,
        UsedBy(("pcsc",)),
    ] = ""
    desfire_file_number: Annotated[int, integer(0, 31), UsedBy(("pcsc",))] = 1
    desfire_comm_mode: Annotated[Literal["full", "mac", "plain"], UsedBy(("pcsc",))] = "full"
    desfire_offset: Annotated[int, integer(0, 8191), UsedBy(("pcsc",))] = 0
    # at most 32: enciphered (48 bytes and a MAC), it still fits the card's one answer frame
    desfire_length: Annotated[int, integer(1, 32), UsedBy(("pcsc",))] = 8
    # "binary": the bytes are the card number (big-endian); "ascii": its decimal digits
    desfire_value: Annotated[Literal["binary", "ascii"], UsedBy(("pcsc",))] = "binary"
    # "ev2": AuthenticateEV2First, EV2 secure messaging (EV2, EV3 cards); "ev1": AuthenticateAES
    desfire_auth: Annotated[Literal["ev2", "ev1"], UsedBy(("pcsc",))] = "ev2"
    # the key's cipher: "aes" (AuthenticateEV2First or AuthenticateAES as desfire_auth says),
    # "des" or "2k3des" (Authenticate 0A, 16 hex digits for DES), "3k3des" (AuthenticateISO 1A)
    desfire_crypto: Annotated[Literal["aes", "des", "2k3des", "3k3des"], UsedBy(("pcsc",))] = "aes"
    # PC/SC MIFARE Plus SL3 mode (docs/desfire.md, "MIFARE Plus"): the credential is read
    # from this block after AES authentication with its sector's key (None = not this mode)
    mfp_block: Annotated[int | None, integer(0, 255), UsedBy(("pcsc",))] = None
    # the guide's "three choices": up to 3 AES keys (32 hex digits each), tried in order
    mfp_keys: Annotated[
        tuple[Annotated[str, MFP_KEY], ...],
        at_most(f"an array of at most {MAX_MFP_KEYS} AES keys", MAX_MFP_KEYS),
        SECRET,
        UsedBy(("pcsc",)),
    ] = field(default=(), repr=False)
    mfp_key_type: Annotated[Literal["A", "B"], UsedBy(("pcsc",))] = "A"
    # "encrypted": Read 31h (enciphered, MACed); "plain": Read 33h (MACed only)
    mfp_read_mode: Annotated[Literal["encrypted", "plain"], UsedBy(("pcsc",))] = "encrypted"
    mfp_offset: Annotated[int, integer(0, 15), UsedBy(("pcsc",))] = 0
    mfp_length: Annotated[int, integer(1, 16), UsedBy(("pcsc",))] = 16
    mfp_value: Annotated[Literal["binary", "ascii"], UsedBy(("pcsc",))] = "binary"
    # Matrix keypad
    row_pins: Annotated[
        GpioPins, UsedBy(("matrix_keypad",), required_on_gpio=("matrix_keypad",))
    ] = ()
    col_pins: Annotated[
        GpioPins, UsedBy(("matrix_keypad",), required_on_gpio=("matrix_keypad",))
    ] = ()
    # keys row by row; 16 keys for a 4x4 keypad
    keymap: Annotated[
        str,
        Check("12 or 16 distinct keys from 0-9, *, #, A-D", is_keymap),
        UsedBy(("matrix_keypad",)),
    ] = "123456789*0#"
    # Feedback outputs
    led_green_pin: GpioPin | None = None
    led_red_pin: GpioPin | None = None
    beeper_pin: GpioPin | None = None
    # PIN collection
    pin_timeout_s: Annotated[
        float, number(1, 300), UsedBy(("wiegand_keypad", "matrix_keypad", *OSDP))
    ] = 10.0
    # Upstream: how this reader's cards are written into {Card}/{CardCode} and $code
    # ("" = the canonical hex; else a display format of gateway.cardnumbers, e.g. "8HN").
    card_display_format: Annotated[
        str, card_format_check("the canonical hex"), UsedBy(WIEGAND + CARD_READERS + OSDP)
    ] = ""
    # Akuvox anti-passback URLs sent after every grant at this reader (docs/upstream.md).
    apb_urls: Annotated[
        tuple[HttpUrl, ...], at_most(f"an array of at most {MAX_APB_URLS} URLs", MAX_APB_URLS)
    ] = ()
    # OSDP v2 readers (RS-485): the PD's address on its bus; several readers may share
    # a `port` (one control panel per port), each at its own address (docs/osdp.md).
    osdp_address: Annotated[int, integer(0, 126), UsedBy(OSDP)] = 0
    # Install mode: the first connection may use the default key SCBK-D, and the gateway
    # then sets the reader's own key (KEYSET). Shown as a warning while on.
    install: Annotated[bool, UsedBy(OSDP)] = False
    # A PD silent for longer than this is a `reader` event and an alarm.
    offline_after_s: Annotated[float, number(1, 3600), UsedBy(OSDP)] = 10.0
    # A lift reader: a grant here enables the user's [[floors]] for [lift] floor_enable_s
    # (docs/floors.md).
    lift: bool = False


@dataclass(frozen=True)
class ParityRuleSettings:
    """One parity bit of a custom Wiegand format (`[[wiegand_formats.parity_rules]]`)."""

    bit: BitIndex  # index of the parity bit, 0 = the first bit sent
    # one '0'/'1' per frame bit, '1' = covered; '_' and spaces separate groups
    mask: Annotated[
        str,
        matching(
            "[01]([01_ ]*[01])?",
            "a string of 0 and 1, one per frame bit (1 = covered; '_' or spaces may group)",
        ),
    ]
    parity: Literal["even", "odd"]


@dataclass(frozen=True)
class WiegandFormatSettings:
    """A site-specific Wiegand card format (`[[wiegand_formats]]`), usable by name in a
    reader's `formats` or `pin_frame_format`. Bit ranges are [first, last], inclusive."""

    name: Name  # must not be a built-in format's name
    length: Annotated[int, integer(WIEGAND_MIN_BITS, MAX_FRAME_BITS)]  # bits per frame
    data_bits: BitRange  # [first, last]: the canonical number
    card_bits: BitRange  # [first, last], within data_bits
    # [] (none) or [first, last], within data_bits
    facility_bits: Annotated[
        tuple[BitIndex, ...],
        Check(f"[] (no facility) or {BIT_RANGE_TEXT}", lambda v: v == () or is_bit_range(v)),
    ] = ()
    parity_rules: tuple[ParityRuleSettings, ...] = ()


@dataclass(frozen=True)
class UpstreamSettings:
    url: Annotated[
        str, Check('empty (no upstream) or an "http://" or "https://" URL', is_http_url)
    ] = ""  # empty: no upstream
    mode: Literal["general", "customize"] = "customize"
    device_id: str = ""
    timeout_s: Annotated[float, number(0.1, 30)] = 3.0
    methods: Annotated[
        tuple[Annotated[str, one_of(UPSTREAM_METHODS)], ...],
        distinct("an array of 1 to 4 distinct verification methods", 1, 4),
    ] = ("card", "pin", "qr")
    # strftime for {Time}; "" = ISO 8601 local time with offset
    time_format: Annotated[
        str,
        Check(
            'empty (ISO 8601) or a strftime format of at most 64 characters such as "%Y%m%d%H%M%S"',
            is_time_format,
        ),
    ] = ""
    verify_tls: bool = True
    # PEM CA bundle trusted instead of the system's; "" = the system's
    ca_file: Annotated[str, Check("empty or a readable PEM file", is_readable_file)] = ""
    username: Annotated[
        str,
        Check(
            "a user name without ':' or control characters",
            lambda v: ":" not in v and v.isprintable(),
        ),
    ] = ""  # basic auth
    password: Annotated[str, SECRET] = ""
    # "Authorization: Bearer ..."
    bearer_token: Annotated[
        str, Check("empty or printable ASCII without spaces", is_header_token), SECRET
    ] = ""
    max_body_bytes: Annotated[int, integer(1024, 1_048_576)] = 65536
    # consecutive failures that open the circuit breaker
    breaker_failures: Annotated[int, integer(1, 100)] = 3
    # first open period; doubles on each failed probe
    breaker_open_s: Annotated[float, number(1, 300)] = 30.0
    breaker_max_open_s: Annotated[float, number(1, 3600)] = 300.0
    # remember upstream grants this long; 0 = off
    cache_grants_s: Annotated[float, number(0, 86400)] = 0.0
    cache_max_entries: Annotated[int, integer(1, 1_000_000)] = 10_000


@dataclass(frozen=True)
class TechnicianSettings:
    username: Annotated[
        str,
        matching(
            "[A-Za-z0-9][A-Za-z0-9._@-]{0,63}",
            "a user name of 1 to 64 letters, digits, '.', '_', '@' or '-'",
        ),
    ]
    password: Annotated[str, SECRET] = ""  # clear text: accepted only with the simulated backend
    level: Annotated[str, one_of(ADMIN_LEVELS)] = "SUPERADMIN"


WebTls = Literal["auto", "files", "off"]


@dataclass(frozen=True)
class WebSettings:
    listen: Annotated[
        str,
        Check(
            'HOST:PORT such as "127.0.0.1:8080", "[::1]:8080" or "gateway.local:8080" '
            "(port 1 to 65535)",
            lambda v: split_listen(v) is not None,
        ),
    ] = "127.0.0.1:8080"
    token_idle_s: Annotated[float, number(60, 86400)] = 1800.0
    technicians: tuple[TechnicianSettings, ...] = ()
    # "auto": HTTPS with a self-signed certificate made in state_dir at the first start;
    # "files": HTTPS with the site's own cert_file and key_file; "off": plain HTTP, only on
    # loopback unless allow_plain_http. Not given: "auto", "off" with the simulated backend.
    tls: WebTls | None = None
    cert_file: str = ""  # PEM certificate (chain), with tls = "files"
    key_file: str = ""  # PEM private key, with tls = "files"
    allow_plain_http: bool = False  # tls = "off" on a LAN address: passwords in clear


HttpUnlockAntiPassback = Literal["off", "soft", "hard"]


@dataclass(frozen=True)
class HttpUnlockSettings:
    """Akuvox "Open Relay via HTTP": GET /fcgi/OpenDoor with basic auth.

    See docs/akuvox-opendoor.md; the password is clear text because the sending device
    puts it in its URLs (http://user:password@gateway/fcgi/OpenDoor?...)."""

    enabled: bool = False  # off: /fcgi/OpenDoor answers 404, as if it did not exist
    username: Annotated[
        str,
        Check(
            "a user name of at most 64 characters without ':' or control characters",
            lambda v: len(v) <= 64 and ":" not in v and v.isprintable(),
        ),
    ] = ""
    # clear text, as on an Akuvox device
    password: Annotated[
        str,
        Check(
            "a password of at most 128 printable characters",
            lambda v: len(v) <= 128 and v.isprintable(),
        ),
        SECRET,
    ] = ""
    antipassback: HttpUnlockAntiPassback = "off"  # Entry/Exit requests: "soft" or "hard"
    # how $code shows cards: "" = canonical hex, else e.g. "10DN"
    card_format: Annotated[str, card_format_check("canonical hex")] = ""


@dataclass(frozen=True)
class JournalSettings:
    max_events: Annotated[int, integer(10_000, 1_000_000)] = 100_000


@dataclass(frozen=True)
class ForwardingSettings:
    """Pushing the journal to registered agents (docs/forwarding.md)."""

    batch_size: Annotated[int, integer(1, 1000)] = 100  # events per POST
    timeout_s: Annotated[float, number(1, 120)] = 10.0  # per POST
    # first back-off after a failure, doubling
    retry_initial_s: Annotated[float, number(0.1, 60)] = 1.0
    retry_max_s: Annotated[float, number(1, 3600)] = 300.0  # back-off ceiling
    # backstop when no new-event signal arrives
    idle_poll_s: Annotated[float, number(0.5, 60)] = 5.0
    # undelivered events that raise forwarding_backlog
    backlog_alarm: Annotated[int, integer(1, 1_000_000)] = 1000


EMAIL_ADDRESS = matching(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?",
    'an e-mail address such as "alarms@example.com"',
)
JOURNAL_REASON = matching("[a-z][a-z0-9_]{0,63}", 'a journal reason such as "forced_open"')
MAX_RECIPIENTS = 10


@dataclass(frozen=True)
class NotificationSettings:
    """E-mail about the events that matter, sent through [smtp] (docs/notifications.md)."""

    enabled: bool = False
    # the From: address; "" only while disabled
    sender: Annotated[
        str, Check("empty or an e-mail address", lambda v: v == "" or EMAIL_ADDRESS.test(v))
    ] = ""
    to: Annotated[
        tuple[Annotated[str, EMAIL_ADDRESS], ...],
        distinct(
            f"an array of at most {MAX_RECIPIENTS} distinct e-mail addresses", 0, MAX_RECIPIENTS
        ),
    ] = ()
    # every journal event of these types is mailed ...
    event_types: Annotated[
        tuple[Annotated[str, one_of(EVENT_TYPES)], ...],
        distinct("an array of distinct event types", 0, len(EVENT_TYPES)),
    ] = ("alarm",)
    # ... and every event with one of these reasons
    reasons: Annotated[
        tuple[Annotated[str, JOURNAL_REASON], ...],
        distinct("an array of at most 64 distinct journal reasons", 0, 64),
    ] = ("input_action_email", "input_fault", "journal_gap", "journal_overflow")
    # after a first event, wait this long for more so a burst becomes one mail
    gather_s: Annotated[float, number(0, 60)] = 2.0
    # at most this many mails a minute; what waits goes out as one summary mail
    max_per_minute: Annotated[int, integer(1, 60)] = 4
    # back-off while the mail server fails: retry_initial_s, doubling, at most retry_max_s
    retry_initial_s: Annotated[float, number(1, 600)] = 10.0
    retry_max_s: Annotated[float, number(1, 3600)] = 600.0
    # "" = "[<device name>]"
    subject_prefix: Annotated[
        str, Check("at most 64 printable characters", lambda v: len(v) <= 64 and v.isprintable())
    ] = ""


SmtpTls = Literal["starttls", "implicit", "off"]


def is_mail_host(host: str) -> bool:
    """Empty, a DNS name, an IPv4 address, or an IPv6 address (without brackets)."""
    if host == "" or is_hostname(host):
        return True
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class SmtpSettings:
    """The mail server [notifications] sends through (docs/notifications.md)."""

    host: Annotated[str, Check("empty, a host name, or an IPv4 or IPv6 address", is_mail_host)] = ""
    port: Annotated[int, integer(0, 65535)] = 0  # 0: 587 for starttls, 465 implicit, 25 off
    # "starttls": STARTTLS required; "implicit": TLS from the first byte; "off": a relay on
    # loopback only (no password)
    tls: SmtpTls = "starttls"
    # PEM CA bundle trusted instead of the system's; "" = the system's
    ca_file: Annotated[str, Check("empty or a readable PEM file", is_readable_file)] = ""
    username: Annotated[
        str,
        Check(
            "a user name of at most 256 printable characters",
            lambda v: len(v) <= 256 and v.isprintable(),
        ),
    ] = ""
    password: Annotated[
        str,
        Check("at most 256 printable characters", lambda v: len(v) <= 256 and v.isprintable()),
        SECRET,
    ] = field(default="", repr=False)
    timeout_s: Annotated[float, number(1, 120)] = 30.0  # per connection and command


@dataclass(frozen=True)
class LockoutSettings:
    max_failures: Annotated[int, integer(1, 1000)] = 5
    window_s: Positive = 60.0
    lock_s: Positive = 60.0
    max_lock_s: Positive = 3600.0
    reset_after_s: Positive = 3600.0


@dataclass(frozen=True)
class AutoInOutSettings:
    mode: AutoInOutMode = "disable"
    anti_passback: Literal["hard", "soft"] = "hard"
    reject_repeat_s: Annotated[int, integer(1, 86400)] = 8
    lunch_break_min: Annotated[int, integer(1, 120)] = 20
    crowd_limit: Annotated[int, integer(1, 65535)] = 100
    crowd_reset: Annotated[
        str, matching("([01][0-9]|2[0-3]):[0-5][0-9]", 'a local time "HH:MM" (00:00 to 23:59)')
    ] = "00:00"  # local time


PUBLIC_PIN = matching(
    f"[0-9]{{{PUBLIC_PIN_DIGITS[0]},{PUBLIC_PIN_DIGITS[1]}}}",
    f'a PIN of {PUBLIC_PIN_DIGITS[0]} to {PUBLIC_PIN_DIGITS[1]} digits in quotes ("0123")',
)


@dataclass(frozen=True)
class AccessSettings:
    two_factor_timeout_s: Annotated[float, number(1, 300)] = 15.0
    lockout: LockoutSettings = field(default_factory=LockoutSettings)
    auto_in_out: AutoInOutSettings = field(default_factory=AutoInOutSettings)
    # Akuvox "public PINs": up to 3 anonymous PINs (4-8 digits) that open every door whose
    # auth_mode lets a PIN alone in. Secrets: never printed (not even in a repr).
    public_pins: Annotated[
        tuple[Annotated[str, PUBLIC_PIN], ...],
        at_most(f"an array of at most {MAX_PUBLIC_PINS} public PINs", MAX_PUBLIC_PINS),
        SECRET,
    ] = field(default=(), repr=False)
    # Akuvox "PIN Setting": how many digits a PIN may have, checked wherever one is set
    # (user import, the ACTAtek API, public_pins above). Public PINs: the guide's "Code
    # Length", 4-8 (min = max for one fixed length); private PINs: 2-8.
    public_pin_min_digits: Annotated[int, integer(*PUBLIC_PIN_DIGITS)] = PUBLIC_PIN_DIGITS[0]
    public_pin_max_digits: Annotated[int, integer(*PUBLIC_PIN_DIGITS)] = PUBLIC_PIN_DIGITS[1]
    pin_min_digits: Annotated[int, integer(*PRIVATE_PIN_DIGITS)] = PRIVATE_PIN_DIGITS[0]
    pin_max_digits: Annotated[int, integer(*PRIVATE_PIN_DIGITS)] = PRIVATE_PIN_DIGITS[1]


MAX_FLOORS = 64  # [[floors]] entries: more outputs than a Pi header has


@dataclass(frozen=True)
class FloorSettings:
    """One elevator floor (`[[floors]]`): the output that enables its button in the car, a
    relay or an elevator controller's dry-contact input driven by one (docs/floors.md)."""

    name: Name  # what a user's floors list (the Akuvox "Floor No."), e.g. "1", "B2"
    pin: GpioPin | None = None  # BCM GPIO of the floor's relay; required with backend "gpio"
    active_high: bool = True  # false: the relay board switches on a low output


@dataclass(frozen=True)
class LiftSettings:
    """What a grant at a lift reader does with the floors (`[lift]`)."""

    # Seconds the user's floors stay enabled after a grant at a lift reader.
    floor_enable_s: Annotated[float, number(1, 600)] = 10.0
    # Floors enabled for a user whose record lists none (empty: none).
    default_floors: Annotated[
        tuple[Name, ...], at_most(f"an array of at most {MAX_FLOORS} floor names", MAX_FLOORS)
    ] = ()


@dataclass(frozen=True)
class DemoUser:
    user_id: Name
    first_name: str = ""
    last_name: str = ""
    cards: tuple[
        Annotated[
            str,
            matching(
                "(?:[0-9A-Fa-f]{2}){1,16}",
                "a card number of 1 to 16 whole bytes in hex (2, 4, ... 32 hex digits)",
            ),
        ],
        ...,
    ] = ()
    pin: Annotated[str, matching("|[0-9]{4,8}", "empty or a PIN of 4 to 8 digits"), SECRET] = ""
    active: bool = True


@dataclass(frozen=True)
class SimulationSettings:
    """Only allowed with `[hardware] backend = "simulated"`."""

    demo_users: tuple[DemoUser, ...] = ()


MqttCommand = Literal["pulse", "lockdown", "acknowledge"]
MQTT_COMMANDS: tuple[str, ...] = ("pulse", "lockdown", "acknowledge")
MQTT_TOPIC_TEXT = (
    'empty (the default "door-gateway/<device id>/") or MQTT topic levels ending in "/", '
    "without '+', '#', spaces or control characters, at most 128 characters"
)


def is_mqtt_url(url: str) -> bool:
    """Empty, or an mqtt:// or mqtts:// URL with a host and no path, query or user info."""
    if url == "":
        return True
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return (
        parts.scheme in ("mqtt", "mqtts")
        and bool(parts.hostname)
        and parts.path in ("", "/")
        and not parts.query
        and parts.username is None
    )


def is_topic_prefix(prefix: str) -> bool:
    """Empty, or topic levels ending in "/" that a subscriber's wildcard cannot be."""
    if prefix == "":
        return True
    return (
        len(prefix) <= 128
        and prefix.endswith("/")
        and not prefix.startswith("/")
        and "//" not in prefix
        and all(c.isprintable() and c not in "+# " for c in prefix)
    )


@dataclass(frozen=True)
class MqttSettings:
    """Publishing to an MQTT broker and Home Assistant discovery (docs/fleet.md)."""

    # "" = off; mqtt://host[:1883] or mqtts://host[:8883] (TLS)
    url: Annotated[
        str, Check('empty (no MQTT) or an "mqtt://" or "mqtts://" URL with a host', is_mqtt_url)
    ] = ""
    username: Annotated[
        str, Check("a user name of printable characters", lambda v: v.isprintable())
    ] = ""
    password: Annotated[str, SECRET] = ""
    # PEM CA bundle trusted instead of the system's (mqtts); "" = the system's
    ca_file: Annotated[str, Check("empty or a readable PEM file", is_readable_file)] = ""
    # a client certificate and its key (mqtts), both or neither
    cert_file: Annotated[str, Check("empty or a readable PEM file", is_readable_file)] = ""
    key_file: Annotated[str, Check("empty or a readable PEM file", is_readable_file)] = ""
    # "" = "door-gateway/<device id>/"
    topic_prefix: Annotated[str, Check(MQTT_TOPIC_TEXT, is_topic_prefix)] = ""
    discovery: bool = True  # Home Assistant discovery messages
    discovery_prefix: Annotated[
        str,
        matching("[A-Za-z0-9_-]{1,64}", "1 to 64 letters, digits, '_' or '-'"),
    ] = "homeassistant"
    # commands accepted on the command topics: none unless listed (docs/security.md)
    commands: Annotated[
        tuple[Annotated[str, one_of(MQTT_COMMANDS)], ...],
        distinct("an array of at most 3 distinct commands", 0, 3),
    ] = ()
    keepalive_s: Annotated[int, integer(5, 3600)] = 30
    # events published before waiting for their acknowledgements
    batch_size: Annotated[int, integer(1, 1000)] = 100
    # first back-off after a lost connection, doubling
    retry_initial_s: Annotated[float, number(0.1, 60)] = 1.0
    retry_max_s: Annotated[float, number(1, 3600)] = 60.0  # back-off ceiling
    # how often door, reader and upstream state are compared and published when changed
    state_interval_s: Annotated[float, number(0.2, 60)] = 1.0


MAX_RESCUE_USERS = 20  # Super Mode: the rescue list holds at most this many cards too


@dataclass(frozen=True)
class RescueSettings:
    """Super Mode (docs/rescue.md): the users whose cards open one door through the rescue
    unit while the main service is down. Empty `reader`: no rescue list is kept."""

    reader: Annotated[
        str,
        Check(
            'empty (no Super Mode) or the name of a "wiegand" [[readers]] entry',
            lambda v: v == "" or NAME.test(v),
        ),
    ] = ""
    users: Annotated[
        tuple[Annotated[str, Check("a user id", lambda v: v != "")], ...],
        distinct(f"an array of at most {MAX_RESCUE_USERS} distinct user ids", 0, MAX_RESCUE_USERS),
    ] = ()


@dataclass(frozen=True)
class Settings:
    path: Annotated[str, NOT_A_KEY]  # the file's path as given, filled in by the loader
    device: DeviceSettings
    hardware: HardwareSettings
    doors: Annotated[
        tuple[DoorSettings, ...], Check("at least one [[doors]] entry", lambda v: len(v) > 0)
    ]
    readers: tuple[ReaderSettings, ...] = ()
    wiegand_formats: tuple[WiegandFormatSettings, ...] = ()
    upstream: UpstreamSettings = field(default_factory=UpstreamSettings)
    web: WebSettings = field(default_factory=WebSettings)
    http_unlock: HttpUnlockSettings = field(default_factory=HttpUnlockSettings)
    journal: JournalSettings = field(default_factory=JournalSettings)
    forwarding: ForwardingSettings = field(default_factory=ForwardingSettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    simulation: SimulationSettings = field(default_factory=SimulationSettings)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    floors: Annotated[
        tuple[FloorSettings, ...],
        at_most(f"at most {MAX_FLOORS} [[floors]] entries", MAX_FLOORS),
    ] = ()
    lift: LiftSettings = field(default_factory=LiftSettings)
    rescue: RescueSettings = field(default_factory=RescueSettings)

    @property
    def simulated(self) -> bool:
        return self.hardware.backend == "simulated"

    @property
    def web_tls(self) -> WebTls:
        """`[web] tls` in force: as given, else "auto" on real hardware and "off" in
        simulation."""
        if self.web.tls is not None:
            return self.web.tls
        return "off" if self.simulated else "auto"

    def door(self, name: str) -> DoorSettings:
        """The door named `name` (the loader guarantees reader doors exist)."""
        for door in self.doors:
            if door.name == name:
                return door
        raise KeyError(name)
