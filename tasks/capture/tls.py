"""Verifying origins' certificates against the system trust store, per origin.

The recording proxy opens each https origin with a verifying context first
(the system store, as ``ssl.create_default_context()`` loads it, plus an
optional extra CA file). When the certificate does not verify, the handshake
stops before a byte of the request is sent, the reason is kept for that
origin, and the proxy connects again without verification: a page with a
broken certificate is still evidence and is still recorded, but the archive
says that its origin's identity was not verified, and why.

Usage::

    trust = TrustStore.system(extra_ca_file=None)
    verdicts = OriginVerdicts()
    ...  # the proxy calls verdicts.verified(origin, sha256) or verdicts.refused(...)
    verdicts.as_list(), verdicts.unverified()
"""

from __future__ import annotations

import datetime as dt
import functools
import ssl
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from custos.errors import ConfigError

#: OpenSSL ``X509_V_ERR_*`` codes, by the short reason recorded for them.
_REASONS = {
    2: "unknown_ca",  # unable to get issuer certificate
    9: "not_yet_valid",
    10: "expired",
    18: "self_signed",
    19: "self_signed_in_chain",  # a root nobody trusts
    20: "unknown_ca",  # unable to get local issuer certificate
    21: "unknown_ca",  # unable to verify the first certificate (incomplete chain)
    23: "revoked",
    62: "hostname_mismatch",
    64: "hostname_mismatch",  # IP address mismatch
}


def origin_of(scheme: str, host: str, port: int) -> str:
    """``scheme://host:port`` with IPv6 hosts in brackets and the port always given."""
    netloc = f"[{host}]" if ":" in host else host
    return f"{scheme}://{netloc.lower()}:{port}"


def reason_of(exc: ssl.SSLCertVerificationError) -> tuple[str, str]:
    """The short reason and OpenSSL's own message of a failed verification."""
    code = getattr(exc, "verify_code", None)
    message = getattr(exc, "verify_message", None) or str(exc)
    return _REASONS.get(code or -1, "invalid"), f"{message} (X509 error {code})"


@functools.cache
def _verifying_context(extra_ca_file: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)  # system store, hostname check
    if extra_ca_file is not None:
        try:
            ctx.load_verify_locations(cafile=extra_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load the capture CA bundle {extra_ca_file}: {exc}") from exc
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def verifying_context(extra_ca_file: Path | None = None) -> ssl.SSLContext:
    """A client context trusting the system store (and ``extra_ca_file`` when given).

    The system store is OpenSSL's default paths (on Debian ``/etc/ssl/certs``,
    kept by ``ca-certificates``); ``SSL_CERT_FILE``/``SSL_CERT_DIR`` move it, as
    for every OpenSSL program. Contexts are cached per extra file.
    """
    return _verifying_context(str(extra_ca_file) if extra_ca_file is not None else None)


@dataclass
class Verdict:
    """Whether one origin's certificate verified, and why not."""

    origin: str
    verified: bool
    reason: str | None
    detail: str | None
    certificate_sha256: str | None
    checked_at: str


class OriginVerdicts:
    """The verdict of every https origin one capture connected to.

    An origin that failed once stays unverified, even if a later connection
    (another server behind the same name) verified.
    """

    def __init__(self) -> None:
        self._by_origin: dict[str, Verdict] = {}

    def get(self, origin: str) -> Verdict | None:
        """The verdict so far for ``origin``."""
        return self._by_origin.get(origin)

    def verified(self, origin: str, certificate_sha256: str | None) -> None:
        """Record a connection whose certificate verified."""
        if origin not in self._by_origin:
            self._by_origin[origin] = Verdict(origin, True, None, None, certificate_sha256, _now())

    def refused(
        self, origin: str, exc: ssl.SSLCertVerificationError, certificate_sha256: str | None = None
    ) -> None:
        """Record a connection whose certificate did not verify."""
        current = self._by_origin.get(origin)
        if current is not None and not current.verified:
            return
        reason, detail = reason_of(exc)
        self._by_origin[origin] = Verdict(origin, False, reason, detail, certificate_sha256, _now())

    def note_certificate(self, origin: str, certificate_sha256: str | None) -> None:
        """Attach the fingerprint seen on the unverified connection."""
        verdict = self._by_origin.get(origin)
        if verdict is not None and verdict.certificate_sha256 is None:
            verdict.certificate_sha256 = certificate_sha256

    def as_list(self) -> list[dict[str, Any]]:
        """Every verdict, in the order origins were first reached."""
        return [asdict(v) for v in self._by_origin.values()]

    def unverified(self) -> list[str]:
        """The origins whose certificate did not verify."""
        return [o for o, v in self._by_origin.items() if not v.verified]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
