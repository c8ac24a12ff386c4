"""Reingest of stored AIPs: ``transfer/reingest``, ``ingest/reingest`` and approval.

Archivematica's Storage Service calls the reingest endpoints; here they go to
``custos.reingest``. ``ingest/reingest`` is a partial reingest: the SIP keeps the
AIP's UUID (the ``reingest_uuid`` answered), its old jobs are dropped and the AIP
is rebuilt. ``transfer/reingest`` is a full reingest: a new transfer of type
"Archivematica AIP" is created and started (its new UUID is the ``reingest_uuid``),
and the SIP it becomes takes the AIP's UUID again. ``name`` is required as in
Archivematica, but the stored AIP is found by ``uuid``.
"""

from __future__ import annotations

from api.archivematica.errors import error
from api.archivematica.units import UUID_RE
from custos import reingest
from custos.errors import Conflict, InvalidInput, NotFound


def start(name: str | None, aip_uuid: str | None, *, target: str) -> str:
    """Start reingesting a stored AIP; returns the reingest uuid."""
    if not name or not aip_uuid:
        raise error(400, '"name" and "uuid" are required.')
    if not UUID_RE.match(aip_uuid):
        raise error(400, f"{aip_uuid!r} is not a UUID.")
    kind: reingest.ReingestType = "full" if target == "transfer" else "partial"
    try:
        return reingest.start_reingest(aip_uuid, kind)
    except (NotFound, Conflict, InvalidInput) as exc:
        raise error(400, exc.message) from exc


def approve(sip_uuid: str | None, username: str = "") -> None:
    """Answer "Approve AIP reingest" for the SIP, else the 400 Archivematica gives."""
    if not sip_uuid:
        raise error(400, '"uuid" is required.')
    try:
        reingest.approve_reingest(sip_uuid, by=username)
    except (NotFound, Conflict, InvalidInput) as exc:
        raise error(400, "Unable to approve the partial reingest.") from exc
