"""Processing configurations: one typed ``ProcessingConfig`` and Archivematica's XML.

Archivematica users keep their decisions in ``processingMCP.xml`` files that
pre-answer decision *links* (``appliesTo``) with *chain* or *replacement* ids
(``goToChain``). Internally a configuration is one pydantic model with named
fields; ``None`` means "not configured: ask the user". The tables below map every
field to the link UUIDs and choice UUIDs Archivematica uses, so an existing file
keeps its meaning both ways (unknown ``appliesTo`` entries are ignored, as
Archivematica does).

Named configurations are looked up in ``settings.processing_configs_dir`` first,
then in the built-in ``processing_configs/`` folder (``default``, ``automated``).

Example::

    config = load_named("automated")
    config.virus_scanning, config.create_sip        # True, "single"
    save("mine", config.model_copy(update={"normalize": "none"}))
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lxml import etree
from pydantic import BaseModel, ConfigDict, ValidationError

from custos.errors import ConfigError, InvalidInput, NotFound
from custos.settings import Settings, get_settings

NAME_RE = re.compile(r"^\w{1,16}$")
BUILTIN = ("default", "automated")

CreateSip = Literal["single", "backlog", "reject"]
Normalize = Literal[
    "preservation_access", "preservation", "access", "service_access", "manual", "none", "reject"
]
ApproveNormalization = Literal["approve", "redo", "reject"]
Thumbnails = Literal["generate", "generate_non_default", "none"]
Compression = Literal["7z-copy", "7z-bzip2", "7z-lzma", "tar.gz", "tar.bz2", "uncompressed"]
UploadDip = Literal["atom", "archivesspace", "contentdm", "none"]


class ProcessingConfig(BaseModel):
    """Every preconfigurable decision of a transfer and its ingest (None = ask)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    approve_transfer: bool | None = None
    assign_uuids_to_directories: bool | None = None
    virus_scanning: bool | None = None
    transfer_structure_report: bool | None = None
    identify_transfer: bool | None = None
    identify_submission_docs: bool | None = None
    identify_ingest: bool | None = None
    extract_packages: bool | None = None
    delete_packages: bool | None = None
    policy_checks_originals: bool | None = None
    examine_contents: bool | None = None
    create_sip: CreateSip | None = None
    normalize: Normalize | None = None
    approve_normalization: ApproveNormalization | None = None
    thumbnails: Thumbnails | None = None
    policy_checks_preservation: bool | None = None
    policy_checks_access: bool | None = None
    bind_pids: bool | None = None
    document_empty_dirs: bool | None = None
    add_metadata_reminder: bool | None = None
    transcribe: bool | None = None
    compression_algorithm: Compression | None = None
    compression_level: Literal[1, 3, 5, 7, 9] | None = None
    store_aip: bool | None = None
    aip_location: str | None = None
    upload_dip: UploadDip | None = None
    store_dip: bool | None = None
    dip_location: str | None = None


@dataclass(frozen=True)
class Link:
    """One decision link: its UUID, job name, and value -> choice UUID."""

    field: str
    uuid: str
    label: str
    choices: dict[Any, str]
    kind: str = "chain"  # chain | replace | list


def _yn(yes: str, no: str) -> dict[Any, str]:
    return {True: yes, False: no}


