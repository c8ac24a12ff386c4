"""Who may call what: every endpoint states the access it needs, in one dependency.

The rule table itself (``Access``, ``ALLOWED``) lives in ``custos.access``, shared
with the console (``web``); it is re-exported here.

Each route of every dialect carries exactly one ``requires(Access.X)`` dependency
(built by the dialect's ``auth.requires``, which knows how that dialect finds the
caller and answers a refusal). The access levels and the roles they admit:

========== ======================================== ===============================
access     what                                     roles
========== ======================================== ===============================
public     no key needed                            anyone
read       status, unit and AIP lists, jobs, fixity auditor, archivist, admin
process    transfers, ingests, decisions, reingest, archivist, admin
           reading processing configurations
capture    the Perma.cc and ArchiveBox dialects     capture, admin
admin      users, keys, locations, processing       admin
           configuration changes, the host
========== ======================================== ===============================

Within ``capture``, a capture user only sees and changes their own captures and
those of their organisations (``custos.captures``); an admin sees every one.

``access_table(app)`` reads the access of every documented route back from the
app, so docs/roles.md and ``tests/api/test_roles.py`` can check the table against
the code and against real requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import Depends, FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from custos.access import ALLOWED, Access, allows, refusal
from custos.models.accounts import Role

ACCESS_ATTRIBUTE = "custos_access"
#: Set (true) on the console's routes (``web.console.ConsoleRoute``): not API routes.
CONSOLE_ATTRIBUTE = "custos_console"
__all__ = ["ALLOWED", "Access", "allows", "refusal", "requires", "public", "access_table"]


async def _no_credential() -> None:
    """No credential needed."""


setattr(_no_credential, ACCESS_ATTRIBUTE, Access.PUBLIC)


def public() -> Any:
    """The dependency of an endpoint anyone may call (``requires(Access.PUBLIC, ...)``)."""
    return Depends(_no_credential)


def requires(
    access: Access, principal: Callable[..., Any], deny: Callable[[Access, Role], Exception]
) -> Any:
    """A dependency admitting the callers ``principal`` finds whose role ``access`` allows.

    ``principal`` is the dialect's authentication dependency (it answers a missing
    or bad credential itself and returns an object with a ``role``); ``deny``
    builds the dialect's 403. FastAPI runs ``principal`` once per request, so an
    endpoint taking it as a parameter too costs no second look-up. ``Access.PUBLIC``
    asks for no credential at all.
    """
    if access is Access.PUBLIC:
        return public()

    async def check(who: Any = Depends(principal)) -> None:
        role = Role(who.role)
        if role not in ALLOWED[access]:
            raise deny(access, role)

    setattr(check, ACCESS_ATTRIBUTE, access)
    return Depends(check)


def _marks(dependant: Dependant) -> Iterator[Access]:
    for dep in dependant.dependencies:
        mark = getattr(dep.call, ACCESS_ATTRIBUTE, None)
        if isinstance(mark, Access):
            yield mark
        yield from _marks(dep)


def route_access(route: Any) -> list[Access]:
    """Every access requirement stated on ``route`` (an ``APIRoute`` or the context
    of an included one; exactly one requirement when all is well)."""
    dependant = getattr(route, "dependant", None)
    return list(_marks(dependant)) if isinstance(dependant, Dependant) else []


def api_routes(app: FastAPI) -> Iterator[Any]:
    """The app's API routes (or their contexts), the included routers' too; the
    console's pages are not API routes.

    FastAPI (0.15x) keeps included routers as lazy branches of ``app.routes``;
    ``iter_route_contexts`` walks them with their full paths and dependencies.
    """
    contexts = getattr(routing, "iter_route_contexts", None)
    if contexts is None:  # older FastAPI: included routes are copied into app.routes
        yield from (r for r in app.routes if _is_api_route(r))
        return
    for context in contexts(app.routes):
        if _is_api_route(context.original_route):
            yield context


def _is_api_route(route: Any) -> bool:
    """An API route: not a page of the console (``web``, which marks its routes)."""
    return isinstance(route, APIRoute) and not getattr(route, CONSOLE_ATTRIBUTE, False)


def access_table(
    app: FastAPI, *, documented_only: bool = True
) -> dict[tuple[str, str], list[Access]]:
    """``(METHOD, path) -> access requirements`` of every route (in the OpenAPI schema
    only, by default; HEAD and OPTIONS twins of a GET are not listed)."""
    table: dict[tuple[str, str], list[Access]] = {}
    for route in api_routes(app):
        if documented_only and not route.include_in_schema:
            continue
        for method in sorted(route.methods or ()):
            table[(method, route.path)] = route_access(route)
    return table


#: Dialects by path prefix, in the order docs/roles.md lists them (first match wins).
DIALECT_PREFIXES = (
    ("ArchiveBox", "/api/v1/"),
    ("Archivematica", "/api/"),
    ("Perma.cc", "/v1/"),
    ("Custos (native)", "/custos/"),
)


def dialect_of(path: str) -> str:
    """The dialect serving ``path`` ("" when none)."""
    return next((name for name, prefix in DIALECT_PREFIXES if path.startswith(prefix)), "")


def markdown_tables(app: FastAPI) -> str:
    """docs/roles.md's endpoint tables: one per dialect, a row per documented route."""
    table = access_table(app)
    order = [name for name, _ in DIALECT_PREFIXES]
    roles = list(Role)
    out: list[str] = []
    for dialect in sorted({dialect_of(p) for _, p in table}, key=order.index):
        out += [
            f"### {dialect}",
            "",
            "| method | path | access | " + " | ".join(r.value for r in roles) + " |",
            "|---|---|---|" + "---|" * len(roles),
        ]
        rows = sorted(
            (path, method, marks)
            for (method, path), marks in table.items()
            if dialect_of(path) == dialect
        )
        for path, method, marks in rows:
            access = marks[0] if len(marks) == 1 else None
            cells = ["yes" if access and allows(access, r) else "no" for r in roles]
            out.append(
                f"| {method} | `{path}` | {access or 'UNSTATED'} | " + " | ".join(cells) + " |"
            )
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # python -m api.roles: the tables of docs/roles.md
    import importlib
    import sys

    # the app and this module as imported by the dialects (this __main__ copy has
    # another Access class); by name, so the dialects do not import api.app back
    _imported = importlib.import_module("api.roles")
    sys.stdout.write(_imported.markdown_tables(importlib.import_module("api.app").create_app()))
