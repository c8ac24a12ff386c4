"""Administration (``/admin``, admin role only).

- ``/admin/processing``: the processing configurations; ``/admin/processing/<name>``
  edits one as a form (``custos.processing_form``: each decision named as
  Archivematica names it, with its choices); saving validates the values and writes
  the configuration's processingMCP.xml (a built-in one is saved as the user's copy,
  which then takes its place);
- ``/admin/format-policy``: the normalization rules as a table (PUIDs, and the
  preservation, access and thumbnail commands);
- ``/admin/users``: users (create, change role, deactivate/reactivate) and API keys
  (create, shown once; revoke);
- ``/admin/locations``: storage locations (add one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from custos import accounts, processing, storage
from custos.access import Access
from custos.errors import CustosError, InvalidInput, NotFound
from custos.format_policy import Purpose, load_policy
from custos.models import LocationPurpose, User
from custos.models.accounts import Role
from custos.processing_form import FIELDS_BY_NAME, form_fields, save_form
from custos.settings import get_settings
from web.console import NavItem, page_router, render, requires

router = page_router()
NAV = [NavItem("Administration", "/admin", Access.ADMIN, order=90)]
ADMIN = Depends(requires(Access.ADMIN))
PURPOSES = {
    LocationPurpose.TRANSFER_SOURCE: "Transfer source",
    LocationPurpose.CURRENTLY_PROCESSING: "Currently processing",
    LocationPurpose.AIP_STORAGE: "AIP storage",
    LocationPurpose.DIP_STORAGE: "DIP storage",
    LocationPurpose.BACKLOG: "Transfer backlog",
}


def _see(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


@router.get("/admin")
async def admin_home(request: Request, _user: User = ADMIN) -> Response:
    return render(request, "admin/index.html", {})


# -- processing configurations ----------------------------------------------------------
def _configs() -> list[dict[str, Any]]:
    user_dir = get_settings().processing_configs_dir
    return [
        {
            "name": name,
            "builtin": name in processing.BUILTIN,
            "customized": (user_dir / f"{name}.xml").is_file(),
        }
        for name in processing.list_names()
    ]


@router.get("/admin/processing")
async def processing_list(request: Request, _user: User = ADMIN) -> Response:
    configs = await run_in_threadpool(_configs)
    return render(request, "admin/processing_list.html", {"configs": configs, "error": None})


@router.post("/admin/processing")
async def processing_new(
    request: Request,
    name: Annotated[str, Form(max_length=40)] = "",
    copy_of: Annotated[str, Form(max_length=40)] = "default",
    _user: User = ADMIN,
) -> Response:
    name = name.strip()
    try:
        if name in processing.list_names():
            raise InvalidInput(f"a processing configuration named {name!r} exists already")
        base = await run_in_threadpool(processing.named_xml, copy_of)
        await run_in_threadpool(processing.save, name, base)
    except (InvalidInput, NotFound) as exc:
        configs = await run_in_threadpool(_configs)
        context = {"configs": configs, "error": str(exc)}
        return render(request, "admin/processing_list.html", context, status_code=400)
    return _see(f"/admin/processing/{name}")


def _location_choices() -> dict[str, str]:
    choices = {
        "/api/v2/location/default/AS/": "Default AIP storage",
        "/api/v2/location/default/DS/": "Default DIP storage",
    }
    for loc in storage.list_locations():
        if loc.purpose in (LocationPurpose.AIP_STORAGE, LocationPurpose.DIP_STORAGE):
            label = loc.description or PURPOSES[LocationPurpose(loc.purpose)]
            choices[f"/api/v2/location/{loc.uuid}/"] = f"{label} ({loc.path})"
    return choices


def _form_context(name: str, values: dict[str, str] | None = None) -> dict[str, Any]:
    config = processing.load_named(name)
    fields = form_fields(config, _location_choices())
    if values is not None:  # a refused submission: show what was sent
        fields = [f.__class__(**{**f.__dict__, "value": values.get(f.name, "")}) for f in fields]
    groups: dict[str, list[Any]] = {}
    for f in fields:
        groups.setdefault(f.group, []).append(f)
    return {"name": name, "groups": groups, "error": None, "saved": False}


@router.get("/admin/processing/{name}")
async def processing_edit(request: Request, name: str, _user: User = ADMIN) -> Response:
    context = await run_in_threadpool(_form_context, name)
    context["saved"] = request.query_params.get("saved") == "1"
    return render(request, "admin/processing_form.html", context)


@router.post("/admin/processing/{name}")
async def processing_save(request: Request, name: str, _user: User = ADMIN) -> Response:
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k in FIELDS_BY_NAME}
    unknown = [k for k in form if k not in FIELDS_BY_NAME and not k.startswith("csrf")]
    try:
        if unknown:
            raise InvalidInput(f"unknown processing decision(s): {', '.join(sorted(unknown))}")
        await run_in_threadpool(processing.named_path, name)  # NotFound for a new name
        await run_in_threadpool(save_form, name, values)
    except InvalidInput as exc:
        context = await run_in_threadpool(_form_context, name, values)
        context["error"] = str(exc)
        return render(request, "admin/processing_form.html", context, status_code=400)
    return _see(f"/admin/processing/{name}?saved=1")


# -- format policy ------------------------------------------------------------------------
@router.get("/admin/format-policy")
async def format_policy(request: Request, _user: User = ADMIN) -> Response:
    policy = await run_in_threadpool(load_policy)
    return render(
        request,
        "admin/format_policy.html",
        {"policy": policy, "purposes": list(Purpose)},
    )


# -- users and keys -----------------------------------------------------------------------
def _users_context() -> dict[str, Any]:
    return {
        "users": accounts.list_users(),
        "keys": accounts.list_api_keys(),
        "roles": [r.value for r in Role],
        "error": None,
        "new_key": None,
    }


async def _users_page(request: Request, status_code: int = 200, **extra: Any) -> Response:
    context = await run_in_threadpool(_users_context)
    context.update(extra)
    return render(request, "admin/users.html", context, status_code=status_code)


@router.get("/admin/users")
async def users_page(request: Request, _user: User = ADMIN) -> Response:
    return await _users_page(request)


@router.post("/admin/users")
async def user_create(
    request: Request,
    username: Annotated[str, Form(max_length=150)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    role: Annotated[str, Form(max_length=16)] = "archivist",
    email: Annotated[str, Form(max_length=254)] = "",
    _user: User = ADMIN,
) -> Response:
    try:
        await run_in_threadpool(
            lambda: accounts.create_user(
                username.strip(), role=role, email=email.strip(), password=password
            )
        )
    except CustosError as exc:
        return await _users_page(request, 400, error=str(exc))
    return _see("/admin/users")


@router.post("/admin/users/{username}/role")
async def user_role(
    request: Request,
    username: str,
    role: Annotated[str, Form(max_length=16)],
    user: User = ADMIN,
) -> Response:
    if username == user.username and role != Role.ADMIN:
        return await _users_page(
            request, 400, error="You cannot take the admin role from yourself."
        )
    await run_in_threadpool(accounts.set_role, username, role)
    return _see("/admin/users")


@router.post("/admin/users/{username}/active")
async def user_active(
    request: Request,
    username: str,
    active: Annotated[str, Form(max_length=5)],
    user: User = ADMIN,
) -> Response:
    if username == user.username and active != "yes":
        return await _users_page(request, 400, error="You cannot deactivate yourself.")
    await run_in_threadpool(accounts.set_user_active, username, active == "yes")
    return _see("/admin/users")


def _new_key(username: str, label: str) -> str:
    owner = accounts.user_by_name(username)
    if owner is None or owner.id is None:
        raise NotFound(f"no user {username!r}")
    return accounts.create_api_key(owner.id, label)


@router.post("/admin/keys")
async def key_create(
    request: Request,
    username: Annotated[str, Form(max_length=150)],
    label: Annotated[str, Form(max_length=100)] = "",
    _user: User = ADMIN,
) -> Response:
    try:
        key = await run_in_threadpool(_new_key, username, label.strip())
    except CustosError as exc:
        return await _users_page(request, 400, error=str(exc))
    return await _users_page(request, new_key=(username, key))


@router.post("/admin/keys/{key_id}/revoke")
async def key_revoke(key_id: int, _user: User = ADMIN) -> Response:
    await run_in_threadpool(accounts.revoke_api_key, str(key_id))
    return _see("/admin/users")


# -- locations ----------------------------------------------------------------------------
async def _locations_page(
    request: Request, status_code: int = 200, error: str | None = None
) -> Response:
    locations = await run_in_threadpool(storage.list_locations)
    context = {"locations": locations, "purposes": PURPOSES, "error": error}
    return render(request, "admin/locations.html", context, status_code=status_code)


@router.get("/admin/locations")
async def locations_page(request: Request, _user: User = ADMIN) -> Response:
    return await _locations_page(request)


@router.post("/admin/locations")
async def location_add(
    request: Request,
    purpose: Annotated[str, Form(max_length=4)],
    path: Annotated[str, Form(max_length=4096)],
    description: Annotated[str, Form(max_length=200)] = "",
    default: Annotated[str, Form(max_length=5)] = "",
    _user: User = ADMIN,
) -> Response:
    try:
        chosen = LocationPurpose(purpose)
        if not path.strip().startswith("/"):
            raise InvalidInput("give the folder's absolute path")
        await run_in_threadpool(
            lambda: storage.add_location(
                chosen, Path(path.strip()), description.strip(), default=default == "yes"
            )
        )
    except ValueError:
        return await _locations_page(request, 400, f"unknown purpose {purpose!r}")
    except CustosError as exc:
        return await _locations_page(request, 400, str(exc))
    return _see("/admin/locations")
