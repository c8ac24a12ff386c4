"""Archival storage search: every criterion, pagination and its indexes (SQLite and
PostgreSQL, whichever the session database is)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from custos.aip_search import AipQuery, parse_query, search_aips
from custos.db import get_engine, session_scope
from custos.errors import InvalidInput
from custos.models import File, Location, LocationPurpose, Package, PackageStatus, Unit, UnitType
from custos.models import new_uuid as uuid4

BASE = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@dataclass
class Aips:
    """The AIPs made for one test; ``tag`` is in every name, ``accession`` on all."""

    tag: str
    accession: str
    uuids: dict[str, str]

    def names(self, query: AipQuery, **kw: object) -> list[str]:
        page = search_aips(query, **kw)  # type: ignore[arg-type]
        return [r.name.removeprefix(f"{self.tag}-") for r in page.rows]


def _add(
    s: object,
    tag: str,
    accession: str,
    loc: str,
    name: str,
    day: int,
    files: list[tuple[str, str | None, str | None]],
    fixity: str | None = None,
    status: PackageStatus = PackageStatus.STORED,
) -> str:
    uuid = uuid4()
    s.add(  # type: ignore[attr-defined]
        Unit(uuid=uuid, unit_type=UnitType.SIP, name=f"{tag}-{name}", accession=accession)
    )
    s.add(  # type: ignore[attr-defined]
        Package(
            uuid=uuid,
            name=f"{tag}-{name}",
            location_uuid=loc,
            path=f"{tag}-{name}-{uuid}.7z",
            size=1000 + day,
            status=status,
            stored_at=BASE + timedelta(days=day),
            last_fixity_outcome=fixity,
            last_fixity_at=BASE if fixity else None,
        )
    )
    s.flush()  # type: ignore[attr-defined]
    for path, puid, fmt in files:
        s.add(  # type: ignore[attr-defined]
            File(
                unit_uuid=uuid,
                sip_uuid=uuid,
                original_path=path,
                current_path=path,
                puid=puid,
                format_name=fmt,
            )
        )
    return uuid


@pytest.fixture
def aips(tmp_path: Path) -> Iterator[Aips]:
    tag = uuid4()[:8]
    acc = f"ACC-{tag}"
    with session_scope() as s:
        loc = Location(purpose=LocationPurpose.AIP_STORAGE, path=str(tmp_path))
        s.add(loc)
        s.flush()
        made = {
            "letters": _add(
                s,
                tag,
                acc,
                loc.uuid,
                "letters",
                0,
                [
                    ("objects/Letter_1920.PDF", "fmt/18", "Acrobat PDF 1.4"),
                    ("objects/scan.tif", "fmt/353", "Tagged Image File Format"),
                ],
                fixity="pass",
            ),
            "photos": _add(
                s,
                tag,
                acc,
                loc.uuid,
                "photos",
                5,
                [("objects/photos/beach.jpg", "fmt/43", "JPEG File Interchange Format")],
                fixity="fail",
            ),
            "minutes": _add(
                s,
                tag,
                acc,
                loc.uuid,
                "minutes_100%",
                10,
                [("objects/minutes.odt", "fmt/291", "OpenDocument Text")],
            ),
            "deleted": _add(
                s,
                tag,
                acc,
                loc.uuid,
                "deleted",
                12,
                [("objects/gone.jpg", "fmt/43", "JPEG File Interchange Format")],
                status=PackageStatus.DELETED,
            ),
        }
        s.add(
            Package(
                uuid=uuid4(),
                package_type="DIP",
                name=f"{tag}-a-dip",
                location_uuid=loc.uuid,
                path="dip",
                status=PackageStatus.STORED,
                stored_at=BASE,
            )
        )
    yield Aips(tag, acc, made)


def test_lists_stored_aips_newest_first_by_name(aips: Aips) -> None:
    assert aips.names(AipQuery(text=aips.tag)) == ["minutes_100%", "photos", "letters"]
    assert aips.names(AipQuery(text=f"{aips.tag}-PHOT")) == ["photos"]


def test_percent_and_underscore_in_a_name_are_literal(aips: Aips) -> None:
    assert aips.names(AipQuery(text=f"{aips.tag}-minutes_100%")) == ["minutes_100%"]
    assert aips.names(AipQuery(text=f"{aips.tag}-minutes%")) == []


def test_by_uuid_whole_or_start(aips: Aips) -> None:
    uuid = aips.uuids["photos"]
    assert aips.names(AipQuery(text=uuid)) == ["photos"]
    assert "photos" in aips.names(AipQuery(text=uuid[:13].upper()))


def test_by_accession_exactly(aips: Aips) -> None:
    assert aips.names(AipQuery(accession=aips.accession)) == ["minutes_100%", "photos", "letters"]
    assert aips.names(AipQuery(accession=aips.accession[:-1])) == []


def test_by_stored_date_range_inclusive(aips: Aips) -> None:
    q = AipQuery(
        accession=aips.accession, stored_from=date(2025, 3, 15), stored_to=date(2025, 3, 20)
    )
    assert aips.names(q) == ["minutes_100%", "photos"]
    q = AipQuery(accession=aips.accession, stored_to=date(2025, 3, 10))
    assert aips.names(q) == ["letters"]


def test_by_file_name_part_case_insensitive(aips: Aips) -> None:
    q = AipQuery(accession=aips.accession, file_name="letter_1920.pdf")
    assert aips.names(q) == ["letters"]
    assert aips.names(AipQuery(accession=aips.accession, file_name="photos/")) == ["photos"]


def test_by_puid_and_by_format_name(aips: Aips) -> None:
    assert aips.names(AipQuery(accession=aips.accession, puid="fmt/43")) == ["photos"]
    assert aips.names(AipQuery(accession=aips.accession, puid="fmt/4")) == []
    q = AipQuery(accession=aips.accession, format_name="tagged image")
    assert aips.names(q) == ["letters"]
    q = AipQuery(accession=aips.accession, format_name="jpeg", status="DELETED")
    assert aips.names(q) == ["deleted"]


def test_by_fixity_state(aips: Aips) -> None:
    acc = aips.accession
    assert aips.names(AipQuery(accession=acc, fixity="pass")) == ["letters"]
    assert aips.names(AipQuery(accession=acc, fixity="fail")) == ["photos"]
    assert aips.names(AipQuery(accession=acc, fixity="never")) == ["minutes_100%"]


def test_criteria_combine_and_file_criteria_apply_to_one_file(aips: Aips) -> None:
    q = AipQuery(text=aips.tag, puid="fmt/18", fixity="fail")
    assert aips.names(q) == []
    q = AipQuery(text=aips.tag, puid="fmt/353", fixity="pass", file_name="scan")
    assert aips.names(q) == ["letters"]
    # the PDF is not the file named "scan": no AIP holds a PDF named scan
    assert aips.names(AipQuery(text=aips.tag, puid="fmt/18", file_name="scan")) == []


def test_pages_on_the_server(aips: Aips) -> None:
    q = AipQuery(accession=aips.accession)
    first = search_aips(q, per_page=2)
    assert (first.total, first.pages, first.page) == (3, 2, 1)
    assert [r.name for r in first.rows] == [f"{aips.tag}-minutes_100%", f"{aips.tag}-photos"]
    second = search_aips(q, per_page=2, page=2)
    assert [r.uuid for r in second.rows] == [aips.uuids["letters"]]
    assert second.rows[0].accession == aips.accession
    assert second.rows[0].last_fixity_outcome == "pass"
    assert search_aips(q, per_page=2, page=99).page == 2  # clamped to the last page
    empty = search_aips(AipQuery(accession="none-such"))
    assert (empty.total, empty.pages, empty.rows) == (0, 1, [])


def test_bad_criteria_are_one_line_errors() -> None:
    with pytest.raises(InvalidInput, match="fixity must be one of"):
        search_aips(AipQuery(fixity="good"))
    with pytest.raises(InvalidInput, match="ends before it starts"):
        search_aips(AipQuery(stored_from=date(2025, 2, 1), stored_to=date(2025, 1, 1)))
    with pytest.raises(InvalidInput, match="per_page"):
        search_aips(per_page=0)
    with pytest.raises(InvalidInput, match="stored_from must be a date"):
        parse_query({"stored_from": "yesterday"})
    with pytest.raises(InvalidInput, match="unknown AIP status"):
        parse_query({"status": "LOST"})


def test_parse_query_reads_form_fields(aips: Aips) -> None:
    q = parse_query(
        {"q": f" {aips.tag} ", "puid": "fmt/43", "stored_from": "2025-03-01", "unknown": "x"}
    )
    assert q == AipQuery(text=aips.tag, puid="fmt/43", stored_from=date(2025, 3, 1))
    assert aips.names(q) == ["photos"]
    assert parse_query({"status": ""}).status == ""  # any status


def test_format_searches_use_their_indexes() -> None:
    """The format and list queries are answered from indexes, not table scans."""
    engine = get_engine()
    sql = {
        "puid": "SELECT sip_uuid FROM file WHERE puid = 'fmt/43'",
        "format": "SELECT DISTINCT format_name FROM file WHERE lower(format_name) LIKE '%jp%'",
        "list": "SELECT uuid FROM package WHERE package_type = 'AIP' ORDER BY stored_at DESC",
        "accession": "SELECT uuid FROM unit WHERE accession = 'A1'",
    }
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            plans = {
                k: " ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {q}")))
                for k, q in sql.items()
            }
            assert "ix_file_puid_sip" in plans["puid"]
            assert "ix_file_format_sip" in plans["format"]
            assert "ix_package_type_stored" in plans["list"]
            assert "ix_unit_accession" in plans["accession"]
        else:
            names = {
                r[0]
                for r in conn.execute(
                    text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
                )
            }
            assert {
                "ix_file_puid_sip",
                "ix_file_format_sip",
                "ix_package_type_stored",
                "ix_unit_accession",
            } <= names


def test_many_matching_files_are_probed_per_aip_with_the_same_results(
    aips: Aips, monkeypatch: pytest.MonkeyPatch
) -> None:
    import custos.aip_search as search

    acc = aips.accession
    queries = [
        AipQuery(accession=acc, puid="fmt/43"),
        AipQuery(accession=acc, format_name="tagged image"),
        AipQuery(accession=acc, file_name="photos/"),
        AipQuery(text=aips.tag, puid="fmt/353", fixity="pass", file_name="scan"),
    ]
    collected = [aips.names(q) for q in queries]
    monkeypatch.setattr(search, "FEW_AIPS", 0)  # every file criterion is "many" now
    assert (
        [aips.names(q) for q in queries]
        == collected
        == [
            ["photos"],
            ["letters"],
            ["photos"],
            ["letters"],
        ]
    )


def test_totals_are_capped(aips: Aips, monkeypatch: pytest.MonkeyPatch) -> None:
    import custos.aip_search as search

    monkeypatch.setattr(search, "COUNT_CAP", 2)
    page = search_aips(AipQuery(accession=aips.accession), per_page=1, page=9)
    assert (page.total, page.capped, page.pages, page.page) == (2, True, 2, 2)
    assert [r.name for r in page.rows] == [f"{aips.tag}-photos"]
    exact = search_aips(AipQuery(accession=aips.accession, fixity="pass"))
    assert (exact.total, exact.capped) == (1, False)


def test_a_truncated_file_probe_never_drops_aips(
    aips: Aips, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two matching files in two AIPs, more than the AIPs collected first: both found."""
    import custos.aip_search as search

    monkeypatch.setattr(search, "FEW_AIPS", 1)
    q = AipQuery(accession=aips.accession, puid="fmt/43", status="")
    assert aips.names(q) == ["deleted", "photos"]
