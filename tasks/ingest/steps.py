"""The ingest microservices (Archivematica steps 19-35) as Prefect tasks.

Job and group names are Archivematica's own, so clients filtering on them keep
working. Each task takes the SIP's UUID and returns an ``Outcome`` (see
:mod:`.context`); a failure raises after its job is recorded FAILED.
"""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NONE
from sqlalchemy import func
from sqlmodel import col, select

from custos.db import session_scope
from custos.errors import ConfigError, InvalidInput, ToolFailed
from custos.format_policy import Purpose, load_policy
from custos.models import Job, LocationPurpose, Package, PackageStatus, Unit

from ..normalize.normalize import normalize, validate_derivatives
from . import manual, package, prepare
from . import metadata_checks as checks
from . import options as opt
from .context import NORMALIZE_GROUP, IngestContext, ingest_step
from .mets_task import write_aip_mets
from .sip import is_content, sip_files
from .supplied import check_json_metadata, load_identifiers, metadata_files

NORMALIZE = NORMALIZE_GROUP
PURPOSES = {
    "preservation_access": (Purpose.PRESERVATION, Purpose.ACCESS),
    "preservation": (Purpose.PRESERVATION,),
    "access": (Purpose.ACCESS,),
    "none": (),
    "manual": (),  # only the supplied manualNormalization files
    "service_access": (Purpose.ACCESS,),  # access copies made from the service files
}
#: Upload DIP targets Custos cannot reach: answered, they fail the SIP with this reason.
UPLOAD_NOT_SUPPORTED = {"atom": "AtoM", "archivesspace": "ArchivesSpace", "contentdm": "CONTENTdm"}


@task(cache_policy=NONE, name="Verify SIP compliance")
@ingest_step
def verify_sip(ctx: IngestContext) -> None:
    """Steps 19-22: move to processing, verify, rename with the SIP UUID."""
    unit_uuid = ctx.unit_uuid
    if ctx.reingest and ctx.reingest != "full":  # full: approved as a transfer
        approved = ctx.decide(
            None,
            "Reingest AIP",
            "Approve AIP reingest",
            opt.APPROVE_REINGEST_LABELS,
            opt.APPROVE_REINGEST_LINK,
            choices=opt.APPROVE_REINGEST_CHOICES,
        )
        if approved == "reject":
            raise ctx.reject("Reject SIP")
    ctx.record("Verify SIP compliance", "Move to processing directory")
    if "Verify SIP compliance" not in ctx.done:
        with ctx.recorder.job(unit_uuid, "Verify SIP compliance", "Verify SIP compliance"):
            prepare.verify_compliance(ctx.sip)
    if "Rename SIP directory with SIP UUID" not in ctx.done:
        with ctx.recorder.job(
            unit_uuid, "Rename SIP directory with SIP UUID", "Rename SIP directory with SIP UUID"
        ):
            prepare.rename_with_uuid(ctx.sip, ctx.recorder)
    ctx.record("Include default SIP processingMCP.xml", "Include default SIP processingMCP.xml")
    ctx.record("Change SIP filenames", "Change SIP name")
    ctx.record("Change SIP filenames", "Load Dublin Core metadata from disk")


def _normalize_purpose(
    ctx: IngestContext, purpose: Purpose, name: str, service: bool = False
) -> None:
    if name in ctx.done:
        return
    policy = load_policy()
    sources = manual.service_sources(ctx.sip, ctx.recorder) if service else None
    with ctx.recorder.job(ctx.sip.uuid, NORMALIZE, name) as job:
        report = normalize(ctx.sip, purpose, job, policy, ctx.recorder.engine, sources)
        job.output = (
            f"{report.made} made, {report.skipped} already done, "
            f"{report.not_covered} not covered, {len(report.failed)} failed"
        )
        if report.failed and policy.on_failure == "fail":
            path, reason = next(iter(report.failed.items()))
            raise ToolFailed(f"normalization of {path}", 1, reason)


