"""ArchiveBox crawl depth: a captured page's same-site links become snapshots.

A crawl (``add`` with ``depth``, or ``POST /crawls/`` with ``max_depth``) starts
with its URLs at depth 0. When a capture of a crawl whose ``max_depth`` is above
the capture's own depth succeeds, every link of the page (as rendered, fragments
dropped: the engine's outlinks) that stays on the same site (same host, ``www.``
aside, http or https) becomes a new capture of the same crawl, one depth further,
unless the crawl already has it. The crawl never holds more than the
``crawl_max_pages`` setting's number of snapshots. Each child is captured by its
own flow run, like any capture, and inherits the parent's owner, folder, tags and
preservation choice.

Example::

    created = follow_links(capture_uuid, result.outlinks)   # uuids of new captures
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlmodel import col, select

from custos import dispatch
from custos.captures import PRESERVE_VAR, create_capture, normalize_url
from custos.db import session_scope
from custos.errors import InvalidInput
from custos.models import Capture, CaptureTag, Crawl, Tag, Unit, User
from custos.settings import get_settings

DEPTH_VAR = "crawl_depth"


def site_of(url: str) -> str | None:
    """The host a URL belongs to (lower case, ``www.`` dropped), None if not http(s)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    return host.removeprefix("www.")


def same_site_links(page_url: str, links: Sequence[str]) -> list[str]:
    """``links`` on the site of ``page_url``, in order, each once (fragments dropped)."""
    site = site_of(page_url)
    out: list[str] = []
    for link in links:
        link = link.split("#", 1)[0]
        if site is not None and site_of(link) == site and link not in out:
            out.append(link)
    return out


def has_depth_left(capture_uuid: str) -> bool:
    """Whether the capture belongs to a crawl that goes deeper than the capture."""
    with session_scope() as s:
        capture = s.get(Capture, capture_uuid)
        crawl = s.get(Crawl, capture.crawl_uuid) if capture and capture.crawl_uuid else None
        unit = s.get(Unit, capture_uuid)
        if crawl is None or unit is None:
            return False
        return int((unit.variables or {}).get(DEPTH_VAR) or 0) < crawl.max_depth


def follow_links(capture_uuid: str, outlinks: Sequence[str]) -> list[str]:
    """Queue the same-site links of a finished capture as captures of its crawl.

    Returns the new captures' uuids (none when the capture is in no crawl, is at the
    crawl's depth already, or the crawl is full).
    """
    with session_scope() as s:
        capture = s.get(Capture, capture_uuid)
        crawl = s.get(Crawl, capture.crawl_uuid) if capture and capture.crawl_uuid else None
        unit = s.get(Unit, capture_uuid)
        if capture is None or crawl is None or unit is None:
            return []
        variables = dict(unit.variables or {})
        depth = int(variables.get(DEPTH_VAR) or 0)
        if depth >= crawl.max_depth:
            return []
        have = set(s.exec(select(Capture.url).where(col(Capture.crawl_uuid) == crawl.uuid)).all())
        room = get_settings().crawl_max_pages - len(have)
        user = s.get(User, capture.created_by) if capture.created_by else None
        tags = list(
            s.exec(
                select(Tag.name)
                .join(CaptureTag, col(CaptureTag.tag_id) == col(Tag.id))
                .where(col(CaptureTag.capture_uuid) == capture_uuid)
            ).all()
        )
        page, folder, crawl_uuid = capture.final_url or capture.url, capture.folder_id, crawl.uuid
    if user is None or room <= 0:
        return []
    wanted: list[str] = []
    for link in same_site_links(page, outlinks):
        try:
            url = normalize_url(link)
        except InvalidInput:
            continue
        if url not in have and url not in wanted:
            wanted.append(url)
    wanted = wanted[:room]
    created = []
    for url in wanted:
        try:
            child = create_capture(
                url,
                user,
                folder,
                crawl=crawl_uuid,
                tags=tags,
                preserve=variables.get(PRESERVE_VAR),
                submit=False,
            )
        except InvalidInput:  # a link Custos refuses to capture, or the quota is spent
            continue
        with session_scope() as s:
            row = s.get(Unit, child.uuid)
            if row is not None:
                row.variables = dict(row.variables or {}) | {DEPTH_VAR: depth + 1}
        created.append(child.uuid)
    for uuid in created:
        dispatch.submit("capture", uuid)
    return created


def crawl_status(statuses: Sequence[str]) -> str:
    """A crawl's status from its snapshots': started while one runs or waits, sealed
    once all have finished, queued before any exists."""
    if not statuses:
        return "queued"
    if any(st in ("queued", "started") for st in statuses):
        return "started"
    return "sealed"
