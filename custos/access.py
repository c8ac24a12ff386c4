"""What each role may do: the one rule table of every driver (API and console).

Each API endpoint states the access it needs (``api.roles.requires``); each page
and action of the console (``web``) states it the same way, so both agree:

========== ======================================== ===============================
access     what                                     roles
========== ======================================== ===============================
public     no credential needed                     anyone
read       status, unit and AIP lists, jobs, fixity auditor, archivist, admin
process    transfers, ingests, decisions, reingest, archivist, admin
           reading processing configurations
capture    the Perma.cc and ArchiveBox dialects,    capture, admin
           the console's captures
admin      users, keys, locations, processing       admin
           configuration changes, the host
========== ======================================== ===============================
"""

from __future__ import annotations

from enum import StrEnum

from custos.models.accounts import Role


class Access(StrEnum):
    """What an endpoint or page does, as far as permissions go."""

    PUBLIC = "public"
    READ = "read"
    PROCESS = "process"
    CAPTURE = "capture"
    ADMIN = "admin"


ALLOWED: dict[Access, frozenset[Role]] = {
    Access.PUBLIC: frozenset(Role),
    Access.READ: frozenset({Role.AUDITOR, Role.ARCHIVIST, Role.ADMIN}),
    Access.PROCESS: frozenset({Role.ARCHIVIST, Role.ADMIN}),
    Access.CAPTURE: frozenset({Role.CAPTURE, Role.ADMIN}),
    Access.ADMIN: frozenset({Role.ADMIN}),
}


def allows(access: Access, role: Role | str) -> bool:
    """Whether a user with ``role`` may do what needs ``access``."""
    return role in ALLOWED[access]


def refusal(access: Access, role: Role | str) -> str:
    """The message of a refusal: the caller's role and the roles that would do."""
    needed = " or ".join(r.value for r in Role if r in ALLOWED[access])
    return f"the role {role} may not do this; it needs {needed}"