@task(cache_policy=NONE, name="Normalize")
@ingest_step
def normalize_sip(ctx: IngestContext) -> None:
    """Step 23: the Normalize decision, derivatives, validation, Approve normalization.

    *Redo* discards this round's derivatives and starts the step again (the Normalize
    decision included, so a different choice can be made); it cannot be preconfigured,
    since a configuration answering it would loop for ever.
    """
    while _normalize_round(ctx) == "redo":
        ctx = IngestContext.load(ctx.unit_uuid, ctx.recorder)


def _normalize_round(ctx: IngestContext) -> str:
    """One round; returns "redo" when *Approve normalization* asked for another."""
    unit_uuid = ctx.sip.uuid
    _relate_manual(ctx)
    _identify_at_ingest(ctx)
    choice = ctx.decide(
        "normalize", NORMALIZE, "Normalize", opt.LABELS["normalize"], opt.NORMALIZE_LINK
    )
    if choice == "reject":
        raise ctx.reject("Reject SIP")
    if choice not in PURPOSES:
        raise InvalidInput(
            f"Normalize choice {choice!r} is not supported by Custos "
            f"(supported: {', '.join(PURPOSES)}, reject)"
        )
    purposes = PURPOSES[choice]
    if Purpose.ACCESS in purposes:
        ctx.record(NORMALIZE, "Create DIP directory")
        (ctx.sip.path / "DIP" / "objects").mkdir(parents=True, exist_ok=True)
    if purposes and opt.thumbnails(ctx.config):
        ctx.record(NORMALIZE, "Create thumbnails directory")
        (ctx.sip.path / "thumbnails").mkdir(exist_ok=True)
        _normalize_purpose(ctx, Purpose.THUMBNAIL, "Normalize for thumbnails")
    if Purpose.ACCESS in purposes:
        service = choice == "service_access"
        _normalize_purpose(ctx, Purpose.ACCESS, "Normalize for access", service=service)
        _validate_step(ctx, Purpose.ACCESS, "Validate access derivatives")
    if Purpose.PRESERVATION in purposes:
        _normalize_purpose(ctx, Purpose.PRESERVATION, "Normalize for preservation")
        _validate_step(ctx, Purpose.PRESERVATION, "Validate preservation derivatives")
    if "Remove files without linking information" not in ctx.done:
        with ctx.recorder.job(
            unit_uuid, NORMALIZE, "Remove files without linking information"
        ) as job:
            removed = prepare.remove_unlinked_files(ctx.sip, ctx.recorder)
            job.output = f"removed: {', '.join(removed)}" if removed else "nothing to remove"
    ctx.record(NORMALIZE, "Normalization report")
    if ctx.config.approve_normalization == "redo":
        raise ConfigError("Approve normalization cannot be preconfigured to Redo")
    approved = ctx.decide(
        "approve_normalization",
        NORMALIZE,
        "Approve normalization",
        opt.LABELS["approve_normalization"],
    )
    if approved == "reject":
        raise ctx.reject("Reject SIP")
    if approved == "redo":
        _redo(ctx)
        return "redo"
    return "done"


MANUAL_GROUP = "Process manually normalized files"
MANUAL_JOB = "Relate manual normalized preservation files to the original files"


def _relate_manual(ctx: IngestContext) -> None:
    """Files of ``objects/manualNormalization/`` become derivatives of their originals
    (``tasks.ingest.manual``), before any tool normalizes."""
    if "Check for Service directory" not in ctx.done:
        with ctx.recorder.job(ctx.sip.uuid, NORMALIZE, "Check for Service directory") as job:
            count = manual.relate_service_files(ctx.sip, job, ctx.recorder)
            job.output = f"{count} service files" if count else "none"
    if MANUAL_JOB in ctx.done:
        return
    with ctx.recorder.job(ctx.sip.uuid, MANUAL_GROUP, MANUAL_JOB) as job:
        count = manual.relate_manual_files(ctx.sip, job, ctx.recorder)
        job.output = f"{count} manually normalized files" if count else "none"


