"""Capturing an https origin: CONNECT through the proxy, certificate in the provenance."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from tasks.capture import BrowserPool, CaptureOptions, capture
from tasks.capture.certs import CertificateAuthority

from .site import SiteServer


@pytest.fixture(scope="module")
def https_site() -> Iterator[SiteServer]:
    authority = CertificateAuthority()  # any self-signed origin certificate will do
    server = SiteServer("127.0.0.1")
    context: ssl.SSLContext = authority.context_for("127.0.0.1")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.start()
    yield server
    server.stop()
    authority.close()


def test_https_page_is_recorded_with_its_certificate(
    pool: BrowserPool, https_site: SiteServer, tmp_path: Path
) -> None:
    base = https_site.base.replace("http://", "https://")
    options = CaptureOptions(allow_loopback=True, network_idle_timeout=3, settle_timeout=1)
    result = capture(base + "/index.html", tmp_path, options, pool=pool)
    assert result.warc_path is not None and result.provenance_json_path is not None
    assert result.status == 200 and result.title == "Custos test page"
    with result.warc_path.open("rb") as stream:
        uris = {
            r.rec_headers.get_header("WARC-Target-URI")
            for r in ArchiveIterator(stream)
            if r.rec_type == "response"
        }
    assert {base + "/index.html", base + "/gzip.txt", base + "/bg.png"} <= uris
    certificates = json.loads(result.provenance_json_path.read_text())["certificates"]
    assert len(certificates) == 1
    assert "CN=127.0.0.1" in certificates[0]["subject"]
    assert certificates[0]["subject_alt_names"] == ["127.0.0.1"]
