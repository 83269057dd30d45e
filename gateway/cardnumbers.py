"""Card numbers: the canonical form, and how a reader's UID bytes become it.

Canonical: uppercase hex, zero-padded to whole bytes. For a Wiegand frame it is the data
bits between the parity bits; for a UID, its bytes in reader order. A reader can be told
to reverse the UID and to keep only its last N bytes, so that, for example, an NFC reader
and a 26-bit Wiegand reader resolve the same card to the same number (docs/card-formats.md).
"""

from __future__ import annotations

from typing import Literal

ByteOrder = Literal["normal", "reversed"]


def reader_canonical(uid: bytes, byte_order: ByteOrder = "normal", card_bytes: int = 0) -> str:
    """The canonical number for `uid` as read, after the reader's byte order and length."""
    ordered = uid[::-1] if byte_order == "reversed" else uid
    if card_bytes:
        ordered = ordered[-card_bytes:]
    return ordered.hex().upper()
