"""Search stored AIPs the way Archivematica's Archival storage tab does, in SQL.

Criteria (every one optional, all combined with AND):

- ``text``: part of the AIP's name, or the start of its UUID;
- ``accession``: the SIP's accession number, exactly;
- ``stored_from`` / ``stored_to``: the day range the AIP was stored in (inclusive);
- ``file_name``: part of the path of one of its files (case-insensitive);
- ``puid``: a PRONOM id of one of its files, exactly (``fmt/43``);
- ``format_name``: part of the format name of one of its files (case-insensitive);
- ``fixity``: the last fixity check's outcome (``pass``, ``fail``) or ``never``;
- ``status``: the package status (default: only ``STORED``).

Results are one page of AIPs, newest stored first, with the total count. The list
uses ``ix_package_type_stored``, an accession ``ix_unit_accession``, a PUID
``ix_file_puid_sip`` and a format name ``ix_file_format_sip`` (an index-only scan of
the distinct names); file names and AIP names are substring searches (a scan of their
column).

Example::

    page = search_aips(AipQuery(puid="fmt/43"), page=1)
    page.total, [a.name for a in page.rows]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from custos.db import session_scope
from custos.errors import InvalidInput
from custos.models import File, Package, PackageStatus, Unit

PER_PAGE = 25
MAX_PER_PAGE = 200
Fixity = Literal["", "pass", "fail", "never"]
FIXITY_STATES: tuple[str, ...] = ("pass", "fail", "never")


@dataclass(frozen=True)
class AipQuery:
    """What to look for; empty strings and ``None`` mean "any"."""

    text: str = ""
    accession: str = ""
    stored_from: date | None = None
    stored_to: date | None = None
    file_name: str = ""
    puid: str = ""
    format_name: str = ""
    fixity: str = ""
    status: str = PackageStatus.STORED.value

    def cleaned(self) -> AipQuery:
        """The query with surrounding blanks removed and values checked.

        Raises:
            InvalidInput: an unknown fixity state or status, or a reversed date range.
        """
        q = replace(
            self,
            **{
                k: getattr(self, k).strip()
                for k in ("text", "accession", "file_name", "puid", "format_name", "fixity")
            },
        )
        if q.fixity and q.fixity not in FIXITY_STATES:
            raise InvalidInput(
                f"fixity must be one of {', '.join(FIXITY_STATES)}, not {q.fixity!r}"
            )
        if q.status and q.status not in {s.value for s in PackageStatus}:
            raise InvalidInput(f"unknown AIP status {q.status!r}")
        if q.stored_from and q.stored_to and q.stored_from > q.stored_to:
            raise InvalidInput("the date range ends before it starts")
        return q


@dataclass(frozen=True)
class AipRow:
    """One AIP of a result page."""

    uuid: str
    name: str
    status: str
    size: int | None
    stored_at: datetime | None
    accession: str | None
    last_fixity_at: datetime | None
    last_fixity_outcome: str | None
    location_uuid: str


@dataclass(frozen=True)
class AipPage:
    """One page of results, the total number of matches and the page arithmetic."""

    rows: list[AipRow]
    total: int
    page: int
    per_page: int
    query: AipQuery = field(default_factory=AipQuery)

    @property
    def pages(self) -> int:
        """How many pages the matches fill (at least one)."""
        return max(1, math.ceil(self.total / self.per_page))


def _like(value: str) -> str:
    """A LIKE pattern matching ``value`` anywhere (``%`` and ``_`` taken literally)."""
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _conditions(q: AipQuery) -> list[ColumnElement[bool]]:
    pkg_uuid = col(Package.uuid)
    where: list[ColumnElement[bool]] = [col(Package.package_type) == "AIP"]
    if q.status:
        where.append(col(Package.status) == q.status)
    if q.text:
        where.append(
            or_(
                func.lower(col(Package.name)).like(_like(q.text), escape="\\"),
                pkg_uuid.like(q.text.lower().replace("%", "").replace("_", "") + "%"),
            )
        )
    if q.accession:
        where.append(pkg_uuid.in_(select(col(Unit.uuid)).where(col(Unit.accession) == q.accession)))
    if q.stored_from:
        where.append(col(Package.stored_at) >= _day_start(q.stored_from))
    if q.stored_to:
        where.append(col(Package.stored_at) < _day_start(q.stored_to + timedelta(days=1)))
    if q.fixity == "never":
        where.append(col(Package.last_fixity_outcome).is_(None))
    elif q.fixity:
        where.append(col(Package.last_fixity_outcome) == q.fixity)
    if q.puid:
        where.append(
            pkg_uuid.in_(
                select(col(File.sip_uuid)).where(
                    col(File.puid) == q.puid, col(File.sip_uuid).is_not(None)
                )
            )
        )
    if q.format_name:
        names = (
            select(col(File.format_name))
            .where(func.lower(col(File.format_name)).like(_like(q.format_name), escape="\\"))
            .distinct()
        )
        where.append(
            pkg_uuid.in_(
                select(col(File.sip_uuid)).where(
                    col(File.format_name).in_(names), col(File.sip_uuid).is_not(None)
                )
            )
        )
    if q.file_name:
        where.append(
            pkg_uuid.in_(
                select(col(File.sip_uuid)).where(
                    func.lower(col(File.current_path)).like(_like(q.file_name), escape="\\"),
                    col(File.sip_uuid).is_not(None),
                )
            )
        )
    return where


def search_aips(
    query: AipQuery | None = None,
    *,
    page: int = 1,
    per_page: int = PER_PAGE,
    engine: Engine | None = None,
) -> AipPage:
    """One page of the AIPs matching ``query``, newest stored first.

    Raises:
        InvalidInput: a bad criterion (see :meth:`AipQuery.cleaned`) or page size.
    """
    q = (query or AipQuery()).cleaned()
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"per_page must be 1-{MAX_PER_PAGE}")
    page = max(1, page)
    where = and_(*_conditions(q))
    with session_scope(engine) as s:
        total = int(s.execute(select(func.count()).select_from(Package).where(where)).scalar_one())
        last = max(1, math.ceil(total / per_page))
        page = min(page, last)
        rows = s.execute(
            select(
                col(Package.uuid),
                col(Package.name),
                col(Package.status),
                col(Package.size),
                col(Package.stored_at),
                col(Package.last_fixity_at),
                col(Package.last_fixity_outcome),
                col(Package.location_uuid),
                col(Unit.accession),
            )
            .outerjoin(Unit, col(Unit.uuid) == col(Package.uuid))
            .where(where)
            .order_by(col(Package.stored_at).desc(), col(Package.uuid).desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
    return AipPage(
        [
            AipRow(
                uuid=r.uuid,
                name=r.name,
                status=str(r.status),
                size=r.size,
                stored_at=r.stored_at,
                accession=r.accession,
                last_fixity_at=r.last_fixity_at,
                last_fixity_outcome=r.last_fixity_outcome,
                location_uuid=r.location_uuid,
            )
            for r in rows
        ],
        total,
        page,
        per_page,
        q,
    )


def parse_query(params: dict[str, Any]) -> AipQuery:
    """An :class:`AipQuery` from form or query-string fields (unknown ones ignored).

    Raises:
        InvalidInput: a date that is not ``YYYY-MM-DD``, or a bad criterion.
    """

    def text(name: str) -> str:
        value = params.get(name)
        return str(value) if value is not None else ""

    def day(name: str) -> date | None:
        value = text(name).strip()
        if not value:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise InvalidInput(f"{name} must be a date (YYYY-MM-DD), not {value!r}") from exc

    status = text("status") if "status" in params else PackageStatus.STORED.value
    return AipQuery(
        text=text("q"),
        accession=text("accession"),
        stored_from=day("stored_from"),
        stored_to=day("stored_to"),
        file_name=text("file_name"),
        puid=text("puid"),
        format_name=text("format_name"),
        fixity=text("fixity"),
        status=status.strip(),
    ).cleaned()