def _identify_at_ingest(ctx: IngestContext) -> None:
    """*Perform file format identification (Ingest)*: Yes identifies the SIP's objects
    again with Siegfried (a *format identification* event each); No keeps the
    transfer's identification ("No, use existing data")."""
    ctx.record(NORMALIZE, "Move to select file ID tool")
    wanted = ctx.decide(
        "identify_ingest",
        NORMALIZE,
        "Do you want to perform file format identification?",
        opt.LABELS["identify_ingest"],
    )
    if wanted and "Identify file format" not in ctx.done:
        with ctx.recorder.job(ctx.sip.uuid, NORMALIZE, "Identify file format") as job:
            rows = [f for f in sip_files(ctx.sip.uuid, engine=ctx.recorder.engine) if is_content(f)]
            checks.identify_rows(ctx.sip, rows, job, ctx.recorder)


def _redo(ctx: IngestContext) -> None:
    """Discard the round's derivatives and mark where the next round begins."""
    with ctx.recorder.job(
        ctx.sip.uuid, "Redo normalization", "Remove preservation and access files"
    ) as job:
        removed = prepare.discard_derivatives(ctx.sip, ctx.recorder)
        job.output = f"{removed} derivatives removed"
    with session_scope(ctx.recorder.engine) as s:
        last = s.exec(select(func.max(Job.seq)).where(col(Job.unit_uuid) == ctx.sip.uuid)).one()
        unit = s.get(Unit, ctx.sip.uuid)
        assert unit is not None
        unit.variables = dict(unit.variables or {}) | {"normalization_redo_seq": int(last or 0)}


@task(cache_policy=NONE, name="Add final metadata")
@ingest_step
def add_final_metadata(ctx: IngestContext) -> None:
    """Step 26: *Reminder: add metadata if desired* (its one choice is Continue).

    The pause lets a user add metadata files (``/api/ingest/copy_metadata_files/``)
    before the METS is written; a configuration answering it skips the pause.
    """
    ctx.record("Add final metadata", "Move to metadata reminder")
    ctx.decide(
        "add_metadata_reminder",
        "Add final metadata",
        "Reminder: add metadata if desired",
        opt.LABELS["add_metadata_reminder"],
        preset=True if ctx.config.add_metadata_reminder is not None else None,
    )


def _validate_step(ctx: IngestContext, purpose: Purpose, name: str) -> None:
    if name in ctx.done:
        return
    with ctx.recorder.job(ctx.sip.uuid, NORMALIZE, name) as job:
        failures = validate_derivatives(ctx.sip, purpose, job, load_policy(), ctx.recorder.engine)
        if failures:
            path, reason = next(iter(failures.items()))
            raise ToolFailed(f"validation of {path}", 1, reason)


@task(cache_policy=NONE, name="Process metadata directory")
@ingest_step
def process_metadata(ctx: IngestContext) -> None:
    """Steps 28-29: submission documentation and metadata into ``objects/``; files the
    transfer did not register get UUIDs and checksums, and every file not yet checked
    is virus-scanned, identified and characterized before the METS is written; then
    every metadata.json is checked (*Process JSON metadata*) and every identifiers.json
    is matched (*Load persistent identifiers from external
    file*), failing the SIP here if it names a path the AIP does not have."""
    for folder in (checks.SUBMISSION_DOCUMENTATION, checks.METADATA):
        _process_folder(ctx, folder)
    if "Process JSON metadata" not in ctx.done:
        with ctx.recorder.job(ctx.unit_uuid, checks.METADATA.group, "Process JSON metadata") as job:
            job.output = check_json_metadata(ctx.sip, ctx.recorder.engine)
    name = "Load persistent identifiers from external file"
    if name not in ctx.done:
        with ctx.recorder.job(ctx.unit_uuid, checks.METADATA.group, name) as job:
            job.output = (
                load_identifiers(ctx.sip, ctx.recorder.engine).summary()
                if metadata_files(ctx.sip, "identifiers.json")
                else "no identifiers.json"
            )


