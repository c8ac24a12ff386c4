"""Characterization and validation with the real Debian tools on real files."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from custos.errors import InvalidInput
from tasks.tools.characterize import characterize_file, tools_for
from tasks.tools.validate import validate_file, validator_kind


def test_characterize_jpeg_and_png(make) -> None:
    jpeg = characterize_file(make.jpeg(), mime="image/jpeg")
    [out] = jpeg.outputs
    assert (out.tool, out.outcome) == ("exiftool", "ok")
    assert out.version and out.event_detail == f'program="exiftool"; version="{out.version}"'
    root = etree.fromstring(jpeg.xml_documents[0].encode())
    assert "ImageWidth" in etree.tostring(root).decode() and "32" in out.xml  # type: ignore[operator]
    png = characterize_file(make.png(), mime="image/png")
    assert png.outputs[0].outcome == "ok" and "PNG" in png.xml_documents[0]


def test_characterize_audio_with_all_av_tools(make) -> None:
    result = characterize_file(make.wav(), mime="audio/x-wav")
    assert [o.tool for o in result.outputs] == ["mediainfo", "ffprobe", "exiftool"]
    assert all(o.outcome == "ok" for o in result.outputs), result.outputs
    ffprobe = etree.fromstring(result.outputs[1].xml.encode())  # type: ignore[union-attr]
    stream = ffprobe.find(".//stream")
    assert stream is not None and stream.get("codec_type") == "audio"
    assert stream.get("sample_rate") == "44100"
    mediainfo = etree.fromstring(result.xml_documents[0].encode())
    assert etree.QName(mediainfo).localname == "MediaInfo"


def test_characterize_missing_tool_and_failure(make, monkeypatch: pytest.MonkeyPatch) -> None:
    from custos import programs

    monkeypatch.setenv("PATH", "/nonexistent")  # no tool found at all:
    monkeypatch.setattr(programs, "SYSTEM_DIRS", ())  # nor in the system folders
    programs.tool_version.cache_clear()
    [out] = characterize_file(make.png(), tools=["exiftool"]).outputs
    assert out.outcome == "skipped" and "not installed" in out.note
    monkeypatch.undo()
    text = make.bytes("notes.txt", b"not audio at all")
    [probe] = characterize_file(text, tools=["ffprobe"]).outputs
    assert probe.outcome == "failed" and "exit" in probe.note
    with pytest.raises(InvalidInput):
        characterize_file(text, tools=["fits"])
    assert tools_for("video/mp4") == ["mediainfo", "ffprobe", "exiftool"]
    assert tools_for(None, "fmt/141") == ["mediainfo", "ffprobe", "exiftool"]
    assert tools_for("application/pdf") == ["exiftool"]


def _truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


@pytest.mark.parametrize(
    "kind, program, mime",
    [
        ("pdf", "qpdf", "application/pdf"),
        ("png", "pngcheck", "image/png"),
        ("jpeg", "jpeginfo", "image/jpeg"),
    ],
)
def test_valid_and_corrupted_files(make, kind: str, program: str, mime: str) -> None:
    maker = {"pdf": make.pdf, "png": make.png, "jpeg": make.jpeg}[kind]
    good = validate_file(maker(f"good.{kind}"), mime=mime)
    assert good is not None and good.outcome == "pass", good
    assert good.program == program and good.version
    assert good.event_detail == f'program="{program}"; version="{good.version}"'
    assert good.note.endswith('result="Well-Formed and valid"')
    bad_path = maker(f"bad.{kind}")
    if kind == "pdf":  # break the xref table and the objects
        bad_path.write_bytes(bad_path.read_bytes().replace(b"obj", b"job"))
    else:
        _truncate(bad_path)
    bad = validate_file(bad_path, mime=mime)
    assert bad is not None and bad.outcome == "fail", bad
    assert bad.message and 'result="Not well-formed or invalid"' in bad.note


def test_xml_safe_parser(tmp_path: Path) -> None:
    good = tmp_path / "ok.xml"
    good.write_text('<?xml version="1.0"?><root><a>1</a></root>')
    bad = tmp_path / "bad.xml"
    bad.write_text("<root><a></root>")
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xxe = tmp_path / "xxe.xml"
    xxe.write_text(
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY s SYSTEM "file://{secret}">]><r>&s;</r>'
    )
    ok = validate_file(good)
    assert ok is not None and ok.outcome == "pass" and ok.program == "lxml"
    failed = validate_file(bad, mime="application/xml")
    assert failed is not None and failed.outcome == "fail" and "mismatch" in failed.message
    result = validate_file(xxe, puid="fmt/101")
    assert result is not None and result.outcome == "pass"  # well-formed; entity not expanded
    assert "TOP-SECRET" not in result.note


def test_audio_validation_and_no_validator(make) -> None:
    wav = make.wav()
    ok = validate_file(wav, mime="audio/x-wav")
    assert ok is not None and ok.outcome == "pass" and ok.program == "ffmpeg"
    bad = validate_file(
        _truncate(make.bytes("bad.wav", wav.read_bytes()), 0.02), mime="audio/x-wav"
    )
    assert bad is not None and bad.outcome == "fail"
    assert validate_file(make.bytes("x.bin", b"\x00"), mime="application/octet-stream") is None
    assert validator_kind("x.pdf") == "pdf" and validator_kind("x", puid="fmt/141") is None
