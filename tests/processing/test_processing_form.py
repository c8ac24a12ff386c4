"""Processing configurations as forms: Archivematica's names and choices, a round trip
through processingMCP.xml, and refusal of values that are not choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from custos.errors import InvalidInput
from custos.processing import (
    LINKS,
    ProcessingConfig,
    load_named,
    named_path,
    parse_xml,
    to_xml,
)
from custos.processing_form import FIELDS, config_from_form, form_fields, save_form
from custos.settings import Settings


def test_every_config_field_is_a_form_field_with_its_choices() -> None:
    assert [f.name for f in FIELDS] == list(dict.fromkeys(f.name for f in FIELDS))
    assert {f.name for f in FIELDS} == set(ProcessingConfig.model_fields)
    for spec in FIELDS:
        link = next(link for link in LINKS if link.field == spec.name)
        if spec.choices is not None:  # every labelled value is one the XML can carry
            assert set(spec.choices) == set(link.choices), spec.name


def test_default_config_as_a_form_names_decisions_as_archivematica() -> None:
    fields = {f.name: f for f in form_fields(load_named("default"))}
    sip = fields["create_sip"]
    assert sip.label == "Create SIP(s)" and sip.group == "Create SIP from Transfer"
    assert sip.value == ""  # default asks
    assert sip.choices == (
        ("", "None (ask)"),
        ("single", "Create single SIP and continue processing"),
        ("backlog", "Send to backlog"),
        ("reject", "Reject transfer"),
    )
    assert fields["virus_scanning"].value == "yes"
    assert fields["compression_algorithm"].value == "7z-bzip2"
    assert dict(fields["compression_algorithm"].choices)["7z-bzip2"] == "7z using bzip2"
    assert fields["compression_level"].value == "5"
    assert fields["identify_ingest"].value == "no"
    assert dict(fields["identify_ingest"].choices)["no"] == "No, use existing data"


def test_locations_are_offered_and_a_stored_one_is_kept() -> None:
    config = ProcessingConfig(aip_location="/api/v2/location/abc/")
    locs = {"/api/v2/location/default/AS/": "Default AIP storage"}
    field = next(f for f in form_fields(config, locs) if f.name == "aip_location")
    assert field.free_text and field.value == "/api/v2/location/abc/"
    assert [v for v, _ in field.choices] == [
        "",
        "/api/v2/location/default/AS/",
        "/api/v2/location/abc/",
    ]


@pytest.mark.parametrize("name", ["default", "automated", "capture"])
def test_builtin_configs_round_trip_through_the_form(name: str) -> None:
    config = load_named(name)
    values = {f.name: f.value for f in form_fields(config)}
    assert config_from_form(values) == config
    assert parse_xml(to_xml(config_from_form(values))) == config


def test_save_form_writes_processing_mcp_xml(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    values = {f.name: f.value for f in form_fields(load_named("default", settings))}
    values |= {"create_sip": "backlog", "normalize": "preservation", "aip_location": ""}
    path = save_form("mine", values, settings)
    assert path == named_path("mine", settings)
    xml = path.read_text()
    assert "<appliesTo>bb194013-597c-4e4a-8493-b36d190f8717</appliesTo>" in xml
    assert "<goToChain>7065d256-2f47-4b7d-baec-2c4699626121</goToChain>" in xml
    saved = load_named("mine", settings)
    assert saved.create_sip == "backlog" and saved.normalize == "preservation"
    assert saved.virus_scanning is True and saved.aip_location is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"create_sip": "twice"}, r"Create SIP\(s\): 'twice' is not one of its choices"),
        ({"compression_level": "4"}, "Select compression level: '4'"),
        ({"virus_scanning": "maybe"}, "Virus scanning: 'maybe'"),
        ({"aip_location": "/tmp/x"}, "Store AIP location: '/tmp/x' is not a location URI"),
        ({"launch_rockets": "yes"}, "unknown processing decision"),
    ],
)
def test_invalid_values_are_refused_and_nothing_is_written(
    tmp_path: Path, values: dict[str, str], message: str
) -> None:
    settings = Settings(home=tmp_path)
    with pytest.raises(InvalidInput, match=message):
        save_form("bad", values, settings)
    assert not (settings.processing_configs_dir / "bad.xml").exists()


def test_a_bad_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="must be 1-16 letters"):
        save_form("../evil", {}, Settings(home=tmp_path))
