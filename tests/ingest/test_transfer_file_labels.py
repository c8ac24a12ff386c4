"""``metadata/file_labels.csv``: labels of originals in the physical structMap."""

from __future__ import annotations

from pathlib import Path

from .transfer_metadata_support import (
    NS,
    failed_at,
    job,
    make_source,
    run_to_aip,
    run_transfer_inline,
)


def test_file_labels_become_the_physical_structmap_labels(
    custos_home: Path, tmp_path: Path
) -> None:
    src = make_source(
        tmp_path / "labels",
        {
            "objects/letters/first.txt": "Dear Ann,\n",
            "objects/photo.txt": "a photo\n",
            "objects/plain.txt": "no label\n",
            "metadata/file_labels.csv": (
                'letters/first.txt,First letter (1921)\nobjects/photo.txt,"Portrait, studio"\n'
            ),
        },
    )
    aip = run_to_aip(src, tmp_path, "labels")
    assert job(aip.transfer_uuid, "Load labels from metadata/file_labels.csv").output == (
        "file_labels.csv: 2 labels"
    )
    assert aip.physical_div("objects/letters/first.txt").get("LABEL") == "First letter (1921)"
    assert aip.physical_div("objects/photo.txt").get("LABEL") == "Portrait, studio"
    assert aip.physical_div("objects/plain.txt").get("LABEL") == "plain.txt"
    # The normative structMap names the item alike (metsrw pairs the two by LABEL).
    normative = aip.tree.find(".//mets:structMap[@LABEL='Normative Directory Structure']", NS)
    assert normative.find(".//mets:div[@LABEL='First letter (1921)']", NS) is not None
    assert normative.find(".//mets:div[@LABEL='first.txt']", NS) is None
    entry = aip.mets.get_file(file_uuid=aip.file_uuid("objects/letters/first.txt"))
    assert entry.label == "First letter (1921)"
    assert entry.path == "objects/letters/first.txt"


def test_a_label_for_a_missing_file_fails_its_job(custos_home: Path, tmp_path: Path) -> None:
    src = make_source(
        tmp_path / "labelsbad",
        {"objects/a.txt": "a\n", "metadata/file_labels.csv": "a.txt,A\nb.txt,B\n"},
    )
    uuid = run_transfer_inline(src, "labelsbad")
    failed = failed_at(uuid, "Load labels from metadata/file_labels.csv")
    assert "line 2: b.txt is not an original file" in (failed.output or "")
