"""Settings fail at start-up with a message naming the variable."""

from __future__ import annotations

import pytest

from custos.errors import ConfigError
from custos.settings import load_settings


def test_invalid_port_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTOS_PORT", "not-a-port")
    with pytest.raises(ConfigError, match="CUSTOS_PORT"):
        load_settings()


def test_unknown_dispatch_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTOS_DISPATCH", "celery")
    with pytest.raises(ConfigError, match="CUSTOS_DISPATCH"):
        load_settings()


def test_default_database_is_sqlite_in_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUSTOS_DATABASE_URL", raising=False)
    monkeypatch.setenv("CUSTOS_HOME", "some/home")
    s = load_settings()
    assert s.home.is_absolute()
    assert s.db_url == f"sqlite:///{s.home / 'custos.db'}"
