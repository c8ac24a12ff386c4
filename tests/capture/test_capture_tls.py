"""TLS verification of captured origins: per origin, against the system trust store.

Four https origins on loopback, all serving the test site: one whose certificate
comes from a test CA, one self-signed, one expired (same CA), one issued for
another name (same CA). A page on the first embeds an image from each of the
others. The capture must complete with every response recorded, and say, per
origin, whether the certificate verified and why not: in the provenance summary,
the page-info metadata record of the WARC, and the capture result.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from tasks.capture import BrowserPool, CaptureOptions, CaptureResult, capture

from .site import SiteServer
from .tlsca import TestAuthority, https_base, https_site


@dataclass
class Origins:
    authority: TestAuthority
    trusted: SiteServer
    self_signed: SiteServer
    expired: SiteServer
    wrong_name: SiteServer

    def origin(self, server: SiteServer) -> str:
        """``scheme://host:port`` as verdicts name it (the port is always given)."""
        return https_base(server)

    def page(self) -> str:
        """A page on the trusted origin embedding one image of each broken origin."""
        srcs = "&".join(
            f"src={https_base(s)}/img.png"
            for s in (self.self_signed, self.expired, self.wrong_name)
        )
        return f"{https_base(self.trusted)}/embed?{srcs}"


@pytest.fixture(scope="module")
def origins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Origins]:
    authority = TestAuthority(tmp_path_factory.mktemp("tls"))
    servers = Origins(
        authority,
        https_site(authority.server_context("trusted")),
        https_site(authority.server_context("self-signed", self_signed=True)),
        https_site(authority.server_context("expired", expired=True)),
        https_site(authority.server_context("wrong-name", host="other.example")),
    )
    yield servers
    for server in (servers.trusted, servers.self_signed, servers.expired, servers.wrong_name):
        server.stop()


def options(ca_bundle: Path | None) -> CaptureOptions:
    return CaptureOptions(
        allow_loopback=True,
        network_idle_timeout=3,
        settle_timeout=1,
        ca_bundle=ca_bundle,
        screenshot=False,
        favicon=False,
    )


def verdicts(result: CaptureResult) -> dict[str, tuple[bool, str | None]]:
    return {v["origin"]: (v["verified"], v["reason"]) for v in result.tls}


def recorded_uris(result: CaptureResult) -> set[str]:
    assert result.warc_path is not None
    with result.warc_path.open("rb") as stream:
        return {
            r.rec_headers.get_header("WARC-Target-URI")
            for r in ArchiveIterator(stream)
            if r.rec_type in ("response", "revisit")
        }  # the same image: a revisit


def pageinfo(result: CaptureResult) -> dict[str, Any]:
    assert result.warc_path is not None
    with result.warc_path.open("rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type == "metadata":
                data: dict[str, Any] = json.loads(record.content_stream().read())
                return data
    raise AssertionError("no page-info metadata record")


def test_each_origin_is_judged_and_every_response_still_recorded(
    pool: BrowserPool, origins: Origins, tmp_path: Path
) -> None:
    result = capture(origins.page(), tmp_path, options(origins.authority.ca_file), pool=pool)
    assert result.error is None and result.status == 200

    trusted, broken = (
        origins.origin(origins.trusted),
        [origins.origin(s) for s in (origins.self_signed, origins.expired, origins.wrong_name)],
    )
    assert verdicts(result) == {
        trusted: (True, None),
        broken[0]: (False, "self_signed"),
        broken[1]: (False, "expired"),
        broken[2]: (False, "hostname_mismatch"),
    }
    assert sorted(result.tls_unverified_origins) == sorted(broken)
    details = {v["origin"]: v["detail"] for v in result.tls}
    assert "expired" in details[broken[1]] and "mismatch" in details[broken[2]]
    assert all(len(v["certificate_sha256"]) == 64 for v in result.tls)

    # unverified origins are recorded all the same: the page is evidence
    assert {origins.page()} | {
        f"{https_base(s)}/img.png"
        for s in (origins.self_signed, origins.expired, origins.wrong_name)
    } <= recorded_uris(result)

    assert result.provenance_json_path is not None
    summary = json.loads(result.provenance_json_path.read_text())
    assert summary["tls"] == result.tls
    assert sorted(summary["tls_unverified_origins"]) == sorted(broken)
    assert result.provenance_html_path is not None
    assert "self_signed" in result.provenance_html_path.read_text()
    info = pageinfo(result)
    assert info["tls"] == result.tls
    assert sorted(info["tlsUnverifiedOrigins"]) == sorted(broken)


def test_trust_comes_from_the_system_store_not_from_the_test_ca(
    pool: BrowserPool, origins: Origins, tmp_path: Path
) -> None:
    """Without the test CA, its certificates are unknown: the system store is what decides."""
    page = f"{https_base(origins.trusted)}/simple.html"
    result = capture(page, tmp_path, options(None), pool=pool)
    assert result.error is None and result.status == 200 and result.title == "simple"
    assert verdicts(result) == {origins.origin(origins.trusted): (False, "unknown_ca")}
    assert page in recorded_uris(result)


def test_plain_http_has_no_tls_verdict(pool: BrowserPool, site: SiteServer, tmp_path: Path) -> None:
    result = capture(site.base + "/simple.html", tmp_path, options(None), pool=pool)
    assert result.status == 200 and result.tls == [] and result.tls_unverified_origins == []
