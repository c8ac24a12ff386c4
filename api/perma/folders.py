"""Perma's folder tree: list, create, rename, move, delete, and links per folder.

Rules (Perma's): top-level folders (personal root, organization shared folders)
cannot be renamed, moved or deleted; only empty folders can be deleted; a folder
cannot move under itself or a descendant; names are unique among siblings.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import update
from sqlmodel import Session, col, select

from api.roles import Access
from custos.captures import can_access_folder, ensure_root_folder, organization_ids
from custos.db import session_scope
from custos.errors import Forbidden, InvalidInput, NotFound
from custos.models import Capture, Folder, Organization, User

from . import links, shapes
from .archives import page_of, root_of, search_param
from .auth import current_user, payload, requires
from .errors import PermaRouter

router = PermaRouter()

DUPLICATE = {"name": ["A folder with that name already exists at that location."]}


def _folder(session: Session, user: User, folder_id: int) -> Folder:
    folder = session.get(Folder, folder_id)
    if folder is None:
        raise NotFound("Not found.")
    if not can_access_folder(session, user, folder):
        raise Forbidden("You do not have permission to perform this action.")
    return folder


def _check_name(
    session: Session, parent_id: int | None, name: str, exclude: int | None = None
) -> None:
    if not name.strip():
        raise InvalidInput("name", {"name": ["This field may not be blank."]})
    query = select(Folder.id).where(col(Folder.parent_id) == parent_id, col(Folder.name) == name)
    if exclude is not None:
        query = query.where(col(Folder.id) != exclude)
    if session.exec(query).first() is not None:
        raise InvalidInput("duplicate folder", DUPLICATE)


def _create(user: User, parent_id: Any, name: Any) -> dict[str, Any]:
    if parent_id in (None, ""):
        raise InvalidInput("parent", {"parent": ["This field is required."]})
    with session_scope() as s:
        try:
            parent = _folder(s, user, int(parent_id))
        except (TypeError, ValueError) as exc:
            raise InvalidInput("parent", {"parent": ["Invalid parent."]}) from exc
        _check_name(s, parent.id, str(name or ""))
        folder = Folder(
            name=str(name),
            parent_id=parent.id,
            owned_by=parent.owned_by,
            organization_id=parent.organization_id,
        )
        s.add(folder)
        s.flush()
        return shapes.folder(s, folder)


def _descendants(session: Session, folder_id: int) -> list[int]:
    found, frontier = [folder_id], [folder_id]
    while frontier:
        children = [
            c
            for c in session.exec(
                select(Folder.id).where(col(Folder.parent_id).in_(frontier))
            ).all()
            if c is not None
        ]
        frontier = [c for c in children if c not in found]
        found += frontier
    return found


def _move(session: Session, user: User, folder: Folder, parent_id: int) -> None:
    if folder.parent_id is None:
        raise InvalidInput("top-level", {"error": ["Top-level folders cannot be moved."]})
    assert folder.id is not None
    subtree = _descendants(session, folder.id)
    if parent_id in subtree:
        raise InvalidInput("cycle", {"error": ["A node may not be made a child of itself."]})
    parent = _folder(session, user, parent_id)
    _check_name(session, parent.id, folder.name, exclude=folder.id)
    folder.parent_id = parent.id
    session.execute(
        update(Folder)
        .where(col(Folder.id).in_(subtree))
        .values(owned_by=parent.owned_by, organization_id=parent.organization_id)
    )
    session.execute(
        update(Capture)
        .where(col(Capture.folder_id).in_(subtree))
        .values(organization_id=parent.organization_id)
    )


def _patch(user: User, folder_id: int, data: dict[str, Any]) -> dict[str, Any]:
    with session_scope() as s:
        folder = _folder(s, user, folder_id)
        if "name" in data and data["name"] != folder.name:
            if folder.parent_id is None:
                raise InvalidInput("top-level", {"error": ["Top-level folders cannot be renamed."]})
            _check_name(s, folder.parent_id, str(data["name"] or ""), exclude=folder.id)
            folder.name = str(data["name"])
        if data.get("parent") not in (None, "") and data["parent"] != folder.parent_id:
            try:
                parent_id = int(data["parent"])
            except (TypeError, ValueError) as exc:
                raise InvalidInput("parent", {"parent": ["Invalid parent."]}) from exc
            _move(s, user, folder, parent_id)
        s.flush()
        return shapes.folder(s, folder)


def _delete(user: User, folder_id: int) -> Response:
    with session_scope() as s:
        folder = _folder(s, user, folder_id)
        if folder.parent_id is None:
            raise InvalidInput("top-level", {"error": ["Top-level folders cannot be deleted."]})
        child = s.exec(select(Folder.id).where(col(Folder.parent_id) == folder.id)).first()
        link = s.exec(
            select(Capture.uuid).where(
                col(Capture.folder_id) == folder.id, col(Capture.user_deleted).is_(False)
            )
        ).first()
        if child is not None or link is not None:
            raise InvalidInput(
                "not empty", {"error": ["Folders can only be deleted if they are empty."]}
            )
        s.execute(update(Capture).where(col(Capture.folder_id) == folder.id).values(folder_id=None))
        s.delete(folder)
    return Response(status_code=204)


@router.get("/folders", dependencies=[requires(Access.CAPTURE)])
def top_level(request: Request, user: User = Depends(current_user)) -> dict[str, Any]:
    """Personal root, then each organization's shared folder by organization name."""
    with session_scope() as s:
        root = ensure_root_folder(s, user)
        org_ids = organization_ids(s, user)
        shared = [
            o.shared_folder_id
            for o in s.exec(
                select(Organization)
                .where(col(Organization.id).in_(org_ids or [-1]))
                .order_by(col(Organization.name))
            ).all()
            if o.shared_folder_id
        ]
    ids = [root.id, *shared]
    query = select(Folder).where(col(Folder.id).in_(ids))
    ordered = {fid: n for n, fid in enumerate(ids)}
    page = page_of(request, query, shapes.folder)
    page["objects"].sort(key=lambda f: ordered.get(f["id"], 0))
    return page


