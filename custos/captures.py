"""Making captures and deciding who may touch them: the glue both web dialects share.

A capture is one row seen three ways: a Perma "archive" (by GUID), an ArchiveBox
"snapshot" (by timestamp or UUID) and a ``Unit`` of type ``capture`` (same uuid)
whose jobs the recorder writes. ``create_capture`` makes all of them, plus the
Perma ``CaptureJob``, in one transaction and then starts the ``capture`` flow.

Access follows Perma: a user sees and edits the captures in folders they own or
that belong to one of their organizations; admins see everything. Quotas apply
only to personal folders.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from custos import dispatch
from custos.db import session_scope
from custos.errors import Forbidden, InvalidInput, NotFound
from custos.models import (
    ArchiveResult,
    Batch,
    Capture,
    CaptureJob,
    CaptureJobStatus,
    CaptureTag,
    Crawl,
    Folder,
    Organization,
    OrganizationMember,
    Tag,
    TransferType,
    Unit,
    UnitType,
    User,
    utcnow,
)
from custos.models.perma import CaptureQuota
from custos.settings import get_settings

GUID_CHARACTER_SET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
MAX_URL_LENGTH = 2100
ARCHIVE_DELAY = timedelta(hours=24)
USAGE_LIMIT_MESSAGE = (
    "Perma can't create this link. You've reached your usage limit. "
    "Visit your Usage Plan page for information and plan options."
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_RESERVED_GUID = re.compile(r"^[A-Z]{4}")
#: Key of the capture unit's ``variables`` holding a per-capture preservation choice.
PRESERVE_VAR = "preserve"


def canonical_guid(guid: str) -> str:
    """Perma's canonical form: uppercase, only alphanumerics, a hyphen every 4 from the end."""
    raw = re.sub(r"[^0-9A-Za-z]", "", guid).upper()
    parts: list[str] = []
    while raw:
        parts.insert(0, raw[-4:])
        raw = raw[:-4]
    return "-".join(parts)


def new_guid(session: Session) -> str:
    """A fresh ``XXXX-XXXX`` GUID, redrawn when reserved (four letters) or taken."""
    rng = secrets.SystemRandom()
    for _ in range(100):
        guid = canonical_guid("".join(rng.choice(GUID_CHARACTER_SET) for _ in range(8)))
        if _RESERVED_GUID.match(guid):
            continue
        if session.exec(select(Capture.uuid).where(col(Capture.guid) == guid)).first():
            continue
        return guid
    raise RuntimeError("No valid GUID found in 100 attempts.")


def new_timestamp(session: Session) -> str:
    """ArchiveBox's snapshot timestamp (epoch seconds as text), made unique by a suffix."""
    base = f"{time.time():.0f}"
    candidate, n = f"{base}.0", 0
    while session.exec(select(Capture.uuid).where(col(Capture.timestamp) == candidate)).first():
        n += 1
        candidate = f"{base}.{n}"
    return candidate


def guid_as_path(guid: str) -> str:
    """``ABCD-1234`` -> ``AB/CD/12/ABCD-1234`` (Perma's storage layout)."""
    raw = re.sub(r"[^0-9A-Za-z]", "", guid)
    chunks = [raw[i : i + 2] for i in range(0, len(raw), 2)][:-1]
    return "/".join([*chunks, guid])


def normalize_url(url: str | None) -> str:
    """Perma's URL checks: not empty, no control characters, ``http://`` when no scheme."""
    url = (url or "").strip()
    if not url:
        raise InvalidInput("URL cannot be empty.", {"url": ["URL cannot be empty."]})
    if _CONTROL.search(url):
        raise InvalidInput(
            "Unicode error while processing URL.", {"url": "Unicode error while processing URL."}
        )
    if not url.lower().startswith("http"):
        url = "http://" + url
    if len(url) > MAX_URL_LENGTH:
        message = f"Ensure this field has no more than {MAX_URL_LENGTH} characters."
        raise InvalidInput(message, {"url": [message]})
    return url


# -- folders and organizations ------------------------------------------------------
def ensure_root_folder(session: Session, user: User) -> Folder:
    """The user's personal root folder, created on first use."""
    folder = session.exec(
        select(Folder).where(
            col(Folder.owned_by) == user.id,
            col(Folder.parent_id).is_(None),
            col(Folder.organization_id).is_(None),
        )
    ).first()
    if folder is None:
        folder = Folder(name="Personal Links", owned_by=user.id, is_root_folder=True)
        session.add(folder)
        session.flush()
    return folder


