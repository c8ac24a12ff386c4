"""A test certificate authority and https test sites signed by it (or not).

``TestAuthority`` makes a CA and leaf certificates the way a public CA would
(a CA certificate, leaves with SANs), plus the broken kinds a capture meets in
the wild: self-signed, expired, issued for another name. ``https_site`` serves
the capture test site (``site.py``) over TLS with one of them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .site import SiteServer

DAY = dt.timedelta(days=1)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


class TestAuthority:
    """A CA whose certificate a test can trust (``ca_file``) or leave untrusted."""

    __test__ = False  # not a test class for pytest

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("Custos test root CA"))
            .issuer_name(_name("Custos test root CA"))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - DAY)
            .not_valid_after(now + 30 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        self.ca_file = folder / "test-ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def server_context(
        self,
        name: str,
        *,
        host: str = "127.0.0.1",
        expired: bool = False,
        self_signed: bool = False,
    ) -> ssl.SSLContext:
        """A server context whose leaf names ``host``; broken as asked."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        start, end = (now - 30 * DAY, now - DAY) if expired else (now - DAY, now + 30 * DAY)
        issuer, signer = (_name(host), key) if self_signed else (self.cert.subject, self._key)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(host))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([_san(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if not self_signed:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        cert = builder.sign(signer, hashes.SHA256())
        chain = self.folder / f"{name}.pem"
        chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file = self.folder / f"{name}.key"
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain, key_file)
        return context


def https_site(context: ssl.SSLContext) -> SiteServer:
    """The capture test site on a loopback port, over TLS with ``context``."""
    server = SiteServer("127.0.0.1")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server.start()


def https_base(server: SiteServer) -> str:
    """``https://127.0.0.1:<port>``."""
    return server.base.replace("http://", "https://")
