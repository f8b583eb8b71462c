"""``python -m privstats``: the same as the ``privstats`` command."""

from privstats.cli import main

main()
