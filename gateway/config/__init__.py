"""TOML configuration -> typed, validated `gateway.settings.Settings`.

Each key is declared once, as its field in `gateway.settings` (type, default, range or
pattern; see `gateway.settings_spec`). This package reads those declarations:

- `loader`: `load_settings(path)`: read the file, run both passes, fill in derived values;
- `schema`: the schema pass, which walks the declarations (unknown keys, types, ranges);
- `checks`, `formats`: the cross-check pass, relations between already-validated keys;
- `report`: every message reads `FILE: dotted.key.path: what was expected, what was found`,
  e.g. `config/gateway.toml: doors[0].relay_pulse_s: expected a number from 1 to 1800,
  found 0`; secrets are never echoed;
- `summary`, `command`: `door-gateway check-config FILE` and its warnings.
"""

from gateway.config.checks import (
    READER_COMMON_KEYS,
    READER_GPIO_REQUIRED,
    READER_KIND_KEYS,
    UPSTREAM_PLACEHOLDERS,
)
from gateway.config.command import check_config_command, config_warnings
from gateway.config.loader import load_settings
from gateway.config.report import ConfigError
from gateway.config.summary import summary
from gateway.settings import GPIO_MAX, GPIO_MIN, UPSTREAM_METHODS

__all__ = [
    "GPIO_MAX",
    "GPIO_MIN",
    "READER_COMMON_KEYS",
    "READER_GPIO_REQUIRED",
    "READER_KIND_KEYS",
    "UPSTREAM_METHODS",
    "UPSTREAM_PLACEHOLDERS",
    "ConfigError",
    "check_config_command",
    "config_warnings",
    "load_settings",
    "summary",
]
