"""The ``scope-deblur`` command line (see DESIGN.md for the contract).

Every command exits 0 on success. Bad input exits 2 with one line on stderr and no
traceback (``SCOPE_DEBLUR_DEBUG=1`` shows it); nothing already written is removed.
"""

from __future__ import annotations

import os
import sys

import typer

from ..errors import one_line
from . import _acquire, _calibrate, _demo, _gui, _images, _resume, _tools

__all__ = ["app", "main"]

app = typer.Typer(
    name="scope-deblur",
    help="Keep microscope images sharp when the focus drifts: estimate defocus, restore live.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for module in (_demo, _images, _acquire, _resume, _calibrate, _tools, _gui):
    module.register(app)

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
        app(args=argv, prog_name="scope-deblur")  # usage errors: typer exits 2 itself
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
