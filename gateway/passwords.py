"""How easy a password is to guess, beyond its length. Pure (the list ships in the package).

A password is refused when it is one of the most common ones (`common-passwords.txt`),
when it uses too few different characters, when it is only runs of letters, digits or
keyboard keys (abcd, 4321, qwerty, 1qaz2wsx), when it is built on names an attacker knows
(the account's, the gateway's), or when it repeats a part that is weak on its own.
docs/security.md lists the rules.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterable
from importlib import resources

MIN_LENGTH = 8
MIN_DISTINCT = 5
COMMON_FILE = "common-passwords.txt"
SHORTEST_RUN = 3

# Digits and symbols added at either end do not make a common word uncommon.
_SYMBOLS = string.punctuation + " "
_ENDS = string.digits + _SYMBOLS
# Letters people replace by look-alikes (p@ssw0rd).
_LOOK_ALIKES = str.maketrans(
    {"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "$": "s", "5": "s", "7": "t"}
)
# Rows and columns of the usual keyboards, and the alphabet and digits in order.
_RUNS = (
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890123456789",  # twice: a run of digits goes on past 9 (1234567890123)
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "qwertzuiop",
    "yxcvbnm",
    "azertyuiop",
    "qsdfghjklm",
    "wxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "qazwsxedcrfvtgbyhnujmikolp",
)
_LONGEST_RUN = max(len(run) for run in _RUNS)
_NAME_PARTS = re.compile(r"[^\W_]+")


def weakness(password: str, names: Iterable[str] = ()) -> str | None:
    """Why `password` is too easy to guess, or None when it is not.

    `names` are words an attacker knows about the account: the user name, the gateway's
    name and id. The answer never repeats the password.
    """
    if len(password) < MIN_LENGTH:
        return f"use at least {MIN_LENGTH} characters"
    return _guessable(password.lower(), _name_words(names))


def _guessable(lowered: str, names: list[str]) -> str | None:
    if _is_common(lowered):
        return "it is one of the most common passwords (or one with digits or symbols added)"
    if len(set(lowered)) < MIN_DISTINCT:
        return f"use at least {MIN_DISTINCT} different characters"
    if any(_is_runs(form) for form in _trimmed(lowered)):
        return "runs of letters, digits or keyboard keys (abcd, 4321, qwerty) are easy to guess"
    if min(len(_without(form, names)) for form in _look_alike_forms(lowered)) < MIN_LENGTH:
        return "it is built on the account's or the gateway's name"
    part = _repeated_part(lowered)
    if part is not None and (len(part) < MIN_LENGTH or _guessable(part, names) is not None):
        return "it repeats a part that is easy to guess on its own"
    return None


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lowercase."""
    text = resources.files("gateway").joinpath(COMMON_FILE).read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("# "))


def _trimmed(lowered: str) -> set[str]:
    """`lowered` as typed, and without the symbols, or the digits and symbols, added at
    one end or both."""
    return {
        lowered,
        lowered.strip(_SYMBOLS),
        lowered.strip(_ENDS),
        lowered.lstrip(_ENDS),
        lowered.rstrip(_ENDS),
    }


def _is_common(lowered: str) -> bool:
    """Whether `lowered`, trimmed (`_trimmed`) and with look-alike letters undone (before
    or after trimming), is a common password."""
    forms = set()
    for form in _trimmed(lowered):
        undone = form.translate(_LOOK_ALIKES)
        forms |= {form, undone, undone.strip(_ENDS)}
    return not forms.isdisjoint(common_passwords())


@functools.cache
def _run_pieces() -> frozenset[str]:
    """Every piece of at least `SHORTEST_RUN` characters of a run, forwards and backwards."""
    pieces: set[str] = set()
    for run in _RUNS:
        for text in (run, run[::-1]):
            for start in range(len(text)):
                for end in range(start + SHORTEST_RUN, len(text) + 1):
                    pieces.add(text[start:end])
    return frozenset(pieces)


def _is_runs(lowered: str) -> bool:
    """Whether `lowered` is made only of runs (abcd1234, qwerty123, 9876zyx)."""
    if not lowered:
        return False
    pieces = _run_pieces()
    reachable = [False] * (len(lowered) + 1)
    reachable[0] = True
    for start in range(len(lowered)):
        if not reachable[start]:
            continue
        last = min(len(lowered), start + _LONGEST_RUN)
        for end in range(start + SHORTEST_RUN, last + 1):
            if lowered[start:end] in pieces:
                reachable[end] = True
    return reachable[-1]


def _name_words(names: Iterable[str]) -> list[str]:
    """Each name, its parts ("HQ ground floor": ground, floor) and its parts run together,
    lowercase, longest first; parts shorter than 3 characters are left out."""
    words: set[str] = set()
    for name in names:
        parts = _NAME_PARTS.findall(name.lower())
        words.update((name.lower(), "".join(parts), *parts))
    return sorted((w for w in words if len(w) >= SHORTEST_RUN), key=len, reverse=True)


def _look_alike_forms(lowered: str) -> tuple[str, str]:
    return lowered, lowered.translate(_LOOK_ALIKES)


def _without(lowered: str, names: list[str]) -> str:
    for name in names:
        lowered = lowered.replace(name, "")
    return lowered


def _repeated_part(lowered: str) -> str | None:
    """The shortest part that `lowered` is two or more copies of, or None."""
    length = len(lowered)
    for size in range(1, length // 2 + 1):
        if length % size == 0 and lowered == lowered[:size] * (length // size):
            return lowered[:size]
    return None