@router.post("/folders", status_code=201, dependencies=[requires(Access.CAPTURE)])
def create_folder(
    user: User = Depends(current_user), data: dict[str, Any] = Depends(payload)
) -> JSONResponse:
    """A new folder under ``parent`` (required)."""
    return JSONResponse(_create(user, data.get("parent"), data.get("name")), 201)


@router.get("/folders/{folder_id}", dependencies=[requires(Access.CAPTURE)])
def get_folder(folder_id: int, user: User = Depends(current_user)) -> dict[str, Any]:
    with session_scope() as s:
        return shapes.folder(s, _folder(s, user, folder_id))


@router.patch("/folders/{folder_id}", dependencies=[requires(Access.CAPTURE)])
def patch_folder(
    folder_id: int, user: User = Depends(current_user), data: dict[str, Any] = Depends(payload)
) -> dict[str, Any]:
    """Rename (``name``) or move (``parent``)."""
    return _patch(user, folder_id, data)


@router.put("/folders/{folder_id}", dependencies=[requires(Access.CAPTURE)])
def put_folder(folder_id: int, user: User = Depends(current_user)) -> Response:  # noqa: ARG001
    raise InvalidInput("put", {"error": ["PUT is only valid for nested folder endpoints."]})


@router.delete("/folders/{folder_id}", status_code=204, dependencies=[requires(Access.CAPTURE)])
def delete_folder(folder_id: int, user: User = Depends(current_user)) -> Response:
    return _delete(user, folder_id)


@router.get("/folders/{parent_id}/folders", dependencies=[requires(Access.CAPTURE)])
def child_folders(
    parent_id: int, request: Request, user: User = Depends(current_user)
) -> dict[str, Any]:
    with session_scope() as s:
        _folder(s, user, parent_id)
    query = select(Folder).where(col(Folder.parent_id) == parent_id).order_by(col(Folder.name))
    return page_of(request, query, shapes.folder)