def _process_folder(ctx: IngestContext, f: checks.CheckedFolder) -> None:
    rec, sip, engine = ctx.recorder, ctx.sip, ctx.recorder.engine

    def todo(step: str) -> bool:
        # By group and name: "Identify file format" is also the Normalize group's job.
        return (f.group, f.job(step)) not in ctx.done_pairs

    if todo("move"):
        with rec.job(sip.uuid, f.group, f.job("move"), f.link("move")):
            if f is checks.METADATA:
                prepare.move_metadata(sip, rec)
            else:
                prepare.move_submission_documentation(sip, rec)
    if todo("uuids"):
        with rec.job(sip.uuid, f.group, f.job("uuids"), f.link("uuids")) as job:
            added = prepare.register_unlisted(sip, f.folder, f.use, job, rec)
            job.output = f"{added} files" if added else "no new files"
    if todo("checksums"):
        with rec.job(sip.uuid, f.group, f.job("checksums"), f.link("checksums")) as job:
            checks.record_digests(checks.unchecked(sip, f.folder, checks.DIGEST, engine), job)
    scan = _checks_wanted(ctx, f.group, "virus_scanning", f.scan_decision[0])
    if todo("scan"):
        with rec.job(sip.uuid, f.group, f.job("scan"), f.link("scan")) as job:
            if scan:
                checks.scan_rows(
                    sip, checks.unchecked(sip, f.folder, checks.VIRUS_CHECK, engine), job
                )
            else:
                job.output = "skipped (configuration)"
    identify = _checks_wanted(
        ctx,
        checks.SUBMISSION_DOCUMENTATION.group,
        "identify_submission_docs",
        checks.IDENTIFY_DECISION[0],
    )
    if todo("identify"):
        with rec.job(sip.uuid, f.group, f.job("identify"), f.link("identify")) as job:
            if identify:
                rows = checks.unchecked(sip, f.folder, checks.FORMAT_IDENTIFICATION, engine)
                checks.identify_rows(sip, rows, job, rec)
            else:
                job.output = "skipped (configuration)"
    if todo("characterize"):
        with rec.job(sip.uuid, f.group, f.job("characterize"), f.link("characterize")) as job:
            checks.characterize_rows(sip, checks.files_under(sip, f.folder, engine), job, rec)


def _checks_wanted(ctx: IngestContext, group: str, field: str, name: str) -> bool:
    """Whether to scan (or identify) the added files: only an explicit "No" skips.

    Archivematica asks when its configuration is silent; the files at stake arrived
    after the transfer's checks, so Custos checks them rather than pause or skip.
    """
    value = getattr(ctx.config, field)
    if value is None:
        ctx.record(
            group,
            name,
            output="not configured: Yes (added files are checked unless the configuration says No)",
        )
        return True
    ctx.record(group, name, output=f"preconfigured: {'Yes' if value else 'No'}")
    return bool(value)


def _refuse_unprocessed_metadata(ctx: IngestContext) -> None:
    """Fail the SIP if files reached ``metadata/`` after it was processed (unchecked)."""
    late = prepare.unprocessed_metadata(ctx.sip)
    if late:
        raise InvalidInput(
            "added after Process metadata directory, so never checked: " + ", ".join(late[:10]),
            {"paths": late},
        )


@task(cache_policy=NONE, name="Bind PIDs")
@ingest_step
def bind_pids(ctx: IngestContext) -> None:
    """Step 30: *Bind PIDs?* is read; Yes is refused (Custos has no Handle server)."""
    wanted = ctx.decide("bind_pids", "Bind PIDs", "Bind PIDs?", opt.LABELS["bind_pids"])
    if wanted:
        raise InvalidInput(
            "Bind PIDs: Yes is not supported by Custos (no Handle server is configured); "
            'set "Bind PIDs" to No in the processing configuration'
        )


