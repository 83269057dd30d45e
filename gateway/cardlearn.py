"""Reader diagnostics and "learn a card", pure: what a Wiegand frame is under each format,
and which format and display mode make it match the number printed on the card.

`explain_frame` says, for each format of the frame's length, whether it parses it and if
not why (which parity bit is wrong), plus the DATA0/DATA1 swap hint. `learn` takes the
frame and the printed number and lists every (format, mode) under which they agree, best
first, or says why none does. Modes are the display formats of `gateway.cardnumbers`
(8HN, 10DN, W26, ...) and the format's own fields: `facility/card` (two decimal numbers)
and `card` (the card-number field alone, as HID prints it on many cards). No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.cardnumbers import CARD_FORMATS, DISPLAY_FORMATS, from_printed, to_display
from gateway.hw.formats import FormatRegistry, ParityRule, WiegandFormat, invert

MAX_PRINTED = 64
FIELDS_MODE = "facility/card"
CARD_MODE = "card"
_PRINTED_CHARS = re.compile(r"[0-9A-Fa-f][0-9A-Fa-f\s:\-/,.]*\Z")
_PAIR = re.compile(r"(\d{1,5})\s*[-/,:.\s]\s*(\d{1,10})\Z")
_DECIMAL = re.compile(r"\d{1,20}\Z")


@dataclass(frozen=True)
class FormatVerdict:
    """What one format makes of a frame: `result` is "accepted", "length" or "parity"."""

    format: str
    configured: bool  # the reader decodes with it
    result: str
    why: str
    canonical: str | None = None
    facility: int | None = None
    card: int | None = None


@dataclass(frozen=True)
class FrameExplanation:
    """Every format's verdict on one frame, the configured ones first, and the swap hint."""

    verdicts: tuple[FormatVerdict, ...]
    parity: str  # "ok", "bad", "none" (the formats that fit have no parity), "unknown"
    swap_hint: str | None


def _rule_text(rule: ParityRule) -> str:
    kind = "odd" if rule.odd else "even"
    covers = rule.covers
    if covers == tuple(range(covers[0], covers[-1] + 1)):
        return f"bit {rule.bit} ({kind} over bits {covers[0]}-{covers[-1]})"
    return f"bit {rule.bit} ({kind} over {len(covers)} bits)"


def _verdict(fmt: WiegandFormat, bits: str, configured: bool) -> FormatVerdict:
    if fmt.length != len(bits):
        why = f"needs {fmt.length} bits, the frame has {len(bits)}"
        return FormatVerdict(fmt.name, configured, "length", why)
    wrong = [rule for rule in fmt.parity if not rule.holds(bits)]
    if wrong:
        why = "parity " + ", ".join(_rule_text(rule) for rule in wrong) + " is wrong"
        return FormatVerdict(fmt.name, configured, "parity", why)
    facility, card = fmt.fields(bits)
    shown = f"card {card}" if facility is None else f"facility {facility}, card {card}"
    checked = "parity checked" if fmt.parity else "no parity to check"
    why = f"{shown} ({checked})"
    return FormatVerdict(fmt.name, configured, "accepted", why, fmt.canonical(bits), facility, card)


def explain_frame(
    bits: str, registry: FormatRegistry, configured: Sequence[str]
) -> FrameExplanation:
    """Each configured format's verdict on `bits`, then every other known format of the
    same length (a format the reader would need), and the DATA0/DATA1 swap hint."""
    names = [name for name in configured if name in registry]
    others = [n for n in registry.names() if n not in names and registry[n].length == len(bits)]
    verdicts = tuple(_verdict(registry[name], bits, name in names) for name in (*names, *others))
    fitting = [registry[v.format] for v in verdicts if v.result != "length"]
    with_parity = [fmt for fmt in fitting if fmt.parity]
    if not fitting:
        parity = "unknown"
    elif not with_parity:
        parity = "none"
    elif any(fmt.parity_ok(bits) for fmt in with_parity):
        parity = "ok"
    else:
        parity = "bad"
    return FrameExplanation(verdicts, parity, _swap_hint(bits, with_parity, parity))


def _swap_hint(bits: str, with_parity: list[WiegandFormat], parity: str) -> str | None:
    if parity != "bad":
        return None
    flipped = invert(bits)
    for fmt in with_parity:
        if fmt.parity_ok(flipped):
            facility, card = fmt.fields(flipped)
            read = f"card {card}" if facility is None else f"facility {facility}, card {card}"
            return (
                f"every bit inverted parses as {fmt.name} ({read}): DATA0/DATA1 look "
                "swapped; set swap_d0_d1 = true or rewire"
            )
    return None


