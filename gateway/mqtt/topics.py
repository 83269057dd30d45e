"""Every MQTT topic of one gateway, named in one place (docs/fleet.md lists them).

Under the prefix (`door-gateway/<device id>/` by default):

- `availability`: "online" / "offline" (retained; "offline" is also the last will);
- `events`: every journal event, QoS 1, `seq` in the payload;
- `door/<door>/state`, `reader/<reader>/health`, `reader/<reader>/last_event`,
  `upstream/state`: retained state, published when it changes;
- `command/<door>/<command>`: what the gateway subscribes to (`pulse`, `lockdown`,
  `acknowledge`).

Home Assistant's discovery messages go to `<discovery prefix>/<component>/<node>/<object>/config`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMAND_LEVEL = "command"
_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")


def default_prefix(device_id: str) -> str:
    """The prefix when the configuration names none."""
    return f"door-gateway/{device_id}/"


def discovery_id(name: str) -> str:
    """`name` as Home Assistant accepts in a node or object id (letters, digits, _ and -)."""
    return _NOT_ID.sub("_", name)


@dataclass(frozen=True)
class Topics:
    """The topics under `prefix` (ending in "/") and the discovery topics."""

    prefix: str
    discovery_prefix: str
    node_id: str  # the device id, as discovery accepts it

    @property
    def availability(self) -> str:
        return f"{self.prefix}availability"

    @property
    def events(self) -> str:
        return f"{self.prefix}events"

    @property
    def upstream(self) -> str:
        return f"{self.prefix}upstream/state"

    def door_state(self, door: str) -> str:
        return f"{self.prefix}door/{door}/state"

    def reader_health(self, reader: str) -> str:
        return f"{self.prefix}reader/{reader}/health"

    def reader_last_event(self, reader: str) -> str:
        return f"{self.prefix}reader/{reader}/last_event"

    def command(self, door: str, command: str) -> str:
        return f"{self.prefix}{COMMAND_LEVEL}/{door}/{command}"

    @property
    def command_filter(self) -> str:
        """What the gateway subscribes to: every command of every door."""
        return f"{self.prefix}{COMMAND_LEVEL}/+/+"

    def parse_command(self, topic: str) -> tuple[str, str] | None:
        """(door, command) of a command topic; None for any other topic."""
        head = f"{self.prefix}{COMMAND_LEVEL}/"
        if not topic.startswith(head):
            return None
        parts = topic[len(head) :].split("/")
        if len(parts) != 2 or not all(parts):
            return None
        return parts[0], parts[1]

    def discovery(self, component: str, object_id: str) -> str:
        """A Home Assistant discovery config topic."""
        return (
            f"{self.discovery_prefix}/{component}/{self.node_id}/{discovery_id(object_id)}/config"
        )
