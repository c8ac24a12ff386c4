"""Search stored AIPs the way Archivematica's Archival storage tab does, in SQL.

Criteria (every one optional, all combined with AND; the file criteria must hold for
one and the same file):

- ``text``: part of the AIP's name, or the start of its UUID;
- ``accession``: the SIP's accession number, exactly;
- ``stored_from`` / ``stored_to``: the day range the AIP was stored in (inclusive);
- ``file_name``: part of the path of one of its files (case-insensitive);
- ``puid``: a PRONOM id of one of its files, exactly (``fmt/43``);
- ``format_name``: part of the format name of one of its files (case-insensitive);
- ``fixity``: the last fixity check's outcome (``pass``, ``fail``) or ``never``;
- ``status``: the package status (default: only ``STORED``).

Results are one page of AIPs, newest stored first, with the total count (counted up
to 10,000: beyond, the page says "more than"). The list and its count use
``ix_package_type_status_stored`` (answered from the index alone), an accession
``ix_unit_accession``, a PUID ``ix_file_puid_sip`` and a format name
``ix_file_format_sip`` (the recorded names that match are read first from that
index). A file criterion matching few files collects their AIPs first; one matching
many probes the newest AIPs one by one (from the file index alone) and stops with the
page. File names and parts of AIP names are substring searches (a scan of their
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

from sqlalchemy import Engine, and_, func, literal_column, or_, select
from sqlalchemy import text as sql_text
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from custos.db import session_scope
from custos.errors import InvalidInput
from custos.models import File, Package, PackageStatus, Unit

PER_PAGE = 25
MAX_PER_PAGE = 200
#: Totals are counted up to this many AIPs ("more than 10,000"), pages as far.
COUNT_CAP = 10_000
#: Up to this many AIPs with a matching file are collected first; beyond, probed (a
#: longer list of uuids costs more in Python, and its garbage collection, than probes).
FEW_AIPS = 500
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
    capped: bool = False

    @property
    def pages(self) -> int:
        """How many pages the matches fill (at least one)."""
        return max(1, math.ceil(self.total / self.per_page))


def _like(value: str) -> str:
    """A LIKE pattern matching ``value`` anywhere (``%`` and ``_`` taken literally)."""
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(s: Session, column: Any, text: str) -> ColumnElement[bool]:
    """``column`` holds ``text``, ignoring case: SQLite's LIKE ignores (ASCII) case by
    itself, and ``lower()`` on every row would double the cost of the scan;
    PostgreSQL's ILIKE."""
    pattern = _like(text)
    if s.get_bind().dialect.name == "sqlite":
        return column.like(pattern, escape="\\")
    return column.ilike(pattern, escape="\\")


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _package_conditions(s: Session, q: AipQuery) -> list[ColumnElement[bool]]:
    """Conditions on the package row (and its SIP's accession)."""
    pkg_uuid = col(Package.uuid)
    where: list[ColumnElement[bool]] = [col(Package.package_type) == "AIP"]
    if q.status:
        where.append(col(Package.status) == q.status)
    if q.text:
        where.append(
            or_(
                _contains(s, col(Package.name), q.text),
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
    return where


#: The distinct format names recorded, one index seek each (a "loose index scan" of
#: ``ix_file_format_sip``) instead of reading every file's entry.
_DISTINCT_FORMAT_NAMES = sql_text(
    "WITH RECURSIVE names(name) AS ("
    " SELECT min(format_name) FROM file"
    " UNION ALL"
    " SELECT (SELECT min(format_name) FROM file WHERE format_name > names.name)"
    " FROM names WHERE names.name IS NOT NULL"
    ") SELECT name FROM names WHERE name IS NOT NULL"
)


def _file_conditions(s: Session, q: AipQuery) -> list[ColumnElement[bool]] | None:
    """Conditions one file of the AIP must meet; None when no file criterion is given.

    A format name is first resolved to the exact names recorded (the distinct names,
    read from ``ix_file_format_sip`` one index seek per name, and matched here,
    ignoring case), so the files are then found by index.
    """
    conds: list[ColumnElement[bool]] = []
    if q.puid:
        conds.append(col(File.puid) == q.puid)
    if q.format_name:
        wanted = q.format_name.casefold()
        recorded = s.execute(_DISTINCT_FORMAT_NAMES).scalars()
        names = [n for n in recorded if n and wanted in n.casefold()]
        conds.append(col(File.format_name).in_(names or [""]))
    if q.file_name:
        conds.append(_contains(s, col(File.current_path), q.file_name))
    return conds or None


def _file_match(s: Session, conds: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    """ "The AIP holds a file meeting ``conds``", in the form that is fast for how many
    AIPs hold one: few (up to ``FEW_AIPS``) as ``uuid IN (those AIPs)``, read here in
    one pass over the matching files; many as a per-AIP ``EXISTS`` probe of the index,
    so that a page of the newest AIPs stops after its rows instead of collecting every
    matching file first. (A file name is matched by scanning every path, so one pass
    instead of a count and then a read halves that search.)"""
    sips = (
        s.execute(
            select(col(File.sip_uuid))
            .where(*conds, col(File.sip_uuid).is_not(None))
            .distinct()
            .limit(FEW_AIPS + 1)
        )
        .scalars()
        .all()
    )
    if len(sips) <= FEW_AIPS:  # few: their AIPs, read here once
        return col(Package.uuid).in_(sorted(sips) or [""])
    # ``SELECT 1``: the probe is answered from the file index alone (``SELECT *``
    # makes SQLite read each matching file row too)
    return (
        select(literal_column("1")).where(col(File.sip_uuid) == col(Package.uuid), *conds).exists()
    )


def search_aips(
    query: AipQuery | None = None,
    *,
    page: int = 1,
    per_page: int = PER_PAGE,
    engine: Engine | None = None,
) -> AipPage:
    """One page of the AIPs matching ``query``, newest stored first.

    The total is counted up to ``COUNT_CAP`` (``AipPage.capped`` says there are more),
    which bounds both the count and the deepest page.

    Raises:
        InvalidInput: a bad criterion (see :meth:`AipQuery.cleaned`) or page size.
    """
    q = (query or AipQuery()).cleaned()
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"per_page must be 1-{MAX_PER_PAGE}")
    with session_scope(engine) as s:
        conds = _package_conditions(s, q)
        file_conds = _file_conditions(s, q)
        if file_conds is not None:
            conds.append(_file_match(s, file_conds))
        where = and_(*conds)
        matching = select(col(Package.uuid)).where(where).limit(COUNT_CAP + 1).subquery()
        total = int(s.execute(select(func.count()).select_from(matching)).scalar_one())
        capped = total > COUNT_CAP
        total = min(total, COUNT_CAP)
        page = min(max(1, page), max(1, math.ceil(total / per_page)))
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
            )
            .where(where)
            .order_by(col(Package.stored_at).desc(), col(Package.uuid).desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
        uuids = [r.uuid for r in rows]
        found = s.execute(
            select(col(Unit.uuid), col(Unit.accession)).where(col(Unit.uuid).in_(uuids))
        ).all()
        accessions: dict[str, str | None] = {row[0]: row[1] for row in found}
    return AipPage(
        [
            AipRow(
                uuid=r.uuid,
                name=r.name,
                status=str(r.status),
                size=r.size,
                stored_at=r.stored_at,
                accession=accessions.get(r.uuid),
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
        capped,
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
