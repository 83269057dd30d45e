"""Typed settings: what `gateway.config` produces from a TOML file.

Every field here has a matching key in `config/gateway.toml` (same name, same nesting);
the loader in `gateway.config` rejects unknown keys and checks every value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

HardwareBackend = Literal["gpio", "simulated"]
ReaderKind = Literal["wiegand", "wiegand_keypad", "serial", "nfc", "pcsc", "matrix_keypad"]
READER_KINDS: tuple[str, ...] = (
    "wiegand",
    "wiegand_keypad",
    "serial",
    "nfc",
    "pcsc",
    "matrix_keypad",
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


@dataclass(frozen=True)
class DeviceSettings:
    id: str = "door-gateway"
    name: str = "Door gateway"
    timezone: str = "UTC"  # an IANA zone name, checked with zoneinfo
    state_dir: str = "/var/lib/door-gateway"


@dataclass(frozen=True)
class HardwareSettings:
    backend: HardwareBackend = "gpio"


LockType = Literal["fail_secure", "fail_safe"]
SecondRelayMode = Literal["disable", "access_granted", "access_denied", "doorbell", "bell_schedule"]
DoorInput = Literal["contact", "rex", "tamper", "doorbell"]
RELAY_PULSE_NORMAL_MAX_S = 20.0  # longer pulses only with an unlock schedule (as ACTAtek)
MAX_FRAME_BITS = 128  # longer Wiegand bursts are noise, not a frame


@dataclass(frozen=True)
class InputActionSettings:
    """An HTTP GET sent when a door input becomes active (Akuvox "Action To Execute")."""

    input: DoorInput
    url: str  # http:// or https://; user:password@ in the URL is sent as basic auth
    delay_s: float = 0.0  # Akuvox "Action Delay"
    only_if_still_active: bool = False  # Akuvox "Execute If Input Still Triggered"


@dataclass(frozen=True)
class DoorSettings:
    name: str
    relay_pin: int | None = None  # BCM GPIO number of the strike relay
    relay_active_high: bool = True
    relay_pulse_s: float = 5.0  # 1..20, or up to 1800 with an unlock_schedule
    door_open_timeout_s: float = 30.0
    auth_mode: AuthMode = "any"
    offline_policy: OfflinePolicy = "deny"
    contact_pin: int | None = None
    contact_normally_closed: bool = True
    rex_pin: int | None = None
    doorbell_pin: int | None = None  # a doorbell push button: journaled, drives "doorbell" mode
    tamper_pin: int | None = None
    tamper_normally_closed: bool = False  # true: closed while intact, so a cut wire alarms
    alarm_pin: int | None = None
    # fail_secure: relay energised = unlocked (strikes); fail_safe: energised = locked (maglocks)
    lock_type: LockType = "fail_secure"
    contact_debounce_s: float = 0.05
    button_debounce_s: float = 0.05  # exit button, doorbell and tamper switch
    button_stuck_s: float = 30.0  # an exit button or doorbell active longer is "stuck"
    relock_on_close: bool = True
    held_open_prealarm_s: float = 10.0  # warning lead time before held-open; 0 = none
    rex_unlocks: bool = True  # false: the exit button only shunts the alarm (free egress)
    rex_action_delay_s: float = 0.0
    rex_only_if_still_pressed: bool = False
    second_relay_pin: int | None = None
    second_relay_active_high: bool = True
    second_relay_mode: SecondRelayMode = "disable"
    second_relay_pulse_s: float = 1.0
    second_relay_schedule: int | None = None  # access right id for "bell_schedule"
    unlock_schedule: int | None = None  # access right id whose slots keep the door unlocked
    unlock_schedule_first_person: bool = False  # only after the first grant in the slots
    input_actions: tuple[InputActionSettings, ...] = ()


@dataclass(frozen=True)
class ReaderSettings:
    name: str
    kind: ReaderKind
    door: str  # must name a [[doors]] entry
    direction: Literal["in", "out"] = "in"
    # Wiegand / Wiegand keypad
    d0_pin: int | None = None
    d1_pin: int | None = None
    formats: tuple[str, ...] = ("H10301",)
    keypad_burst_bits: tuple[int, ...] = (4, 8)
    swap_d0_d1: bool = False  # the installer crossed DATA0/DATA1 and cannot rewire
    pin_frame_format: str = ""  # keypads that send a whole PIN as one frame of this format
    # Serial readers
    port: str = ""
    baudrate: int = 9600
    protocol: Literal["rdm6300", "line"] = "line"
    credential_kind: Literal["card", "qr", "plate"] = "card"
    line_pattern: str = ""  # regex a scanned line must match; group 1 (or all) is the value
    # How a card-reading serial/NFC/PC-SC reader's UID becomes the canonical number:
    # bytes in reader order or reversed, then only the last `card_bytes` (0 = all).
    card_byte_order: Literal["normal", "reversed"] = "normal"
    card_bytes: int = 0
    debounce_s: float = 1.0  # the same card held on the reader is reported once
    # NFC (nfcpy device path, e.g. "tty:AMA0:pn532", "usb") and PC/SC (reader name filter)
    device: str = ""
    # PC/SC "encrypted card" mode: read this MIFARE Classic sector/block instead of the UID
    mifare_sector: int | None = None
    mifare_block: int = 0
    mifare_key: str = ""  # 12 hex digits; a secret: never printed
    mifare_key_type: Literal["A", "B"] = "A"
    # Matrix keypad
    row_pins: tuple[int, ...] = ()
    col_pins: tuple[int, ...] = ()
    keymap: str = "123456789*0#"  # keys row by row; 16 keys for a 4x4 keypad
    # Feedback outputs
    led_green_pin: int | None = None
    led_red_pin: int | None = None
    beeper_pin: int | None = None
    # PIN collection
    pin_timeout_s: float = 10.0
    # Upstream: how this reader's cards are written into {Card}/{CardCode} and $code
    # ("" = the canonical hex; else a display format of gateway.cardnumbers, e.g. "8HN").
    card_display_format: str = ""
    # Akuvox anti-passback URLs sent after every grant at this reader (docs/upstream.md).
    apb_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParityRuleSettings:
    """One parity bit of a custom Wiegand format (`[[wiegand_formats.parity_rules]]`)."""

    bit: int  # index of the parity bit, 0 = the first bit sent
    mask: str  # one '0'/'1' per frame bit, '1' = covered; '_' and spaces separate groups
    parity: Literal["even", "odd"]


@dataclass(frozen=True)
class WiegandFormatSettings:
    """A site-specific Wiegand card format (`[[wiegand_formats]]`), usable by name in a
    reader's `formats` or `pin_frame_format`. Bit ranges are [first, last], inclusive."""

    name: str  # must not be a built-in format's name
    length: int  # bits per frame
    data_bits: tuple[int, ...]  # [first, last]: the canonical number
    card_bits: tuple[int, ...]  # [first, last], within data_bits
    facility_bits: tuple[int, ...] = ()  # [] (none) or [first, last], within data_bits
    parity_rules: tuple[ParityRuleSettings, ...] = ()


