"""Exceptions of the door commands: the APIs map them to their answers (a 404 for a name)."""

from __future__ import annotations


class UnknownDoor(Exception):
    """No door of that name."""
