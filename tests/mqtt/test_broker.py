"""The gateway against a real mosquitto: a dead broker neither stops the daemon nor slows
a door, every event arrives once it is back (also after an outage in the middle), the
retained state and Home Assistant discovery are there, and commands follow both the
gateway's switch and the broker's ACL."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt

from benchmarks.mosquitto import Mosquitto, free_port
from gateway.app import Gateway
from gateway.config import load_settings
from gateway.settings import MqttSettings
from tests.actatek.terminal_sim import ADA_BITS
from tests.mqtt.checker import EventChecker, retained

REPO = Path(__file__).resolve().parents[2]
DEVICE = "sim-gateway"  # [device] id of config/simulate.toml
PREFIX = f"door-gateway/{DEVICE}/"


@asynccontextmanager
async def running_gateway(tmp_path: Path, mqtt: MqttSettings) -> AsyncIterator[Gateway]:
    settings = load_settings(REPO / "config" / "simulate.toml")
    device = dataclasses.replace(settings.device, state_dir=str(tmp_path / "state"))
    web = dataclasses.replace(settings.web, listen=f"127.0.0.1:{free_port()}")
    gateway = Gateway(dataclasses.replace(settings, device=device, web=web, mqtt=mqtt))
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


def mqtt_settings(broker: Mosquitto, **changes: Any) -> MqttSettings:
    quick = {"retry_initial_s": 0.1, "retry_max_s": 0.5, "state_interval_s": 0.2}
    return MqttSettings(url=broker.url, **(quick | changes))


async def present_card(gateway: Gateway) -> float:
    """Ada's card at the front reader; seconds until the relay unlocked."""
    base = f"http://{gateway.settings.web.listen}"
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        async with http.post(
            f"{base}/sim/wiegand", json={"reader": "front-wiegand", "bits": ADA_BITS}
        ) as resp:
            assert resp.status == 200
        await until(lambda: gateway.doors["front"].unlocked, 3.0)
    return time.monotonic() - started


async def until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def settle(gateway: Gateway, first: int) -> set[tuple[str, int]]:
    """Once every event journaled so far is durable: (device, seq) of those after `first`
    (the MQTT cursor the gateway started with)."""
    await gateway.recorder.flush()
    return {(DEVICE, seq) for seq in range(first + 1, gateway.journal.last_seq() + 1)}


async def journaled(gateway: Gateway, reason: str) -> list[str]:
    await gateway.recorder.flush()
    events = await gateway.recorder.read_events(0, 1000)
    return [event.trace for event in events if event.reason == reason]