@dataclass(frozen=True)
class UpstreamSettings:
    url: str = ""  # empty: no upstream
    mode: Literal["general", "customize"] = "customize"
    device_id: str = ""
    timeout_s: float = 3.0
    methods: tuple[str, ...] = ("card", "pin", "qr")
    time_format: str = ""  # strftime for {Time}; "" = ISO 8601 local time with offset
    verify_tls: bool = True
    ca_file: str = ""  # PEM CA bundle trusted instead of the system's; "" = the system's
    username: str = ""  # basic auth
    password: str = ""  # a secret: never printed
    bearer_token: str = ""  # "Authorization: Bearer ..."; a secret: never printed
    max_body_bytes: int = 65536
    breaker_failures: int = 3  # consecutive failures that open the circuit breaker
    breaker_open_s: float = 30.0  # first open period; doubles on each failed probe
    breaker_max_open_s: float = 300.0
    cache_grants_s: float = 0.0  # remember upstream grants this long; 0 = off
    cache_max_entries: int = 10_000


@dataclass(frozen=True)
class TechnicianSettings:
    username: str
    password: str = ""  # clear text: accepted only with the simulated backend
    level: str = "SUPERADMIN"


@dataclass(frozen=True)
class WebSettings:
    listen: str = "127.0.0.1:8080"
    token_idle_s: float = 1800.0
    technicians: tuple[TechnicianSettings, ...] = ()


