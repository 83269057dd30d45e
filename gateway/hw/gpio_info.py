"""Which GPIO lines of the 40-pin header are free, read from the kernel without claiming
any (the self-test's GPIO check).

A line is only looked at, never requested: requesting a relay's line would drive it, and
a maglock's relay dropping is an open door. The GPIO character device answers
`GPIO_GET_CHIPINFO_IOCTL` (which chip is the header's) and `GPIO_GET_LINEINFO_IOCTL`
(whether a line is used, and the label its user gave) to anyone allowed to open it, so
this needs the standard library only.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# struct gpiochip_info { char name[32]; char label[32]; __u32 lines; }
_CHIPINFO = struct.Struct("32s32sI")
# struct gpioline_info { __u32 line_offset; __u32 flags; char name[32]; char consumer[32]; }
_LINEINFO = struct.Struct("II32s32s")
_IOC_READ, _IOC_WRITE = 2, 1
GPIO_GET_CHIPINFO_IOCTL = (_IOC_READ << 30) | (_CHIPINFO.size << 16) | (0xB4 << 8) | 0x01
GPIO_GET_LINEINFO_IOCTL = (
    ((_IOC_READ | _IOC_WRITE) << 30) | (_LINEINFO.size << 16) | (0xB4 << 8) | 0x02
)
GPIOLINE_FLAG_KERNEL = 1 << 0  # the line is in use (by a driver or a program)
# The header's chip on a Pi 1-3 / Zero, a Pi 4, and a Pi 5.
HEADER_CHIP_LABELS = ("pinctrl-bcm2835", "pinctrl-bcm2711", "pinctrl-rp1")


@dataclass(frozen=True)
class LineReport:
    """What the kernel says about the header's lines: `problem` when the chip could not be
    read at all; otherwise `used` maps each line in use to its user's label."""

    chip: str = ""  # e.g. "/dev/gpiochip0 (pinctrl-bcm2711)"
    problem: str = ""
    used: dict[int, str] = field(default_factory=dict)


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _chip_label(fd: int) -> str:
    info = bytearray(_CHIPINFO.size)
    fcntl.ioctl(fd, GPIO_GET_CHIPINFO_IOCTL, info)
    return _text(_CHIPINFO.unpack(info)[1])


def _header_chip(dev: Path) -> tuple[Path, str] | None:
    """The header's GPIO chip device and its label; the first chip when no label is known."""
    chips = sorted(dev.glob("gpiochip*"), key=lambda p: int(p.name[8:] or 0))
    first: tuple[Path, str] | None = None
    for chip in chips:
        try:
            fd = os.open(chip, os.O_RDONLY)
        except OSError:
            continue
        try:
            label = _chip_label(fd)
        except OSError:
            continue
        finally:
            os.close(fd)
        if label in HEADER_CHIP_LABELS:
            return chip, label
        first = first or (chip, label)
    return first


def read_lines(pins: Sequence[int], dev: Path = Path("/dev")) -> LineReport:
    """Which of `pins` (BCM numbers = line offsets on the header's chip) are in use."""
    found = _header_chip(dev)
    if found is None:
        if any(dev.glob("gpiochip*")):
            return LineReport(problem="no permission to open the GPIO chip")
        return LineReport(problem=f"no GPIO chip in {dev}")
    chip, label = found
    name = f"{chip} ({label})"
    try:
        fd = os.open(chip, os.O_RDONLY)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            return LineReport(name, "no permission to open the GPIO chip")
        return LineReport(name, f"cannot open {chip}: {exc.strerror}")
    used: dict[int, str] = {}
    try:
        for pin in pins:
            info = bytearray(_LINEINFO.pack(pin, 0, b"", b""))
            fcntl.ioctl(fd, GPIO_GET_LINEINFO_IOCTL, info)
            _, flags, _, consumer = _LINEINFO.unpack(info)
            if flags & GPIOLINE_FLAG_KERNEL:
                used[pin] = _text(consumer) or "an unnamed user"
    except OSError as exc:
        return LineReport(name, f"cannot read the lines of {chip}: {exc.strerror}")
    finally:
        os.close(fd)
    return LineReport(name, "", used)
