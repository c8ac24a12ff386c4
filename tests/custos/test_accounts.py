"""API keys are stored hashed and checked per user."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from custos.accounts import create_api_key, create_user, get_or_create_user, user_for_key
from custos.db import session_scope
from custos.errors import Conflict
from custos.models import ApiKey


def test_key_is_stored_hashed_and_resolves_to_its_user() -> None:
    user = create_user("alice-keys")
    assert user.id is not None
    key = create_api_key(user.id)
    with session_scope() as s:
        row = s.exec(select(ApiKey).where(col(ApiKey.user_id) == user.id)).one()
        assert key not in (row.key_hash, row.prefix + row.key_hash) and len(row.key_hash) == 64
    found = user_for_key(key)
    assert found is not None and found.username == "alice-keys"
    assert user_for_key(key, username="alice-keys") is not None
    assert user_for_key(key, username="bob") is None
    assert user_for_key(key[:-1] + ("0" if key[-1] != "0" else "1")) is None
    assert user_for_key("") is None


def test_duplicate_user_is_a_conflict() -> None:
    create_user("dup-user")
    with pytest.raises(Conflict):
        create_user("dup-user")
    user, created = get_or_create_user("dup-user")
    assert not created and user.username == "dup-user"
