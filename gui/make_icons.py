"""Rebuild ``scope_deblur_gui/icons/icons.json``: the icons the window asks pyconify for.

The SVG bodies come from iconify's own icon-set packages (the data its web API
serves), fetched with npm::

    npm pack @iconify-json/mdi @iconify-json/bi @iconify-json/f7 @iconify-json/fluent \
        @iconify-json/foundation
    for f in iconify-json-*.tgz; do mkdir -p "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done
    python gui/make_icons.py DIR   # DIR holds the unpacked folders

REQUESTS lists every (icon, colour, flip, rotation) that pymmcore-widgets, ndv and
this package ask for when the window is built and used (recorded by running the
window with pyconify's fetch replaced by a recorder). A request missing here makes
``tests/test_gui_window.py::test_the_gui_command_runs_two_positions_offline_and_saves_a_screenshot``
fail.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).parent / "scope_deblur_gui" / "icons" / "icons.json"

_GREENS = ("green", "lime", "rgb(0, 180, 0)")  # StageWidget: normal, hover, pressed
_CHEVRONS = [
    f"mdi:chevron-{n}{d}"
    for n in ("", "double-", "triple-")
    for d in ("up", "down", "left", "right")
]
REQUESTS: list[tuple[str, str | None, str | None]] = [
    *[(c, g, None) for c in _CHEVRONS for g in _GREENS],
    ("bi:chevron-down", "#888888", None),
    ("bi:chevron-up", "#888888", None),
    ("bi:pause-fill", "#4580DD", None),
    ("bi:play-fill", "#888888", None),
    ("bi:sign-stop-fill", "red", None),
    ("f7:view-2d", "#333333", None),
    ("f7:view-3d", None, None),
    ("fluent:full-screen-maximize-24-filled", None, None),
    ("foundation:graph-bar", None, None),
    ("mdi:arrow-bottom-left-thick", None, None),
    ("mdi:arrow-bottom-right-thick", None, None),
    ("mdi:arrow-collapse-down", None, None),
    ("mdi:arrow-collapse-up", None, None),
    ("mdi:arrow-down-thick", None, None),
    ("mdi:arrow-expand-up", None, None),
    ("mdi:arrow-expand-vertical", None, None),
    ("mdi:arrow-left", None, None),
    ("mdi:arrow-left-thick", None, None),
    ("mdi:arrow-right", None, None),
    ("mdi:arrow-right-thick", None, None),
    ("mdi:arrow-split-horizontal", None, None),
    ("mdi:arrow-top-left-thick", None, None),
    ("mdi:arrow-top-right-thick", None, None),
    ("mdi:arrow-up-thick", None, None),
    ("mdi:axis", None, None),
    ("mdi:axis-arrow", "green", None),
    ("mdi:border-bottom-variant", None, None),
    ("mdi:border-left-variant", None, None),
    ("mdi:border-right-variant", None, None),
    ("mdi:border-style", None, None),
    ("mdi:border-style", None, "horizontal"),
    ("mdi:border-style", None, "vertical"),
    ("mdi:border-style", None, "horizontal,vertical"),
    ("mdi:border-top-variant", None, None),
    ("mdi:camera-outline", "green", None),
    ("mdi:checkbox-multiple-blank-outline", "#666", None),
    ("mdi:checkbox-multiple-marked-outline", "#666", None),
    ("mdi:close-box-multiple-outline", "#C33", None),
    ("mdi:close-box-outline", "#C33", None),
    ("mdi:close-circle", "red", None),
    ("mdi:content-save", None, None),
    ("mdi:flag", None, None),
    ("mdi:math-log", None, None),
    ("mdi:pause-circle-outline", "green", None),
    ("mdi:play-circle-outline", "lime", None),
    ("mdi:plus-thick", "#3A3", None),
    ("mdi:stop-circle-outline", "#C33", None),
    ("mdi:vector-rectangle", None, None),
    ("mdi:video-off-outline", "magenta", None),
    ("mdi:video-outline", "green", None),
]


def _icon_set(root: Path, prefix: str) -> dict:
    found = sorted(root.glob(f"iconify-json-{prefix}-*/package/icons.json"))
    if not found:
        raise FileNotFoundError(f"no @iconify-json/{prefix} package under {root}")
    data = json.loads(found[-1].read_text())
    data["info"] = json.loads(found[-1].with_name("info.json").read_text())
    return data


def _lookup(data: dict, name: str) -> dict:
    """Return an icon's body and size, following aliases."""
    icons, aliases = data["icons"], data.get("aliases", {})
    while name not in icons:
        name = aliases[name]["parent"]
    icon = icons[name]
    return {
        "body": icon["body"],
        "width": icon.get("width", data.get("width", 16)),
        "height": icon.get("height", data.get("height", 16)),
    }


def main(root: Path) -> None:
    """Write icons.json from the iconify packages under ``root``."""
    sets: dict[str, dict] = {}
    icons = {}
    for key, _, _ in REQUESTS:
        prefix, name = key.split(":", 1)
        if prefix not in sets:
            sets[prefix] = _icon_set(root, prefix)
        icons[key] = _lookup(sets[prefix], name)
    requests = [
        [key, {k: v for k, v in (("color", color), ("flip", flip)) if v is not None}]
        for key, color, flip in REQUESTS
    ]
    licences = {
        p: f"{s['info']['name']}, {s['info']['author']['name']}, {s['info']['license']['spdx']}"
        for p, s in sets.items()
    }
    OUT.write_text(
        json.dumps({"licences": licences, "icons": icons, "requests": requests}, indent=0) + "\n"
    )
    print(f"wrote {len(icons)} icons, {len(requests)} requests to {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