async def test_a_dead_broker_slows_no_door_and_every_event_arrives_once_it_is_back(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    checker = EventChecker(mosquitto)
    mosquitto.start()
    await checker.subscribe_once()
    mosquitto.stop()  # down before the gateway starts

    async with running_gateway(tmp_path, mqtt_settings(mosquitto)) as gateway:
        assert gateway.mqtt is not None
        first = gateway.mqtt.publisher.cursor
        for _ in range(5):
            assert await present_card(gateway) < 1.0
        wanted = await settle(gateway, first)
        status = gateway.status_board.status()["mqtt"]
        assert status["connected"] is False and status["failures"] >= 1
        assert status["backlog"] == len(wanted) >= 5

        mosquitto.start()  # back: the gateway reconnects by itself
        await checker.collect(wanted, timeout=20)
        assert wanted <= set(checker.seqs), sorted(wanted - set(checker.seqs))
        assert checker.duplicates() == 0
        granted = [p for p in checker.payloads.values() if p["reason"] == "granted"]
        assert len(granted) == 5 and all(p["door"] == "front" for p in granted)
        assert max(p["latency_ms"] for p in granted) < 100  # decided at once
        assert gateway.status_board.status()["mqtt"]["connected"] is True

        # An outage in the middle: the broker goes, cards keep opening, nothing is lost.
        mosquitto.stop()
        await until(lambda: gateway.mqtt is not None and not gateway.mqtt.connected, 15)
        for _ in range(3):
            assert await present_card(gateway) < 1.0
        wanted = await settle(gateway, first)
        mosquitto.start()
        await checker.collect(wanted, timeout=20)
        assert wanted <= set(checker.seqs), sorted(wanted - set(checker.seqs))
        assert gateway.mqtt.publisher.backlog == 0


async def test_retained_state_and_discovery_then_offline_on_stop(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    mosquitto.start()
    async with running_gateway(tmp_path, mqtt_settings(mosquitto)) as gateway:
        assert gateway.mqtt is not None
        await until(lambda: gateway.mqtt is not None and gateway.mqtt.connected, 10)
        await present_card(gateway)
        await until(lambda: gateway.mqtt is not None and gateway.mqtt.publisher.backlog == 0, 10)
        await asyncio.sleep(0.5)  # a state comparison or two
        state = await retained(mosquitto, "#")
    assert state[f"{PREFIX}availability"] == b"online"
    front = json.loads(state[f"{PREFIX}door/front/state"])
    assert front["state"] == "UNLOCKED" and front["contact"] in ("open", "closed")
    health = json.loads(state[f"{PREFIX}reader/front-wiegand/health"])
    assert health["online"] is True and "recent" not in health
    last = json.loads(state[f"{PREFIX}reader/front-wiegand/last_event"])
    assert last["reason"] == "granted" and last["user_id"] == "1001"
    assert json.loads(state[f"{PREFIX}upstream/state"])["configured"] is False
    lock = json.loads(state[f"homeassistant/lock/{DEVICE}/door_front/config"])
    assert lock["command_topic"] == f"{PREFIX}command/front/pulse"
    assert f"homeassistant/sensor/{DEVICE}/reader_front-wiegand/config" in state
    # Stopped cleanly: the gateway said goodbye.
    after = await retained(mosquitto, f"{PREFIX}availability")
    assert after[f"{PREFIX}availability"] == b"offline"


ACL = """user gw
topic readwrite door-gateway/sim-gateway/#
topic readwrite homeassistant/#

user ha
topic read door-gateway/#
topic read homeassistant/#
topic write door-gateway/+/command/#

user intruder
topic read door-gateway/#
"""
USERS = {"gw": "gw-secret", "ha": "ha-secret", "intruder": "intruder-secret"}


async def publish_as(broker: Mosquitto, user: str, topic: str, payload: bytes) -> None:
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, username=user, password=USERS[user]
    ) as client:
        await client.publish(topic, payload, qos=1)


async def test_commands_follow_the_gateway_switch_and_the_broker_acl(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker", USERS, ACL)
    broker.start()
    try:
        settings = mqtt_settings(broker, username="gw", password=USERS["gw"], commands=("pulse",))
        async with running_gateway(tmp_path, settings) as gateway:
            await until(lambda: gateway.mqtt is not None and gateway.mqtt.connected, 10)
            # Home Assistant's user may command; the pulse is enabled: the door opens.
            await publish_as(broker, "ha", f"{PREFIX}command/front/pulse", b"UNLOCK")
            await until(lambda: gateway.doors["front"].unlocked, 5)
            # Lockdown is not enabled on this gateway: refused, and journaled.
            await publish_as(broker, "ha", f"{PREFIX}command/front/lockdown", b"ON")
            await until(lambda: gateway.mqtt is not None and gateway.mqtt.commands.refused == 1, 5)
            assert not gateway.doors["front"].status()["lockdown"]
            # The broker does not let another user publish a command at all.
            await publish_as(broker, "intruder", f"{PREFIX}command/back/pulse", b"UNLOCK")
            await publish_as(broker, "ha", f"{PREFIX}command/back/acknowledge", b"")
            await until(lambda: gateway.mqtt is not None and gateway.mqtt.commands.refused >= 2, 5)
            assert not gateway.doors["back"].unlocked
            accepted = await journaled(gateway, "mqtt_command")
            refused = await journaled(gateway, "mqtt_command_refused")
            assert accepted == ["pulse door=front payload='UNLOCK': pulsed"]
            assert [t.split(":")[0] for t in refused] == [
                "lockdown door=front payload='ON'",
                "acknowledge door=back payload=''",
            ]
            assert len(await journaled(gateway, "remote_pulse")) == 1
    finally:
        broker.stop()