@router.post(
    "/folders/{parent_id}/folders", status_code=201, dependencies=[requires(Access.CAPTURE)]
)
def create_child(
    parent_id: int, user: User = Depends(current_user), data: dict[str, Any] = Depends(payload)
) -> JSONResponse:
    return JSONResponse(_create(user, data.get("parent") or parent_id, data.get("name")), 201)


@router.get("/folders/{parent_id}/folders/{folder_id}", dependencies=[requires(Access.CAPTURE)])
def get_child(
    parent_id: int,  # noqa: ARG001 - the path names it; the folder id alone finds the child
    folder_id: int,
    user: User = Depends(current_user),
) -> dict[str, Any]:
    with session_scope() as s:
        return shapes.folder(s, _folder(s, user, folder_id))


@router.patch("/folders/{parent_id}/folders/{folder_id}", dependencies=[requires(Access.CAPTURE)])
def patch_child(
    parent_id: int,  # noqa: ARG001 - the path names it; the folder id alone finds the child
    folder_id: int,
    user: User = Depends(current_user),
    data: dict[str, Any] = Depends(payload),
) -> dict[str, Any]:
    return _patch(user, folder_id, data)


@router.put("/folders/{parent_id}/folders/{folder_id}", dependencies=[requires(Access.CAPTURE)])
def move_child(
    parent_id: int, folder_id: int, user: User = Depends(current_user)
) -> dict[str, Any]:
    """Move folder ``folder_id`` into ``parent_id``."""
    return _patch(user, folder_id, {"parent": parent_id})


@router.delete(
    "/folders/{parent_id}/folders/{folder_id}",
    status_code=204,
    dependencies=[requires(Access.CAPTURE)],
)
def delete_child(
    parent_id: int,  # noqa: ARG001 - the path names it; the folder id alone finds the child
    folder_id: int,
    user: User = Depends(current_user),
) -> Response:
    return _delete(user, folder_id)


@router.get("/folders/{folder_id}/archives", dependencies=[requires(Access.CAPTURE)])
def folder_archives(
    folder_id: int, request: Request, user: User = Depends(current_user)
) -> dict[str, Any]:
    """Links directly in the folder (not in sub-folders)."""
    with session_scope() as s:
        _folder(s, user, folder_id)
    root = root_of(request)
    query = links.search(
        select(Capture)
        .where(col(Capture.folder_id) == folder_id, col(Capture.user_deleted).is_(False))
        .order_by(col(Capture.created_at).desc()),
        search_param(request),
    )
    return page_of(request, query, lambda s, c: shapes.authenticated_link(s, c, root))


@router.post(
    "/folders/{folder_id}/archives", status_code=201, dependencies=[requires(Access.CAPTURE)]
)
def create_in_folder(
    folder_id: int,
    request: Request,
    user: User = Depends(current_user),
    data: dict[str, Any] = Depends(payload),
) -> JSONResponse:
    capture = links.create_link(user, data, folder=folder_id)
    with session_scope() as s:
        return JSONResponse(shapes.authenticated_link(s, capture, root_of(request)), 201)


@router.get("/folders/{folder_id}/archives/export", dependencies=[requires(Access.CAPTURE)])
def export_folder(folder_id: int, request: Request, user: User = Depends(current_user)) -> Response:
    with session_scope() as s:
        _folder(s, user, folder_id)
        rows = s.exec(
            select(Capture)
            .where(col(Capture.folder_id) == folder_id, col(Capture.user_deleted).is_(False))
            .order_by(col(Capture.created_at).desc())
        ).all()
        body = links.links_csv(s, rows, root_of(request))
    return Response(
        body,
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="perma-folder-{folder_id}-archives.csv"'
        },
    )


@router.put("/folders/{folder_id}/archives/{guid}", dependencies=[requires(Access.CAPTURE)])
def move_archive(
    folder_id: int, guid: str, request: Request, user: User = Depends(current_user)
) -> dict[str, Any]:
    """Move a link into this folder."""
    links.move_link(user, guid, folder_id)
    with session_scope() as s:
        return shapes.authenticated_link(s, links.editable(s, user, guid), root_of(request))
