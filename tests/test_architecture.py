"""The layout keeps its promises: one place starts acquisitions, no private imports."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [
    p
    for pkg in ("scope_deblur", "gui", "calibration")
    for p in (ROOT / pkg).rglob("*.py")
]


def _code(path):
    """The file's lines without comments and docstring diagrams (lines that start a call)."""
    return [ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith(("#", "│"))]


def test_only_the_live_session_starts_an_mda():
    session = ROOT / "scope_deblur" / "live" / "_session.py"
    starts = re.compile(r"\.mda\.run\(|\brun_mda\(")
    found = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in SOURCES
        for i, ln in enumerate(_code(p), 1)
        if starts.search(ln) and p != session
    ]
    assert found == [], "acquisitions must go through scope_deblur.live.LiveSession"
    assert any(starts.search(ln) for ln in _code(session))


def test_no_private_module_of_another_package_is_imported():
    private = re.compile(r"^\s*(from|import)\s+(pymmcore_plus|scope_deblur)\S*\._")
    # Inside scope_deblur, sibling modules use relative imports; an absolute import of a
    # private module (pymmcore-plus's, or ours from gui/ and calibration/) is a leak.
    found = [f"{p.relative_to(ROOT)}: {ln.strip()}" for p in SOURCES for ln in _code(p)]
    assert [f for f in found if private.search(f.split(": ", 1)[1])] == []
