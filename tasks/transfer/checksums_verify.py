"""Steps 6-7: *Reformat metadata files* and *Verify transfer checksums*.

A transfer may carry ``metadata/checksum.md5|sha1|sha256|sha512`` files (paths
relative to the transfer root, as ``md5sum -c`` from there expects). Every
listed file is checked (one read per file for all algorithms); each passing file
gets a *fixity check* event, and any mismatch, missing or unlisted file fails
the job with one task row per problem naming the file, the algorithm, the
expected and the found digest.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NONE

from custos.errors import FixityMismatch, InvalidInput
from tasks.checksum_files import verify_transfer_checksums

from .common import TransferContext, display_path, microservice
from .metadata_imports import process_json_metadata

GROUP = "Verify transfer checksums"
JOB = "Verify metadata directory checksums"


def _verify(ctx: TransferContext) -> None:
    process_json_metadata(ctx)
    if not ctx.todo(JOB):
        return
    with ctx.recorder.job(ctx.uuid, GROUP, JOB) as job:
        reports = verify_transfer_checksums(ctx.directory, workers=ctx.settings.worker_threads)
        if not reports:
            job.output = "no checksum files in metadata/"
            return
        by_path = {f.current_path: f.uuid for f in ctx.files()}
        failure: FixityMismatch | None = None
        problems: list[str] = []
        for report in reports:
            for check in report.checks:
                rel = display_path(check.relpath)
                if check.passed:
                    job.event(
                        file_uuid=by_path.get(rel),
                        event_type="fixity check",
                        detail=report.event_detail,
                        outcome="pass",
                    )
                    continue
                text = (
                    f"file={rel}; algorithm={check.algorithm}; "
                    f"expected={check.expected}; found={check.found or '(missing)'}"
                )
                job.task(
                    file_uuid=by_path.get(rel),
                    file_name=rel,
                    exit_code=1,
                    arguments=report.checksum_file.name,
                    stderr=text,
                )
                failure = failure or FixityMismatch(
                    rel, check.algorithm, check.expected, check.found or "(missing)"
                )
            problems += report.problems()
        for line in problems:
            if "mismatch" not in line and "listed but missing" not in line:
                job.task(
                    file_name=line.split(": ")[1] if ": " in line else line,
                    exit_code=1,
                    stderr=display_path(line),
                )
        if problems:
            job.output = "\n".join(display_path(p) for p in problems)
            if failure is not None:
                raise failure
            raise InvalidInput(
                "checksum files do not match the transfer: " + "; ".join(problems[:10]),
                details=problems,
            )
        job.output = ", ".join(
            f"{r.checksum_file.name}: {len(r.checks)} files verified" for r in reports
        )


verify_checksums = task(name=GROUP, cache_policy=NONE)(microservice(_verify))
