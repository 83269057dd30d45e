"""Compatibility import: the door controller lives in `gateway.doors`."""

from gateway.doors.controller import DoorController, EventSink

__all__ = ["DoorController", "EventSink"]
