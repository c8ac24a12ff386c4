"""Characterization and validation of many files: long-running ExifTool processes, one
MediaInfo per batch, every core, and each file still with its own output or error."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from lxml import etree

from custos.errors import ToolFailed
from custos.programs import pool_size, usable_cores
from tasks.tools import exiftool as exiftool_module
from tasks.tools.characterize import (
    characterize_file,
    characterize_files,
    mediainfo_outputs,
)
from tasks.tools.exiftool import ExifTool, ExifToolPool, passable
from tasks.tools.validate import validate_file, validate_files

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
MEDIAINFO = "{https://mediaarea.net/mediainfo}"


def _about(xml: str) -> str:
    root = etree.fromstring(xml.encode())
    (desc,) = root.findall(f"{RDF}Description")
    return str(desc.get(f"{RDF}about"))


def test_one_exiftool_answers_many_commands_each_with_its_own_output(make) -> None:
    png, jpeg = make.png(), make.jpeg()
    tool = ExifTool(timeout=60)
    try:
        first, _ = tool.execute(["-X", png.absolute()])
        pid = tool._proc.pid if tool._proc else None
        second, _ = tool.execute(["-X", jpeg.absolute()])
        out, err = tool.execute(["-X", make.root / "missing.png"])
        assert tool._proc is not None and tool._proc.pid == pid  # the same process throughout
    finally:
        tool.close()
    assert "<PNG:ImageWidth>16</PNG:ImageWidth>" in first and "JFIF" not in first
    assert "JFIF" in second and "PNG:" not in second
    assert out == "" and "File not found" in err and str(make.root / "missing.png") in err
    assert tool._proc is None  # closed


def test_a_hung_exiftool_times_out_and_the_next_command_gets_a_new_process(make) -> None:
    fifo = make.path("blocks.fifo")
    os.mkfifo(fifo)  # opening a FIFO nobody writes to never returns
    tool = ExifTool(timeout=60)
    try:
        version, _ = tool.execute(["-ver"])  # started and answering
        assert version.strip()
        started = time.monotonic()
        with pytest.raises(ToolFailed, match="timed out after 2 s"):
            tool.execute(["-@", fifo.absolute()], timeout=2)  # reads arguments from it
        assert time.monotonic() - started >= 2
        assert tool._proc is None  # killed
        out, _ = tool.execute(["-X", make.png().absolute()])
        assert "<PNG:ImageWidth>16</PNG:ImageWidth>" in out
    finally:
        tool.close()


def test_a_name_with_a_line_break_cannot_be_sent_but_is_still_characterized(make) -> None:
    odd = make.bytes("two\nlines.txt", b"a text file with an awkward name\n")
    assert not passable(odd) and passable(make.root / "plain.txt")
    with pytest.raises(ValueError, match="line break"):
        ExifTool().execute(["-X", odd])
    [result] = characterize_files([(odd, "text/plain")])
    [out] = result.outputs
    assert out.outcome == "ok" and "LineCount" in (out.xml or "")


def test_many_files_spread_over_the_pool_in_input_order(
    make, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []
    real_start = ExifTool._start

    def counting_start(self: ExifTool):  # type: ignore[no-untyped-def]
        proc = real_start(self)
        started.append(proc.pid)
        return proc

    monkeypatch.setattr(exiftool_module.ExifTool, "_start", counting_start)
    files = []
    for i in range(30):
        files.append((make.png(f"p/{i:02d}.png"), "image/png"))
        files.append((make.bytes(f"t/{i:02d}.txt", f"note {i}\n".encode()), "text/plain"))
    files.append((make.root / "gone.jpg", "image/jpeg"))
    results = characterize_files(files, workers=8)
    assert len(results) == len(files)
    for (path, _), result in zip(files[:-1], results, strict=False):
        [out] = result.outputs
        assert result.path == path and out.outcome == "ok", out.note
        assert _about(out.xml or "") == str(path.absolute())
    [gone] = results[-1].outputs
    assert gone.outcome == "failed" and "File not found" in gone.note and "gone.jpg" in gone.note
    # one ExifTool process per worker for the whole call, not one per file or batch
    assert 1 <= len(started) <= pool_size(8) == usable_cores()
    started.clear()
    assert characterize_files([]) == [] and started == []  # nothing to read, nothing started


def test_mediainfo_reads_a_batch_in_one_process_and_splits_it_per_file(make) -> None:
    waves = [make.wav(f"tone{i}.wav") for i in range(3)]
    outputs = mediainfo_outputs([*waves, make.root / "missing.wav"], timeout=60)
    for wav, out in zip(waves, outputs, strict=False):
        assert out.outcome == "ok"
        root = etree.fromstring((out.xml or "").encode())
        (media,) = root.findall(f"{MEDIAINFO}media")
        assert media.get("ref") == str(wav.absolute())
        assert root.find(f"{MEDIAINFO}creatingLibrary") is not None
    assert outputs[-1].outcome == "failed"
    # the same facts as MediaInfo on the file alone
    [single, *_] = characterize_file(waves[0], mime="audio/x-wav").outputs
    alone = etree.fromstring((single.xml or "").encode()).find(f"{MEDIAINFO}media")
    batched = etree.fromstring((outputs[0].xml or "").encode()).find(f"{MEDIAINFO}media")
    assert alone is not None and batched is not None
    assert etree.tostring(alone) == etree.tostring(batched)


def test_audio_keeps_all_three_tools_in_order_beside_images(make) -> None:
    results = characterize_files(
        [(make.png(), "image/png"), (make.wav(), "audio/x-wav"), (make.jpeg(), "image/jpeg")],
        workers=2,
    )
    assert [[o.tool for o in r.outputs] for r in results] == [
        ["exiftool"],
        ["mediainfo", "ffprobe", "exiftool"],
        ["exiftool"],
    ]
    assert all(o.outcome == "ok" for r in results for o in r.outputs)


def test_validation_of_many_files_keeps_each_result_with_its_file(make) -> None:
    good_pdf, good_png, good_jpeg = make.pdf(), make.png(), make.jpeg()
    bad_png = make.bytes("bad.png", make.png("x.png").read_bytes()[:40])
    text = make.bytes("note.txt", b"no validator\n")
    items: list[tuple[str | Path, str | None, str | None]] = [
        (good_pdf, "application/pdf", None),
        (bad_png, "image/png", None),
        (text, "text/plain", None),
        (good_png, "image/png", None),
        (good_jpeg, "image/jpeg", None),
    ]
    results = validate_files(items, workers=4)
    assert [r.outcome if r else None for r in results] == ["pass", "fail", None, "pass", "pass"]
    assert [r.path.name if r else None for r in results] == [
        "doc.pdf",
        "bad.png",
        None,
        "image.png",
        "image.jpg",
    ]
    alone = validate_file(bad_png, mime="image/png")
    assert alone is not None and results[1] is not None and alone.note == results[1].note


def test_pool_size_is_bounded_by_the_setting_and_the_cores() -> None:
    assert pool_size(1) == 1
    assert pool_size(64) == usable_cores()
    assert pool_size(0) == 1


def test_an_exiftool_pool_lends_each_process_to_one_thread(make) -> None:
    with ExifToolPool(2, timeout=60) as pool:
        with pool.lease() as first, pool.lease() as second:
            assert first is not second
        out, _ = pool.execute(["-X", make.png().absolute()])
    assert "PNG" in out


def test_exiftool_does_not_outlive_a_killed_worker(tmp_path: Path) -> None:
    """ExifTool waits for more input for ever: a worker killed without closing it must
    not leave it behind."""
    import signal
    import subprocess
    import sys

    script = (
        "import sys, time\n"
        "from tasks.tools.exiftool import ExifToolPool\n"
        "pool = ExifToolPool(2).__enter__()\n"
        "print(' '.join(str(t._proc.pid) for t in pool._all), flush=True)\n"
        "time.sleep(600)\n"
    )
    root = Path(__file__).resolve().parents[2]
    worker = subprocess.Popen(
        [sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, text=True
    )
    assert worker.stdout is not None
    pids = [int(p) for p in worker.stdout.readline().split()]
    assert len(pids) == 2
    for pid in pids:  # (setpriv execs ExifTool: its command line may not be there yet)
        deadline = time.monotonic() + 20
        while "exiftool" not in _cmdline(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "exiftool" in _cmdline(pid)
    # a pid names our ExifTool only with its start time: a busy machine reuses pids
    started = {pid: _stat(pid)[1] for pid in pids}
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    # (a process in uninterruptible I/O on a loaded machine takes its SIGKILL late)
    deadline = time.monotonic() + 60
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in pids if _running(p, started[p])]
        time.sleep(0.1)
    survivors = {p: (_stat(p), _cmdline(p)) for p in alive}
    assert not alive, f"ExifTool still running after its worker was killed: {survivors}"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, str, str]:
    """(state, start time in clock ticks, parent pid) of a process; empty when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return ("", "", "")
    return fields[0], fields[19], fields[1]


def _running(pid: int, started: str) -> bool:
    """Whether the process started at ``started`` still runs (not a zombie)."""
    state, start, _parent = _stat(pid)
    return start == started and state not in ("", "Z")
