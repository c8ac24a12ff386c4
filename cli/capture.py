"""``custos capture``: capture URLs from the shell, list, show and download captures.

Usage::

    custos capture URL... [--wait] [--json] [--preserve/--no-preserve] [--wacz]
    custos capture list [--json] [--limit N]
    custos capture show GUID [--json]
    custos capture download GUID DEST [--format warc|wacz]

``custos capture URL...`` queues captures like the APIs do (same rows, same flow),
as a client of the running ``custos serve`` (its deployments capture them);
``--wait`` follows them from the database, reporting progress on stderr, and exits
1 unless every capture completed. Without a serve, ``--wait`` captures in this
process (no Prefect server), and without ``--wait`` the command says what to do.
With ``--json`` (progress still goes to stderr) each capture is one line of JSON
(``guid``, ``status``, ``message``, ...): Perma's job status, so a URL refused
before capturing is ``invalid`` and one refused while capturing is ``failed``, the
reason in ``message``. ``--preserve`` sends each finished capture as a transfer
(processing configuration ``capture``) so it becomes an AIP; without the flag the
``capture_preserve`` setting decides. ``download`` copies the stored WARC (as
captured) or WACZ; ``DEST`` is a file or an existing folder.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlmodel import col, select

from cli.common import JsonOption, WaitOption, cli_errors, emit, open_db, settings
from custos.runtime.client import Mode, work_backend

app = typer.Typer(
    name="capture",
    help="Capture web pages (Perma/ArchiveBox captures): "
    "URL... | list | show GUID | download GUID DEST.",
    invoke_without_command=True,
    context_settings={"allow_interspersed_args": True},
)

UserOption = Annotated[
    str, typer.Option("--user", help="User the capture belongs to (created if missing).")
]
FORMATS = ("warc", "wacz")
POLL_SECONDS = 0.5


def job_message(job: Any | None) -> str:
    """A job's message as plain text (Perma stores ``{"error": [...]}`` as JSON text)."""
    if job is None or not job.message:
        return ""
    try:
        data = json.loads(job.message)
    except ValueError:
        return str(job.message)
    parts: list[str] = []
    if isinstance(data, dict):
        for value in data.values():
            parts.extend(str(v) for v in (value if isinstance(value, list) else [value]))
    elif isinstance(data, list):
        parts.extend(str(v) for v in data)
    else:
        parts.append(str(data))
    return "; ".join(parts)


def _row(capture: Any, job: Any | None = None) -> dict[str, Any]:
    return {
        "uuid": capture.uuid,
        "guid": capture.guid,
        "timestamp": capture.timestamp,
        "url": capture.url,
        "title": capture.title,
        "status": job.status if job is not None else capture.status,
        "capture_status": capture.status,
        "message": job_message(job) or (job.step_description or "" if job else ""),
        "warc_path": capture.warc_path,
        "wacz_path": capture.wacz_path,
        "aip_uuid": capture.aip_uuid,
        "created_at": capture.created_at,
    }


def _load(uuid: str) -> dict[str, Any]:
    from custos.db import session_scope
    from custos.models import Capture, CaptureJob

    with session_scope() as s:
        row = s.get(Capture, uuid)
        assert row is not None
        job = s.exec(select(CaptureJob).where(col(CaptureJob.capture_uuid) == uuid)).first()
        return _row(row, job)


def _find(ref: str) -> Any:
    from custos.captures import get_capture
    from custos.db import session_scope
    from custos.errors import NotFound
    from custos.models import Capture

    with session_scope() as s:
        try:
            capture: Capture = get_capture(s, ref)
        except NotFound:  # Perma's "Not found." is the API's wording, not a sentence here
            raise NotFound(f"no capture {ref}") from None
        s.expunge(capture)
        return capture


def _list(limit: int, json_out: bool) -> None:
    from custos.db import session_scope
    from custos.models import Capture, CaptureJob

    with session_scope() as s:
        rows = s.exec(
            select(Capture, CaptureJob)
            .join(CaptureJob, col(CaptureJob.capture_uuid) == col(Capture.uuid), isouter=True)
            .where(col(Capture.user_deleted).is_(False))
            .order_by(col(Capture.created_at).desc())
            .limit(limit)
        ).all()
        data = [_row(c, j) for c, j in rows]
    table = Table("GUID", "timestamp", "status", "URL", "title")
    for row in data:
        table.add_row(row["guid"], row["timestamp"], row["status"], row["url"], row["title"] or "")
    emit(json_out, data, table)


