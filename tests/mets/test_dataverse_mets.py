"""The Dataverse METS Archivematica writes from a dataset.json (golden file
``golden/METS.dataverse.xml``): the DDI codebook, the reference to dataset.json, the
files with their MD5 and roles (a tabular bundle's derivatives in their original's
group), read back as the AIP METS and *Parse Dataverse METS XML* use it."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import metsrw
import pytest
from lxml import etree

from custos.errors import InvalidInput
from custos.mets.dataverse import DDI_NS, dataset_files, dataverse_mets, read_dataverse_mets
from custos.mets.mets import mets_bytes
from custos.mets.ns import XPATH_NS
from tests.support.dataverse import dataset_json, write_dataset_files

GOLDEN = Path(__file__).parent / "golden" / "METS.dataverse.xml"
NS = XPATH_NS | {"ddi": DDI_NS}
WHEN = datetime(2024, 3, 2, 9, 30, tzinfo=UTC)
NAMESPACE = UUID("2f1d6c3e-5c44-4a63-9d0b-6a7d3f7b9e10")


@pytest.fixture
def written(tmp_path: Path) -> tuple[bytes, Path]:
    write_dataset_files(tmp_path)
    data = dataset_json(tmp_path)
    built = mets_bytes(dataverse_mets(data, created=WHEN, namespace=NAMESPACE))
    path = tmp_path / "METS.xml"
    path.write_bytes(built)
    return built, path


def test_golden_bytes(written: tuple[bytes, Path]) -> None:
    built, _ = written
    if os.environ.get("CUSTOS_UPDATE_GOLDEN"):
        GOLDEN.write_bytes(built)
    assert built == GOLDEN.read_bytes()


def test_the_ddi_codebook_as_archivematica_writes_it(written: tuple[bytes, Path]) -> None:
    tree = etree.fromstring(written[0])
    (book,) = tree.xpath(
        "//mets:dmdSec[@ID='dmdSec_1']/mets:mdWrap[@MDTYPE='DDI']/mets:xmlData/ddi:codebook",
        namespaces=NS,
    )
    assert book.get("version") == "2.5"
    assert book.xpath("string(.//ddi:titlStmt/ddi:titl)", namespaces=NS) == "A small survey"
    (idno,) = book.xpath(".//ddi:titlStmt/ddi:IDNo", namespaces=NS)
    assert (idno.get("agency"), idno.text) == ("doi", "https://doi.org/10.5072/FK2/ABCDEF")
    assert book.xpath(".//ddi:rspStmt/ddi:AuthEnty/text()", namespaces=NS) == [
        "Doe, Jane",
        "Roe, Richard",
    ]
    assert book.xpath("string(.//ddi:distrbtr)", namespaces=NS) == "Example Dataverse"
    (version,) = book.xpath(".//ddi:verStmt/ddi:version", namespaces=NS)
    assert (version.text, version.get("date"), version.get("type")) == (
        "1.0",
        "2024-03-01T10:00:00Z",
        "RELEASED",
    )
    assert book.xpath("string(.//ddi:useStmt/ddi:restrctn)", namespaces=NS) == "CC0 Waiver"
    (ref,) = tree.xpath("//mets:dmdSec[@ID='dmdSec_2']/mets:mdRef", namespaces=NS)
    assert ref.get("LABEL") == "dataset.json" and ref.get("MDTYPE") == "OTHER"
    assert ref.get(f"{{{NS['xlink']}}}href") == "metadata/dataset.json"


def test_read_back_by_metsrw_and_by_the_parser(written: tuple[bytes, Path]) -> None:
    _, path = written
    doc = metsrw.METSDocument.fromfile(str(path))
    uses = {e.path: e.use for e in doc.all_files() if e.type == "Item"}
    assert uses["answers/answers.tab"] == "derivative"
    assert uses["answers/answers-ddi.xml"] == "metadata"
    found = read_dataverse_mets(path)
    assert [s.get("ID") for s in found.dataset_sections] == ["dmdSec_1", "dmdSec_2"]
    by_path = {f.path: f for f in found.files}
    assert set(by_path) == {f.path for f in dataset_files(dataset_json(path.parent))}
    assert by_path["answers/answers.tab"].derived_from == "answers/answers.dta"
    assert by_path["answers/answers.RData"].use == "derivative"
    assert by_path["answers/answers.dta"].use == "original" and by_path["answers/answers.dta"].md5
    assert by_path["data/survey.csv"].md5 and not by_path["data/survey.csv"].derived_from
    (tab_ddi,) = found.file_sections["answers/answers.tab"]
    (ref,) = tab_ddi
    assert ref.get("MDTYPE") == "DDI"
    assert ref.get(f"{{{NS['xlink']}}}href") == "answers/answers-ddi.xml"


def test_a_dataset_without_title_or_files_entry_name_is_refused(tmp_path: Path) -> None:
    write_dataset_files(tmp_path)
    data = dataset_json(tmp_path)
    data["datasetVersion"]["metadataBlocks"]["citation"]["fields"] = []
    with pytest.raises(InvalidInput, match="no title"):
        dataverse_mets(data, created=WHEN, namespace=NAMESPACE)
    data = dataset_json(tmp_path)
    data["datasetVersion"]["files"].append({"dataFile": {}})
    with pytest.raises(InvalidInput, match="has no filename"):
        dataset_files(data)
