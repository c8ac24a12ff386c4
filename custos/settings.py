"""Settings: one ``Settings`` object read from ``CUSTOS_*`` environment variables.

Everything configurable lives here with its default, so an operator can read one
file to know what can be changed. ``get_settings()`` builds it once per process;
invalid values fail at start-up with a ``ConfigError`` that names the variable.

Example::

    CUSTOS_HOME=/srv/custos CUSTOS_DATABASE_URL=postgresql+psycopg://u@db/custos custos serve
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from custos.errors import ConfigError
from custos.programs import which

PACKAGE_DATA = Path(__file__).resolve().parent / "data"

#: Flow runs of one flow at once (``CUSTOS_FLOW_LIMITS``): none by default. A
#: deployment's slot is held by a run until Prefect sees it end, so a run killed
#: with its runner holds it until its lease expires; a limit of 1 on the
#: reconciler would keep it from running after a crash, exactly when it is needed.
DEFAULT_FLOW_LIMITS: dict[str, int] = {}


class Settings(BaseSettings):
    """All of Custos' settings (environment prefix ``CUSTOS_``)."""

    model_config = SettingsConfigDict(env_prefix="CUSTOS_", extra="ignore")

    home: Path = Field(
        default=Path("var"),
        description="Folder holding the database, locations, Prefect's home and logs.",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is a SQLite file in the home folder."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    prefect_host: str = "127.0.0.1"
    prefect_port: int = Field(default=4200, ge=1, le=65535)
    prefect_ui: bool = True
    api_workers: int = Field(
        default=2, ge=1, le=64, description="API worker processes started by `custos serve`."
    )
    dispatch: Literal["prefect", "inline"] = Field(
        default="prefect",
        description="How flows are started: Prefect deployments or a "
        "worker thread of this process.",
    )
    reconcile_interval: int = Field(
        default=60, ge=5, description="Seconds between reconciler passes."
    )
    watch_interval: int = Field(
        default=60, ge=5, description="Seconds between watched folder scans."
    )
    watch_settle_seconds: float = Field(
        default=5.0,
        ge=0,
        description="A dropped item must be unchanged this long before it starts.",
    )
    fixity_audit_interval: int = Field(default=86400, ge=60)

    checksum_algorithm: Literal["md5", "sha1", "sha256", "sha512"] = "sha256"
    worker_threads: int = Field(default=4, ge=1, le=64)

    flow_run_limit: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Flow runs executed at once by one machine: the runner of "
        "`custos serve`, or `custos worker` (`prefect worker start --limit`).",
    )
    flow_process: Literal["forkserver", "spawn"] = Field(
        default="forkserver",
        description="How the runner of `custos serve` starts a flow run's process: "
        "forked from a process that imported the flows once, or a new interpreter "
        "(Prefect's own way, seconds slower per run).",
    )
    flow_limits: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_FLOW_LIMITS),
        description="Flow runs of one flow at once across every machine (the "
        "deployment's concurrency limit), as JSON: "
        '\'{"transfer": 4, "ingest": 2}\' (merged with the defaults); flows not '
        "named have no limit of their own.",
    )
    virus_scan_limit: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Virus scans (each a clamd) running at once on one machine; "
        "further scans wait for a slot.",
    )

    clamav_database: Path | None = Field(
        default=None,
        description="Folder of ClamAV "
        "signature files; default: the system's when it "
        "holds official signatures, else the shipped "
        "test-only set (see custos.virus_signatures).",
    )
    clamav_system_database: Path = Field(
        default=Path("/var/lib/clamav"),
        description="Where freshclam keeps the official signatures.",
    )
    clamav_require_official: bool = Field(
        default=False,
        description="Fail every virus check (and its unit) without official signatures.",
    )
    clamd_socket: Path | None = Field(
        default=None, description="Socket of a running clamd; default: Custos starts its own."
    )
    chromium_path: str | None = Field(
        default=None,
        description="Chromium executable "
        "for captures; default: `chromium` on PATH, else "
        "Playwright's own browser.",
    )
    web_assets: Path | None = Field(
        default=None,
        description="Folder of the front-end "
        "packages (npm) the app serves itself; default: "
        "web/node_modules of the source tree.",
    )
    capture_allow_loopback: bool = False
    capture_pdf: bool = Field(
        default=False,
        description="Print every captured page to a PDF too "
        "(ArchiveBox's SAVE_PDF); one capture asks for one with its pdf option.",
    )
    capture_ca_bundle: Path | None = Field(
        default=None,
        description="Extra trusted CA "
        "certificates (PEM) for verifying captured "
        "origins, beside the system store (tests, or "
        "an organisation's own CA).",
    )
    capture_timeout: float = Field(default=45.0, gt=0)
    crawl_max_pages: int = Field(
        default=20,
        ge=1,
        description="Most snapshots one crawl with depth 1 or more makes, its first "
        "pages included (the same-site links it follows stop there).",
    )
    capture_load_timeout: float = Field(default=20.0, gt=0)
    capture_max_size: int = Field(default=200 * 1024 * 1024, gt=0)
    capture_max_resources: int = Field(
        default=2000,
        gt=0,
        description="Requests a capture sends to origins before it stops recording.",
    )
    capture_concurrency: int = Field(
        default=2,
        ge=1,
        le=32,
        description="Captures run at once by one worker (browser contexts of one pool).",
    )
    capture_preserve: bool = Field(
        default=False,
        description="Send every finished capture "
        "as a transfer (processing configuration `capture`).",
    )

    extract_max_total_size: int = Field(default=50 * 1024**3, gt=0)
    extract_max_files: int = Field(default=1_000_000, gt=0)
    extract_max_ratio: float = Field(default=200.0, gt=1)
    extract_max_depth: int = Field(default=5, ge=1)

    playback_origin: str | None = Field(
        default=None,
        description="Origin (scheme://host[:port]) serving replayed captures, apart from "
        "the console's; default: the console's other loopback name (localhost <-> "
        "127.0.0.1) on the same port. See docs/playback.md.",
    )
    playback_secret: str | None = Field(
        default=None,
        description="Key signing playback tokens; default: a random key kept in "
        "the home folder (playback.key). Set it when several hosts serve the API.",
    )
    playback_token_ttl: int = Field(
        default=4 * 3600,
        ge=60,
        description="Seconds a playback link handed to a viewer stays valid.",
    )

    org_name: str = "Custos"
    org_code: str = "ORG"

    @field_validator("playback_origin")
    @classmethod
    def _origin(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
            raise ValueError("must be an origin such as https://play.example.org")
        return f"{parts.scheme}://{parts.netloc}"

    @field_validator("flow_limits")
    @classmethod
    def _positive_limits(cls, value: dict[str, int]) -> dict[str, int]:
        bad = sorted(name for name, limit in value.items() if limit < 1)
        if bad:
            raise ValueError(f"limits must be 1 or more ({', '.join(bad)})")
        return {**DEFAULT_FLOW_LIMITS, **value}

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @property
    def db_url(self) -> str:
        """The database URL actually used (SQLite in the home folder by default)."""
        return self.database_url or f"sqlite:///{self.home / 'custos.db'}"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def prefect_api_url(self) -> str:
        return f"http://{self.prefect_host}:{self.prefect_port}/api"

    @property
    def locations_root(self) -> Path:
        return self.home / "locations"

    @property
    def processing_configs_dir(self) -> Path:
        """User-editable processing configurations (seeded from the built-in ones)."""
        return self.home / "processing_configs"

    @property
    def builtin_processing_configs_dir(self) -> Path:
        return PACKAGE_DATA / "processing_configs"

    @property
    def run_dir(self) -> Path:
        """Sockets, pid files and locks of running services."""
        return self.home / "run"

    def chromium_executable(self) -> str | None:
        """The browser to drive, or None to let Playwright use its own."""
        if self.chromium_path:
            return self.chromium_path
        return which("chromium") or which("chromium-browser")


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation errors into one message per variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except SettingsError as exc:  # a JSON setting that is not JSON
        found = re.search(r'field "(\w+)"', str(exc))
        name = f"CUSTOS_{found[1].upper()}" if found else "a setting"
        raise ConfigError(f"invalid settings: {name}: not valid JSON") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"CUSTOS_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings (read once; tests call ``get_settings.cache_clear()``)."""
    return load_settings()
