"""processingMCP.xml <-> ProcessingConfig, named configurations."""

from __future__ import annotations

import pytest

from custos import processing as p
from custos.errors import InvalidInput, NotFound


def test_builtin_default_and_automated_keep_archivematica_meaning(custos_home):
    default = p.load_named("default")
    assert default.virus_scanning is True and default.transfer_structure_report is True
    assert default.identify_transfer is None and default.create_sip is None  # asks
    assert default.compression_algorithm == "7z-bzip2" and default.compression_level == 5
    auto = p.load_named("automated")
    assert auto.create_sip == "single" and auto.normalize == "preservation"
    assert auto.aip_location == "/api/v2/location/default/AS/"
    assert auto.thumbnails == "none" and auto.examine_contents is False
    assert {"default", "automated"} <= set(p.list_names())


def test_round_trip_and_unknown_entries_ignored():
    xml = """<processingMCP><preconfiguredChoices>
      <preconfiguredChoice><appliesTo>00000000-dead-beef-0000-000000000000</appliesTo>
        <goToChain>whatever</goToChain></preconfiguredChoice>
      <preconfiguredChoice><appliesTo>bb194013-597c-4e4a-8493-b36d190f8717</appliesTo>
        <goToChain>7065d256-2f47-4b7d-baec-2c4699626121</goToChain></preconfiguredChoice>
      <preconfiguredChoice><appliesTo>01d64f58-8295-4b7b-9cab-8f1b153a504f</appliesTo>
        <goToChain>9ce711ab-96d1-45dd-8708-de69698c1424</goToChain></preconfiguredChoice>
      <preconfiguredChoice><appliesTo>01d64f58-8295-4b7b-9cab-8f1b153a504f</appliesTo>
        <goToChain>dc04c4c0-07ea-4796-b643-66d967ed33a4</goToChain></preconfiguredChoice>
    </preconfiguredChoices></processingMCP>"""
    config = p.parse_xml(xml)
    assert config.create_sip == "backlog"
    assert config.compression_algorithm == "tar.gz"  # replacement links: first wins
    assert p.parse_xml(p.to_xml(config)) == config
    full = p.ProcessingConfig(virus_scanning=False, normalize="none", aip_location="/x/")
    back = p.parse_xml(p.to_xml(full))
    assert back == full
    assert p.to_xml(full).count(b"<appliesTo>") == 5 + 2 + 1  # 5 virus links, 2 normalize


def test_parser_is_safe_against_entities():
    evil = (
        "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>"
        "<processingMCP><preconfiguredChoices><preconfiguredChoice>"
        "<appliesTo>&e;</appliesTo><goToChain>x</goToChain>"
        "</preconfiguredChoice></preconfiguredChoices></processingMCP>"
    )
    assert p.parse_xml(evil) == p.ProcessingConfig()
    with pytest.raises(InvalidInput):
        p.parse_xml("<notit/>")
    with pytest.raises(InvalidInput):
        p.parse_xml("<processingMCP>")


def test_save_list_delete(custos_home):
    cfg = p.ProcessingConfig(create_sip="single", virus_scanning=True)
    p.save("mine_1", cfg)
    assert p.load_named("mine_1") == cfg and "mine_1" in p.list_names()
    with pytest.raises(InvalidInput):
        p.save("bad name!", cfg)
    with pytest.raises(InvalidInput):
        p.save("broken", b"<oops")
    p.delete("mine_1")
    with pytest.raises(NotFound):
        p.load_named("mine_1")
