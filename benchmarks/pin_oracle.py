"""The PIN oracle attack, measured (docs/security.md, "No PIN or card oracle").

    python -m benchmarks.pin_oracle [PERSONALUSER|USERADMIN] [USERS]

Starts an in-process gateway (simulated hardware, real SQLite, real HTTP on loopback,
the real clock) with USERS more door users holding random 4-digit PINs, logs in a
technician of the given level, and tries every PIN from 0000 to 9999 for its own door
record: one `PUT myself` each (PERSONALUSER), or one `PUT user` array of 10,000 updates
(USERADMIN). Prints JSON: how long it took, how many PINs in use the answers gave away,
how many changes went through, and what the journal recorded. Figures only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import re
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from gateway.app import Gateway
from gateway.config import load_settings
from gateway.model import User

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"
DEMO_PINS = {"1234", "2468"}  # config/simulate.toml
Answer = tuple[int, str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _site_pins(gateway: Gateway, users: int) -> set[str]:
    rng = random.Random(10)
    pins = set(DEMO_PINS)
    while len(pins) < users + len(DEMO_PINS):
        pins.add(f"{rng.randrange(10_000):04d}")
    for n, pin in enumerate(sorted(pins - DEMO_PINS)):
        gateway.stores.users.add_user(User(f"u{n}", pin=pin))
    return pins


async def _sweep(http: aiohttp.ClientSession, base: str, sid: str, level: str) -> dict[str, Answer]:
    pins = [f"{n:04d}" for n in range(10_000)]
    answers: dict[str, Answer] = {}
    if level == "PERSONALUSER":
        for pin in pins:
            body = {"userID": "pat", "password": pin}
            async with http.put(f"{base}myself/{sid}", json=body) as resp:
                answers[pin] = (resp.status, (await resp.json()).get("message", ""))
        return answers
    items = [{"userID": "pat", "password": pin} for pin in pins]
    async with http.put(f"{base}user/{sid}", json=items) as resp:
        results = await resp.json()
    for pin, result in zip(pins, results, strict=True):
        answers[pin] = (200 if result["status"] == "success" else 400, result["message"])
    return answers


def _revealed(answers: dict[str, Answer], used: set[str]) -> int:
    """PINs in use whose answer no unused PIN got (numbers in a message ignored)."""

    def shape(answer: Answer) -> Answer:
        return answer[0], re.sub(r"\d+", "N", answer[1])

    unused = {shape(a) for pin, a in answers.items() if pin not in used}
    return sum(1 for pin in used if shape(answers[pin]) not in unused)


async def measure(level: str, users: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(REPO / "config" / "simulate.toml")
        device = dataclasses.replace(settings.device, state_dir=tmp)
        web = dataclasses.replace(settings.web, listen=f"127.0.0.1:{_free_port()}")
        gateway = Gateway(dataclasses.replace(settings, device=device, web=web))
        await gateway.start()
        try:
            used = _site_pins(gateway, users)
            gateway.stores.users.add_user(User("pat", first_name="Pat"))
            gateway.stores.technicians.set_technician_password("pat", PASSWORD, level=level)
            await gateway.rule_changes.settled()
            base = f"http://{web.listen}/cgi-bin/restapi/"
            async with aiohttp.ClientSession() as http:
                login = {"username": "pat", "password": PASSWORD}
                async with http.post(base + "login", json=login) as resp:
                    sid = (await resp.json())["sessionid"]
                started = time.perf_counter()
                answers = await _sweep(http, base, sid, level)
                seconds = time.perf_counter() - started
            await gateway.writer.flush()
            journal: dict[str, int] = {}
            for row in gateway.journal.read(0, 100_000):
                if row.user_id == "pat":
                    key = f"{row.type}:{row.reason}"
                    journal[key] = journal.get(key, 0) + 1
        finally:
            await gateway.stop()
    return {
        "level": level,
        "pins_in_use": len(used),
        "tries": len(answers),
        "seconds": round(seconds, 1),
        "pins_in_use_revealed": _revealed(answers, used),
        "changes_accepted": sum(1 for status, _ in answers.values() if status == 200),
        "journal_rows_for_the_attacker": journal,
    }


def main() -> int:
    level = sys.argv[1] if len(sys.argv) > 1 else "PERSONALUSER"
    users = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    print(json.dumps(asyncio.run(measure(level, users)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
