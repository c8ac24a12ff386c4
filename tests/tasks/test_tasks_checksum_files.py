"""metadata/checksum.* verification against real transfers."""

from __future__ import annotations

import hashlib

from tasks.checksum_files import parse_checksum_file, verify_transfer_checksums


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_good_checksum_file_passes(transfer) -> None:
    root = transfer({"a.txt": b"alpha", "sub dir/é.txt": b"beta"})
    (root / "metadata" / "checksum.md5").write_text(
        f"{_md5(b'alpha')}  objects/a.txt\n{_md5(b'beta')} *./objects/sub dir/é.txt\n"
    )
    sha = hashlib.sha256(b"alpha").hexdigest(), hashlib.sha256(b"beta").hexdigest()
    (root / "metadata" / "checksum.sha256").write_bytes(
        f"\ufeff{sha[0]}  objects/a.txt\r\n{sha[1]}  objects/sub dir/é.txt\r\n".encode()
    )
    reports = verify_transfer_checksums(root)
    assert [r.algorithm for r in reports] == ["md5", "sha256"]
    for report in reports:
        assert report.passed, report.problems()
        assert [c.relpath for c in report.checks] == ["objects/a.txt", "objects/sub dir/é.txt"]
    assert reports[0].event_detail == (
        'program="python"; module="hashlib.md5()"; checksumFile="metadata/checksum.md5"'
    )


def test_wrong_checksum_missing_unlisted_and_malformed(transfer) -> None:
    root = transfer({"a.txt": b"alpha", "b.txt": b"beta", "c.txt": b"gamma"})
    wrong = _md5(b"not alpha")
    (root / "metadata" / "checksum.md5").write_text(
        f"{wrong}  objects/a.txt\n"
        f"{_md5(b'beta')}  objects/b.txt\n"
        f"{_md5(b'x')}  objects/gone.txt\n"
        f"{_md5(b'x')}  ../../etc/passwd\n"
        "this is not a checksum line\n"
        "abc123  objects/c.txt\n"
    )
    [report] = verify_transfer_checksums(root)
    assert not report.passed
    by_path = {c.relpath: c for c in report.checks}
    bad = by_path["objects/a.txt"]
    assert (bad.outcome, bad.expected, bad.found) == ("fail", wrong, _md5(b"alpha"))
    assert bad.as_error().algorithm == "md5"
    assert by_path["objects/b.txt"].passed
    assert by_path["objects/gone.txt"].outcome == "missing"
    assert by_path["../../etc/passwd"].note == "path outside the transfer refused"
    assert report.unlisted == ["objects/c.txt"]
    assert len(report.malformed) == 2
    problems = "\n".join(report.problems())
    assert "objects/a.txt: md5 mismatch" in problems and "not listed" in problems


def test_paths_relative_to_objects_accepted_with_note(transfer) -> None:
    root = transfer({"a.txt": b"alpha"})
    (root / "metadata" / "checksum.sha1").write_text(
        f"{hashlib.sha1(b'alpha').hexdigest()}  a.txt\n"
    )
    [report] = verify_transfer_checksums(root)
    assert report.passed
    assert report.checks[0].relpath == "objects/a.txt"
    assert "relative to objects/" in report.checks[0].note


def test_non_utf8_names_and_bsd_format(transfer) -> None:
    root = transfer({})
    raw_name = b"caf\xe9.txt"  # latin-1, not UTF-8
    with open(bytes(root / "objects") + b"/" + raw_name, "wb") as fh:
        fh.write(b"data")
    line = b"MD5 (objects/" + raw_name + f") = {_md5(b'data')}\n".encode()
    (root / "metadata" / "checksum.md5").write_bytes(line)
    entries, malformed = parse_checksum_file(root / "metadata" / "checksum.md5", "md5")
    assert not malformed and len(entries) == 1
    [report] = verify_transfer_checksums(root)
    assert report.passed, report.problems()


def test_no_checksum_files_and_empty_objects(transfer) -> None:
    root = transfer({})
    assert verify_transfer_checksums(root) == []
    (root / "metadata" / "checksum.md5").write_text("")
    [report] = verify_transfer_checksums(root)
    assert report.passed and report.checks == []
