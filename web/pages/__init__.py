"""The console's page groups: one module each, registered here (one line per module).

A page module exposes ``router = page_router()`` with its routes and ``NAV``, a
list of ``NavItem`` (label, path, access, order) for the persistent navigation;
its templates live in ``web/templates/<group>/``.
"""

from __future__ import annotations

from types import ModuleType

from web.pages import admin, auth, captures, dashboard, ingest, playback, storage, transfers

PAGES: list[ModuleType] = [
    auth,
    dashboard,
    transfers,
    ingest,
    storage,
    captures,
    admin,
    playback,  # last: its /<GUID> pattern never shadows a named page
]
