"""The ``scope-deblur`` command line (see DESIGN.md for the contract).

Every command exits 0 on success. Bad input exits 2 with one line on stderr and no
traceback (``SCOPE_DEBLUR_DEBUG=1`` shows it); nothing already written is removed.

``app`` holds the core commands (``demo``, ``estimate``, ``restore``, ``acquire``,
``focus``, ``resume``). The others register themselves as entry points of the group
``scope_deblur.commands`` (name: the command; value: its function): ``calibrate``
(scope_deblur_calibration), ``train``, ``evaluate`` and ``bench`` (the lab) and ``gui``
(scope_deblur_gui). :func:`main` adds them before it runs; their helpers are in
:mod:`scope_deblur.cli.common`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points

import typer

from ..errors import one_line
from . import _acquire, _demo, _focus, _images, _resume

__all__ = ["COMMANDS_GROUP", "app", "main"]

COMMANDS_GROUP = "scope_deblur.commands"
"""The entry-point group of the commands that other packages (and the lab) add."""

app = typer.Typer(
    name="scope-deblur",
    help="Keep microscope images sharp when the focus drifts: estimate defocus, restore live.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for module in (_demo, _images, _acquire, _focus, _resume):
    module.register(app)


def _unavailable(name: str, source: str, error: Exception) -> Callable[[], None]:
    """Return a stand-in for a command that could not be loaded: it fails when run."""

    def command() -> None:
        raise RuntimeError(
            f"the {name} command could not be loaded from {source}: "
            f"{type(error).__name__}: {one_line(error)}"
        ) from error

    return command


@cache
def _with_plugins() -> typer.Typer:
    """Return ``app`` with the commands of the entry-point group added (once).

    They come after the core commands, by name. A command that cannot be loaded (a
    broken or missing package) leaves the others working: it is hidden from the help
    and, asked for, fails in one line.
    """
    for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda ep: ep.name):
        try:
            app.command(ep.name)(ep.load())
        except Exception as e:  # whatever a plugin's import raises
            app.command(
                ep.name,
                hidden=True,
                add_help_option=False,
                context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
            )(_unavailable(ep.name, ep.value, e))
    return app


_BAD_INPUT = (
    ValueError,  # pydantic's ValidationError too: it names the field
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)
"""What bad input raises. Anything else (KeyError, TypeError, RuntimeError, ...) is a bug."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, turning errors into one line and an exit code."""
    try:
        _with_plugins()(args=argv, prog_name="scope-deblur")  # usage errors: typer exits 2 itself
    except _BAD_INPUT as e:
        if os.environ.get("SCOPE_DEBLUR_DEBUG"):
            raise
        print(f"scope-deblur: error: {one_line(e)}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as e:  # the machine, not the input nor a bug: a full disk, an I/O error
        if os.environ.get("SCOPE_DEBLUR_DEBUG"):
            raise
        print(f"scope-deblur: error: {one_line(e)}", file=sys.stderr)
        raise SystemExit(1) from None
    except Exception as e:  # a bug, not bad input: still one line, exit 1
        if os.environ.get("SCOPE_DEBLUR_DEBUG"):
            raise
        print(
            f"scope-deblur: internal error: {type(e).__name__}: {one_line(e)} "
            "(set SCOPE_DEBLUR_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
