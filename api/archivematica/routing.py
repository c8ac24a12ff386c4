"""Route registration with Archivematica's URL rules.

Archivematica matches most routes with and without a trailing slash, and answers
a wrong HTTP method with an empty 405 *before* authenticating. ``AMRoutes.route``
registers an endpoint under both slash forms (only the first is in the OpenAPI
schema); ``AMRoutes.finish`` then adds, for each path, a route that answers every
other method with 405 and an ``Allow`` header.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from api import roles
from api.archivematica.errors import ArchivematicaRoute

ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class AMRoutes:
    """Collects the dialect's routes so wrong methods can be answered per path."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self.methods: dict[str, set[str]] = {}

    def route(
        self, path: str, methods: list[str], *, slash: bool | None = None, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register ``path`` (and its other slash form unless ``slash`` pins one)."""
        bare = path.rstrip("/")
        forms = [bare + "/"] if slash else [bare] if slash is False else [bare, bare + "/"]
        if slash is None and path.endswith("/"):
            forms.reverse()  # document the form Archivematica's docs use

        in_schema = kwargs.pop("include_in_schema", True)

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            for i, form in enumerate(forms):
                self.router.add_api_route(
                    form, func, methods=methods, include_in_schema=in_schema and i == 0, **kwargs
                )
                self.methods.setdefault(form, set()).update(methods)
            return func

        return decorator

    def finish(self) -> None:
        """Answer every unregistered method of each path with 405 (no auth: public)."""
        for path, allowed in self.methods.items():
            others = [m for m in ALL_METHODS if m not in allowed]
            if others:
                self.router.add_api_route(
                    path,
                    method_not_allowed(sorted(allowed)),
                    methods=others,
                    include_in_schema=False,
                    dependencies=[roles.public()],
                )


def method_not_allowed(allowed: list[str]) -> Callable[[Request], Response]:
    """An endpoint answering 405 with ``Allow``, as Django's HttpResponseNotAllowed."""
    allow = ", ".join(allowed)

    def endpoint(request: Request) -> Response:  # noqa: ARG001  (signature FastAPI expects)
        return Response(status_code=405, headers={"Allow": allow})

    return endpoint


def new_router() -> APIRouter:
    """An APIRouter using the dialect's route class."""
    return APIRouter(route_class=ArchivematicaRoute)
