"""The console's view of captures: who sees which, thumbnails, files served only from
the capture's folder, and submitting several URLs at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import col, select

from custos.accounts import create_user
from custos.capture_views import capture_file, capture_record, list_captures, submit_urls
from custos.db import session_scope
from custos.errors import InvalidInput, NotFound
from custos.models import ArchiveResult, Capture, ResultStatus, User, new_uuid
from tests.support.recording import RecordingBackend


def _user(role: str = "capture") -> User:
    return create_user(f"cv-{new_uuid()[:8]}", role=role)


def _finish(guid: str, tmp_path: Path, outputs: dict[str, str]) -> None:
    """Give a capture a directory with files and their successful results."""
    directory = tmp_path / guid
    directory.mkdir()
    with session_scope() as s:
        capture = s.exec(select(Capture).where(col(Capture.guid) == guid)).one()
        capture.directory = str(directory)
        for extractor, output in outputs.items():
            target = directory / output
            if not output.startswith(".."):
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(b"x" * 10)
            s.add(
                ArchiveResult(
                    capture_uuid=capture.uuid,
                    extractor=extractor,
                    status=ResultStatus.SUCCEEDED,
                    output=output,
                )
            )


def test_submit_many_urls_refuses_bad_lines_and_starts_the_rest(
    recorded_runs: RecordingBackend,
) -> None:
    user = _user()
    done = submit_urls(user, "https://example.org/a\n\nnot a url\nexample.org/b\n")
    assert [c.url for c in done.captures] == ["https://example.org/a", "http://example.org/b"]
    assert done.refused == [
        ("not a url", "not a web address (http:// or https://, then a host name)")
    ]
    assert done.captures[0].batch_id is not None
    assert done.captures[0].batch_id == done.captures[1].batch_id
    uuids = [c.uuid for c in done.captures]  # several: one batch run for them all
    assert recorded_runs.submitted == [("capture-batch", {"unit_uuids": uuids})]
    with pytest.raises(InvalidInput, match="at least one URL"):
        submit_urls(user, " \n ")


def test_users_see_their_own_captures_and_admins_all(
    recorded_runs: RecordingBackend, tmp_path: Path
) -> None:
    alice, bob, admin = _user(), _user(), _user("admin")
    mine = submit_urls(alice, "https://example.org/alice").captures[0]
    submit_urls(bob, "https://example.org/bob")
    _finish(mine.guid, tmp_path, {"screenshot": "screenshot.png", "warc": "archive/a.warc.gz"})
    page = list_captures(alice)
    assert [r.url for r in page.rows] == ["https://example.org/alice"]
    assert page.rows[0].has_screenshot and page.total == 1
    assert list_captures(alice, q="ALICE").total == 1 and list_captures(alice, q="bob").total == 0
    assert {r.url for r in list_captures(admin, per_page=200).rows} >= {
        "https://example.org/alice",
        "https://example.org/bob",
    }
    with pytest.raises(NotFound):
        capture_record(bob, mine.guid)
    record = capture_record(alice, mine.guid)
    assert record.downloads == ["warc", "screenshot"]
    assert record.folder == "Personal Links"
    path, media, name = capture_file(alice, mine.guid, "warc")
    assert path.read_bytes() == b"x" * 10 and media == "application/warc"
    assert name == f"{mine.guid}.warc.gz"
    with pytest.raises(NotFound):
        capture_file(bob, mine.guid, "screenshot")
    with pytest.raises(NotFound, match="no download"):
        capture_file(alice, mine.guid, "exe")


def test_files_outside_the_capture_folder_are_never_served(
    recorded_runs: RecordingBackend, tmp_path: Path
) -> None:
    user = _user()
    capture = submit_urls(user, "https://example.org/x").captures[0]
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"secret")
    _finish(capture.guid, tmp_path, {"screenshot": "../secret.png"})
    assert capture_record(user, capture.guid).downloads == []
    with pytest.raises(NotFound, match="has no screenshot"):
        capture_file(user, capture.guid, "screenshot")
