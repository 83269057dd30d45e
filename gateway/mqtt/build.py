"""Building the MQTT side from the settings (called by `gateway.app` when `[mqtt] url` is
set): the topics, the discovery messages, the cursor, the publisher, the commands and
the session, with its close registered on the caller's stack."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from pathlib import Path

from gateway import __version__
from gateway.clock import Clock
from gateway.mqtt.commands import CommandHandler, CommandJournal, DoorControl
from gateway.mqtt.discovery import DeviceInfo, all_configs
from gateway.mqtt.link import BrokerConfig, connect
from gateway.mqtt.publisher import EventPublisher, JournalReader
from gateway.mqtt.session import Connect, MqttSession
from gateway.mqtt.states import StateSources
from gateway.mqtt.topics import Topics, default_prefix, discovery_id
from gateway.settings import Settings
from gateway.store.mqtt_cursor import MqttCursorStore


def topics_for(settings: Settings) -> Topics:
    """The gateway's topics under `[mqtt] topic_prefix` (or the default one)."""
    mqtt, device_id = settings.mqtt, settings.device.id
    return Topics(
        mqtt.topic_prefix or default_prefix(device_id),
        mqtt.discovery_prefix,
        discovery_id(device_id),
    )


async def start_mqtt(
    settings: Settings,
    journal: JournalReader,
    db_path: Path,
    doors: DoorControl,
    journal_commands: CommandJournal,
    states: StateSources,
    clock: Clock,
    flush: Callable[[], Awaitable[None]],
    stack: AsyncExitStack,
    connect_to: Connect = connect,
) -> MqttSession:
    """Build the MQTT session and start it (it connects in the background); its stop and
    the cursor store's close go on `stack`. `ValueError` for TLS files that do not fit."""
    mqtt, device = settings.mqtt, settings.device
    topics = topics_for(settings)
    broker = BrokerConfig.from_settings(mqtt, f"door-gateway-{device.id}", topics.availability)
    discovery = []
    if mqtt.discovery:
        info = DeviceInfo(device.id, device.name, __version__)
        doors_named = [door.name for door in settings.doors]
        discovery = all_configs(topics, info, doors_named, [r.name for r in settings.readers])
    cursor = MqttCursorStore(db_path)
    stack.callback(cursor.close)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mqtt")
    publisher = EventPublisher(journal, cursor, topics, device.id, mqtt.batch_size, clock, executor)
    commands = CommandHandler(mqtt.commands, doors, journal_commands)
    session = MqttSession(
        mqtt,
        broker,
        topics,
        discovery,
        publisher,
        commands,
        states,
        clock,
        connect_to,
        executor,
        flush,
    )
    await session.start()
    stack.push_async_callback(session.stop)
    return session
