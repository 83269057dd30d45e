"""Exceptions of the store: callers map them to exit codes and HTTP statuses."""

from __future__ import annotations


class StoreError(Exception):
    """The database cannot be used: not a database, too new, unreadable, locked for too long."""


class ValidationError(StoreError):
    """A value was refused; nothing was stored.

    `field` names the offending field with the public (import/export, API) name, so a
    caller can point at it. `index` is set by bulk operations: the position of the
    offending item in the list they were given.
    """

    def __init__(self, field: str, message: str, index: int | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.index = index


class CredentialTaken(ValidationError):
    """A credential already belongs to another user (or, for a PIN, is a public PIN).

    `kind` is "card", "pin", "qr" or "plate". The message may name the owner: callers that
    answer someone who may not read other users' credentials must not pass it on
    (docs/security.md, "No PIN or card oracle")."""

    def __init__(self, field: str, message: str, kind: str) -> None:
        super().__init__(field, message)
        self.kind = kind


class NotFoundError(StoreError):
    """The record to update does not exist."""

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key!s} does not exist")
        self.what = what
        self.key = key