#: Every mapped decision link, in the order ``to_xml`` writes them.
LINKS: tuple[Link, ...] = (
    Link(
        "approve_transfer",
        "0c94e6b5-4714-4bec-82c8-e187e0c04d77",
        "Approve standard transfer",
        _yn("6953950b-c101-4f4c-a0c3-0cd0684afe5e", "1b04ec43-055c-43b7-9543-bd03c6a778ba"),
    ),
    Link(
        "compression_level",
        "01c651cb-c174-4ba4-b985-1d87a44d6754",
        "Select compression level",
        {
            1: "ecfad581-b007-4612-a0e0-fcc551f4057f",
            3: "85b2243e-ff97-4ca8-80e8-3c6b0842b360",
            5: "414da421-b83f-4648-895f-a34840e3c3f5",
            7: "4e31f579-68bd-4be1-a10e-ec5411897121",
            9: "6d52fd24-8c06-4c8e-997a-e427ba0acc36",
        },
        "replace",
    ),
    Link(
        "identify_submission_docs",
        "087d27be-c719-47d8-9bbb-9a7d8b609c44",
        "Perform file format identification (Submission documentation & metadata)",
        _yn("4dec164b-79b0-4459-8505-8095af9655b5", "782bbf56-e220-48b5-9eb6-6610583f2072"),
        "replace",
    ),
    Link(
        "bind_pids",
        "a2ba5278-459a-4638-92d9-38eb1588717d",
        "Bind PIDs",
        _yn("8f9dceb5-b978-43e0-a364-8b317a3ac43b", "44a7c397-8187-4fd2-b8f7-c61737c4df49"),
    ),
    Link(
        "transfer_structure_report",
        "56eebd45-5600-4768-a8c2-ec0114555a3d",
        "Generate transfer structure report",
        _yn("df54fec1-dae1-4ea6-8d17-a839ee7ac4a7", "e9eaef1e-c2e0-4e3b-b942-bfb537162795"),
    ),
    Link(
        "policy_checks_originals",
        "70fc7040-d4fb-4d19-a0e6-792387ca1006",
        "Perform policy checks on originals",
        _yn("c611a6ff-dfdb-46d1-b390-f366a6ea6f66", "3e891cc4-39d2-4989-a001-5107a009a223"),
    ),
    Link(
        "thumbnails",
        "498f7a6d-1b8c-431a-aa5d-83f14f3c5e65",
        "Generate thumbnails",
        {
            "generate": "c318b224-b718-4535-a911-494b1af6ff26",
            "generate_non_default": "89f098ef-1cb2-4a97-ad67-4c0f14d0546b",
            "none": "972fce6c-52c8-4c00-99b9-d6814e377974",
        },
        "replace",
    ),
    Link(
        "compression_algorithm",
        "01d64f58-8295-4b7b-9cab-8f1b153a504f",
        "Select compression algorithm",
        {
            "7z-bzip2": "9475447c-9889-430c-9477-6287a9574c5b",
            "7z-lzma": "c96353b9-0d55-46cf-baa0-d7c3e180dd43",
            "7z-copy": "e3906da0-41fb-4cb8-a598-6c73981b63e9",
            "tar.gz": "9ce711ab-96d1-45dd-8708-de69698c1424",
            "tar.bz2": "f61b00a1-ef2e-4dc4-9391-111c6f42b9a7",
            "uncompressed": "dc04c4c0-07ea-4796-b643-66d967ed33a4",
        },
        "replace",
    ),
    Link(
        "policy_checks_access",
        "8ce07e94-6130-4987-96f0-2399ad45c5c2",
        "Perform policy checks on access derivatives",
        _yn("d9760427-b488-4381-832a-de10106de6fe", "76befd52-14c3-44f9-838f-15a4e01624b0"),
    ),
    Link(
        "identify_ingest",
        "7a024896-c4f7-4808-a240-44c87c762bc5",
        "Perform file format identification (Ingest)",
        _yn("5b3c8268-5b33-4b70-b1aa-0e4540fe03d1", "3c1faec7-7e1e-4cdd-b3bd-e2f05f4baa9b"),
        "replace",
    ),
    Link(
        "policy_checks_preservation",
        "153c5f41-3cfb-47ba-9150-2dd44ebc27df",
        "Perform policy checks on preservation derivatives",
        _yn("3a55f688-eca3-4ebc-a012-4ce68290e7b0", "b7ce05f0-9d94-4b3e-86cc-d4b2c6dba546"),
    ),
    Link(
        "assign_uuids_to_directories",
        "bd899573-694e-4d33-8c9b-df0af802437d",
        "Assign UUIDs to directories",
        _yn("2dc3f487-e4b0-4e07-a4b3-6216ed24ca14", "891f60d0-1ba8-48d3-b39e-dd0934635d29"),
        "replace",
    ),
    Link(
        "document_empty_dirs",
        "d0dfa5fc-e3c2-4638-9eda-f96eea1070e0",
        "Document empty directories",
        _yn("29881c21-3548-454a-9637-ebc5fd46aee0", "65273f18-5b4e-4944-af4f-09be175a88e8"),
    ),
    Link(
        "virus_scanning",
        "856d2d65-cd25-49fa-8da9-cabb78292894",
        "Virus scanning: metadata",
        _yn("6e431096-c403-4cbf-a59a-a26e86be54a8", "63767e4b-9ce8-4fe2-8724-65cc1f763de0"),
    ),
    Link(
        "virus_scanning",
        "1dad74a2-95df-4825-bbba-dca8b91d2371",
        "Virus scanning: extracted files",
        _yn("1ac7d792-b63f-46e0-9945-d48d9e5c02c9", "697c0883-798d-4af7-b8b6-101c7f709cd5"),
    ),
    Link(
        "virus_scanning",
        "7e81f94e-6441-4430-a12d-76df09181b66",
        "Virus scanning: directories",
        _yn("97be337c-ff27-4869-bf63-ef1abc9df15d", "77355172-b437-4324-9dcc-e2607ad27cb1"),
    ),
    Link(
        "virus_scanning",
        "390d6507-5029-4dae-bcd4-ce7178c9b560",
        "Virus scanning: attachments",
        _yn("34944d4f-762e-4262-8c79-b9fd48521ca0", "63be6081-bee8-4cf5-a453-91893e31940f"),
    ),
    Link(
        "virus_scanning",
        "97a5ddc0-d4e0-43ac-a571-9722405a0a9b",
        "Virus scanning: submission documentation",
        _yn("3e8c0c39-3f30-4c9b-a449-85eef1b2a458", "7f5244fe-590b-4e38-beaf-0cf1ccb9e71b"),
    ),
    Link(
        "identify_transfer",
        "f09847c2-ee51-429a-9478-a860477f6b8d",
        "Perform file format identification (Transfer)",
        _yn("d97297c7-2b49-4cfe-8c9f-0613d63ed763", "1f77af0a-2f7a-468f-af8c-653a9e61ca4f"),
        "replace",
    ),
    Link(
        "extract_packages",
        "dec97e3c-5598-4b99-b26e-f87a435a6b7f",
        "Extract packages",
        _yn("01d80b27-4ad1-4bd1-8f8d-f819f18bf685", "79f1f5af-7694-48a4-b645-e42790bbf870"),
    ),
    Link(
        "delete_packages",
        "f19926dd-8fb5-4c79-8ade-c83f61f55b40",
        "Delete packages after extraction",
        _yn("85b1e45d-8f98-4cae-8336-72f40e12cbef", "72e8443e-a8eb-49a8-ba5f-76d52f960bde"),
        "replace",
    ),
    Link(
        "examine_contents",
        "accea2bf-ba74-4a3a-bb97-614775c74459",
        "Examine contents",
        _yn("06f03bb3-121d-4c85-bec7-abbc5320a409", "e0a39199-c62a-4a2f-98de-e9d1116460a8"),
    ),
    Link(
        "create_sip",
        "bb194013-597c-4e4a-8493-b36d190f8717",
        "Create SIP(s)",
        {
            "single": "61cfa825-120e-4b17-83e6-51a42b67d969",
            "backlog": "7065d256-2f47-4b7d-baec-2c4699626121",
            "reject": "1b04ec43-055c-43b7-9543-bd03c6a778ba",
        },
    ),
    Link(
        "normalize",
        "cb8e5706-e73f-472f-ad9b-d1236af8095f",
        "Normalize",
        {
            "preservation_access": "b93cecd4-71f2-4e28-bc39-d32fd62c5a94",
            "preservation": "612e3609-ce9a-4df6-a9a3-63d634d2d934",
            "access": "fb7a326e-1e50-4b48-91b9-4917ff8d0ae8",
            "service_access": "e600b56d-1a43-4031-9d7c-f64f123e5662",
            "manual": "c34bd22a-d077-4180-bf58-01db35bdb644",
            "none": "89cb80dd-0636-464f-930d-57b61e3928b2",
            "reject": "a6ed697e-6189-4b4e-9f80-29209abc7937",
        },
    ),
    Link(
        "normalize",
        "7509e7dc-1e1b-4dce-8d21-e130515fce73",
        "Normalize",
        {
            "preservation": "612e3609-ce9a-4df6-a9a3-63d634d2d934",
            "none": "e8544c5e-9cbb-4b8f-a68b-6d9b4d7f7362",
            "reject": "a6ed697e-6189-4b4e-9f80-29209abc7937",
        },
    ),
    Link(
        "approve_normalization",
        "de909a42-c5b5-46e1-9985-c031b50e9d30",
        "Approve normalization",
        {
            "approve": "1e0df175-d56d-450d-8bee-7df1dc7ae815",
            "redo": "cbe9b4a3-e4e6-4a32-8d7c-3adfc409cb6f",
            "reject": "169a5448-c756-4705-a920-737de6b8d595",
        },
    ),
    Link(
        "add_metadata_reminder",
        "eeb23509-57e2-4529-8857-9d62525db048",
        "Reminder: add metadata if desired",
        {True: "5727faac-88af-40e8-8c10-268644b0142d"},
    ),
    Link(
        "transcribe",
        "82ee9ad2-2c74-4c7c-853e-e4eaf68fc8b6",
        "Transcribe files (OCR)",
        _yn("35151db8-3a11-4b49-8865-f6697ef0ac75", "0a24787c-00e3-4710-b324-90e792bfb484"),
    ),
    Link(
        "store_aip",
        "2d32235c-02d4-4686-88a6-96f4d6c7b1c3",
        "Store AIP",
        _yn("9efab23c-31dc-4cbd-a39d-bb1665460cbe", "433f4e6b-1ef4-49f8-b1e4-49693791a806"),
    ),
    Link("aip_location", "b320ce81-9982-408a-9502-097d0daa48fa", "Store AIP location", {}, "list"),
    Link(
        "upload_dip",
        "92879a29-45bf-4f0b-ac43-e64474f0f2f9",
        "Upload DIP",
        {
            "atom": "0fe9842f-9519-4067-a691-8a363132ae24",
            "archivesspace": "3572f844-5e69-4000-a24b-4e32d3487f82",
            "contentdm": "526eded3-2280-4f10-ac86-eff6c464cc81",
            "none": "6eb8ebe7-fab3-4e4c-b9d7-14de17625baa",
        },
    ),
    Link(
        "store_dip",
        "5e58066d-e113-4383-b20b-f301ed4d751c",
        "Store DIP",
        _yn("8d29eb3d-a8a8-4347-806e-3d8227ed44a1", "4500f34e-f004-4ccf-8720-5c38d0be2254"),
    ),
    Link("dip_location", "cd844b6e-ab3c-4bc6-b34f-7103f88715de", "Store DIP location", {}, "list"),
)
LINKS_BY_UUID: dict[str, Link] = {link.uuid: link for link in LINKS}


