"""A memory budget: work that would need more memory is refused before it starts.

The budget is half the machine's physical memory, or ``$SCOPE_DEBLUR_MEMORY_BUDGET_GB``
gigabytes (10⁹ bytes) when that is set. Each piece of work that can grow without bound
with its input (resampling a frame for the estimator, restoring a plane, decoding a
plane from a file) estimates what it needs and calls :func:`check_memory` first, so an
oversized job fails at once with one line instead of being killed by the system.
"""

from __future__ import annotations

import math
import os

__all__ = ["BUDGET_ENV", "check_memory", "memory_budget", "restore_bytes"]

BUDGET_ENV = "SCOPE_DEBLUR_MEMORY_BUDGET_GB"

_RESTORE_BYTES_PER_PIXEL = 128
"""Peak working memory of a restorer per frame pixel. Measured on 1024² and 2048² frames on
the CPU: rl 96–110, awdvd 74, fusion-fast tiled 69 bytes per pixel."""
_RESTORE_TILE_BYTES = 2**29
"""A fusion network's tile, whatever the frame size (its 1024² single tile peaked at
330 bytes per pixel, 340 MB)."""


def memory_budget() -> int:
    """Return the memory budget in bytes.

    Raises
    ------
    ValueError
        If ``$SCOPE_DEBLUR_MEMORY_BUDGET_GB`` is set but is not a positive number.
    """
    text = os.environ.get(BUDGET_ENV, "").strip()
    if not text:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    try:
        gb = float(text)
    except ValueError:
        gb = math.nan
    if not (gb > 0 and math.isfinite(gb)):
        raise ValueError(f"{BUDGET_ENV} must be a positive number of GB, got {text!r}")
    return int(gb * 1e9)


def check_memory(need_bytes: float, what: str) -> None:
    """Raise ``ValueError`` if ``what`` would need more than :func:`memory_budget` bytes.

    ``what`` names the work and its input, for example ``"x.tif: estimating a 520×696
    plane"``; the message adds the size it would need and the budget.
    """
    budget = memory_budget()
    if need_bytes > budget:
        source = (
            f"from {BUDGET_ENV}"
            if os.environ.get(BUDGET_ENV, "").strip()
            else f"half the physical memory; set {BUDGET_ENV} to change it"
        )
        raise ValueError(
            f"{what} would need {need_bytes / 1e9:.3g} GB of memory, more than the budget "
            f"of {budget / 1e9:.3g} GB ({source})"
        )


def restore_bytes(shape: tuple[int, ...]) -> float:
    """Return about how many bytes restoring one plane of ``shape`` (y, x) needs at its peak."""
    return _RESTORE_BYTES_PER_PIXEL * math.prod(shape[-2:]) + _RESTORE_TILE_BYTES
