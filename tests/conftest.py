"""Test-session set-up shared by every test.

Each pytest session gets its own Custos home in a temporary folder and its own
database: SQLite there by default, or the PostgreSQL database named by
``CUSTOS_TEST_DATABASE_URL`` (its ``public`` schema is reset first).

Prefect: a test that talks to a Prefect server (a flow run through Prefect's engine,
a deployment, a worker) is marked ``@pytest.mark.prefect`` (or asks for the
``prefect_server`` fixture): one real Prefect server is then started for the session,
on first use (~10 s). Other tests run without one, and Prefect's ephemeral mode is off,
so an unmarked test that reaches Prefect fails with "No Prefect API URL provided"
instead of quietly starting a temporary server.

System tools: the session stops before any test runs when a tool of
``scripts/install-system.sh`` is missing (``tests/support/tools.py``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.recording import RecordingBackend

if TYPE_CHECKING:
    from tests.capture.site import SiteServer

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="custos-test-"))
os.environ.update(
    {
        "CUSTOS_HOME": str(_SESSION_HOME / "home"),
        "CUSTOS_DISPATCH": "inline",
        "PREFECT_HOME": str(_SESSION_HOME / "prefect"),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "false",
        # the shipped test signatures, even where freshclam keeps official ones (which
        # take clamd seconds and a GiB to load)
        "CUSTOS_CLAMAV_DATABASE": str(Path(__file__).parent.parent / "custos/data/clamav"),
    }
)
os.environ.pop("PREFECT_API_URL", None)
(_SESSION_HOME / "home").mkdir(parents=True, exist_ok=True)
if os.environ.get("CUSTOS_TEST_DATABASE_URL"):
    os.environ["CUSTOS_DATABASE_URL"] = os.environ["CUSTOS_TEST_DATABASE_URL"]
else:
    os.environ.pop("CUSTOS_DATABASE_URL", None)


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def custos_db() -> Iterator[str]:
    """A migrated database for the whole session; yields its URL."""
    from custos.db import dispose_engines, get_engine, migrate
    from custos.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    if settings.db_url.startswith("postgresql"):
        _reset_postgres(settings.db_url)
    migrate(get_engine())
    yield settings.db_url
    dispose_engines()


@pytest.fixture(scope="session")
def custos_home(custos_db: str) -> Path:
    """The session's Custos home, with its default locations created."""
    from custos.settings import get_settings
    from custos.storage import ensure_default_locations

    ensure_default_locations()
    return get_settings().home


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """A real Prefect server (temporary SQLite) for tests that run flows through Prefect;
    started on first use and kept for the session."""
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY
    from prefect.settings import temporary_settings as _ts
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        with _ts(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield str(PREFECT_API_URL.value())


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop at once, naming each tool and its Debian package, when a system tool the
    tests run is missing: a test never skips for want of one."""
    if session.config.option.collectonly:
        return
    from custos.settings import load_settings
    from tests.support.tools import missing_tools, missing_tools_message, required_tools

    missing = missing_tools(load_settings().chromium_executable(), required_tools())
    if missing:
        raise pytest.UsageError(missing_tools_message(missing))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reverse",
        action="store_true",
        help="run the tests in reverse order: a test that needs another's state fails",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``prefect`` the tests that ask for the Prefect server by name, so that
    ``-m "not prefect"`` leaves out every test that needs one; ``--reverse``."""
    for item in items:
        if "prefect_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.prefect)
    if config.getoption("reverse"):
        items.reverse()


@pytest.fixture(autouse=True)
def _prefect_when_marked(request: pytest.FixtureRequest) -> None:
    """Start the session's Prefect server before a test marked ``prefect``."""
    if request.node.get_closest_marker("prefect") is not None:
        request.getfixturevalue("prefect_server")


@pytest.fixture()
def recorded_runs(custos_home: Path) -> Iterator[RecordingBackend]:
    """Flows submitted through ``custos.dispatch`` during the test, recorded (none runs)."""
    from custos import dispatch

    backend = RecordingBackend()
    dispatch.set_backend(backend)
    yield backend
    dispatch.set_backend(None)


@pytest.fixture(scope="session")
def site() -> Iterator[SiteServer]:
    """The capture test site (``tests/capture/site.py``) on 127.0.0.1, for the session."""
    from tests.capture.site import SiteServer

    server = SiteServer("127.0.0.1").start()
    yield server
    server.stop()


@pytest.fixture()
def inline_flows() -> Iterator[Any]:
    """Flows run inline in this process (``custos.dispatch``'s inline backend), with no
    error left over from an earlier test: yields the backend (``.wait_all``,
    ``.errors``)."""
    from custos import dispatch

    backend = dispatch.inline_backend()
    backend.errors.clear()
    dispatch.set_backend(backend)
    yield backend
    backend.wait_all(120)  # no flow outlives its test
    dispatch.set_backend(None)


@pytest.fixture()
def live_captures(
    custos_home: Path, prefect_server: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Captures run for real, inline in this process: loopback pages allowed (the test
    site), generous time limits for a loaded machine, the session's Prefect server."""
    from custos import dispatch
    from custos.settings import get_settings

    monkeypatch.setenv("CUSTOS_CAPTURE_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("CUSTOS_CAPTURE_TIMEOUT", "90")
    get_settings.cache_clear()
    dispatch.set_backend(dispatch.inline_backend())
    yield
    dispatch.inline_backend().wait_all(120)  # no capture outlives its test
    dispatch.set_backend(None)
    monkeypatch.undo()
    get_settings.cache_clear()
