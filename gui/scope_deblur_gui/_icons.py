"""Icons offline: a shipped icon cache for pyconify.

pymmcore-widgets, ndv and superqt draw their icons through pyconify, which fetches
each SVG from a web API the first time and keeps it in an on-disk cache
(``pyconify.get_cache_directory()``). Microscope PCs are often offline, and CI
always is. This package ships the icons the window uses (``icons/icons.json``:
Material Design Icons and Bootstrap Icons, licences in ``icons/LICENSES.md``) and
:func:`seed_icon_cache` writes any that are missing into that cache before a widget
is built. Offline, pyconify finds them there (it keys a file by the icon set's date,
and takes any date when it cannot ask for one); online, it fetches newer ones
itself. Nothing of pyconify, superqt or pymmcore-widgets is patched.
``gui/make_icons.py`` rebuilds the JSON.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["ICONS", "cache_name", "icon_svg", "seed_icon_cache"]

ICONS = Path(__file__).with_name("icons") / "icons.json"
NO_DATE = "000"
"""What pyconify puts in a cache key when it cannot learn the icon set's date."""


@cache
def _shipped() -> dict[str, Any]:
    return json.loads(ICONS.read_text())


def cache_name(key: str, **options: Any) -> str:
    """Return pyconify's cache file stem for ``key`` (``"mdi:flag"``) and its options.

    The same rule as pyconify's own cache: prefix, name, then the options that are
    set, sorted by name, then the icon set's date (here the offline one).
    """
    prefix, name = key.split(":", 1)
    parts: list[Any] = [prefix, name]
    for k, v in sorted(options.items()):
        if v is not None:
            parts += [k, v]
    parts.append(NO_DATE)
    return "_".join(map(str, parts))


def icon_svg(
    key: str, *, color: str | None = None, flip: str | None = None, rotate: Any = None
) -> str:
    """Return the SVG of a shipped icon, coloured, flipped and rotated as iconify would."""
    icon = _shipped()["icons"][key]
    body, w, h = icon["body"], icon["width"], icon["height"]
    transforms = []
    if rotate not in (None, 0, "0"):
        deg = {1: 90, 2: 180, 3: 270}.get(rotate) or int(str(rotate).removesuffix("deg"))
        transforms.append(f"rotate({deg} {w / 2} {h / 2})")
    if flip:
        sx, sy = (-1 if "horizontal" in flip else 1), (-1 if "vertical" in flip else 1)
        transforms.append(f"translate({w if sx < 0 else 0} {h if sy < 0 else 0}) scale({sx} {sy})")
    if transforms:
        body = f'<g transform="{" ".join(transforms)}">{body}</g>'
    body = body.replace("currentColor", color or "currentColor")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}">{body}</svg>'
    )


def seed_icon_cache(folder: Path | None = None) -> int:
    """Write the shipped icons missing from pyconify's cache; return how many were written.

    Parameters
    ----------
    folder : Path, optional
        The cache's SVG folder (default: pyconify's, ``<cache directory>/svg_cache``).
    """
    if folder is None:
        import pyconify

        folder = pyconify.get_cache_directory() / "svg_cache"
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for key, options in _shipped()["requests"]:
        path = folder / f"{cache_name(key, **options)}.svg"
        if not path.is_file():
            path.write_text(icon_svg(key, **options))
            written += 1
    return written
