"""Cross-checks of the elevator keys: `[[floors]]`, `[lift]` and the readers' `lift` flag.

Floor names are unique; on real hardware every floor has its relay pin; `[lift]
default_floors` names configured floors; a lift reader needs floors to enable. (A floor's
GPIO is checked against every other pin of the file with the doors' and readers' pins.)
"""

from __future__ import annotations

import json

from gateway.config.report import NOTHING, Report, hint
from gateway.config.schema import Checked
from gateway.settings import GPIO_TEXT, FloorSettings, LiftSettings, ReaderSettings


def check_floors(checked: Checked, backend: str | None, report: Report) -> None:
    """Every relation of the elevator keys, in the order messages are listed."""
    if backend == "gpio":
        for floor in checked.tables_of(FloorSettings):
            if not floor.given("pin"):
                expected = f'{GPIO_TEXT} (required with backend "gpio")'
                report.expected(floor.at("pin"), expected, NOTHING)
    names = list(dict.fromkeys(name for _, name in checked.written(FloorSettings, "name")))
    lift = checked.section(LiftSettings)
    if lift is not None and lift.ok("default_floors"):
        known = ", ".join(json.dumps(n) for n in names) or "none"
        for index, name in enumerate(lift.value.default_floors):
            if name not in names:
                path = f"{lift.at('default_floors')}[{index}]"
                report.expected(
                    path, f"the name of a [[floors]] entry ({known})", name, hint(name, names)
                )
    if names:
        return
    for reader in checked.of(ReaderSettings):
        if reader.value.lift:
            report.expected(
                reader.at("lift"), "false while no [[floors]] entry is configured", True
            )
