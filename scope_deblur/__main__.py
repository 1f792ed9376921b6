"""``python -m scope_deblur``: the same as the ``scope-deblur`` command."""

from .cli import main

main()
