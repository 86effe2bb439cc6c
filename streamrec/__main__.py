"""``python -m streamrec``: the same as the ``streamrec`` command."""

from .cli import main

main()
