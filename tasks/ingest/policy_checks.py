"""Step 25 *Policy checks for derivatives*: MediaConch over the derivatives.

Two decisions read the processing configuration (``policy_checks_preservation``,
``policy_checks_access``; Archivematica's default answers both No); a Yes checks
every preservation (resp. access) derivative a policy of
``custos/data/policies/policies.yaml`` covers, recording a *validation* event
naming the policy on each (``tasks.tools.mediaconch``). A failed policy is recorded,
not fatal, as in Archivematica; each policy used is kept in the AIP's
``objects/submissionDocumentation/policies/``, and MediaConch's report on each
preservation derivative in the AIP's ``logs/policyChecks/<policy>/<file>.xml``.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NONE

from custos.models import FileUse
from tasks.tools import mediaconch

from .context import IngestContext, ingest_step
from .sip import sip_files

GROUP = "Policy checks for derivatives"
#: Where the policies used go (*Process submission documentation* then takes them in).
POLICIES = "metadata/submissionDocumentation/policies"
#: Where the reports of preservation derivatives go (not those of access copies, as in
#: Archivematica's ``policy_check.py``).
REPORTS = f"logs/{mediaconch.POLICY_REPORTS}"
YES_NO = {True: "Yes", False: "No"}
CHECKS = (
    (
        "policy_checks_preservation",
        "Perform policy checks on preservation derivatives?",
        "Policy checks for preservation derivatives",
        FileUse.PRESERVATION,
        "preservation",
    ),
    (
        "policy_checks_access",
        "Perform policy checks on access derivatives?",
        "Policy checks for access derivatives",
        FileUse.ACCESS,
        "access",
    ),
)


@task(cache_policy=NONE, name=GROUP)
@ingest_step
def policy_checks(ctx: IngestContext) -> None:
    """Both decisions, then the checks they ask for."""
    for field, decision, job_name, use, kind in CHECKS:
        wanted = ctx.decide(field, GROUP, decision, YES_NO)
        if not wanted or not ctx.todo(job_name):
            continue
        with ctx.recorder.job(ctx.sip.uuid, GROUP, job_name) as job:
            rows = sip_files(ctx.sip.uuid, uses=(use,), engine=ctx.recorder.engine)
            ran, failed = mediaconch.record_checks(
                job,
                kind,
                [(f, ctx.sip.path / f.current_path) for f in rows],
                keep_policies=ctx.sip.path / POLICIES,
                keep_reports=ctx.sip.path / REPORTS if use == FileUse.PRESERVATION else None,
            )
            job.output = f"{ran} policy checks, {failed} failed"
