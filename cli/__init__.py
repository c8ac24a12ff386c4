"""The command-line driver: ``custos ...``, a client of the core and of a running serve.

``cli.main`` builds the Typer application and its top-level commands; each command
group has its own module (``transfer``, ``capture``, ``aip``, ``accounts``), with
what they share in ``common`` and the following of running units in ``follow``.
Like the HTTP driver (``api``), it calls the core (``custos``) and starts work only
through ``custos.dispatch``; it never imports ``flows`` or ``tasks``.
"""