def link_for(field: str, uuid: str | None = None) -> Link:
    """The (first, or the given) decision link of a field."""
    for link in LINKS:
        if link.field == field and (uuid is None or link.uuid == uuid):
            return link
    raise KeyError(field)


def choice_value(link: Link, choice: str) -> Any:
    """The field value a choice (chain/replacement UUID or location URI) stands for."""
    if link.kind == "list":
        return choice
    for value, chain in link.choices.items():
        if chain == choice:
            return value
    raise InvalidInput(
        f"{choice!r} is not a choice of {link.label!r}",
        details={"choices": list(link.choices.values())},
    )


# -- XML ----------------------------------------------------------------------
def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        remove_comments=False,
        load_dtd=False,
        huge_tree=False,
    )


def parse_xml(data: bytes | str) -> ProcessingConfig:
    """Read a processingMCP.xml document (unknown entries are ignored)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        raise InvalidInput(f"processing configuration is not well-formed XML: {exc}") from exc
    if root.tag != "processingMCP":
        raise InvalidInput(
            f"processing configuration root must be <processingMCP>, not <{root.tag}>"
        )
    values: dict[str, Any] = {}
    replaced: set[str] = set()
    for entry in root.iter("preconfiguredChoice"):
        applies = (entry.findtext("appliesTo") or "").strip()
        goto = (entry.findtext("goToChain") or "").strip()
        link = LINKS_BY_UUID.get(applies)
        if link is None or not goto:
            continue
        try:
            value = choice_value(link, goto)
        except InvalidInput:
            continue  # Archivematica ignores choices that are not valid for the link
        if link.kind == "replace":  # first valid entry wins for replacement links
            if link.uuid in replaced:
                continue
            replaced.add(link.uuid)
        values[link.field] = value
    try:
        return ProcessingConfig(**values)
    except ValidationError as exc:  # pragma: no cover - values come from our own tables
        raise InvalidInput("invalid processing configuration", details=exc.errors()) from exc


def to_xml(config: ProcessingConfig) -> bytes:
    """Serialize a configuration as Archivematica writes it (a comment per entry)."""
    root = etree.Element("processingMCP")
    choices = etree.SubElement(root, "preconfiguredChoices")
    for link in LINKS:
        value = getattr(config, link.field)
        if value is None:
            continue
        goto = value if link.kind == "list" else link.choices.get(value)
        if goto is None:
            continue
        choices.append(etree.Comment(f" {link.label} "))
        entry = etree.SubElement(choices, "preconfiguredChoice")
        etree.SubElement(entry, "appliesTo").text = link.uuid
        etree.SubElement(entry, "goToChain").text = str(goto)
    data: bytes = etree.tostring(root, pretty_print=True, encoding="utf-8")
    return data


def read_file(path: Path) -> ProcessingConfig:
    """Parse a processingMCP.xml file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read processing configuration {path}: {exc}") from exc
    return parse_xml(data)


