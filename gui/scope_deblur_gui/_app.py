"""Application entry point: build the core, show the window, exit cleanly."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from scope_deblur.live import load_config, open_core

__all__ = ["main", "run_app"]


def run_app(
    *,
    config: Path | None = None,
    method: str = "fusion",
    device: str = "auto",
    out_dir: Path | None = None,
    profile: Path | None = None,
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
    start : bool
        Start the acquisition at once.
    screenshot : Path, optional
        Save a picture of the window just before quitting.
    quit_after : float, optional
        Close the window after this many seconds.

    Returns
    -------
    int
        The Qt event loop's exit code.
    """
    from qtpy.QtWidgets import QApplication

    from ._offline import use_offline_icons

    use_offline_icons()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    if config is not None:
        loader = functools.partial(load_config, Path(config))
    else:
        from scope_deblur.demo import load_demo_core

        loader = load_demo_core
    with open_core(loader) as core:
        options = {"method": method, "device": device, "out_dir": out_dir, "profile": profile}
        return _show(app, core, options, start, screenshot, quit_after)


def _show(app, core, options, start, screenshot, quit_after) -> int:  # type: ignore[no-untyped-def]
    from qtpy.QtCore import QTimer

    from ._window import MainWindow

    window = MainWindow(mmcore=core, **options)
    window.show()
    if start:
        QTimer.singleShot(300, window.start)
    if quit_after is not None:

        def finish() -> None:
            if screenshot is not None:
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                if not window.grab().save(str(screenshot)):
                    print(f"could not save screenshot {screenshot}", file=sys.stderr)
            window.close()

        QTimer.singleShot(int(quit_after * 1000), finish)
    code = int(app.exec())
    window.shutdown()
    window.deleteLater()
    app.processEvents()
    return code


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
