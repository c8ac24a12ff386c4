"""``/api/v2beta/jobs/<unit>`` and ``/api/v2beta/task/<task>``.

Jobs carry Archivematica's job names and microservice groups, so filters such as
``microservice=Microservice: Normalize`` or ``name=Job: Normalize for preservation``
work as with Archivematica (the prefixes are stripped).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import bindparam, select
from sqlmodel import col

from api.archivematica.auth import requires
from api.archivematica.errors import error
from api.archivematica.routing import AMRoutes
from api.archivematica.transfer import ERRORS
from api.archivematica.units import UUID_PATTERN
from api.roles import Access
from custos.db import get_engine, session_scope
from custos.models import Job, Task

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


class TaskBody(BaseModel):
    uuid: str
    exit_code: int | None
    file_uuid: str | None = None
    file_name: str | None = None
    time_created: str | None = None
    time_started: str | None = None
    time_ended: str | None = None
    duration: int | str | None = None


class JobBody(BaseModel):
    uuid: str
    name: str
    status: str
    microservice: str
    link_uuid: str | None
    tasks: list[TaskBody]


def _strip(value: str | None, prefix: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if value.startswith(prefix):
        value = value[len(prefix) :].strip()
    return value


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime(TIME_FORMAT)


def _duration(started: datetime | None, ended: datetime | None) -> int | str:
    if ended is None or started is None:
        return ""
    seconds = int((_aware(ended) - _aware(started)).total_seconds())
    return seconds if seconds > 0 else "< 1"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def task_fields(
    uuid: str,
    exit_code: int | None,
    file_uuid: str | None,
    file_name: str | None,
    created: datetime | None,
    started: datetime | None,
    ended: datetime | None,
    detailed: bool = True,
) -> dict[str, Any]:
    """A task as Archivematica shows it (``detailed`` adds file and times)."""
    body: dict[str, Any] = {"uuid": uuid, "exit_code": exit_code}
    if detailed:
        body.update(
            file_uuid=file_uuid,
            file_name=file_name,
            time_created=_time(created),
            time_started=_time(started),
            time_ended=_time(ended),
            duration=_duration(started, ended),
        )
    return body


def task_body(task: Task, detailed: bool = True) -> dict[str, Any]:
    """A task row as Archivematica shows it (``detailed`` adds file and times)."""
    return task_fields(
        task.uuid,
        task.exit_code,
        task.file_uuid,
        task.file_name,
        task.created_at,
        task.started_at,
        task.ended_at,
        detailed,
    )


#: Jobs of a unit oldest first, each with its tasks (outer join: a job may have none
#: yet), in one statement served by ``ix_job_unit_uuid_seq`` and ``ix_task_job_uuid``.
_JOBS_QUERY = (
    select(
        col(Job.uuid),
        col(Job.name),
        col(Job.status),
        col(Job.microservice),
        col(Job.link_uuid),
        col(Task.uuid),
        col(Task.exit_code),
        col(Task.file_uuid),
        col(Task.file_name),
        col(Task.created_at),
        col(Task.started_at),
        col(Task.ended_at),
    )
    .select_from(Job)
    .outerjoin(Task, col(Task.job_uuid) == col(Job.uuid))
    .where(col(Job.unit_uuid) == bindparam("unit_uuid"))
    .order_by(col(Job.seq), col(Task.created_at))
)


def unit_jobs(
    unit_uuid: str,
    microservice: str | None,
    link_uuid: str | None,
    name: str | None,
    detailed: bool,
) -> list[dict[str, Any]]:
    """The unit's jobs oldest first, filtered; 400 when it has none at all."""
    with get_engine().connect() as conn:
        rows = conn.execute(_JOBS_QUERY, {"unit_uuid": unit_uuid}).all()
    if not rows:
        raise error(400, f"No jobs found for unit: {unit_uuid}")
    microservice = _strip(microservice, "Microservice:")
    name = _strip(name, "Job:")
    jobs: dict[str, dict[str, Any]] = {}
    for row in rows:
        job_uuid, job_name, status, group, job_link = row[:5]
        if (
            (microservice is not None and group != microservice)
            or (link_uuid is not None and job_link != link_uuid)
            or (name is not None and job_name != name)
        ):
            continue
        job = jobs.get(job_uuid)
        if job is None:
            job = jobs[job_uuid] = {
                "uuid": job_uuid,
                "name": job_name,
                "status": str(status),
                "microservice": group,
                "link_uuid": job_link,
                "tasks": [],
            }
        if row[5] is not None:
            job["tasks"].append(
                task_fields(row[5], row[6], row[7], row[8], row[9], row[10], row[11], detailed)
            )
    return list(jobs.values())


def register(r: AMRoutes) -> None:
    """Add the v2beta jobs and task endpoints."""
    tags = ["Archivematica: v2beta"]

    @r.route(
        "/api/v2beta/jobs/{unit_uuid}",
        ["GET"],
        dependencies=[requires(Access.READ)],
        tags=tags,
        responses={200: {"model": list[JobBody]}, **ERRORS},
        summary="Jobs of a unit, oldest first",
    )
    def jobs(
        request: Request,
        unit_uuid: str = Path(pattern=UUID_PATTERN),
        microservice: str | None = Query(
            None, description="Microservice group (`Microservice:` prefix allowed)"
        ),
        link_uuid: str | None = Query(None),
        name: str | None = Query(None, description="Job name (`Job:` prefix allowed)"),
        detailed: str | None = Query(None, description="Present: include task details"),
    ) -> JSONResponse:
        del detailed  # presence is what counts, read from the raw query below
        return JSONResponse(
            unit_jobs(unit_uuid, microservice, link_uuid, name, "detailed" in request.query_params)
        )

    @r.route(
        "/api/v2beta/task/{task_uuid}",
        ["GET"],
        dependencies=[requires(Access.READ)],
        tags=tags,
        responses={200: {"model": TaskBody}, **ERRORS},
        summary="One task",
    )
    def task(task_uuid: str = Path(pattern=UUID_PATTERN)) -> JSONResponse:
        with session_scope() as s:
            row = s.get(Task, task_uuid)
            if row is None:
                raise error(400, f"Task with UUID {task_uuid} does not exist")
            return JSONResponse(task_body(row))
