"""Application entry point: build the core, show the window, exit cleanly.

With ``start`` and ``screenshot`` (``scope-deblur gui --demo --run --screenshot S.png``)
the window runs the acquisition, and when the run has ended (summary shown, plot
drawn) saves a picture of itself and closes; the exit code says whether the run
completed without errors. ``quit_after`` closes it after that many seconds anyway.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scope_deblur.live import load_config, open_core

if TYPE_CHECKING:
    from useq import MDASequence

__all__ = ["main", "run_app"]

SETTLE_MS = 1500
"""How long the window is left to draw after a run before its picture is taken."""


def run_app(
    *,
    config: Path | None = None,
    method: str = "fusion",
    device: str = "auto",
    out_dir: Path | None = None,
    profile: Path | None = None,
    sequence: MDASequence | None = None,
    focus_lock: bool = False,
    start: bool = False,
    screenshot: Path | None = None,
    quit_after: float | None = None,
) -> int:
    """Run the GUI on the demo microscope (``config`` None) or a Micro-Manager config.

    Parameters
    ----------
    config : Path, optional
        A ``.cfg`` file (may declare ``#py`` devices); the demo microscope if None.
    method, device : str
        Initial restoration method and device.
    out_dir : Path, optional
        Folder under which each run is saved.
    profile : Path, optional
        Optics profile from ``scope-deblur calibrate``.
    sequence : MDASequence, optional
        The acquisition shown in the MDA editor (a 30-frame time-lapse if None).
    focus_lock : bool
        Start with the focus lock switched on.
    start : bool
        Start the acquisition at once.
    screenshot : Path, optional
        Save a picture of the window: after the run (with ``start``), else once shown.
    quit_after : float, optional
        Close the window after this many seconds.

    Returns
    -------
    int
        0, or 1 if a run started here failed or ended with errors.
    """
    from qtpy.QtWidgets import QApplication

    from ._icons import seed_icon_cache

    seed_icon_cache()  # before any widget asks pyconify for an icon
    app = QApplication.instance() or QApplication(sys.argv[:1])
    loader: Callable[[], Any]
    if config is not None:
        loader = functools.partial(load_config, Path(config))
    else:
        from scope_deblur.demo import load_demo_core

        loader = load_demo_core
    options = {
        "method": method,
        "device": device,
        "profile": profile,
        "out_dir": out_dir or Path.cwd() / "scope-deblur-runs",
        "focus_lock": focus_lock,
    }
    with open_core(loader) as core:
        return _show(app, core, options, sequence, start, screenshot, quit_after)


def _show(
    app: Any,
    core: Any,
    options: dict[str, Any],
    sequence: MDASequence | None,
    start: bool,
    screenshot: Path | None,
    quit_after: float | None,
) -> int:
    from qtpy.QtCore import QTimer

    from ._types import RunSettings
    from ._window import MainWindow

    window = MainWindow(mmcore=core, settings=RunSettings(**options))
    if sequence is not None:
        window.mda.setValue(sequence)
    window.show()
    outcome = {"code": 0}

    def finish() -> None:
        if screenshot is not None:
            _save(window, Path(screenshot))
        window.close()

    def ended(summary: dict[str, Any]) -> None:
        if summary.get("state") not in ("complete", "acquired") or summary.get("errors"):
            outcome["code"] = 1
        QTimer.singleShot(SETTLE_MS, finish)

    def idle_without_run(state: str) -> None:
        if state == "idle" and window.controller.summary is None and start:
            print(f"the run did not start: {window.last_error}", file=sys.stderr)
            outcome["code"] = 1
            QTimer.singleShot(0, finish)

    if start:
        window.runFinished.connect(ended)
        window.stateChanged.connect(idle_without_run)

        def start_run() -> None:
            if not window.start():
                idle_without_run("idle")

        QTimer.singleShot(300, start_run)
    elif screenshot is not None and quit_after is None:
        QTimer.singleShot(2 * SETTLE_MS, finish)
    if quit_after is not None:
        QTimer.singleShot(int(quit_after * 1000), finish)
    app.exec()
    window.shutdown()
    window.deleteLater()
    app.processEvents()
    return outcome["code"]


def _save(window: Any, path: Path) -> None:
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        print(
            "note: offscreen Qt has no OpenGL, so the image viewers are blank in the "
            "screenshot; run under xvfb-run for a full picture",
            file=sys.stderr,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path)):
        print(f"could not save screenshot {path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m scope_deblur_gui [--config CFG] [--screenshot PNG]``."""
    p = argparse.ArgumentParser(prog="scope-deblur-gui", description=__doc__)
    p.add_argument("--config", type=Path, help="Micro-Manager config (demo microscope if absent)")
    p.add_argument("--method", default="fusion", help="fusion, fusion-fast, awdvd, rl or none")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--out", type=Path, default=None, help="folder for the runs")
    p.add_argument("--run", action="store_true", help="start the acquisition at once")
    p.add_argument("--screenshot", type=Path, help="save a PNG of the window before quitting")
    p.add_argument("--quit-after", type=float, help="close after this many seconds")
    a = p.parse_args(argv)
    return run_app(
        config=a.config,
        method=a.method,
        device=a.device,
        out_dir=a.out,
        start=a.run,
        screenshot=a.screenshot,
        quit_after=a.quit_after,
    )
