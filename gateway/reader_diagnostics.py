"""Reader diagnostics for technicians: each reader's last frames explained, and "learn a
card" (which format and display mode make a frame read as the number printed on the card,
then enroll that card for a user).

The frames are the readers' own `status()["recent"]` (a PIN-bearing frame is already
masked there and stays so); the explanations come from `gateway.cardlearn` with the same
format registry the readers decode with. An enrolled card is what the reader delivered
for that frame, written through the user store like any API change of a user's cards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any

from gateway.cardlearn import Candidate, explain_frame, learn, parse_printed
from gateway.hw.formats import FormatRegistry
from gateway.hw.readers import ReaderDriver
from gateway.model import User
from gateway.settings import ReaderSettings
from gateway.store.records import UserRecord
from gateway.store.users import UserStore

WIEGAND_KINDS = frozenset({"wiegand", "wiegand_keypad"})
MASKED = "*"


class ReaderDiagnostics:
    """What the reader pages and their JSON routes ask of the readers and the users."""

    def __init__(
        self,
        readers: Mapping[str, ReaderDriver],
        settings: Mapping[str, ReaderSettings],
        formats: FormatRegistry,
        users: UserStore,
    ) -> None:
        self._readers = readers
        self._settings = settings
        self._formats = formats
        self._users = users

    def reader_names(self) -> list[str]:
        """Every configured reader, in configuration order."""
        return list(self._readers)

    def frames(self, name: str) -> dict[str, Any]:
        """The reader's counters, warning and last frames (newest first), each Wiegand frame
        explained format by format. LookupError for an unknown reader."""
        status = self._status(name)
        configured = self._configured(name)
        wiegand = status.get("kind") in WIEGAND_KINDS
        frames = [
            self._explained(dict(record), configured) if wiegand else dict(record)
            for record in reversed(status.get("recent", []))
        ]
        summary = {key: value for key, value in status.items() if key != "recent"}
        return {"reader": name, **summary, "learnable": wiegand, "frames": frames}

    def learn(self, name: str, frame_id: int, printed: str) -> dict[str, Any]:
        """Which formats and modes make frame `frame_id` of reader `name` read as `printed`,
        best first, or why none does; and whether (and as what) it can be enrolled.
        LookupError: no such reader or frame; ValueError: not a card number, or a frame
        that cannot be learned (another kind of reader, masked bits)."""
        record = self._frame(name, frame_id)
        typed = parse_printed(printed)
        result = learn(record["bits"], typed, self._formats, self._configured(name))
        card, why = self._enrollable(record)
        return {
            "reader": name,
            "frame": record,
            "printed": typed.text,
            "candidates": [asdict(candidate) for candidate in result.candidates],
            "reasons": list(result.reasons) + self._format_advice(name, result.candidates),
            "enroll_card": card,
            "enroll_refused": why,
        }

    async def enroll(
        self, name: str, frame_id: int, user_id: str, check_user: Callable[[User], None]
    ) -> dict[str, Any]:
        """Add the card the reader delivered for frame `frame_id` to user `user_id`.

        `check_user` may refuse the stored user (raising); the store refuses a missing user
        (`NotFoundError`), a card that is someone else's (`CredentialTaken`), or a sixth
        card (`ValidationError`). Enrolling a card the user has already changes nothing."""
        record = self._frame(name, frame_id)
        card, why = self._enrollable(record)
        if card is None:
            raise ValueError(why)

        def build(existing: UserRecord | None) -> UserRecord:
            assert existing is not None  # mode "update" refused a missing user already
            user, profile = existing
            check_user(user)
            cards = user.cards if card in user.cards else [*user.cards, card]
            return replace(user, cards=cards), replace(profile, enabled={})

        await asyncio.to_thread(self._users.save_user_record, user_id, build, "update")
        return {"reader": name, "frame": frame_id, "user_id": user_id, "card": card}

    # -- helpers ------------------------------------------------------------------------

    def _status(self, name: str) -> dict[str, Any]:
        reader = self._readers.get(name)
        if reader is None:
            raise LookupError(f"no reader named {name!r}")
        return reader.status()

    def _configured(self, name: str) -> tuple[str, ...]:
        return tuple(self._settings[name].formats)

    def _frame(self, name: str, frame_id: int) -> dict[str, Any]:
        status = self._status(name)
        if status.get("kind") not in WIEGAND_KINDS:
            raise ValueError(
                f"reader {name!r} is a {status.get('kind')} reader: cards are learned on "
                "Wiegand readers; its frames show the card's number as it is stored"
            )
        for record in status.get("recent", []):
            if record.get("id") == frame_id:
                if MASKED in record["bits"]:
                    raise ValueError(
                        f"frame {frame_id} may carry PIN digits: its bits are never kept"
                    )
                return self._explained(dict(record), self._configured(name))
        raise LookupError(
            f"frame {frame_id} is not among reader {name!r}'s last frames; present the card again"
        )

    def _explained(self, record: dict[str, Any], configured: tuple[str, ...]) -> dict[str, Any]:
        bits = str(record.get("bits", ""))
        if not bits or MASKED in bits:
            return {**record, "parity": None, "formats": [], "swap_hint": None}
        explanation = explain_frame(bits, self._formats, configured)
        verdicts = [
            {key: value for key, value in asdict(v).items() if key in VERDICT_KEYS}
            for v in explanation.verdicts
        ]
        return {
            **record,
            "parity": explanation.parity,
            "formats": verdicts,
            "swap_hint": explanation.swap_hint,
        }

    def _enrollable(self, record: dict[str, Any]) -> tuple[str | None, str | None]:
        """(the card the reader delivered for this frame, None) or (None, why not)."""
        if record.get("kind") != "card" or record.get("result") != "accepted":
            result = record.get("result")
            return None, (
                f"the reader did not accept this frame as a card ({result}): only a card the "
                "reader reads can be enrolled"
            )
        fmt = self._formats[str(record["format"])]
        return fmt.canonical(str(record["bits"])), None

    def _format_advice(self, name: str, candidates: Sequence[Candidate]) -> list[str]:
        """When the best match is under a format the reader does not decode, say so."""
        if not candidates or candidates[0].configured:
            return []
        best = candidates[0].format
        return [
            f"the best match is {best}, which reader {name!r} does not decode: add "
            f'"{best}" to its formats in the configuration, restart, and present the card '
            "again before enrolling it"
        ]


VERDICT_KEYS = frozenset({"format", "configured", "result", "why"})
