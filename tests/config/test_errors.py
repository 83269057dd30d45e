"""Every documented error path names the file, the key path, what was expected and found."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings
from tests.config.helpers import MINIMAL_GPIO, MINIMAL_SIMULATED, errors_of, variant, write

RELAY_PIN_FRONT = 'name = "front"\nrelay_pin = 17\n'
READER_PINS = "d0_pin = 5\nd1_pin = 6\n"

# (id, file text, the exact message after "FILE: ")
CASES: list[tuple[str, str, str]] = [
    (
        "unknown key with suggestion",
        variant('name = "back"\n', 'name = "back"\nrelay_puls_s = 5\n'),
        'doors[1].relay_puls_s: unknown key (did you mean "relay_pulse_s"?); expected one of: '
        "name, relay_pin, relay_active_high, relay_pulse_s, door_open_timeout_s, auth_mode, "
        "offline_policy, contact_pin, contact_normally_closed, rex_pin, doorbell_pin, tamper_pin, "
        "tamper_normally_closed, alarm_pin, "
        "lock_type, contact_debounce_s, button_debounce_s, button_stuck_s, relock_on_close, "
        "held_open_prealarm_s, rex_unlocks, "
        "rex_action_delay_s, rex_only_if_still_pressed, second_relay_pin, "
        "second_relay_active_high, second_relay_mode, second_relay_pulse_s, "
        "second_relay_schedule, unlock_schedule, unlock_schedule_first_person, input_actions, "
        "rex_trigger_level, doorbell_trigger_level, cards_enabled, pins_enabled, qr_enabled",
    ),
    (
        "unknown section",
        MINIMAL_GPIO + "[jornal]\nmax_events = 10000\n",
        'jornal: unknown key (did you mean "journal"?); expected one of: device, hardware, '
        "doors, readers, wiegand_formats, upstream, web, http_unlock, journal, forwarding, access, "
        "simulation, notifications, smtp, mqtt, floors, lift, rescue",
    ),
    (
        "out of range",
        variant(RELAY_PIN_FRONT, RELAY_PIN_FRONT + "relay_pulse_s = 0\n"),
        "doors[0].relay_pulse_s: expected a number from 1 to 1800, found 0",
    ),
    (
        "second door path",
        variant('name = "back"\n', 'name = "back"\ndoor_open_timeout_s = 3601\n'),
        "doors[1].door_open_timeout_s: expected a number from 1 to 3600, found 3601",
    ),
    (
        "string is not a number",
        variant('name = "back"\n', 'name = "back"\nrelay_pulse_s = "5"\n'),
        'doors[1].relay_pulse_s: expected a number from 1 to 1800, found "5"',
    ),
    (
        "bool is not an int",
        variant("relay_pin = 16", "relay_pin = true"),
        "doors[1].relay_pin: expected a BCM GPIO number from 0 to 27, found true",
    ),
    (
        "float is not an int",
        MINIMAL_GPIO.replace("[[doors]]", "[journal]\nmax_events = 20000.5\n\n[[doors]]", 1),
        "journal.max_events: expected an integer from 10000 to 1000000, found 20000.5",
    ),
    (
        "not a bool",
        variant('name = "back"\n', 'name = "back"\nrelay_active_high = 1\n'),
        "doors[1].relay_active_high: expected true or false, found 1",
    ),
    (
        "choice with suggestion",
        variant('kind = "wiegand"', 'kind = "wiegnad"'),
        'readers[0].kind: expected one of "wiegand", "wiegand_keypad", "serial", "nfc", "pcsc", '
        '"matrix_keypad", "osdp", found "wiegnad" (did you mean "wiegand"?)',
    ),
    (
        "pin out of range",
        variant("d0_pin = 5", "d0_pin = 28"),
        "readers[0].d0_pin: expected a BCM GPIO number from 0 to 27, found 28",
    ),
    (
        "duplicate pin names both users",
        variant("d0_pin = 5", "d0_pin = 17"),
        "readers[0].d0_pin: expected a GPIO not used elsewhere, found 17, "
        "already used by doors[0].relay_pin",
    ),
    (
        "duplicate door name",
        variant('name = "back"', 'name = "front"'),
        'doors[1].name: expected a name not used before, found "front", '
        "already used by doors[0].name",
    ),
    (
        "empty door name",
        variant('name = "back"', 'name = ""'),
        "doors[1].name: expected a name of 1 to 64 letters, digits, '.', '_' or '-', starting "
        'with a letter or digit, found ""',
    ),
    (
        "missing door name",
        variant('name = "back"\n', ""),
        "doors[1].name: expected a name of 1 to 64 letters, digits, '.', '_' or '-', starting "
        "with a letter or digit, found nothing",
    ),
    (
        "reader with unknown door",
        variant('door = "front"', 'door = "frnt"'),
        'readers[0].door: expected the name of a [[doors]] entry ("front", "back"), '
        'found "frnt" (did you mean "front"?)',
    ),
    (
        "duplicate reader name",
        MINIMAL_GPIO + '[[readers]]\nname = "front-card"\nkind = "pcsc"\ndoor = "back"\n',
        'readers[1].name: expected a name not used before, found "front-card", '
        "already used by readers[0].name",
    ),
    (
        "bad timezone",
        variant('id = "gw"', 'id = "gw"\ntimezone = "Europe/Londn"'),
        'device.timezone: expected an IANA time zone name such as "Europe/London", '
        'found "Europe/Londn" (did you mean "Europe/London"?)',
    ),
    (
        "missing device",
        variant('[device]\nid = "gw"\n', ""),
        "device: expected a [device] section, found nothing",
    ),
    (
        "missing hardware",
        variant('[hardware]\nbackend = "gpio"\n', ""),
        "hardware: expected a [hardware] section, found nothing",
    ),
    (
        "no doors",
        '[device]\n[hardware]\nbackend = "simulated"\n',
        "doors: expected at least one [[doors]] entry, found nothing",
    ),
    (
        "doors written as a table",
        '[device]\n[hardware]\n[doors]\nname = "front"\nrelay_pin = 17\n',
        "doors: expected at least one [[doors]] entry, found a table "
        "(write [[doors]] for each entry, not [doors])",
    ),
    (
        "clear password with gpio backend",
        MINIMAL_GPIO + '[[web.technicians]]\nusername = "admin"\npassword = "secret"\n',
        "web.technicians[0].password: clear-text passwords are only accepted with the "
        "simulated backend; use `door-gateway passwd admin`",
    ),
    (
        "simulation with gpio backend",
        MINIMAL_GPIO + '[simulation]\n[[simulation.demo_users]]\nuser_id = "1"\n',
        'simulation: expected no [simulation] section with [hardware] backend = "gpio" '
        '(it is only accepted with backend = "simulated"), found one',
    ),
    (
        "wiegand without pins on gpio",
        variant(READER_PINS, "d0_pin = 5\n"),
        'readers[0].d1_pin: expected a BCM GPIO number from 0 to 27 (required for a "wiegand" '
        'reader with backend "gpio"), found nothing',
    ),
    (
        "serial without port on gpio",
        MINIMAL_GPIO + '[[readers]]\nname = "qr"\nkind = "serial"\ndoor = "back"\n',
        'readers[1].port: expected a serial port such as "/dev/ttyUSB0" (required for a '
        '"serial" reader with backend "gpio"), found nothing',
    ),
    (
        "matrix keypad without rows on gpio",
        MINIMAL_GPIO
        + '[[readers]]\nname = "kp"\nkind = "matrix_keypad"\ndoor = "back"\ncol_pins = [7, 8]\n',
        "readers[1].row_pins: expected an array of 1 to 8 distinct BCM GPIO numbers (required "
        'for a "matrix_keypad" reader with backend "gpio"), found nothing',
    ),
    (
        "door without relay on gpio",
        variant("relay_pin = 16\n", ""),
        "doors[1].relay_pin: expected a BCM GPIO number from 0 to 27 "
        '(required with backend "gpio"), found nothing',
    ),
    (
        "key of another reader kind",
        variant(READER_PINS, READER_PINS + 'port = "/dev/ttyUSB0"\n'),
        'readers[0].port: not used by a "wiegand" reader (its keys: d0_pin, d1_pin, formats, '
        "swap_d0_d1, card_display_format)",
    ),
    (
        "pins still checked on the simulated backend",
        variant("d0_pin = 5", "d0_pin = 40", MINIMAL_SIMULATED),
        "readers[0].d0_pin: expected a BCM GPIO number from 0 to 27, found 40",
    ),
    (
        "bad listen",
        MINIMAL_GPIO + '[web]\nlisten = "localhost"\n',
        'web.listen: expected HOST:PORT such as "127.0.0.1:8080", "[::1]:8080" or '
        '"gateway.local:8080" (port 1 to 65535), found "localhost"',
    ),
    (
        "journal size",
        MINIMAL_GPIO + "[journal]\nmax_events = 9999\n",
        "journal.max_events: expected an integer from 10000 to 1000000, found 9999",
    ),
    (
        "upstream url scheme",
        MINIMAL_GPIO + '[upstream]\nurl = "ftp://example.com/x"\n',
        'upstream.url: expected empty (no upstream) or an "http://" or "https://" URL, '
        'found "ftp://example.com/x"',
    ),
    (
        "upstream placeholder",
        MINIMAL_GPIO + '[upstream]\nurl = "https://example.com/v?c={Crad}"\n',
        "upstream.url: expected placeholders among {QRCode} {Card} {CardCode} {Pin} {PINCode} "
        '{Face} {FaceData} {DeviceID} {Token} {Type} {Time} {Session} {Step}, found "{Crad}" '
        '(did you mean "{Card}"?)',
    ),
    (
        "upstream timeout",
        MINIMAL_GPIO + "[upstream]\ntimeout_s = 0.05\n",
        "upstream.timeout_s: expected a number from 0.1 to 30, found 0.05",
    ),
    (
        "upstream methods",
        MINIMAL_GPIO + '[upstream]\nmethods = ["card", "nfc"]\n',
        'upstream.methods[1]: expected one of "card", "pin", "qr", "face", found "nfc"',
    ),
    (
        "general mode is QR only",
        MINIMAL_GPIO + '[upstream]\nmode = "general"\n',
        'upstream.methods: expected ["qr"] with mode "general" (General integration verifies '
        'QR codes only), found ["card", "pin", "qr"]',
    ),
    (
        "crowd reset",
        MINIMAL_GPIO + '[access.auto_in_out]\ncrowd_reset = "24:00"\n',
        'access.auto_in_out.crowd_reset: expected a local time "HH:MM" (00:00 to 23:59), '
        'found "24:00"',
    ),
    (
        "reject repeat",
        MINIMAL_GPIO + "[access.auto_in_out]\nreject_repeat_s = 86401\n",
        "access.auto_in_out.reject_repeat_s: expected an integer from 1 to 86400, found 86401",
    ),
    (
        "crowd limit",
        MINIMAL_GPIO + "[access.auto_in_out]\ncrowd_limit = 0\n",
        "access.auto_in_out.crowd_limit: expected an integer from 1 to 65535, found 0",
    ),
    (
        "lockout positive",
        MINIMAL_GPIO + "[access.lockout]\nwindow_s = 0\n",
        "access.lockout.window_s: expected a number greater than 0, found 0",
    ),
    (
        "lockout order",
        MINIMAL_GPIO + "[access.lockout]\nlock_s = 100\nmax_lock_s = 50\n",
        "access.lockout.max_lock_s: expected a number not below lock_s (100), found 50",
    ),
    (
        "direction",
        variant(READER_PINS, READER_PINS + 'direction = "exit"\n'),
        'readers[0].direction: expected one of "in", "out", found "exit"',
    ),
    (
        "not finite",
        variant('name = "back"\n', 'name = "back"\nrelay_pulse_s = inf\n'),
        "doors[1].relay_pulse_s: expected a number from 1 to 1800, found inf",
    ),
    (
        "demo card not hex",
        MINIMAL_SIMULATED
        + '[simulation]\n[[simulation.demo_users]]\nuser_id = "1001"\ncards = ["0C87GG"]\n',
        "simulation.demo_users[0].cards[0]: expected a card number of 1 to 16 whole bytes "
        'in hex (2, 4, ... 32 hex digits), found "0C87GG"',
    ),
    (
        "mifare key with a line break, not echoed",
        MINIMAL_GPIO
        + '[[readers]]\nname = "p"\nkind = "pcsc"\ndoor = "back"\nmifare_key = "A0A1A2A3A4A5\\n"\n',
        "readers[1].mifare_key: expected empty or 12 hex digits (a 6-byte MIFARE key), "
        "found a value that is not shown",
    ),
    (
        "desfire reader without its key",
        MINIMAL_GPIO
        + '[[readers]]\nname = "p"\nkind = "pcsc"\ndoor = "back"\ndesfire_app_id = "F51230"\n',
        "readers[1].desfire_key: expected 32 hex digits, the AES key (required with "
        "desfire_app_id), found nothing",
    ),
    (
        "desfire key of the wrong length, not echoed",
        MINIMAL_GPIO
        + '[[readers]]\nname = "p"\nkind = "pcsc"\ndoor = "back"\ndesfire_key = "00112233"\n',
        "readers[1].desfire_key: expected empty or 32 hex digits (a 16-byte AES key; DES 16, "
        "3K3DES 48 digits), found a value that is not shown",
    ),
    (
        "desfire key too short for its crypto, not echoed",
        MINIMAL_GPIO
        + '[[readers]]\nname = "p"\nkind = "pcsc"\ndoor = "back"\ndesfire_app_id = "F51230"\n'
        + 'desfire_crypto = "3k3des"\ndesfire_key = "00112233445566778899AABBCCDDEEFF"\n',
        "readers[1].desfire_key: expected 48 hex digits for desfire_crypto '3k3des', found 32",
    ),
    (
        "desfire and mifare block on one reader",
        MINIMAL_GPIO
        + '[[readers]]\nname = "p"\nkind = "pcsc"\ndoor = "back"\nmifare_sector = 1\n'
        + 'mifare_key = "A0A1A2A3A4A5"\ndesfire_app_id = "F51230"\n'
        + 'desfire_key = "00112233445566778899AABBCCDDEEFF"\n',
        "readers[1].desfire_app_id: not with mifare_sector: read one or the other",
    ),
    (
        "mifare plus reader without a key",
        MINIMAL_GPIO + '[[readers]]\nname = "p"\nkind = "pcsc"\ndoor = "back"\nmfp_block = 9\n',
        "readers[1].mfp_keys: expected 1 to 3 AES keys of 32 hex digits (required with "
        "mfp_block), found nothing",
    ),
    (
        "mifare plus key of the wrong length, not echoed",
        MINIMAL_GPIO
        + '[[readers]]\nname = "p"\nkind = "pcsc"\ndoor = "back"\nmfp_block = 9\n'
        + 'mfp_keys = ["00112233"]\n',
        "readers[1].mfp_keys[0]: expected 32 hex digits (a 16-byte AES key), "
        "found a value that is not shown",
    ),
    (
        "mifare plus and desfire on one reader",
        MINIMAL_GPIO
        + '[[readers]]\nname = "p"\nkind = "pcsc"\ndoor = "back"\nmfp_block = 9\n'
        + 'mfp_keys = ["00112233445566778899AABBCCDDEEFF"]\ndesfire_app_id = "F51230"\n'
        + 'desfire_key = "00112233445566778899AABBCCDDEEFF"\n',
        "readers[1].mfp_block: not with mifare_sector or desfire_app_id",
    ),
    (
        "doorbell relay with no doorbell button",
        variant(
            'name = "back"\n',
            'name = "back"\nsecond_relay_pin = 18\nsecond_relay_mode = "doorbell"\n',
            MINIMAL_SIMULATED,
        ),
        "doors[1].doorbell_pin: expected a BCM GPIO number from 0 to 27 (required with "
        'second_relay_mode "doorbell": the doorbell button that pulses the relay), found nothing',
    ),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_message(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    assert f"{path}: {message}" in errors_of(path)


def test_minimal_files_load(tmp_path: Path) -> None:
    for text in (MINIMAL_GPIO, MINIMAL_SIMULATED):
        settings = load_settings(write(tmp_path, text))
        assert [door.name for door in settings.doors] == ["front", "back"]


def test_every_error_is_reported_together(tmp_path: Path) -> None:
    text = variant(RELAY_PIN_FRONT, RELAY_PIN_FRONT + "relay_pulse_s = 0\n")
    text = variant('name = "back"\n', 'name = "back"\nrelay_puls_s = 5\n', text)
    text = variant('door = "front"', 'door = "frnt"', text)
    text = variant('id = "gw"', 'id = "gw"\ntimezone = "Mars/Olympus"', text)
    text += '[web]\nlisten = "127.0.0.1:99999"\n'
    path = write(tmp_path, text)
    errors = errors_of(path)
    keys = [line.split(": ")[1] for line in errors]
    assert sorted(keys) == sorted(
        [
            "device.timezone",
            "doors[0].relay_pulse_s",
            "doors[1].relay_puls_s",
            "readers[0].door",
            "web.listen",
        ]
    )
    assert all(line.startswith(f"{path}: ") for line in errors)


def test_config_error_str_has_every_line(tmp_path: Path) -> None:
    path = write(tmp_path, variant('kind = "wiegand"', 'kind = "x"\ndirection = "up"'))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert len(caught.value.errors) == 2
    assert str(caught.value) == "\n".join(caught.value.errors)


def test_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '[device]\nid = "gw"\nname "x"\n')
    assert errors_of(path) == [
        f"{path}: line 3, column 6: Expected '=' after a key in a key/value pair"
    ]


def test_syntax_error_at_end_of_document(tmp_path: Path) -> None:
    path = write(tmp_path, "[device]\nid =")
    assert errors_of(path) == [f"{path}: line 2, column 5: Invalid value"]


def test_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert errors_of(path) == [
        f"{path}: cannot read the configuration file: No such file or directory"
    ]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[device]\nname = "Caf\xe9"\n')
    assert errors_of(path) == [f"{path}: line 2, column 12: not UTF-8 text (byte 0xE9)"]


def test_secrets_are_not_echoed(tmp_path: Path) -> None:
    text = MINIMAL_SIMULATED + (
        '[[web.technicians]]\nusername = "admin"\npassword = 98765\n'
        '[simulation]\n[[simulation.demo_users]]\nuser_id = "1001"\npin = "97"\n'
    )
    errors = errors_of(write(tmp_path, text))
    assert len(errors) == 2
    assert not any("98765" in line or '"97"' in line for line in errors)


@pytest.mark.parametrize(
    "listen", ["127.0.0.1:8080", "0.0.0.0:80", "[::1]:8080", "[::]:443", "gateway.local:65535"]
)
def test_good_listen(tmp_path: Path, listen: str) -> None:
    settings = load_settings(write(tmp_path, MINIMAL_GPIO + f'[web]\nlisten = "{listen}"\n'))
    assert settings.web.listen == listen


@pytest.mark.parametrize(
    "listen",
    ["localhost", ":8080", "127.0.0.1:0", "127.0.0.1:65536", "300.1.1.1:80", "::1:8080",
     "[::1]8080", "[zz]:80", "host_name:80", "127.0.0.1:8o", "-bad.example:80"],
)  # fmt: skip
def test_bad_listen(tmp_path: Path, listen: str) -> None:
    path = write(tmp_path, MINIMAL_GPIO + f'[web]\nlisten = "{listen}"\n')
    assert [line.split(": ")[1] for line in errors_of(path)] == ["web.listen"]
