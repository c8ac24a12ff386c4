"""Step 27 *Transcribe SIP contents*: Tesseract OCR of the SIP's images.

The decision *Transcribe SIP contents?* is answered by the processing configuration's
``transcribe`` field (asked when it is silent, as Archivematica does). With Yes, the
job *Transcribe* OCRs every original Tesseract reads (an original it cannot read is
transcribed from its preservation derivative when that one can be read, as
Archivematica falls back to derivatives) into
``objects/metadata/OCRfiles/<name>-<original uuid>.txt``. As in Archivematica's
``transcribe_file.py``:

- the original gets a *transcription* event (``program="tesseract"; version=...``,
  outcome ``transcribed`` or ``not transcribed``, the note the text file's
  ``%SIPDirectory%`` path);
- the text file becomes a File of use ``text/ocr`` (``fileGrp USE="text/ocr"`` in the
  AIP METS), derived from the original, with *creation* and *message digest
  calculation* events.

Files already transcribed (a resumed job, a reingest) are not transcribed again.
Without Tesseract the job fails naming it: a transcription that was asked for is not
silently skipped.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NONE

from custos.errors import ToolFailed
from custos.fixity import digest_event_detail, hash_files
from custos.models import File, FileUse, new_uuid, utcnow
from custos.recorder import JobHandle
from tasks.tools import ocr

from .context import IngestContext, ingest_step
from .sip import is_content, sip_files

GROUP = "Transcribe SIP contents"
DECISION = "Transcribe SIP contents?"
JOB = "Transcribe"
LABELS = {True: "Yes", False: "No"}


def _source(original: File, derivatives: dict[str, File]) -> File | None:
    """What to OCR for an original: itself, else its preservation derivative."""
    if ocr.ocr_applies(original.mime_type, original.current_path):
        return original
    derived = derivatives.get(original.uuid)
    if derived is not None and ocr.ocr_applies(derived.mime_type, derived.current_path):
        return derived
    return None


@task(cache_policy=NONE, name=GROUP)
@ingest_step
def transcribe_sip(ctx: IngestContext) -> None:
    """Ask (or read) *Transcribe SIP contents?*; with Yes, OCR every readable image."""
    wanted = ctx.decide("transcribe", GROUP, DECISION, LABELS)
    if not wanted or not ctx.todo(JOB):
        return
    if not ocr.installed():
        raise ToolFailed("tesseract", 127, "Transcribe SIP contents needs tesseract-ocr")
    sip, engine = ctx.sip, ctx.recorder.engine
    with ctx.recorder.job(sip.uuid, GROUP, JOB) as job:
        files = sip_files(sip.uuid, engine=engine)
        done = {f.derived_from for f in files if f.use == FileUse.OCR}
        derivatives = {
            f.derived_from: f for f in files if f.use == FileUse.PRESERVATION and f.derived_from
        }
        made: list[tuple[File, str]] = []
        failed = 0
        for original in (f for f in files if is_content(f) and f.uuid not in done):
            source = _source(original, derivatives)
            if source is None:
                continue
            rel = ocr.text_path(original.current_path, original.uuid)
            result = ocr.transcribe(sip.path / source.current_path, into=sip.path / rel)
            job.task(
                file_uuid=original.uuid,
                file_name=source.current_path,
                arguments=f"tesseract {source.current_path} stdout",
                exit_code=0 if result.ok else 1,
                stdout=rel if result.ok else "",
                stderr=result.error,
            )
            job.event(
                file_uuid=original.uuid,
                event_type="transcription",
                detail=result.event_detail,
                outcome="transcribed" if result.ok else "not transcribed",
                outcome_note=f"%SIPDirectory%{rel}",
            )
            if result.ok:
                made.append((original, rel))
            else:
                failed += 1
        _register(ctx, job, made)
        job.output = f"{len(made)} files transcribed" + (f", {failed} failed" if failed else "")


def _register(ctx: IngestContext, job: JobHandle, made: list[tuple[File, str]]) -> None:
    """The text files as ``text/ocr`` File rows with their events."""
    if not made:
        return
    paths = [ctx.sip.path / rel for _, rel in made]
    digests = hash_files(paths, ("sha256",))
    rows: list[dict[str, Any]] = []
    for (original, rel), path in zip(made, paths, strict=True):
        digest = digests[path]
        uuid = new_uuid()
        rows.append(
            {
                "uuid": uuid,
                "unit_uuid": ctx.sip.uuid,
                "sip_uuid": ctx.sip.uuid,
                "original_path": rel,
                "current_path": rel,
                "size": digest.size,
                "checksum": digest.digests["sha256"],
                "checksum_type": "sha256",
                "mime_type": "text/plain",
                "format_name": "Plain Text File",
                "puid": "x-fmt/111",
                "use": FileUse.OCR,
                "derived_from": original.uuid,
                "modified_at": utcnow(),
            }
        )
    ctx.recorder.add_files(rows)
    for row in rows:
        job.event(file_uuid=row["uuid"], event_type="creation")
        job.event(
            file_uuid=row["uuid"],
            event_type="message digest calculation",
            detail=digest_event_detail("sha256"),
            outcome_note=row["checksum"],
        )