@task(cache_policy=NONE, name="Generate AIP METS")
@ingest_step
def generate_mets(ctx: IngestContext) -> None:
    """Steps 31-32: the AIP METS (validated offline) and the README."""
    unit_uuid = ctx.unit_uuid
    empty_dirs = ctx.decide(
        "document_empty_dirs",
        "Generate AIP METS",
        "Document empty directories?",
        opt.LABELS["document_empty_dirs"],
    )
    if "Generate METS.xml document" not in ctx.done:
        with ctx.recorder.job(unit_uuid, "Generate AIP METS", "Generate METS.xml document") as job:
            _refuse_unprocessed_metadata(ctx)
            created = _created(ctx)
            _, skipped = write_aip_mets(
                ctx.sip, created=created, engine=ctx.recorder.engine, empty_dirs=bool(empty_dirs)
            )
            job.output = "; ".join(skipped) if skipped else None
    if "Add README file" not in ctx.done:
        with ctx.recorder.job(unit_uuid, "Add README file", "Add README file"):
            prepare.add_readme(ctx.sip)


def _created(ctx: IngestContext) -> datetime | None:
    """The CREATEDATE to keep (reingest), remembered on the unit."""
    with session_scope(ctx.recorder.engine) as s:
        unit = s.get(Unit, ctx.sip.uuid)
        raw = (unit.variables or {}).get("mets_created") if unit else None
    return datetime.fromisoformat(raw) if raw else None


@task(cache_policy=NONE, name="Prepare DIP")
@ingest_step
def prepare_dip(ctx: IngestContext) -> None:
    """Steps 33 and the DIP branch: thumbnails and METS into the DIP, then store it."""
    unit_uuid = ctx.unit_uuid
    if not (ctx.sip.path / "DIP" / "objects").is_dir() and "Store DIP" not in ctx.done:
        return
    if "Copy METS to DIP directory" not in ctx.done:
        with ctx.recorder.job(unit_uuid, "Prepare DIP", "Copy METS to DIP directory") as job:
            package.prepare_dip(ctx.sip)
            job.output = "thumbnails and METS copied"
    group = "Upload DIP"
    upload = ctx.decide("upload_dip", group, "Upload DIP", opt.LABELS["upload_dip"])
    if upload in UPLOAD_NOT_SUPPORTED:
        raise InvalidInput(
            f"Upload DIP to {UPLOAD_NOT_SUPPORTED[upload]} is not supported by "
            'Custos; choose "Do not upload DIP"'
        )
    store = ctx.decide("store_dip", group, "Store DIP?", opt.LABELS["store_dip"])
    if store is False:
        ctx.record(group, "Reject DIP", output="DIP not stored")
        return
    where_choices = package.location_choices(LocationPurpose.DIP_STORAGE, ctx.recorder.engine)
    where = ctx.decide(
        "dip_location",
        group,
        "Store DIP location",
        dict(where_choices),
        choices={uri: uri for uri, _ in where_choices},
    )
    if "Store DIP" not in ctx.done:
        with ctx.recorder.job(unit_uuid, group, "Store DIP") as job:
            location = package.resolve_location(
                where, LocationPurpose.DIP_STORAGE, ctx.recorder.engine
            )
            pkg = package.store_dip(ctx.sip, ctx.sip.path / "DIP", location, ctx.recorder.engine)
            job.output = f"DIP {pkg.uuid} stored as {pkg.path}"


@task(cache_policy=NONE, name="Prepare AIP")
@ingest_step
def prepare_aip(ctx: IngestContext) -> None:
    """Step 34: bag (reusing the transfer's sha256), verify fully, compress.

    Resumed after a crash: nothing to do once the AIP is stored (its packaging folder
    is gone then) or packaged; a bag built and verified is compressed, not rebuilt.
    """
    if "Store the AIP" in ctx.done:
        return
    if "Compress AIP" in ctx.done and package.recalled(ctx.unit_uuid, ctx.recorder.engine):
        return
    _package(ctx)


