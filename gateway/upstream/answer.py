"""The verify answer: the JSON body of a 2xx response -> grant, deny or "bad answer".

The reference accepts exactly these top-level fields (Akuvox "Supported Success/Failed
Parameter"):

    grant: "isvalid": true   "isvalid": 1   "validation_result": "1"
    deny:  "isvalid": false  "isvalid": 0   "validation_result": "0"

Anything else is a bad answer and denies: other types ("isvalid": "1", 1.0,
"validation_result": 1), other values, neither field, a body that is not a JSON object,
the two fields disagreeing, or a body that is not strict JSON (`gateway.strictjson`): a
key named twice at any depth (`{"isvalid": false, "isvalid": true}` grants in a parser
where the last one wins), NaN or Infinity. A UTF-8 byte order mark is allowed.

The LCD "prompt" text (the reference's "Return Value") has no documented field name: the
first string among `message`, `prompt`, `msg` is kept, stripped of control characters and
capped. Pure: no I/O.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Literal

from gateway.strictjson import DuplicateKey, loads_strict

MESSAGE_FIELDS: tuple[str, ...] = ("message", "prompt", "msg")
MESSAGE_MAX_CHARS = 120

Verdict = Literal["grant", "deny", "bad"]


@dataclass(frozen=True)
class Answer:
    """What the body said: the verdict, a short detail for the trace, the prompt text."""

    verdict: Verdict
    detail: str
    message: str = ""


def parse_answer(body: bytes) -> Answer:
    """Judge a response body (already size-capped by the caller)."""
    try:
        data = loads_strict(body.removeprefix(codecs.BOM_UTF8))
    except DuplicateKey:
        return Answer("bad", "duplicate_key")  # never the key itself: it is the server's text
    except ValueError:  # UnicodeDecodeError included
        return Answer("bad", "not_json")
    if not isinstance(data, dict):
        return Answer("bad", "not_a_json_object")
    message = _message(data)
    votes = [vote for vote in (_isvalid(data), _validation_result(data)) if vote is not None]
    if not votes:
        return Answer("bad", "no_isvalid_or_validation_result", message)
    if any(verdict == "bad" for verdict, _ in votes):
        detail = ",".join(text for verdict, text in votes if verdict == "bad")
        return Answer("bad", detail, message)
    verdicts = {verdict for verdict, _ in votes}
    detail = ",".join(text for _, text in votes)
    if len(verdicts) > 1:
        return Answer("bad", f"conflict:{detail}", message)
    return Answer(votes[0][0], detail, message)


def _isvalid(data: dict[str, object]) -> tuple[Verdict, str] | None:
    """The `isvalid` vote: JSON true/false or the integers 1/0 only."""
    if "isvalid" not in data:
        return None
    value = data["isvalid"]
    if value is True or value is False:
        return ("grant" if value else "deny"), f"isvalid={str(value).lower()}"
    # bool is an int in Python: it was handled above, so this is a real JSON integer.
    if type(value) is int and value in (0, 1):
        return ("grant" if value == 1 else "deny"), f"isvalid={value}"
    return "bad", "isvalid_unrecognised"


def _validation_result(data: dict[str, object]) -> tuple[Verdict, str] | None:
    """The `validation_result` vote: the strings "1"/"0" only."""
    if "validation_result" not in data:
        return None
    value = data["validation_result"]
    if value == "1" and isinstance(value, str):
        return "grant", "validation_result=1"
    if value == "0" and isinstance(value, str):
        return "deny", "validation_result=0"
    return "bad", "validation_result_unrecognised"


def _message(data: dict[str, object]) -> str:
    """The first prompt-like string field, printable and capped (it reaches events)."""
    for name in MESSAGE_FIELDS:
        value = data.get(name)
        if isinstance(value, str):
            clean = "".join(char if char.isprintable() else " " for char in value).strip()
            return clean[:MESSAGE_MAX_CHARS]
    return ""
