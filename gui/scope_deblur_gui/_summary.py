"""What the window says at the end of a run, from the session's summary (no Qt)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["summary_lines", "summary_problem"]


def _num(v: Any, fmt: str) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def summary_lines(s: dict[str, Any]) -> list[str]:
    """Return the summary panel's lines (plain text) for a run's summary."""
    state = s.get("state", "")
    head = {
        "complete": "Run complete",
        "interrupted": "Run stopped early",
        "acquired": "Acquired (no restoration)",
        "cancelled": "Cancelled",
    }.get(state, state)
    lines = [f"{head}: {s['frames_acquired']} frames acquired, {s['frames_saved_raw']} saved raw."]
    if s.get("method") is not None:
        caught = s["frames_restored"] - s["frames_restored_live"]
        lines.append(
            f"{s['frames_restored']} restored ({s['frames_restored_live']} live, {caught} "
            f"caught up) with {s['method']} on {s['device']}; median latency "
            f"{_num(s.get('restore_latency_ms_median'), '.0f')} ms."
        )
    if s.get("psnr_input_db") is not None:
        lines.append(
            f"Demo truth: defocus error {_num(s.get('defocus_mae_um'), '.2f')} µm; PSNR "
            f"{_num(s['psnr_input_db'], '.2f')} → {_num(s.get('psnr_restored_db'), '.2f')} dB; "
            f"SSIM {_num(s.get('ssim_input'), '.3f')} → {_num(s.get('ssim_restored'), '.3f')}."
        )
    if s.get("focus_lock"):
        stopped = s.get("lock_stopped")
        lines.append(
            f"Focus lock: {s['stage_moves']} stage moves, {s['frames_probe']} probe frames"
            + (f"; stopped: {stopped}." if stopped else ".")
        )
    if state == "interrupted":
        lines.append(f"Raw frames are complete. Finish with: scope-deblur resume {_folder(s)}")
    if s.get("errors"):
        lines.append(f"Errors ({len(s['errors'])}): " + "; ".join(map(str, s["errors"][:3])))
    lines.append(f"Saved in {_folder(s)}")
    return lines


def summary_problem(s: dict[str, Any]) -> str | None:
    """Return what went wrong in a run, for a dialog (None when nothing did)."""
    errors = [str(e) for e in s.get("errors") or []]
    if not errors:
        return None
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return (
        f"The run finished with {len(errors)} error(s){more}:\n"
        + "\n".join(f"• {e}" for e in errors[:3])
        + f"\n\nEvery raw frame that was acquired is saved in {_folder(s)}."
    )


def _folder(s: dict[str, Any]) -> str:
    return str(Path(s["outputs"]["raw"]).parent)