def _show(ref: str, json_out: bool) -> None:
    from custos.db import session_scope
    from custos.models import ArchiveResult

    capture = _find(ref)
    data = _load(capture.uuid)
    with session_scope() as s:
        data["results"] = [
            {
                "extractor": r.extractor,
                "status": r.status,
                "output": r.output,
                "size": r.output_size,
            }
            for r in s.exec(
                select(ArchiveResult)
                .where(col(ArchiveResult.capture_uuid) == capture.uuid)
                .order_by(col(ArchiveResult.created_at))
            ).all()
        ]
    data.update(
        final_url=capture.final_url,
        is_private=capture.is_private,
        warc_size=capture.warc_size,
        wacz_size=capture.wacz_size,
        captured_by_software=capture.captured_by_software,
    )
    lines = [
        f"{data['guid']}  {data['status']}  {data['url']}",
        f"title: {data['title'] or ''}",
        f"uuid: {data['uuid']}",
        f"WARC: {data['warc_path'] or '-'}",
        f"AIP: {data['aip_uuid'] or '-'}",
    ]
    if data["message"]:
        lines.append(f"message: {data['message']}")
    lines += [
        f"  {r['extractor']:<13} {r['status']:<10} {r['output'] or ''}" for r in data["results"]
    ]
    emit(json_out, data, "\n".join(lines))


def _download(ref: str, dest: Path, file_format: str, json_out: bool) -> None:
    from custos.errors import InvalidInput, NotFound

    if file_format not in FORMATS:
        raise InvalidInput(f"--format must be one of {', '.join(FORMATS)}")
    capture = _find(ref)
    stored = capture.warc_path if file_format == "warc" else capture.wacz_path
    if capture.user_deleted or not stored or not Path(stored).is_file():
        raise NotFound(f"capture {capture.guid} has no {file_format.upper()}")
    suffix = ".warc.gz" if file_format == "warc" else ".wacz"
    target = dest / f"{capture.guid}{suffix}" if dest.is_dir() else dest
    shutil.copyfile(stored, target)
    emit(
        json_out,
        {
            "guid": capture.guid,
            "format": file_format,
            "path": str(target),
            "size": target.stat().st_size,
        },
        str(target),
    )


def _submit(url: str, user: Any, preserve: bool | None, wacz: bool) -> dict[str, Any]:
    """Create one capture; a refused URL becomes an ``invalid`` job and a report row."""
    from custos.captures import create_capture, invalid_job
    from custos.errors import InvalidInput

    try:
        capture = create_capture(url, user, preserve=preserve, wacz=wacz)
    except InvalidInput as exc:
        invalid_job(url, user, exc.details or {"error": [exc.message]})
        return {
            "uuid": None,
            "guid": None,
            "url": url,
            "status": "invalid",
            "capture_status": None,
            "message": exc.message,
        }
    return _load(capture.uuid)


FINISHED = {"completed", "failed", "invalid"}


def _settled(row: dict[str, Any]) -> bool:
    """A capture's job has ended, and so has its preservation when one is wanted."""
    from custos.captures import wants_preservation
    from custos.db import session_scope
    from custos.models import ArchiveResult

    if row["status"] not in FINISHED:
        return False
    if row["status"] != "completed" or row["uuid"] is None:
        return True
    with session_scope() as s:
        if not wants_preservation(s, row["uuid"]):
            return True
        return (
            s.exec(
                select(ArchiveResult).where(
                    col(ArchiveResult.capture_uuid) == row["uuid"],
                    col(ArchiveResult.extractor) == "preservation",
                )
            ).first()
            is not None
        )


