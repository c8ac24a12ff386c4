"""Fixtures of the API tests: the app, users with keys (``recorded_runs``, the recording
dispatcher, is the root conftest's)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

_names = itertools.count()


@pytest.fixture(scope="session")
def app(custos_home: Any) -> Any:
    """The whole app, every dialect."""
    from api.app import create_app

    return create_app()


@pytest.fixture(scope="session")
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def new_user(role: str) -> tuple[str, str]:
    """A fresh user with ``role`` and an API key: (username, key)."""
    from custos.accounts import create_api_key, create_user

    user = create_user(f"{role}-user-{next(_names)}", role=role)
    assert user.id is not None
    return user.username, create_api_key(user.id)


@pytest.fixture()
def am_user() -> tuple[str, str]:
    """A fresh archivist and API key: (username, key)."""
    return new_user("archivist")


@pytest.fixture()
def auth(am_user: tuple[str, str]) -> dict[str, str]:
    """The Authorization header of ``am_user`` (an archivist)."""
    return {"Authorization": f"ApiKey {am_user[0]}:{am_user[1]}"}


@pytest.fixture()
def admin_auth() -> dict[str, str]:
    """The Authorization header of a fresh admin (processing configuration changes)."""
    name, key = new_user("admin")
    return {"Authorization": f"ApiKey {name}:{key}"}
