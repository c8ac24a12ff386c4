"""``custos capture``: capture loopback pages with --wait/--json, refused URLs, show,
download (WARC and WACZ) and list, run in-process with typer's CliRunner."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from cli.main import app
from custos.db import session_scope
from custos.models import Capture, CaptureJob
from custos.settings import get_settings
from tests.capture.site import SiteServer
from tests.support.recording import RecordingBackend

runner = CliRunner()


@pytest.fixture()
def loopback(live_captures: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Live captures of the test site, with short page loads (its pages are small)."""
    monkeypatch.setenv("CUSTOS_CAPTURE_LOAD_TIMEOUT", "10")
    get_settings.cache_clear()


@pytest.fixture()
def page(site: SiteServer) -> str:
    return f"{site.base}/simple.html"


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_capture_wait_json_reports_each_url(page: str, loopback: None) -> None:
    banned = "http://169.254.169.254/latest/meta-data/"  # refused before dialling
    result = runner.invoke(
        app,
        [
            "capture",
            page,
            "http://bad\x01url/",
            banned,
            "--wait",
            "--json",
            "--user",
            "cli-capturer",
        ],
    )
    assert result.exit_code == 1, result.stderr  # not every capture completed
    lines = _lines(result.stdout)
    assert len(lines) == 3, (result.stdout, result.stderr[-3000:], repr(result.exception))
    ok, refused, failed = lines
    assert (ok["status"], ok["capture_status"], ok["url"]) == ("completed", "succeeded", page)
    assert ok["guid"] and Path(ok["warc_path"]).is_file()
    assert refused["guid"] is None and refused["status"] == "invalid"
    assert refused["message"] == "Unicode error while processing URL."
    assert failed["status"] == "failed" and failed["guid"]
    assert "169.254.0.0/16" in failed["message"]
    with session_scope() as s:
        invalid = s.exec(
            select(CaptureJob).where(col(CaptureJob.submitted_url) == "http://bad\x01url/")
        ).one()
        assert invalid.status == "invalid" and invalid.capture_uuid is None
        row = s.exec(select(Capture).where(col(Capture.guid) == ok["guid"])).one()
        assert row.title == "simple" and row.created_by is not None


def test_show_download_and_list(page: str, loopback: None, tmp_path: Path) -> None:
    result = runner.invoke(app, ["capture", page, "--wait", "--wacz", "--json"])
    assert result.exit_code == 0, result.stderr
    assert "completed" in result.stderr or "in_progress" in result.stderr  # progress
    (made,) = _lines(result.stdout)
    guid = made["guid"]

    shown = runner.invoke(app, ["capture", "show", guid.lower().replace("-", ""), "--json"])
    assert shown.exit_code == 0, shown.stderr
    data = json.loads(shown.stdout)
    extractors = {r["extractor"]: r["status"] for r in data["results"]}
    assert data["guid"] == guid and data["status"] == "completed"
    assert extractors["warc"] == extractors["wacz"] == "succeeded"
    text = runner.invoke(app, ["capture", "show", guid])
    assert text.exit_code == 0 and guid in text.stdout and "warc" in text.stdout

    warc = runner.invoke(app, ["capture", "download", guid, str(tmp_path)])
    assert warc.exit_code == 0, warc.stderr
    target = tmp_path / f"{guid}.warc.gz"
    assert target.read_bytes() == Path(made["warc_path"]).read_bytes()
    wacz_file = tmp_path / "copy.wacz"
    wacz = runner.invoke(app, ["capture", "download", guid, str(wacz_file), "--format", "wacz"])
    assert wacz.exit_code == 0, wacz.stderr
    with zipfile.ZipFile(wacz_file) as z:
        assert "datapackage.json" in z.namelist()
    bad = runner.invoke(app, ["capture", "download", guid, str(tmp_path), "--format", "zip"])
    assert bad.exit_code == 1 and "--format must be one of warc, wacz" in bad.stderr
    missing = runner.invoke(app, ["capture", "show", "ZZZZ-2222"])
    assert missing.exit_code == 1 and missing.stderr.strip() == "error: no capture ZZZZ-2222"

    listed = runner.invoke(app, ["capture", "list", "--json"])
    assert listed.exit_code == 0
    assert guid in {row["guid"] for row in json.loads(listed.stdout)}


def test_capture_without_wait_queues_and_refuses_empty(recorded_runs: RecordingBackend) -> None:
    result = runner.invoke(app, ["capture", "http://127.0.0.1:9/queued", "--preserve", "--json"])
    assert result.exit_code == 0, result.stderr
    (row,) = _lines(result.stdout)
    assert row["status"] == "pending" and recorded_runs.submitted == [
        ("capture", {"unit_uuid": row["uuid"]})
    ]
    from custos.captures import wants_preservation

    with session_scope() as s:
        assert wants_preservation(s, row["uuid"]) is True
    empty = runner.invoke(app, ["capture", " ", "--json"])
    assert empty.exit_code == 1
    assert _lines(empty.stdout)[0]["message"] == "URL cannot be empty."