def _progress(rows: list[dict[str, Any]], mode: Mode) -> None:
    """Follow the captures from the database, printing each job's step changes on
    stderr (stdout stays for the result, JSON or not), until all have settled (or,
    inline, no flow thread of this process is left)."""
    from cli.follow import still_running

    running = still_running(mode)
    seen: dict[str, tuple[str, str]] = {}
    while True:
        busy = running()
        settled = True
        for row in rows:
            if row["uuid"] is None:
                continue
            now = _load(row["uuid"])
            state = (now["status"], now["message"])
            if seen.get(row["uuid"]) != state:
                sys.stderr.write(f"{now['guid']}  {now['status']}  {now['message']}\n")
            seen[row["uuid"]] = state
            settled = settled and _settled(now)
        if settled or not busy:
            return
        time.sleep(POLL_SECONDS)


def _valid(url: str) -> bool:
    from custos.captures import normalize_url
    from custos.errors import InvalidInput

    try:
        normalize_url(url)
    except InvalidInput:
        return False
    return True


def _capture(
    urls: list[str], username: str, wait: bool, json_out: bool, preserve: bool | None, wacz: bool
) -> None:
    from cli.follow import interrupted
    from custos.accounts import get_or_create_user

    # only URLs that will be captured need somewhere to run (refused ones are recorded)
    runs = any(_valid(url) for url in urls)
    backend = work_backend(settings(), wait=wait, action="capture") if runs else None
    with backend or nullcontext(Mode.INLINE) as mode:
        user, _ = get_or_create_user(username)
        rows = [_submit(url, user, preserve, wacz) for url in urls]
        if wait:
            try:
                _progress(rows, mode)
            except KeyboardInterrupt:
                raise interrupted("the captures", mode) from None
    final = [_load(r["uuid"]) if r["uuid"] else r for r in rows]
    for row in final:
        if json_out:
            sys.stdout.write(
                json.dumps(
                    {
                        k: row.get(k)
                        for k in (
                            "guid",
                            "uuid",
                            "url",
                            "status",
                            "message",
                            "capture_status",
                            "warc_path",
                            "aip_uuid",
                        )
                    },
                    default=str,
                )
                + "\n"
            )
        else:
            line = f"{row['guid'] or '-'}  {row['status']}  {row['url']}"
            if row["message"] and row["status"] not in ("completed",):
                line += f"  ({row['message']})"
            typer.echo(line + (f"\n{row['warc_path']}" if row.get("warc_path") else ""))
    refused = any(r["status"] == "invalid" for r in final)
    if refused or (wait and any(r["status"] != "completed" for r in final)):
        raise typer.Exit(1)


@app.callback()
def capture(
    args: Annotated[
        list[str] | None,
        typer.Argument(help="URL... to capture, or: list | show GUID | download GUID DEST."),
    ] = None,
    wait: WaitOption = False,
    preserve: Annotated[
        bool | None,
        typer.Option(
            "--preserve/--no-preserve",
            help="Send each finished capture as a transfer "
            "(default: the capture_preserve setting).",
        ),
    ] = None,
    wacz: Annotated[bool, typer.Option("--wacz", help="Also package a WACZ.")] = False,
    file_format: Annotated[str, typer.Option("--format", help="download: warc or wacz.")] = "warc",
    limit: Annotated[int, typer.Option("--limit", help="Rows for 'list'.")] = 50,
    user: UserOption = "admin",
    json_out: JsonOption = False,
) -> None:
    """``custos capture URL... [--wait] [--json]``, ``list``, ``show GUID``,
    ``download GUID DEST [--format warc|wacz]``."""
    words = list(args or [])
    if not words:
        raise typer.BadParameter("give URLs to capture, or list / show GUID / download GUID DEST")
    with cli_errors(json_out):
        open_db(settings())
        command = words[0]
        if command == "list" and len(words) == 1:
            _list(limit, json_out)
        elif command == "show":
            if len(words) != 2:
                raise typer.BadParameter("usage: custos capture show GUID")
            _show(words[1], json_out)
        elif command == "download":
            if len(words) != 3:
                raise typer.BadParameter("usage: custos capture download GUID DEST")
            _download(words[1], Path(words[2]), file_format, json_out)
        else:
            _capture(words, user, wait, json_out, preserve, wacz)
