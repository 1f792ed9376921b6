"""How an error reads on one line: what the command line prints before it exits."""

from __future__ import annotations

from pydantic import ValidationError

__all__ = ["field_error", "one_line"]


def field_error(e: ValidationError) -> str:
    """Return ``"field 'optics.na': Input should be greater than 0, got -1"`` for ``e``.

    Only the first invalid field is named; the others are counted.
    """
    first = e.errors(include_url=False)[0]
    loc = ".".join(str(part) for part in first["loc"])
    text = f"field '{loc}': {first['msg']}" if loc else first["msg"]
    value = first.get("input")
    if loc and not isinstance(value, dict | list) and len(repr(value)) <= 40:
        text += f", got {value!r}"
    more = e.error_count() - 1
    return text + (f" (and {more} more invalid field{'s' * (more > 1)})" if more else "")


def one_line(e: BaseException) -> str:
    """Return the first line of ``e``'s message (its type if it has none).

    A pydantic ``ValidationError`` becomes the model's name and its first invalid field.
    """
    if isinstance(e, ValidationError):
        return f"{e.title}: {field_error(e)}"
    lines = [ln for ln in str(e).splitlines() if ln.strip()]
    return lines[0].strip() if lines else type(e).__name__
