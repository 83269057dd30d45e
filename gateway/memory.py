"""The C allocator's side of memory: how much a large rules cache really costs in RSS.

glibc gives each thread that allocates under contention an arena of its own and keeps
what is freed there. The rules cache is built on a worker thread, so at a million users
its arena held about 30 MB more than the same cache built on the main thread; a full load
also leaves freed heap memory (its rows, the snapshot it replaced) that glibc keeps until
asked. Both calls are no-ops where there is no glibc (`malloc_trim`, `mallopt`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

# mallopt's parameter for the number of arenas (malloc.h: M_ARENA_MAX).
_M_ARENA_MAX = -8


def _libc() -> Any:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def limit_malloc_arenas(arenas: int = 1) -> bool:
    """Let every thread share `arenas` malloc arenas; call before threads start. The
    daemon's threads are few and allocate little, so they do not wait on each other for
    it. True when glibc took it."""
    mallopt = getattr(_libc(), "mallopt", None)
    return mallopt is not None and bool(mallopt(_M_ARENA_MAX, arenas))


def release_freed_memory() -> None:
    """Give the heap memory freed so far back to the system (after a full rules load)."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)