# -- named configurations -------------------------------------------------------
def _check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise InvalidInput(
            f"processing configuration name {name!r} must be 1-16 letters, digits or underscores"
        )
    return name


def _dirs(settings: Settings | None) -> tuple[Path, Path]:
    s = settings or get_settings()
    return s.processing_configs_dir, s.builtin_processing_configs_dir


def named_path(name: str, settings: Settings | None = None) -> Path:
    """Where the named configuration's XML lives (user folder first, then built-in)."""
    user, builtin = _dirs(settings)
    _check_name(name)
    for folder in (user, builtin):
        path = folder / f"{name}.xml"
        if path.is_file():
            return path
    raise NotFound(f"no processing configuration named {name!r}")


def load_named(name: str, settings: Settings | None = None) -> ProcessingConfig:
    """Load a named configuration."""
    return read_file(named_path(name, settings))


def named_xml(name: str, settings: Settings | None = None) -> bytes:
    """The stored XML of a named configuration, byte for byte."""
    return named_path(name, settings).read_bytes()


def list_names(settings: Settings | None = None) -> list[str]:
    """Every configuration name, built-in and user's, sorted."""
    names: set[str] = set()
    for folder in _dirs(settings):
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.xml") if NAME_RE.match(p.stem))
    return sorted(names)


def save(
    name: str, config: ProcessingConfig | bytes | str, settings: Settings | None = None
) -> Path:
    """Validate and store a configuration under ``name`` in the user folder."""
    _check_name(name)
    data = (
        to_xml(config)
        if isinstance(config, ProcessingConfig)
        else (config.encode("utf-8") if isinstance(config, str) else config)
    )
    parse_xml(data)  # refuse what we could not read back
    folder = _dirs(settings)[0]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}.xml"
        tmp = target.with_suffix(".xml.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    except OSError as exc:
        raise ConfigError(f"cannot write processing configuration {name!r}: {exc}") from exc
    return target


def delete(name: str, settings: Settings | None = None) -> None:
    """Delete a user configuration (built-ins then show through again)."""
    _check_name(name)
    path = _dirs(settings)[0] / f"{name}.xml"
    if not path.is_file():
        raise NotFound(f"no user processing configuration named {name!r}")
    try:
        path.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot delete processing configuration {name!r}: {exc}") from exc
