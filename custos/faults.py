"""Fault-injection points: where a crash test may kill the process, as a power cut would.

Every step that moves, renames, writes or deletes calls ``fault("<step>:<point>")``
at the instants where a crash is the most dangerous (between two renames, after a
partial write, before its job is recorded as complete). Normally nothing happens.
With ``CUSTOS_FAULT=<step>:<point>`` in the environment the process kills itself
with ``SIGKILL`` the first time it reaches that point (``<step>:<point>@<n>``: the
n-th time), with no clean-up, no ``finally``, no flush: what a power cut leaves.

``POINTS`` lists every point with what is on disk when it fires: the crash tests
(``tests/flows/test_fault_points.py``) kill a transfer at each one, resume it, and
compare the result with an uninterrupted run; ``docs/durability.md`` explains
what a resumed run does at each.
"""

from __future__ import annotations

import os
import signal

ENV = "CUSTOS_FAULT"

#: point -> the state it leaves behind when the process is killed there.
POINTS: dict[str, str] = {
    "move-to-processing:copying": "the staging copy holds some of the files",
    "move-to-processing:renamed": "the copy is in place, its job not yet complete",
    "extract:writing": "a package's members are written to its hidden staging folder",
    "extract-transfer:extracted": "the package is extracted, its payload not yet picked",
    "extract-transfer:payload": "the payload is picked, the package not yet deleted",
    "extract-transfer:moving": "some payload entries are at the transfer root",
    "extract-transfer:moved": "every entry moved, the payload folder not yet removed",
    "restructure-bag:staging": "some bag entries moved into the staging folder",
    "restructure-bag:payload": "the payload is in objects/, the tags still in staging",
    "restructure-bag:tags": "some tag files moved to metadata/",
    "restructure-bag:done": "the staging folder is removed, the job not yet complete",
    "remove-hidden:removing": "some hidden files are removed",
    "restructure:moving": "some loose entries are in objects/",
    "compliance:config": "processingMCP.xml is being written",
    "sanitize:renaming": "some files have their new names, others their old ones",
    "sanitize:renamed": "every file renamed, the rows and events not yet written",
    "extract-packages:extracted": "a package extracted, its files not yet registered",
    "extract-packages:registered": "the extracted files registered, the job not complete",
    "create-sip:moving": "some objects moved into the SIP folder, others not yet",
    "normalize:made": "derivatives written to the SIP, their rows not yet recorded",
    "prepare-aip:bagging": "some SIP files linked into the AIP bag, no tag files yet",
    "prepare-aip:bagged": "the AIP bag built, not yet verified, its job not complete",
    "compress:writing": "the AIP archive partly written under its staging name",
    "compress:written": "the AIP archive whole under its staging name, not yet renamed",
    "prepare-dip:copying": "the DIP's thumbnails copied, its METS not yet",
    "store-dip:copying": "the DIP partly copied into the DIP store under a .tmp- name",
    "store-dip:stored": "the DIP under its final name, its Package row not yet STORED",
    "store:copying": "the AIP partly copied into the AIP store under a .tmp- name",
    "store:stored": "the AIP under its final name, its Package row not yet STORED",
    "remove-processing:removing": "the packaging folder removed, the SIP folder not yet",
    "reingest:unpacking": "the stored AIP's payload partly copied into processing",
    "reingest:unpacked": "the payload in place in processing, its job not yet complete",
    "preserve-capture:preparing": "a capture's transfer folder is partly laid out",
    "preserve-capture:started": "the capture's transfer created, not yet run",
    "preserve-capture:removed": "the transfer's SIP made, its laid-out folder removed, "
    "the outcome not yet recorded on the capture",
    "job:events-written": "a job's tasks and events written, the job not yet complete",
}

_hits: dict[str, int] = {}


def fault(point: str) -> None:
    """Kill this process here if ``CUSTOS_FAULT`` names ``point`` (see the module doc)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    if point not in POINTS:  # a point every test can name and the docs list
        raise AssertionError(f"unknown fault point {point!r}")
    wanted, _, nth = spec.partition("@")
    if wanted != point:
        return
    _hits[point] = _hits.get(point, 0) + 1
    if _hits[point] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