HttpUnlockAntiPassback = Literal["off", "soft", "hard"]


@dataclass(frozen=True)
class HttpUnlockSettings:
    """Akuvox "Open Relay via HTTP": GET /fcgi/OpenDoor with basic auth.

    See docs/akuvox-opendoor.md; the password is clear text because the sending device
    puts it in its URLs (http://user:password@gateway/fcgi/OpenDoor?...)."""

    enabled: bool = False  # off: /fcgi/OpenDoor answers 404, as if it did not exist
    username: str = ""
    password: str = ""  # clear text, as on an Akuvox device; a secret: never printed
    antipassback: HttpUnlockAntiPassback = "off"  # Entry/Exit requests: "soft" or "hard"
    card_format: str = ""  # how $code shows cards: "" = canonical hex, else e.g. "10DN"


@dataclass(frozen=True)
class JournalSettings:
    max_events: int = 100_000  # 10,000 .. 1,000,000


@dataclass(frozen=True)
class ForwardingSettings:
    """Pushing the journal to registered agents (docs/forwarding.md)."""

    batch_size: int = 100  # events per POST, 1..1000
    timeout_s: float = 10.0  # per POST
    retry_initial_s: float = 1.0  # first back-off after a failure, doubling
    retry_max_s: float = 300.0  # back-off ceiling
    idle_poll_s: float = 5.0  # backstop when no new-event signal arrives
    backlog_alarm: int = 1000  # undelivered events that raise forwarding_backlog


@dataclass(frozen=True)
class LockoutSettings:
    max_failures: int = 5
    window_s: float = 60.0
    lock_s: float = 60.0
    max_lock_s: float = 3600.0
    reset_after_s: float = 3600.0


@dataclass(frozen=True)
class AutoInOutSettings:
    mode: AutoInOutMode = "disable"
    anti_passback: Literal["hard", "soft"] = "hard"
    reject_repeat_s: int = 8  # 1..86400
    lunch_break_min: int = 20
    crowd_limit: int = 100  # 1..65535
    crowd_reset: str = "00:00"  # HH:MM local time


@dataclass(frozen=True)
class AccessSettings:
    two_factor_timeout_s: float = 15.0
    lockout: LockoutSettings = field(default_factory=LockoutSettings)
    auto_in_out: AutoInOutSettings = field(default_factory=AutoInOutSettings)
    # Akuvox "public PINs": up to 3 anonymous PINs (4-8 digits) that open every door whose
    # auth_mode lets a PIN alone in. Secrets: never printed (not even in a repr).
    public_pins: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class DemoUser:
    user_id: str
    first_name: str = ""
    last_name: str = ""
    cards: tuple[str, ...] = ()
    pin: str = ""
    active: bool = True


@dataclass(frozen=True)
class SimulationSettings:
    """Only allowed with `[hardware] backend = "simulated"`."""

    demo_users: tuple[DemoUser, ...] = ()


@dataclass(frozen=True)
class Settings:
    path: str
    device: DeviceSettings
    hardware: HardwareSettings
    doors: tuple[DoorSettings, ...]
    readers: tuple[ReaderSettings, ...]
    wiegand_formats: tuple[WiegandFormatSettings, ...] = ()
    upstream: UpstreamSettings = field(default_factory=UpstreamSettings)
    web: WebSettings = field(default_factory=WebSettings)
    http_unlock: HttpUnlockSettings = field(default_factory=HttpUnlockSettings)
    journal: JournalSettings = field(default_factory=JournalSettings)
    forwarding: ForwardingSettings = field(default_factory=ForwardingSettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    simulation: SimulationSettings = field(default_factory=SimulationSettings)

    @property
    def simulated(self) -> bool:
        return self.hardware.backend == "simulated"

    def door(self, name: str) -> DoorSettings:
        """The door named `name` (the loader guarantees reader doors exist)."""
        for door in self.doors:
            if door.name == name:
                return door
        raise KeyError(name)