def create_organization(
    name: str, registrar: str = "", *, default_to_private: bool = False, members: Sequence[int] = ()
) -> Organization:
    """An organization with its shared top-level folder and its members."""
    with session_scope() as s:
        org = Organization(name=name, registrar=registrar, default_to_private=default_to_private)
        s.add(org)
        s.flush()
        shared = Folder(name=name, organization_id=org.id, is_root_folder=True)
        s.add(shared)
        s.flush()
        org.shared_folder_id = shared.id
        assert org.id is not None
        for user_id in members:
            s.add(OrganizationMember(organization_id=org.id, user_id=user_id))
        s.flush()
        s.refresh(org)
        return org


def organization_ids(session: Session, user: User) -> list[int]:
    """Organizations the user belongs to (all of them for admins)."""
    if user.is_admin:
        return [o for o in session.exec(select(Organization.id)).all() if o is not None]
    return list(
        session.exec(
            select(OrganizationMember.organization_id).where(
                col(OrganizationMember.user_id) == user.id
            )
        ).all()
    )


def can_access_folder(session: Session, user: User, folder: Folder) -> bool:
    """Owned personal folders and folders of the user's organizations."""
    if user.is_admin or folder.owned_by == user.id:
        return True
    return folder.organization_id is not None and folder.organization_id in organization_ids(
        session, user
    )


def accessible_folder_ids(session: Session, user: User) -> list[int]:
    """Every folder id the user can see and edit the links of."""
    query = select(Folder.id)
    if not user.is_admin:
        orgs = organization_ids(session, user)
        query = query.where(
            (col(Folder.owned_by) == user.id) | col(Folder.organization_id).in_(orgs or [-1])
        )
    return [f for f in session.exec(query).all() if f is not None]


def can_edit(session: Session, user: User, capture: Capture) -> bool:
    """Perma's ``can_edit``: the capture sits in a folder the user can access."""
    if user.is_admin:
        return True
    if capture.folder_id is None:
        return capture.created_by == user.id
    folder = session.get(Folder, capture.folder_id)
    return folder is not None and can_access_folder(session, user, folder)


def can_delete(session: Session, user: User, capture: Capture) -> bool:
    """Only within ARCHIVE_DELAY of creation, not already deleted, by an editor."""
    created = capture.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=utcnow().tzinfo)
    return (
        not capture.user_deleted
        and created + ARCHIVE_DELAY > utcnow()
        and can_edit(session, user, capture)
    )


# -- quotas --------------------------------------------------------------------------
def links_remaining(session: Session, user: User) -> tuple[float, str, int]:
    """``(remaining, period, bonus)``; ``inf`` when the user has no limit."""
    quota = session.get(CaptureQuota, user.id)
    if quota is None or quota.link_limit is None:
        return float("inf"), "once", 0
    query = (
        select(func.count())
        .select_from(Capture)
        .join(Folder, col(Folder.id) == col(Capture.folder_id))
        .where(
            col(Capture.created_by) == user.id,
            col(Folder.organization_id).is_(None),
            col(Capture.user_deleted).is_(False),
        )
    )
    now = utcnow()
    if quota.period == "monthly":
        query = query.where(
            col(Capture.created_at) >= now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        )
    elif quota.period == "annually":
        query = query.where(
            col(Capture.created_at)
            >= now.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        )
    used = int(session.exec(query).one())
    return (
        float(max(0, quota.link_limit + quota.bonus_links - used)),
        quota.period,
        quota.bonus_links,
    )


