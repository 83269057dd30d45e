"""The configuration keys of the upstream client and the reader's upstream keys: defaults,
checks, and secrets that are never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_settings
from tests.config.helpers import MINIMAL_GPIO, errors_of, variant, write

READER_PINS = "d0_pin = 5\nd1_pin = 6\n"


def test_defaults(tmp_path: Path) -> None:
    upstream = load_settings(write(tmp_path, MINIMAL_GPIO)).upstream
    assert (upstream.time_format, upstream.verify_tls, upstream.ca_file) == ("", True, "")
    assert (upstream.max_body_bytes, upstream.breaker_failures) == (65536, 3)
    assert (upstream.breaker_open_s, upstream.breaker_max_open_s) == (30, 300)
    assert (upstream.cache_grants_s, upstream.cache_max_entries) == (0, 10_000)


def test_everything_set(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    text = (
        variant(
            READER_PINS,
            READER_PINS + 'card_display_format = "W26"\n'
            'apb_urls = ["https://10.0.0.2/fcgi/OpenDoor?Code=$code"]\n',
        )
        + '[upstream]\nurl = "https://srv/v?c={Card}&s={Session}&n={Step}"\n'
        + f'ca_file = "{ca}"\nusername = "gw"\npassword = "pw"\ntime_format = "%s"\n'
        + "cache_grants_s = 60\nbreaker_open_s = 10\nbreaker_max_open_s = 10\n"
    )
    settings = load_settings(write(tmp_path, text))
    assert settings.readers[0].card_display_format == "W26"
    assert settings.readers[0].apb_urls == ("https://10.0.0.2/fcgi/OpenDoor?Code=$code",)
    assert (settings.upstream.username, settings.upstream.cache_grants_s) == ("gw", 60)


CASES = [
    (
        "bearer token not echoed",
        MINIMAL_GPIO + '[upstream]\nbearer_token = "abc def"\n',
        "upstream.bearer_token: expected empty or printable ASCII without spaces, "
        "found a value that is not shown",
    ),
    (
        "password needs a user",
        MINIMAL_GPIO + '[upstream]\npassword = "pw"\n',
        "upstream.password: only used with a username",
    ),
    (
        "basic auth twice",
        MINIMAL_GPIO + '[upstream]\nurl = "https://a:b@srv/v"\nusername = "gw"\n',
        "upstream.username: not used with user:password@ in the url (use one)",
    ),
    (
        "bearer and basic",
        MINIMAL_GPIO + '[upstream]\nusername = "gw"\nbearer_token = "t"\n',
        "upstream.bearer_token: not used with basic auth (use one)",
    ),
    (
        "ca file without verification",
        MINIMAL_GPIO + '[upstream]\nca_file = "/etc/hostname"\nverify_tls = false\n',
        "upstream.ca_file: only used with verify_tls = true",
    ),
    (
        "missing ca file",
        MINIMAL_GPIO + '[upstream]\nca_file = "/nonexistent/ca.pem"\n',
        'upstream.ca_file: expected empty or a readable PEM file, found "/nonexistent/ca.pem"',
    ),
    (
        "breaker periods",
        MINIMAL_GPIO + "[upstream]\nbreaker_open_s = 60\nbreaker_max_open_s = 30\n",
        "upstream.breaker_max_open_s: expected a number not below breaker_open_s (60), found 30",
    ),
    (
        "body cap",
        MINIMAL_GPIO + "[upstream]\nmax_body_bytes = 10\n",
        "upstream.max_body_bytes: expected an integer from 1024 to 1048576, found 10",
    ),
    (
        "display format",
        variant(READER_PINS, READER_PINS + 'card_display_format = "w26"\n'),
        "readers[0].card_display_format: expected empty (the canonical hex) or a card display "
        'format ("8HN", "8HR", "6HN", "6HR", "10DN", "10DR", "8DN", "W26", "UID4N", "UID4R", '
        '"UID7N", "UID7R", "UID10N", "UID10R"), found "w26" (did you mean "W26"?)',
    ),
    (
        "apb url scheme",
        variant(READER_PINS, READER_PINS + 'apb_urls = ["ftp://x/y"]\n'),
        'readers[0].apb_urls[0]: expected an "http://" or "https://" URL with a host, '
        'found "ftp://x/y"',
    ),
    (
        "too many apb urls",
        variant(READER_PINS, READER_PINS + "apb_urls = [" + '"http://x/y", ' * 11 + "]\n"),
        "readers[0].apb_urls: expected an array of at most 10 URLs, found an array of 11 items",
    ),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_message(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    assert f"{path}: {message}" in errors_of(path)


def test_no_secret_reaches_a_message(tmp_path: Path) -> None:
    text = MINIMAL_GPIO + '[upstream]\npassword = ["hunter2"]\nbearer_token = "se cret"\n'
    joined = "\n".join(errors_of(write(tmp_path, text)))
    assert "hunter2" not in joined and "se cret" not in joined