# -- learning a card -------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One way the frame and the printed number agree.

    `whole` is false when the printed number covers only part of the frame's data (the
    card field without the facility, the last bytes of a longer number): the rest of the
    card is not checked by it. `configured` says whether the reader decodes this format."""

    format: str
    mode: str
    shown: str  # the frame's number as this mode shows it
    canonical: str  # what the reader stores for this frame under this format
    whole: bool
    configured: bool
    note: str


@dataclass(frozen=True)
class Printed:
    """The number typed from the card, and what it can be read as."""

    text: str
    pair: tuple[int, int] | None  # facility and card, when typed as two numbers
    decimal: int | None  # when only digits


@dataclass(frozen=True)
class LearnResult:
    """Every candidate, best first; when there is none, `reasons` says why."""

    candidates: tuple[Candidate, ...]
    reasons: tuple[str, ...]


def parse_printed(text: str) -> Printed:
    """The printed number as typed; ValueError (saying what is expected) for anything that
    is not a card number: empty, too long, or characters no card carries."""
    clean = text.strip()
    if not clean or len(clean) > MAX_PRINTED or not _PRINTED_CHARS.match(clean):
        raise ValueError(
            "type the number printed on the card: decimal digits (e.g. 0012345678), hex "
            "(e.g. 04A1B2C3) or facility and card (e.g. 12/34567), at most "
            f"{MAX_PRINTED} characters"
        )
    pair_match = _PAIR.match(clean)
    pair = (int(pair_match[1]), int(pair_match[2])) if pair_match else None
    decimal = int(clean) if _DECIMAL.match(clean) else None
    return Printed(clean, pair, decimal)


def learn(
    bits: str, printed: Printed, registry: FormatRegistry, configured: Sequence[str]
) -> LearnResult:
    """Which formats and modes make `bits` read as `printed`, best first: formats the
    reader decodes before others, whole numbers before partial ones, formats whose parity
    was checked before those without parity, then the modes' order."""
    explanation = explain_frame(bits, registry, configured)
    parsed = [v for v in explanation.verdicts if v.result == "accepted"]
    found: list[Candidate] = []
    for verdict in parsed:
        found.extend(_matches(registry[verdict.format], bits, printed, verdict.configured))
    order = _mode_order()
    found.sort(
        key=lambda c: (
            not c.configured,
            not c.whole,
            not registry[c.format].parity,
            order.get(c.mode, len(order)),
        )
    )
    if found:
        return LearnResult(tuple(found), ())
    return LearnResult((), tuple(_why_none(bits, printed, explanation, registry)))


def _mode_order() -> dict[str, int]:
    return {mode: i for i, mode in enumerate((FIELDS_MODE, *CARD_FORMATS, CARD_MODE))}


def _matches(fmt: WiegandFormat, bits: str, printed: Printed, configured: bool) -> list[Candidate]:
    canonical = fmt.canonical(bits)
    facility, card = fmt.fields(bits)
    data_bits = fmt.data.width
    found: list[Candidate] = []

    def add(mode: str, shown: str, whole: bool, note: str) -> None:
        found.append(Candidate(fmt.name, mode, shown, canonical, whole, configured, note))

    if facility is not None and printed.pair == (facility, card):
        whole = fmt.facility is not None and fmt.facility.width + fmt.card.width == data_bits
        add(FIELDS_MODE, f"{facility}/{card}", whole, "facility and card number")
    for mode in CARD_FORMATS:
        shown = _shown(canonical, mode)
        if shown is None or not _same(printed.text, mode, canonical):
            continue
        width = DISPLAY_FORMATS[mode].width
        whole = width * 8 >= data_bits
        add(mode, shown, whole, DISPLAY_FORMATS[mode].meaning)
    if printed.decimal is not None and printed.decimal == card:
        whole = fmt.card.width == data_bits
        note = "the card-number field"
        if facility is not None:
            note += f"; the facility code ({facility}) is not printed: check it is your site's"
        add(CARD_MODE, str(card), whole, note)
    return found


def _shown(canonical: str, mode: str) -> str | None:
    try:
        return to_display(canonical, mode)
    except ValueError:
        return None


def _same(text: str, mode: str, canonical: str) -> bool:
    """Whether `text`, read in display format `mode`, is the number shown for `canonical`
    (the shown bytes are the last ones of the canonical number)."""
    try:
        typed = from_printed(text, mode)
    except ValueError:
        return False
    return canonical.endswith(typed)


def _why_none(
    bits: str, printed: Printed, explanation: FrameExplanation, registry: FormatRegistry
) -> list[str]:
    """Plain sentences: why the frame and the printed number did not meet."""
    verdicts = [v for v in explanation.verdicts if v.result != "length"]
    if not verdicts:
        return [
            f"no known Wiegand format has {len(bits)} bits: the frame was cut short (check "
            "the wiring and the ground), or the reader needs a custom format"
        ]
    parsed = [v for v in verdicts if v.result == "accepted"]
    if not parsed:
        reasons = [
            "the frame has bad parity under every format of its length, so no number can "
            "be trusted: present the card again"
        ]
        reasons += [f"{v.format}: {v.why}" for v in verdicts]
        if explanation.swap_hint:
            reasons.append(explanation.swap_hint)
        return reasons
    reasons = [f"the printed number {printed.text!r} matches no format and mode of this frame"]
    for verdict in parsed:
        fmt = registry[verdict.format]
        if printed.pair is not None and fmt.facility is None:
            reasons.append(
                f"the printed number is a facility and card pair, but {fmt.name} has no "
                "facility field"
            )
        elif printed.pair is not None:
            reasons.append(
                f"the printed number is facility {printed.pair[0]}, card {printed.pair[1]}; "
                f"under {fmt.name} the frame is facility {verdict.facility}, card "
                f"{verdict.card}"
            )
        shown = ", ".join(
            f"{mode} {text}"
            for mode in CARD_FORMATS
            if (text := _shown(verdict.canonical or "", mode)) is not None
        )
        reasons.append(f"under {fmt.name} the frame reads: {verdict.why}; {shown}")
    return reasons
