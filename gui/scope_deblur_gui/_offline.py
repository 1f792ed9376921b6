"""Offline icons: pymmcore-widgets asks pyconify for icons from a web API; never let it.

Microscope PCs are often offline and CI always is: a web call there costs ~25 s per
widget or raises (DESIGN.md, "Offline GUI"). :func:`use_offline_icons` swaps pyconify's
``svg_path`` (as seen by pyconify, superqt and pymmcore-widgets) for a local renderer
of simple shipped glyphs, before any widget is built. Unknown icons get a neutral dot.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["GLYPHS", "offline_svg_path", "use_offline_icons"]

# 24x24 path data, drawn for this package (stroke-free fills).
_ARROW_UP = "M12 3 4 12h5v9h6v-9h5z"
_PLAY = "M8 5v14l11-7z"
GLYPHS: dict[str, str] = {
    "arrow-up-thick": _ARROW_UP,
    "arrow-down-thick": "M12 21 4 12h5V3h6v9h5z",
    "arrow-left-thick": "M3 12 12 4v5h9v6h-9v5z",
    "arrow-right-thick": "M21 12 12 4v5H3v6h9v5z",
    "arrow-left": "M20 11H7.8l5.6-5.6L12 4l-8 8 8 8 1.4-1.4L7.8 13H20z",
    "arrow-right": "M4 11h12.2l-5.6-5.6L12 4l8 8-8 8-1.4-1.4 5.6-5.6H4z",
    "arrow-top-left-thick": "M4 4h10l-3.5 3.5L20 17l-3 3-9.5-9.5L4 14z",
    "arrow-top-right-thick": "M20 4H10l3.5 3.5L4 17l3 3 9.5-9.5L20 14z",
    "arrow-bottom-left-thick": "M4 20h10l-3.5-3.5L20 7l-3-3-9.5 9.5L4 10z",
    "arrow-bottom-right-thick": "M20 20H10l3.5-3.5L4 7l3-3 9.5 9.5L20 10z",
    "arrow-collapse-down": "M4 20h16v-2H4zM12 16l6-6h-4V3h-4v7H6z",
    "arrow-collapse-up": "M4 4h16v2H4zM12 8l6 6h-4v7h-4v-7H6z",
    "arrow-expand-up": "M4 20h16v-2H4zM12 3 6 9h4v7h4V9h4z",
    "arrow-expand-vertical": "M12 2 7 7h4v10H7l5 5 5-5h-4V7h4z",
    "arrow-split-horizontal": "M4 11h16v2H4zM12 2 8 6h3v3h2V6h3zM12 22l4-4h-3v-3h-2v3H8z",
    "axis": "M4 20V4h2v12.6L16.6 6H12V4h8v8h-2V7.4L7.4 18H20v2z",
    "border-bottom-variant": "M3 19h18v2H3zM3 3h2v2H3zm4 0h2v2H7zm4 0h"
    "2v2h-2zm4 0h2v2h-2zm4 0h2v2h-2z",
    "border-top-variant": "M3 3h18v2H3zM3 19h2v2H3zm4 0h2v2H7zm4 0h2v2h-2zm4 0h2v2h-2zm4 0h2v2h-2z",
    "border-left-variant": "M3 3h2v18H3zM19 3h2v2h-2zm0 4h2v2h-2zm0 "
    "4h2v2h-2zm0 4h2v2h-2zm0 4h2v2h-2z",
    "border-right-variant": "M19 3h2v18h-2zM3 3h2v2H3zm0 4h2v2H3zm0 4h2v2H3zm0 4h2v2H3zm0 4h2v2H3z",
    "border-style": "M3 3h18v2H5v16H3zm4 8h2v2H7zm0 4h2v2H7zm0 4h2v2H7zm4 0h2v2h-2zm4 0h2v2h-2z",
    "checkbox-multiple-blank-outline": "M4 6H2v14a2 2 0 0 0 2 2h14v-2H4zm16-4H8a2 2 0 0 0-2 "
    "2v12a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2m0 14H8V4h12z",
    "checkbox-multiple-marked-outline": "M4 6H2v14a2 2 0 0 0 2 2h14v-2H4zm16-4H8a2 2 0 0 0-2 "
    "2v12a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2m0 14H8V4h12zm-7.5-2L9 10.5l1.4-1.4 "
    "2.1 2.1 5.1-5.1L19 7.5z",
    "close-box-outline": "M19 3H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2V5a2 2 0 0 "
    "0-2-2m0 16H5V5h14zM17 8.4 13.4 12l3.6 3.6-1.4 1.4-3.6-3.6L8.4 17 7 15.6l3.6-3.6L7 8.4 8.4 7"
    "l3.6 3.6L15.6 7z",
    "close-box-multiple-outline": "M4 6H2v14a2 2 0 0 0 2 2h14v-2H4zm16-4H8a2 2 0 0 0-2 2v12a2 "
    "2 0 0 0 2 2h12a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2m0 14H8V4h12zM17.6 6.4 15.4 10l2.2 3.6-1.4 "
    "1.4L14 11.4 11.8 15l-1.4-1.4 2.2-3.6-2.2-3.6L11.8 5 14 8.6 16.2 5z",
    "close-circle": "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20m5 13.6L15.6 17 12 13.4 8.4 17 7 "
    "15.6l3.6-3.6L7 8.4 8.4 7l3.6 3.6L15.6 7 17 8.4 13.4 12z",
    "flag": "M14.4 6 14 4H5v17h2v-7h5.6l.4 2h7V6z",
    "plus-thick": "M20 14h-6v6h-4v-6H4v-4h6V4h4v6h6z",
    "play-circle-outline": "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20m0 18a8 8 0 1 1 0-16 8 8 0 0 "
    "1 0 16M10 16.5l6-4.5-6-4.5z",
    "pause-circle-outline": "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20m0 18a8 8 0 1 1 0-16 8 8 0 "
    "0 1 0 16M9 16h2V8H9zm4 0h2V8h-2z",
    "stop-circle-outline": "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20m0 18a8 8 0 1 1 0-16 8 8 0 0 "
    "1 0 16M9 9h6v6H9z",
    "play": _PLAY,
}
_DOT = "M12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8"
_ROTATE = {None: 0, 0: 0, 1: 90, 2: 180, 3: 270}
_DIR = Path(tempfile.gettempdir()) / "scope-deblur-icons"


def offline_svg_path(
    *key: str,
    color: str | None = None,
    flip: str | None = None,
    rotate: Any = None,
    dir: str | Path | None = None,
    **_: Any,
) -> Path:
    """Drop-in for ``pyconify.svg_path`` that renders a local glyph and never goes online."""
    name = ":".join(key).split(":")[-1]
    path_data = GLYPHS.get(name, _DOT)
    deg = _ROTATE.get(rotate, None)
    if deg is None:
        deg = int(str(rotate).replace("deg", "") or 0)
    sx = -1 if flip and "horizontal" in flip else 1
    sy = -1 if flip and "vertical" in flip else 1
    transform = f"rotate({deg} 12 12) translate(12 12) scale({sx} {sy}) translate(-12 -12)"
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24">'
        f'<path transform="{transform}" fill="{color or "currentColor"}" d="{path_data}"/></svg>'
    )
    folder = Path(dir) if dir else _DIR
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}-{hashlib.sha1(svg.encode()).hexdigest()[:10]}.svg"
    if not out.is_file():
        out.write_text(svg)
    return out


def use_offline_icons() -> None:
    """Route every pyconify icon lookup to :func:`offline_svg_path` (idempotent).

    Call before importing pymmcore-widgets; modules already imported that bound
    ``svg_path`` by name are patched too.
    """
    import pyconify
    import pyconify.api

    pyconify.svg_path = offline_svg_path  # type: ignore[assignment]
    pyconify.api.svg_path = offline_svg_path  # type: ignore[assignment]
    for mod in ("superqt.iconify", "pymmcore_widgets.control._stage_widget"):
        if (m := sys.modules.get(mod)) is not None and hasattr(m, "svg_path"):
            m.svg_path = offline_svg_path  # type: ignore[attr-defined]
    import superqt.iconify

    superqt.iconify.svg_path = offline_svg_path  # type: ignore[attr-defined]
