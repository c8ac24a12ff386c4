"""``/api/v2beta/jobs/<unit>`` and ``/api/v2beta/task/<task>``.

Jobs carry Archivematica's job names and microservice groups, so filters such as
``microservice=Microservice: Normalize`` or ``name=Job: Normalize for preservation``
work as with Archivematica (the prefixes are stripped).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import col

from api.archivematica.auth import authenticated_user
from api.archivematica.errors import error
from api.archivematica.routing import AMRoutes
from api.archivematica.transfer import ERRORS
from api.archivematica.units import UUID_PATTERN
from custos.db import session_scope
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
        value = value[len(prefix):].strip()
    return value


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime(TIME_FORMAT)


def _duration(task: Task) -> int | str:
    if task.ended_at is None or task.started_at is None:
        return ""
    seconds = int((_aware(task.ended_at) - _aware(task.started_at)).total_seconds())
    return seconds if seconds > 0 else "< 1"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def task_body(task: Task, detailed: bool = True) -> dict[str, Any]:
    """A task as Archivematica shows it (``detailed`` adds file and times)."""
    body: dict[str, Any] = {"uuid": task.uuid, "exit_code": task.exit_code}
    if detailed:
        body.update(file_uuid=task.file_uuid, file_name=task.file_name,
                    time_created=_time(task.created_at), time_started=_time(task.started_at),
                    time_ended=_time(task.ended_at), duration=_duration(task))
    return body


def unit_jobs(unit_uuid: str, microservice: str | None, link_uuid: str | None,
              name: str | None, detailed: bool) -> list[dict[str, Any]]:
    """The unit's jobs oldest first, filtered; 400 when it has none at all."""
    with session_scope() as s:
        query = select(Job).where(col(Job.unit_uuid) == unit_uuid)
        jobs = list(s.execute(query.order_by(col(Job.seq))).scalars())
        if not jobs:
            raise error(400, f"No jobs found for unit: {unit_uuid}")
        microservice = _strip(microservice, "Microservice:")
        name = _strip(name, "Job:")
        jobs = [j for j in jobs
                if (microservice is None or j.microservice == microservice)
                and (link_uuid is None or j.link_uuid == link_uuid)
                and (name is None or j.name == name)]
        tasks: dict[str, list[Task]] = defaultdict(list)
        if jobs:
            for task in s.execute(select(Task).where(
                    col(Task.job_uuid).in_([j.uuid for j in jobs]))
                    .order_by(col(Task.created_at))).scalars():
                tasks[task.job_uuid].append(task)
        return [{"uuid": j.uuid, "name": j.name, "status": str(j.status),
                 "microservice": j.microservice, "link_uuid": j.link_uuid,
                 "tasks": [task_body(t, detailed) for t in tasks[j.uuid]]} for j in jobs]


def register(r: AMRoutes) -> None:
    """Add the v2beta jobs and task endpoints."""
    deps = [Depends(authenticated_user)]
    tags = ["Archivematica: v2beta"]

    @r.route("/api/v2beta/jobs/{unit_uuid}", ["GET"], dependencies=deps, tags=tags,
             responses={200: {"model": list[JobBody]}, **ERRORS},
             summary="Jobs of a unit, oldest first")
    def jobs(
        request: Request,
        unit_uuid: str = Path(pattern=UUID_PATTERN),
        microservice: str | None = Query(None, description="Microservice group "
                                         "(`Microservice:` prefix allowed)"),
        link_uuid: str | None = Query(None),
        name: str | None = Query(None, description="Job name (`Job:` prefix allowed)"),
        detailed: str | None = Query(None, description="Present: include task details"),
    ) -> JSONResponse:
        del detailed  # presence is what counts, read from the raw query below
        return JSONResponse(unit_jobs(unit_uuid, microservice, link_uuid, name,
                                      "detailed" in request.query_params))

    @r.route("/api/v2beta/task/{task_uuid}", ["GET"], dependencies=deps, tags=tags,
             responses={200: {"model": TaskBody}, **ERRORS}, summary="One task")
    def task(task_uuid: str = Path(pattern=UUID_PATTERN)) -> JSONResponse:
        with session_scope() as s:
            row = s.get(Task, task_uuid)
            if row is None:
                raise error(400, f"Task with UUID {task_uuid} does not exist")
            return JSONResponse(task_body(row))
