"""ISO 3166 jurisdiction codes for PREMIS rights (``copyrightJurisdiction``,
``statuteJurisdiction``).

PREMIS asks for these values from ISO 3166; Archivematica's rights form and its
sample ``rights.csv`` write the country's two-letter code (``ca``, ``us``). A code
is an ISO 3166-1 alpha-2 country code in either case, optionally followed by an ISO
3166-2 subdivision (``ca-qc``, ``GB-SCT``). The country list is data
(``custos/data/iso3166-1.txt``).

Example::

    jurisdiction_problem("ca")      # None
    jurisdiction_problem("Canada")  # "'Canada' is not an ISO 3166 code (...)"
"""

from __future__ import annotations

import re
from functools import cache

from custos.settings import PACKAGE_DATA

_CODE = re.compile(r"^([A-Za-z]{2})(?:-[A-Za-z0-9]{1,3})?$")


@cache
def countries() -> dict[str, str]:
    """Alpha-2 code (upper case) -> country name."""
    out = {}
    for line in (PACKAGE_DATA / "iso3166-1.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            code, _, name = line.partition(" ")
            out[code] = name
    return out


def jurisdiction_problem(value: str) -> str | None:
    """Why ``value`` is not an ISO 3166 jurisdiction code, or None when it is one."""
    match = _CODE.match(value.strip())
    if match and match.group(1).upper() in countries():
        return None
    return (
        f"{value!r} is not an ISO 3166 code (a country's two letters, e.g. ca, us, gb, "
        "or a subdivision such as ca-qc)"
    )
