"""``python -m cli``: the ``custos`` command."""

from cli.main import main

main()
