"""Property: whatever bits and timing arrive on D0/D1, a credential comes out only for a
valid frame of a configured format, and then it is that frame's data bits.

"Valid" is judged independently of the decoder's parity check: a frame is valid when
re-encoding its own data bits with the format reproduces it exactly.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.hw.formats import FormatRegistry
from gateway.hw.formats import invert as invert_bits
from gateway.settings import ParityRuleSettings, WiegandFormatSettings
from tests.hw.test_wiegand_reader import reader_settings, rig


def _mask(covered: range) -> str:
    return "".join("1" if i in covered else "0" for i in range(40))


# A custom layout unlike the built-ins: interleaved parity, and a last bit over everything.
CUSTOM = WiegandFormatSettings(
    "ODD40", 40, (2, 37), (10, 37), (2, 9),
    (
        ParityRuleSettings(0, _mask(range(2, 38, 2)), "even"),
        ParityRuleSettings(1, _mask(range(3, 38, 2)), "odd"),
        ParityRuleSettings(39, _mask(range(0, 39)), "odd"),  # covers the other parity bits
    ),
)  # fmt: skip
REGISTRY = FormatRegistry.from_settings([CUSTOM])
CONFIGURED = ("H10301", "H10306", "C1000-35", "H10304", "UID32", "UID58", "ODD40")
LAYOUTS = [REGISTRY[name] for name in CONFIGURED]


def expected_card(bits: str) -> str | None:
    """The canonical number of `bits` if it is a valid frame of a configured format."""
    for fmt in LAYOUTS:
        if len(bits) == fmt.length and fmt.encode_data(fmt.data.read(bits)) == bits:
            return fmt.canonical(bits)
    return None


def valid_frames() -> st.SearchStrategy[str]:
    return st.sampled_from(LAYOUTS).flatmap(
        lambda fmt: st.integers(0, (1 << fmt.data.width) - 1).map(fmt.encode_data)
    )


def flip_one(bits: str, index: int) -> str:
    index %= len(bits)
    return bits[:index] + ("1" if bits[index] == "0" else "0") + bits[index + 1 :]


FRAMES = st.one_of(
    st.text("01", min_size=1, max_size=140),
    valid_frames(),
    st.builds(flip_one, valid_frames(), st.integers(0, 200)),
    valid_frames().map(invert_bits),
)
TIMING = st.tuples(st.integers(200, 20_000), st.integers(20, 100))  # interval, pulse (us)


@settings(max_examples=300, deadline=None)
@given(FRAMES)
def test_decoder_accepts_exactly_the_valid_frames(bits: str) -> None:
    result = REGISTRY.decode(bits, CONFIGURED)
    assert result.card == expected_card(bits)
    assert (result.reason == "accepted") == (result.card is not None)


async def _play(frames: list[tuple[str, tuple[int, int]]]) -> tuple[list[str], int]:
    settings_ = reader_settings(formats=CONFIGURED)
    async with rig(settings_, [CUSTOM]) as r:
        for bits, (interval, pulse) in frames:
            await r.send(bits, interval, pulse)
        status = r.reader.status()
        counted = status["frames_accepted"] + sum(status["frames_rejected"].values())
        return r.values, counted


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)  # each frame costs ~50 ms of quiet-gap wait
@given(st.lists(st.tuples(FRAMES, TIMING), min_size=1, max_size=2))
def test_random_edges_never_make_a_credential_unless_valid(
    frames: list[tuple[str, tuple[int, int]]],
) -> None:
    values, counted = asyncio.run(_play(frames))
    expected = [card for card in (expected_card(bits) for bits, _ in frames) if card]
    assert values == expected
    assert counted == len(frames)  # every frame is accounted for, accepted or rejected