def _package(ctx: IngestContext) -> package.Packaged:
    rec, unit_uuid = ctx.recorder, ctx.sip.uuid
    bag = package.bag_path(ctx.sip)
    if "Prepare AIP" not in ctx.done or not bag.is_dir():
        with rec.job(unit_uuid, "Prepare AIP", "Prepare AIP") as job:
            _refuse_unprocessed_metadata(ctx)
            bag = package.build_bag(ctx.sip, rec.engine)
            problems = package.verify_bag(bag, unit_uuid)
            job.event(
                event_type="fixity check",
                detail='program="Custos"; module="custos.stored_aips.verify_aip_bag"',
                outcome="fail" if problems else "pass",
                outcome_note="; ".join(problems)[:2000] or "bag verified",
            )
            if problems:
                raise ToolFailed("bag verification", 1, "; ".join(problems))
    method, level = opt.compression(ctx.config), opt.compression_level(ctx.config)
    ctx.record(
        "Prepare AIP", "Select compression algorithm", output=f"preconfigured: {method.value}"
    )
    ctx.record("Prepare AIP", "Select compression level", output=f"preconfigured: {level}")
    with rec.job(unit_uuid, "Prepare AIP", "Compress AIP") as job:
        packaged = package.compress(bag, method, level)
        if packaged.detail:
            job.event(
                event_type="compression",
                detail=packaged.detail,
                outcome="pass",
                outcome_note=f"{packaged.path.name} sha256={packaged.sha256}",
            )
        package.remember(unit_uuid, packaged, rec.engine)
        job.output = f"{packaged.path.name} ({packaged.size} bytes)"
    return packaged


@task(cache_policy=NONE, name="Store AIP")
@ingest_step
def store_aip(ctx: IngestContext) -> None:
    """Step 35: Store AIP decisions, verify, store (idempotent), clean up."""
    unit_uuid = ctx.unit_uuid
    group = "Store AIP"
    answer = ctx.decide("store_aip", group, "Store AIP", opt.LABELS["store_aip"])
    if answer is False:
        raise ctx.reject("Reject AIP")
    locations = package.location_choices(LocationPurpose.AIP_STORAGE, ctx.recorder.engine)
    where = ctx.decide(
        "aip_location",
        group,
        "Store AIP location",
        dict(locations),
        choices={uri: uri for uri, _ in locations},
    )
    location = package.resolve_location(where, LocationPurpose.AIP_STORAGE, ctx.recorder.engine)
    if "Store the AIP" not in ctx.done:
        packaged = package.recalled(unit_uuid, ctx.recorder.engine)
        stored_already = _stored(ctx)
        if packaged is None and not stored_already:
            packaged = _package(ctx)
        if packaged is not None and "Verify AIP" not in ctx.done:
            with ctx.recorder.job(unit_uuid, group, "Verify AIP") as job:
                check = package.aipstore.verify_stored_aip(packaged.path, packaged.sha256)
                job.event(
                    event_type="fixity check",
                    detail='program="Custos"; module="tasks.aipstore.verify_stored_aip"',
                    outcome=check.outcome.value,
                    outcome_note="; ".join(check.problems)[:2000] or packaged.path.name,
                )
                if check.problems:
                    raise ToolFailed("AIP verification", 1, "; ".join(check.problems))
        with ctx.recorder.job(unit_uuid, group, "Store the AIP") as job:
            if packaged is not None:
                pkg = package.store(
                    ctx.sip, packaged, location, ctx.recorder.engine, replace=bool(ctx.reingest)
                )
                job.output = f"stored {pkg.path} in {location.uuid}"
    if "Clean up after storing AIP" not in ctx.done:
        with ctx.recorder.job(unit_uuid, group, "Clean up after storing AIP"):
            package.cleanup(ctx.sip)


def _stored(ctx: IngestContext) -> bool:
    with session_scope(ctx.recorder.engine) as s:
        pkg = s.get(Package, ctx.sip.uuid)
        return bool(pkg and pkg.status == PackageStatus.STORED)


@task(cache_policy=NONE, name="Remove the processing directory")
@ingest_step
def remove_processing_directory(ctx: IngestContext) -> None:
    """The last job: it makes the SIP COMPLETE (Archivematica's status rules)."""
    if "Remove the processing directory" not in ctx.done:
        with ctx.recorder.job(ctx.unit_uuid, "Store AIP", "Remove the processing directory"):
            package.remove_processing_directory(ctx.sip)
