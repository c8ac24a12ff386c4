"""Expired ``Idempotency-Key`` records of ``v2beta/package`` are deleted on the reconcile
schedule; live ones stay and still replay."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import col, select

from api.archivematica.idempotency import digest
from custos import reconciler
from custos.accounts import user_by_name
from custos.db import session_scope
from custos.housekeeping import purge_expired_idempotency
from custos.models import utcnow
from custos.models.am_api import IdempotencyRecord
from custos.storage import LocationPurpose, default_location


def _post(client: TestClient, auth: dict[str, str], name: str, key: str) -> Any:
    loc = default_location(LocationPurpose.TRANSFER_SOURCE)
    folder = Path(loc.path) / name
    folder.mkdir(exist_ok=True)
    (folder / "f.txt").write_text(name)
    path = base64.b64encode(f"{loc.uuid}:{name}".encode()).decode()
    body = json.dumps({"name": name, "path": path, "processing_config": "automated"})
    res = client.post(
        "/api/v2beta/package/", content=body.encode(), headers={**auth, "Idempotency-Key": key}
    )
    assert res.status_code == 202, res.text
    return res.json()["id"]


def _keys(user_id: int) -> set[str]:
    with session_scope() as s:
        return set(
            s.exec(
                select(IdempotencyRecord.key_digest).where(
                    col(IdempotencyRecord.user_id) == user_id
                )
            ).all()
        )


def _expire(user_id: int, key: str, ago: timedelta) -> None:
    with session_scope() as s:
        s.execute(
            update(IdempotencyRecord)
            .where(
                col(IdempotencyRecord.user_id) == user_id,
                col(IdempotencyRecord.key_digest) == digest(key),
            )
            .values(expires_at=utcnow() - ago)
        )


def test_the_reconcile_flow_purges_expired_keys_and_keeps_live_ones(
    client: TestClient,
    auth: dict[str, str],
    am_user: tuple[str, str],
    recorded_runs: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.reconcile import reconcile

    user = user_by_name(am_user[0])
    assert user is not None and user.id is not None
    old = _post(client, auth, "purge-old", "key-old")
    live = _post(client, auth, "purge-live", "key-live")
    assert _keys(user.id) == {digest("key-old"), digest("key-live")}
    _expire(user.id, "key-old", timedelta(seconds=1))  # its 90 days are over

    # Only the housekeeping of the pass is under test: no unit of the session is resubmitted.
    monkeypatch.setattr(reconciler, "reconcile", lambda *_a, **_k: [])
    reconcile.fn()
    assert _keys(user.id) == {digest("key-live")}

    # The expired key is a new request now; the live one still replays its transfer.
    again = _post(client, auth, "purge-old", "key-old")
    assert again != old
    assert _post(client, auth, "purge-live", "key-live") == live
    assert [name for name, _ in recorded_runs.submitted] == ["transfer"] * 3


def test_purge_removes_exactly_the_expired_records(am_user: tuple[str, str]) -> None:
    user = user_by_name(am_user[0])
    assert user is not None and user.id is not None
    now = utcnow()
    with session_scope() as s:
        for key, expires in (
            ("past", now - timedelta(days=1)),
            ("now", now),
            ("soon", now + timedelta(seconds=5)),
            ("later", now + timedelta(days=89)),
        ):
            s.add(
                IdempotencyRecord(
                    user_id=user.id,
                    key_digest=digest(key),
                    request_digest=digest("{}"),
                    expires_at=expires,
                )
            )
    assert purge_expired_idempotency(now=now) >= 2
    assert _keys(user.id) == {digest("soon"), digest("later")}
    assert purge_expired_idempotency(now=now) == 0
