"""Playback of captures: who may play one, from which origin, with which token.

Archived pages run scripts written by strangers, so they are replayed from a
second origin (``CUSTOS_PLAYBACK_ORIGIN``) that shares no cookies with the
console: by default, on one machine, the other loopback host name of the same
``custos serve`` (``localhost`` when the console is ``127.0.0.1``, and the other
way round). The playback origin holds no session: the console page embeds it
with a short-lived token, signed here, naming one capture::

    token = issue_token("ABCD-1234")        # in the console, after may_play(...)
    guid = check_token(token)               # in the playback origin; NotFound if bad

Tokens are HMAC-SHA256 over the GUID and an expiry time, keyed by a secret kept in
the home folder (``playback.key``, made on first use) unless
``CUSTOS_PLAYBACK_SECRET`` gives one (several API workers or hosts must share it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlmodel import Session, col, select

from custos.capture_contents import OUTPUT_VIEWS, output_file
from custos.captures import can_edit, canonical_guid, get_capture
from custos.errors import ConfigError, NotFound
from custos.models import Capture, CaptureJob, CaptureStatus, Organization, User
from custos.settings import Settings, get_settings

KEY_FILE = "playback.key"
#: The console's host name -> the playback host name on one machine.
_LOOPBACK_PAIRS = {"127.0.0.1": "localhost", "localhost": "127.0.0.1", "0.0.0.0": "localhost"}


def playback_origin(settings: Settings | None = None) -> str:
    """``scheme://host[:port]`` of the playback origin (no trailing slash).

    ``CUSTOS_PLAYBACK_ORIGIN`` when set; else the other loopback name of the
    console's host on the same port. A console on any other host name needs the
    setting (``ConfigError`` says so).
    """
    settings = settings or get_settings()
    if settings.playback_origin:
        return settings.playback_origin.rstrip("/")
    other = _LOOPBACK_PAIRS.get(settings.host)
    if other is None:
        raise ConfigError(
            f"CUSTOS_PLAYBACK_ORIGIN is not set and the console host {settings.host!r} "
            "has no second loopback name: set it to the origin that serves playback"
        )
    return f"http://{other}:{settings.port}"


def playback_host(settings: Settings | None = None) -> str | None:
    """The host name requests to the playback origin carry (None: not configured)."""
    try:
        return urlsplit(playback_origin(settings)).hostname
    except ConfigError:
        return None


def may_play(session: Session, user: User | None, capture: Capture) -> bool:
    """Perma's rule: public (listed or not) for anyone, private for its editors."""
    if capture.user_deleted:
        return False
    if not capture.is_private:
        return True
    return user is not None and user.is_active and can_edit(session, user, capture)


def replay_file(capture: Capture) -> Path | None:
    """The file ReplayWeb.page loads: the WACZ when there is one, else the WARC."""
    for name in (capture.wacz_path, capture.warc_path):
        if name and Path(name).is_file():
            return Path(name)
    return None


# -- tokens --------------------------------------------------------------------------
def _secret(settings: Settings) -> bytes:
    if settings.playback_secret:
        return settings.playback_secret.encode()
    path = settings.home / KEY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: of several workers starting at once, one writes and all read its key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_complete(path)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_hex(32).encode())
    return path.read_bytes()


def _read_complete(path: Path) -> bytes:
    for _ in range(50):
        data = path.read_bytes()
        if len(data) == 64:
            return data
        time.sleep(0.02)
    raise ConfigError(f"playback key {path.name} in the home folder is damaged: delete it")


def _sign(secret: bytes, message: str) -> str:
    digest = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_token(guid: str, ttl: int | None = None, now: float | None = None) -> str:
    """A token letting its bearer play capture ``guid`` for ``ttl`` seconds."""
    settings = get_settings()
    expires = int((now if now is not None else time.time()) + (ttl or settings.playback_token_ttl))
    message = f"{canonical_guid(guid)}.{expires}"
    return f"{message}.{_sign(_secret(settings), message)}"


def check_token(token: str, now: float | None = None) -> str:
    """The GUID a valid, unexpired token names; ``NotFound`` otherwise (never why)."""
    guid, _, rest = token.partition(".")
    expires, _, signature = rest.partition(".")
    if not (guid and expires.isdigit() and signature):
        raise NotFound("Not found.")
    expected = _sign(_secret(get_settings()), f"{guid}.{expires}")
    if not hmac.compare_digest(expected, signature):
        raise NotFound("Not found.")
    if int(expires) < (now if now is not None else time.time()):
        raise NotFound("Not found.")
    return guid


def pdf_name(guid: str) -> str:
    """The file name the playback origin serves a capture's PDF under."""
    return f"{canonical_guid(guid)}.pdf"


def embed_url(guid: str) -> str:
    """The playback origin's page replaying capture ``guid`` (check ``may_play`` first)."""
    return f"{playback_origin()}/embed/{issue_token(guid)}"


def pdf_url(guid: str) -> str:
    """The capture's PDF, inline from the playback origin (check ``may_play`` first)."""
    return f"{playback_origin()}/pdf/{issue_token(guid)}/{pdf_name(guid)}"


# -- the record page ------------------------------------------------------------------
@dataclass(frozen=True)
class Record:
    """What the console's record page (``/<GUID>``) shows of a capture."""

    capture: Capture
    organization: str | None
    creator: str | None
    job_status: str | None
    step: str | None
    error: str | None
    outputs: frozenset[str]
    playable: bool

    @property
    def in_progress(self) -> bool:
        return self.capture.status in (CaptureStatus.QUEUED, CaptureStatus.STARTED)

    @property
    def failed(self) -> bool:
        return self.capture.status == CaptureStatus.FAILED


def _error_of(message: str | None) -> str | None:
    if not message:
        return None
    try:
        data = json.loads(message)
    except ValueError:
        return message
    if isinstance(data, dict):
        parts = [
            str(v)
            for value in data.values()
            for v in (value if isinstance(value, list) else [value])
        ]
        return "; ".join(parts) or message
    return str(data)


def record(session: Session, user: User | None, ref: str) -> Record:
    """The record of capture ``ref`` (GUID) for ``user`` (None: anonymous).

    ``NotFound`` for a capture that does not exist, was deleted, or is private
    and not ``user``'s to see: a private capture is not revealed to others.
    """
    capture = get_capture(session, ref)
    if not may_play(session, user, capture):
        raise NotFound("Not found.")
    org = session.get(Organization, capture.organization_id) if capture.organization_id else None
    creator = session.get(User, capture.created_by) if capture.created_by else None
    job = session.exec(
        select(CaptureJob).where(col(CaptureJob.capture_uuid) == capture.uuid)
    ).first()
    outputs = frozenset(
        view for view in OUTPUT_VIEWS if output_file(session, capture, view) is not None
    )
    return Record(
        capture=capture,
        organization=org.name if org else None,
        creator=creator.username if creator else None,
        job_status=str(job.status) if job else None,
        step=job.step_description if job else None,
        error=_error_of(job.message) if job and capture.status == CaptureStatus.FAILED else None,
        outputs=outputs,
        playable=capture.status == CaptureStatus.SUCCEEDED and replay_file(capture) is not None,
    )