# -- creation ------------------------------------------------------------------------
def create_capture(
    url: str,
    user: User,
    folder: int | None = None,
    is_private: bool = False,
    title: str | None = None,
    crawl: str | None = None,
    batch: int | None = None,
    tags: Sequence[str] = (),
    *,
    human: bool = False,
    notes: str = "",
    submit: bool = True,
    preserve: bool | None = None,
    wacz: bool = False,
    pdf: bool = False,
) -> Capture:
    """Validate, then write Capture + Unit + CaptureJob and start the capture flow.

    ``folder`` defaults to the user's personal root folder. Raises ``InvalidInput``
    (with Perma-shaped ``details``) for bad URLs, unknown folders and spent quotas.
    ``preserve`` sends the finished capture as a transfer (None: the
    ``capture_preserve`` setting decides); ``wacz`` also packages it as a WACZ, ``pdf``
    also prints the page to a PDF (as does the ``capture_pdf`` setting for every capture).
    ``submit=False`` leaves starting it to the caller (a batch starts its captures
    together: ``custos.capture_batches``).
    """
    url = normalize_url(url)
    if title is not None and len(title) > MAX_URL_LENGTH:
        message = f"Ensure this field has no more than {MAX_URL_LENGTH} characters."
        raise InvalidInput(message, {"title": [message]})
    with session_scope() as s:
        target = _target_folder(s, user, folder)
        if target.organization_id is None:
            remaining, _, _ = links_remaining(s, user)
            if remaining <= 0:
                raise InvalidInput(USAGE_LIMIT_MESSAGE, {"error": [USAGE_LIMIT_MESSAGE]})
            org = None
        else:
            org = s.get(Organization, target.organization_id)
        guid = new_guid(s)
        capture = Capture(
            guid=guid,
            timestamp=new_timestamp(s),
            url=url,
            title=title,
            notes=notes,
            is_private=bool(is_private or (org is not None and org.default_to_private)),
            folder_id=target.id,
            organization_id=target.organization_id,
            created_by=user.id,
            crawl_uuid=crawl,
            batch_id=batch,
            directory=str(get_settings().home / "captures" / guid_as_path(guid)),
        )
        if capture.is_private:
            capture.private_reason = "user" if is_private else "policy"
        options: dict[str, object] = {} if preserve is None else {PRESERVE_VAR: bool(preserve)}
        s.add(
            Unit(
                uuid=capture.uuid,
                unit_type=UnitType.CAPTURE,
                name=url,
                transfer_type=TransferType.CAPTURE,
                source_path=url,
                created_by=user.id,
                variables=options,
            )
        )
        s.add(capture)
        s.flush()
        s.add(
            CaptureJob(
                capture_uuid=capture.uuid,
                status=CaptureJobStatus.PENDING,
                submitted_url=url,
                human=human,
                batch_id=batch,
                created_by=user.id,
                archive_formats=",".join(["warc"] + ["wacz"] * wacz + ["pdf"] * pdf),
                order=_next_order(s, user, human),
            )
        )
        for name in tags:
            s.add(CaptureTag(capture_uuid=capture.uuid, tag_id=ensure_tag(s, name).id or 0))
        s.flush()
        s.refresh(capture)
    if submit:
        dispatch.submit("capture", capture.uuid)
    return capture


def invalid_job(url: str, user: User, details: object, batch: int | None = None) -> CaptureJob:
    """A job row for a submission that failed validation (Perma keeps those as ``invalid``)."""
    with session_scope() as s:
        job = CaptureJob(
            status=CaptureJobStatus.INVALID,
            submitted_url=url or "",
            batch_id=batch,
            created_by=user.id,
            message=json.dumps(details),
        )
        s.add(job)
        s.flush()
        s.refresh(job)
        return job


