"""TLS for the recording proxy: a throwaway CA and per-host leaf certificates.

The browser talks TLS to our proxy, which talks TLS to the origin. A CA made
fresh for each pool never leaves memory and a temporary folder, so nothing can
be signed with it after the pool closes; the browser is told to accept it
(``ignore_https_errors``) rather than trusting it system-wide.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Custos capture proxy"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
        ]
    )


class CertificateAuthority:
    """Makes server-side SSL contexts for any host name, cached per host."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(_name("Custos capture CA"))
            .issuer_name(_name("Custos capture CA"))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self._dir = tempfile.TemporaryDirectory(prefix="custos-ca-")
        self._contexts: dict[str, ssl.SSLContext] = {}

    def context_for(self, host: str) -> ssl.SSLContext:
        """A server SSL context presenting a leaf certificate for ``host``."""
        if host not in self._contexts:
            key = ec.generate_private_key(ec.SECP256R1())
            san: x509.GeneralName
            try:
                san = x509.IPAddress(ipaddress.ip_address(host))
            except ValueError:
                san = x509.DNSName(host)
            now = dt.datetime.now(dt.UTC)
            cert = (
                x509.CertificateBuilder()
                .subject_name(_name(host))
                .issuer_name(self._cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=7))
                .add_extension(x509.SubjectAlternativeName([san]), critical=False)
                .sign(self._key, hashes.SHA256())
            )
            stem = Path(self._dir.name) / f"leaf{len(self._contexts)}"
            stem.with_suffix(".pem").write_bytes(
                cert.public_bytes(serialization.Encoding.PEM)
                + self._cert.public_bytes(serialization.Encoding.PEM)
            )
            stem.with_suffix(".key").write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.set_alpn_protocols(["http/1.1"])
            ctx.load_cert_chain(stem.with_suffix(".pem"), stem.with_suffix(".key"))
            self._contexts[host] = ctx
        return self._contexts[host]

    def close(self) -> None:
        """Delete the key material from disk."""
        self._dir.cleanup()


def upstream_context() -> ssl.SSLContext:
    """Client context for origins whose certificate failed verification (``tls.py``).

    An archive of a site with a broken certificate is still evidence: the proxy
    records it over this context, and the verdict (why it failed) and the
    certificate go into the provenance summary, for a reader to judge.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def describe_certificate(der: bytes) -> dict[str, Any]:
    """Subject, issuer, validity, SANs and fingerprint of a DER certificate."""
    cert = x509.load_der_x509_certificate(der)
    try:
        sans = [
            str(n.value)
            for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        ]
    except x509.ExtensionNotFound:
        sans = []
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "subject_alt_names": sans,
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
        "pem": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    }
