"""Decisions over the API (a Custos extension; Archivematica has no such endpoint).

``GET /api/v2beta/decisions`` lists units waiting at a decision with its choices;
``POST /api/v2beta/decisions/<job uuid>`` answers one and resumes the unit's flow.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from fastapi import Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from api.archivematica import units
from api.archivematica.auth import authenticated_user, requires
from api.archivematica.errors import ErrorBody, error
from api.archivematica.routing import AMRoutes
from api.archivematica.transfer import ERRORS
from api.roles import Access
from custos import decisions
from custos.db import session_scope
from custos.models import User


class ChoiceBody(BaseModel):
    id: str
    label: str


class WaitingDecision(BaseModel):
    job_uuid: str = Field(description="Answer with POST /api/v2beta/decisions/<job_uuid>")
    unit_uuid: str
    unit_type: str = Field(description="transfer or SIP")
    unit_name: str
    decision: str = Field(description="Decision (job) name, e.g. 'Normalize'")
    microservice: str
    link_uuid: str | None
    choices: list[ChoiceBody]
    created_at: str


class DecisionList(BaseModel):
    message: str
    results: list[WaitingDecision]


class AnswerRequest(BaseModel):
    choice: str = Field(description="The id of one of the decision's choices")


class AnswerBody(BaseModel):
    message: str
    unit_uuid: str
    decision: str
    choice: str


def waiting_list() -> list[dict[str, Any]]:
    return [
        {
            "job_uuid": d.job_uuid,
            "unit_uuid": u.uuid,
            "unit_type": str(u.unit_type),
            "unit_name": u.name,
            "decision": d.name,
            "microservice": j.microservice,
            "link_uuid": d.link_uuid,
            "choices": [
                {"id": str(c.get("id")), "label": str(c.get("label", ""))} for c in d.choices
            ],
            "created_at": d.created_at.isoformat(),
        }
        for d, u, j in units.waiting_decisions()
    ]


def parse_choice(raw: bytes, content_type: str) -> str:
    """The ``choice`` of a JSON or form body."""
    value: Any = None
    if "form" in content_type:
        found = parse_qs(raw.decode("utf-8", "replace")).get("choice")
        value = found[0] if found else None
    else:
        try:
            body = json.loads(raw or b"null")
        except ValueError as exc:
            raise error(400, 'The body must be JSON: {"choice": "<choice id>"}.') from exc
        value = body.get("choice") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise error(400, '"choice" is required.')
    return value


def answer(job_uuid: str, choice: str, user_id: int) -> dict[str, Any]:
    with session_scope() as s:
        user = s.get(User, user_id)
        username = user.username if user else ""
        pending = s.exec(
            select(decisions.Decision).where(col(decisions.Decision.job_uuid) == job_uuid)
        ).first()
        if pending is None:
            raise error(404, f"No decision is waiting at job {job_uuid}.")
    decision = decisions.answer(job_uuid, choice, by=username)
    return {
        "message": "Decision answered.",
        "unit_uuid": decision.unit_uuid,
        "decision": decision.name,
        "choice": choice,
    }


def register(r: AMRoutes) -> None:
    """Add the decision endpoints."""
    tags = ["Custos extensions"]

    @r.route(
        "/api/v2beta/decisions",
        ["GET"],
        dependencies=[requires(Access.READ)],
        tags=tags,
        responses={200: {"model": DecisionList}, **ERRORS},
        summary="Units waiting at a decision, with the choices",
    )
    def list_decisions() -> JSONResponse:
        return JSONResponse(
            {"message": "Fetched decisions successfully.", "results": waiting_list()}
        )

    @r.route(
        "/api/v2beta/decisions/{job_uuid}",
        ["POST"],
        dependencies=[requires(Access.PROCESS)],
        tags=tags,
        responses={
            200: {"model": AnswerBody},
            **ERRORS,
            404: {"model": ErrorBody, "description": "No decision at that job"},
            409: {"model": ErrorBody, "description": "Already answered"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": AnswerRequest.model_json_schema()},
                    "application/x-www-form-urlencoded": {
                        "schema": AnswerRequest.model_json_schema()
                    },
                },
            }
        },
        summary="Answer a decision and resume the unit's flow",
    )
    async def answer_decision(
        request: Request,
        job_uuid: str = Path(pattern=units.UUID_PATTERN),
        user_id: int = Depends(authenticated_user),
    ) -> JSONResponse:
        choice = parse_choice(await request.body(), request.headers.get("content-type", ""))
        body = await run_in_threadpool(answer, job_uuid, choice, user_id)
        return JSONResponse(body)
