"""Levels of description and ``filesystem/metadata/`` (arranged-path metadata).

Levels live in the ``LevelOfDescription`` table; when it is empty it is seeded
with AtoM's default levels (stable UUIDs), which is also what "fetch from AtoM"
does while no AtoM instance is configured.
"""

from __future__ import annotations

import uuid

from fastapi import Form, Query
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from api.archivematica.auth import requires
from api.archivematica.errors import error
from api.archivematica.routing import AMRoutes
from api.archivematica.transfer import ERRORS
from api.roles import Access
from custos.db import session_scope
from custos.models.am_api import LevelOfDescription, SIPArrange

ATOM_LEVELS = ("Fonds", "Subfonds", "Collection", "Series", "Subseries", "File", "Item", "Part")
_NS = uuid.UUID("6b3f7c1e-3b0a-4d8e-9a53-5e0c1f2b7a10")


def levels() -> list[dict[str, str]]:
    """``[{uuid: name}, ...]`` in sort order (seeded on first use)."""
    with session_scope() as s:
        rows = list(
            s.exec(select(LevelOfDescription).order_by(col(LevelOfDescription.sortorder))).all()
        )
    if not rows:
        seed_levels()
        return levels()
    return [{row.uuid: row.name} for row in rows]


def seed_levels() -> None:
    """Insert AtoM's default levels (idempotent across concurrent callers)."""
    try:
        with session_scope() as s:
            for i, name in enumerate(ATOM_LEVELS):
                s.add(LevelOfDescription(uuid=str(uuid.uuid5(_NS, name)), name=name, sortorder=i))
    except IntegrityError:
        pass  # another request seeded them first


def get_level(path: str) -> str:
    with session_scope() as s:
        row = s.exec(select(SIPArrange).where(col(SIPArrange.arrange_path) == path)).first()
        if row is None:
            raise error(404, f"No arranged path {path!r}.")
        if row.level_of_description is None:
            return ""
        level = s.get(LevelOfDescription, row.level_of_description)
        return level.name if level else ""


def set_level(path: str, level_uuid: str) -> None:
    levels()  # make sure the table is seeded
    with session_scope() as s:
        if s.get(LevelOfDescription, level_uuid) is None:
            raise error(400, f"No level of description {level_uuid!r}.")
        row = s.exec(select(SIPArrange).where(col(SIPArrange.arrange_path) == path)).first()
        if row is None:
            row = SIPArrange(arrange_path=path)
            s.add(row)
        row.level_of_description = level_uuid


def register(r: AMRoutes) -> None:
    """Add the levels-of-description and filesystem metadata endpoints."""
    tags = ["Archivematica: arrangement"]
    level_list = {200: {"description": '`[{"<uuid>": "<name>"}, ...]`'}, **ERRORS}

    @r.route(
        "/api/filesystem/administration/dips/atom/levels/",
        ["GET"],
        dependencies=[requires(Access.READ)],
        tags=tags,
        responses=level_list,
        summary="Levels of description",
    )
    def get_levels_of_description() -> JSONResponse:
        return JSONResponse(levels())

    @r.route(
        "/api/administration/dips/atom/fetch_levels/",
        ["GET"],
        dependencies=[requires(Access.PROCESS)],
        tags=tags,
        responses=level_list,
        summary="Refresh levels of description (no AtoM configured: stored levels)",
    )
    def fetch_levels_of_description_from_atom() -> JSONResponse:
        return JSONResponse(levels())

    @r.route(
        "/api/filesystem/metadata/",
        ["GET"],
        dependencies=[requires(Access.READ)],
        tags=tags,
        responses={
            200: {"description": '`{"level_of_description": "<name>"}`'},
            404: {"description": "Path not arranged"},
            **ERRORS,
        },
        summary="Level of description of an arranged path",
    )
    def path_metadata_get(path: str = Query(min_length=1)) -> JSONResponse:
        return JSONResponse({"level_of_description": get_level(path)})

    @r.route(
        "/api/filesystem/metadata/",
        ["POST"],
        dependencies=[requires(Access.PROCESS)],
        tags=tags,
        status_code=201,
        responses={201: {"description": '`{"success": true}`'}, **ERRORS},
        summary="Set the level of description of an arranged path",
    )
    def path_metadata_post(
        path: str | None = Form(None), level_of_description: str | None = Form(None)
    ) -> JSONResponse:
        if not path or not level_of_description:
            raise error(400, "path and level_of_description are both required.")
        set_level(path, level_of_description)
        return JSONResponse({"success": True}, status_code=201)