def ensure_tag(session: Session, name: str) -> Tag:
    """The tag named ``name``, created when missing."""
    tag = session.exec(select(Tag).where(col(Tag.name) == name)).first()
    if tag is None:
        tag = Tag(name=name, slug=re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"))
        session.add(tag)
        session.flush()
    return tag


def create_crawl(
    urls: Sequence[str], user: User, *, depth: int = 0, tags: Sequence[str] = (), label: str = ""
) -> Crawl:
    """An ArchiveBox crawl row: the URLs of one submission."""
    with session_scope() as s:
        crawl = Crawl(
            urls="\n".join(urls),
            max_depth=depth,
            tags_str=",".join(tags),
            label=label,
            created_by=user.id,
        )
        s.add(crawl)
        s.flush()
        s.refresh(crawl)
        return crawl


def add_urls(
    urls: Sequence[str],
    user: User,
    *,
    tags: Sequence[str] = (),
    depth: int = 0,
    title: str | None = None,
    crawl: str | None = None,
    submit: bool = True,
    preserve: bool | None = None,
    wacz: bool = False,
) -> tuple[str, list[Capture]]:
    """ArchiveBox's ``add``: one crawl (new unless ``crawl`` is given) and one capture per URL."""
    crawl_uuid = crawl or create_crawl(urls, user, depth=depth, tags=tags).uuid
    captures = [
        create_capture(
            url,
            user,
            title=title,
            crawl=crawl_uuid,
            tags=tags,
            submit=submit,
            preserve=preserve,
            wacz=wacz,
        )
        for url in urls
    ]
    return crawl_uuid, captures


def create_batch(user: User, folder: int | None) -> Batch:
    """A Perma link batch aimed at ``folder`` (checked for access)."""
    with session_scope() as s:
        target = _target_folder(s, user, folder)
        batch = Batch(created_by=user.id, target_folder_id=target.id)
        s.add(batch)
        s.flush()
        s.refresh(batch)
        return batch


def _target_folder(session: Session, user: User, folder: int | None) -> Folder:
    if folder is None:
        return ensure_root_folder(session, user)
    target = session.get(Folder, folder)
    if target is None or not can_access_folder(session, user, target):
        raise InvalidInput("Folder not found.", {"folder": ["Folder not found."]})
    if target.read_only:
        raise Forbidden("You do not have permission to perform this action.")
    return target


def _next_order(session: Session, user: User, human: bool) -> float:
    """Perma's fair queue: each user's next job goes after their last one."""
    last = session.exec(
        select(func.max(col(CaptureJob.order))).where(col(CaptureJob.created_by) == user.id)
    ).one()
    order = float(last or 0) + 1.0
    return order - 1_000_000.0 if human else order


def get_capture(session: Session, ref: str) -> Capture:
    """A capture by GUID (any case/hyphenation) or uuid; NotFound otherwise."""
    capture = session.get(Capture, ref)
    if capture is None:
        capture = session.exec(
            select(Capture).where(col(Capture.guid) == canonical_guid(ref))
        ).first()
    if capture is None:
        raise NotFound("Not found.")
    return capture


def wants_preservation(session: Session, capture_uuid: str) -> bool:
    """The capture's own choice (API/CLI option), else the ``capture_preserve`` setting."""
    unit = session.get(Unit, capture_uuid)
    choice = (unit.variables or {}).get(PRESERVE_VAR) if unit is not None else None
    return get_settings().capture_preserve if choice is None else bool(choice)


def wants_format(session: Session, capture_uuid: str, name: str) -> bool:
    """True when the capture's job asked for ``name`` (``archive_formats`` holds it)."""
    job = session.exec(
        select(CaptureJob).where(col(CaptureJob.capture_uuid) == capture_uuid)
    ).first()
    return job is not None and name in job.archive_formats.split(",")


def wants_wacz(session: Session, capture_uuid: str) -> bool:
    """True when the capture's job asked for a WACZ (``archive_formats`` holds ``wacz``)."""
    return wants_format(session, capture_uuid, "wacz")


# -- TLS verdicts --------------------------------------------------------------------
#: ArchiveResult extractor holding a capture's per-origin TLS verdicts (JSON ``output``).
TLS_EXTRACTOR = "tls"


def tls_output(verdicts: Sequence[dict[str, object]]) -> str:
    """The ``output`` of a ``tls`` ArchiveResult: every verdict and the unverified origins."""
    unverified = [str(v["origin"]) for v in verdicts if not v.get("verified")]
    return json.dumps({"origins": list(verdicts), "unverified_origins": unverified})


def tls_verdicts_of(results: Sequence[ArchiveResult]) -> dict[str, Any]:
    """The TLS record among a capture's ArchiveResults (empty when no https origin)."""
    for row in results:
        if row.extractor == TLS_EXTRACTOR and row.output:
            try:
                data = json.loads(row.output)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    return {}


def tls_record(session: Session, capture_uuid: str) -> dict[str, Any]:
    """``{"origins": [...], "unverified_origins": [...]}`` of a capture, or ``{}``."""
    rows = session.exec(
        select(ArchiveResult).where(
            col(ArchiveResult.capture_uuid) == capture_uuid,
            col(ArchiveResult.extractor) == TLS_EXTRACTOR,
        )
    ).all()
    return tls_verdicts_of(list(rows))


def tls_unverified_origins(session: Session, capture_uuid: str) -> list[str]:
    """The https origins of a capture whose certificate did not verify (API flag)."""
    return [str(o) for o in tls_record(session, capture_uuid).get("unverified_origins", [])]
