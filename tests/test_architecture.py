"""The layout keeps its promises: one place starts acquisitions, no private imports, the
runtime core apart from the lab and the plugins, only networks in nets/, and commands
that register themselves."""

import ast
import importlib
import inspect
import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from .test_cli import run_cli

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for pkg in ("scope_deblur", "gui", "calibration") for p in (ROOT / pkg).rglob("*.py")]
CORE = [
    p
    for p in (ROOT / "scope_deblur").rglob("*.py")
    if p.relative_to(ROOT / "scope_deblur").parts[0] != "lab"
]
NOT_FOR_THE_CORE = ("scope_deblur.lab", "scope_deblur_gui", "scope_deblur_calibration")
CORE_COMMANDS = ["demo", "estimate", "restore", "acquire", "focus", "resume"]
PLUGIN_COMMANDS = {"calibrate", "train", "evaluate", "bench", "gui"}


def _code(path):
    """The file's lines without comments and docstring diagrams (lines that start a call)."""
    return [ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith(("#", "│"))]


def _imports(source: str, package: str) -> set[str]:
    """Every module (or name in one) that ``source``, a module of ``package``, imports.

    Relative imports are resolved: ``from ..lab import x`` in ``scope_deblur.cli``
    gives ``scope_deblur.lab`` and ``scope_deblur.lab.x``.
    """
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            anchor = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join(anchor + (node.module.split(".") if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _package(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).parts[:-1])


def _not_for_the_core(module: str) -> bool:
    return any(module == bad or module.startswith(bad + ".") for bad in NOT_FOR_THE_CORE)


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


def test_the_runtime_core_imports_neither_the_lab_nor_the_gui_nor_calibration():
    assert len(CORE) > 50
    found = [
        f"{p.relative_to(ROOT)}: {module}"
        for p in CORE
        for module in sorted(_imports(p.read_text(), _package(p)))
        if _not_for_the_core(module)
    ]
    assert found == [], "the runtime core must not depend on the lab, the GUI or calibration"


@pytest.mark.parametrize(
    "line",
    [
        "from ..lab import cli",
        "from .. import lab",
        "from ..lab.training._data import REAL_Z00_DIR",
        "import scope_deblur.lab.bench",
        "from scope_deblur.lab import evaluation",
        "from scope_deblur_gui import run_app",
        "import scope_deblur_calibration.cli as calibrate",
    ],
)
def test_the_core_check_sees_every_way_of_importing_the_lab(line):
    inside = f"def f():\n    {line}\n"  # function-local imports count too
    assert any(map(_not_for_the_core, _imports(inside, "scope_deblur.cli")))


def test_the_core_check_lets_the_core_import_the_core():
    source = "from ..live import LiveSession\nfrom .common import err\nfrom ..labels import x\n"
    assert _imports(source, "scope_deblur.cli") >= {"scope_deblur.live", "scope_deblur.cli.common"}
    assert not any(map(_not_for_the_core, _imports(source, "scope_deblur.cli")))


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (ROOT / "scope_deblur" / "nets").rglob("*.py") if p.name != "__init__.py"),
    ids=lambda p: p.name,
)
def test_every_module_in_nets_defines_a_network(path):
    nn = pytest.importorskip("torch").nn
    module = importlib.import_module(_package(path) + "." + path.stem)
    networks = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__ and issubclass(cls, nn.Module)
    ]
    assert networks, f"{path.name} defines no torch.nn.Module: it belongs beside its users"


def test_the_commands_beyond_the_core_come_from_the_entry_point_group():
    from scope_deblur.cli import COMMANDS_GROUP

    declared = {ep.name for ep in entry_points(group=COMMANDS_GROUP)}
    assert declared >= PLUGIN_COMMANDS
    proc = run_cli("--help")
    assert proc.returncode == 0, proc.stderr
    listed = re.findall(r"^│ (\w+) ", proc.stdout, re.MULTILINE)
    assert listed == CORE_COMMANDS + sorted(declared)


def test_a_plugin_that_fails_to_load_breaks_no_other_command(tmp_path):
    dist = tmp_path / "fake_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[scope_deblur.commands]\n"
        "broken = no_such_module_of_scope_deblur:command\n"
        "hello = fake_hello:hello\n"
    )
    (tmp_path / "fake_hello.py").write_text(
        'def hello() -> None:\n    """Say hello."""\n    print("hello from a plugin")\n'
    )
    listing = run_cli("--help", path=tmp_path)
    assert listing.returncode == 0, listing.stderr
    listed = re.findall(r"^│ (\w+) ", listing.stdout, re.MULTILINE)
    assert "hello" in listed and "broken" not in listed and PLUGIN_COMMANDS <= set(listed)
    assert run_cli("hello", path=tmp_path).stdout == "hello from a plugin\n"
    assert run_cli("demo", "--help", path=tmp_path).returncode == 0
    asked = run_cli("broken", "--any", "thing", path=tmp_path)
    lines = [ln for ln in asked.stderr.splitlines() if ln.strip()]
    assert asked.returncode == 1 and len(lines) == 1, asked.stderr
    assert "broken command" in lines[0] and "no_such_module_of_scope_deblur" in lines[0]
