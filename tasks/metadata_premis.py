"""``metadata/premis.xml``: PREMIS events (and their agents) that happened before transfer.

Archivematica's *Load PREMIS events from metadata/premis.xml* (its
``load_premis_events_from_xml``) reads a PREMIS 3 document::

    <premis:premis xmlns:premis="http://www.loc.gov/premis/v3" version="3.0">
      <premis:object xsi:type="premis:file">
        <premis:objectIdentifier>...</premis:objectIdentifier>
        <premis:originalName>objects/letter.txt</premis:originalName>   (a transfer path)
      </premis:object>
      <premis:event> ... <premis:linkingObjectIdentifier/> <premis:linkingAgentIdentifier/>
      </premis:event>
      <premis:agent> ... </premis:agent>
    </premis:premis>

The document must validate against premis.xsd. Each file object is matched to a file
of the transfer by ``originalName``; events are related to objects and agents through
their linking identifiers (from either side). As in Archivematica, the import is all or
nothing: an object without ``originalName`` or naming no transfer file, an element
related to nothing, a link to an element the document lacks, or an event without an
object or an agent fails it, every problem listed. The document is parsed without
entities or network access.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from custos.errors import InvalidInput
from custos.mets.ns import PREMIS_NS, XSI_TYPE, parse_supplied, premis
from custos.mets.validate import load_schema

Key = tuple[str, str]


@dataclass
class PremisAgent:
    identifier: Key
    name: str
    type: str
    events: set[Key] = field(default_factory=set)


@dataclass
class PremisEvent:
    identifier: Key
    type: str
    datetime: dt.datetime | None
    detail: str
    outcome: str
    outcome_note: str
    files: set[Key] = field(default_factory=set)
    agents: set[Key] = field(default_factory=set)


@dataclass
class ImportedEvent:
    """One event to record: its (possibly kept) UUID, the files and agents it links."""

    event: PremisEvent
    file_paths: list[str]
    agents: list[PremisAgent]


def _key(el: etree._Element, prefix: str) -> Key:
    return (
        (el.findtext(premis(f"{prefix}IdentifierType")) or "").strip(),
        (el.findtext(premis(f"{prefix}IdentifierValue")) or "").strip(),
    )


def _keys(el: etree._Element, prefix: str) -> set[Key]:
    return {_key(link, prefix) for link in el.iterfind(premis(f"{prefix}Identifier"))}


def _joined(el: etree._Element, path: str) -> str:
    return " ".join(
        t.text.strip()
        for t in el.iterfind(path, {"premis": PREMIS_NS})
        if t.text and t.text.strip()
    )


def _describe(kind: str, key: Key) -> str:
    return f"premis:{kind} {key[0]}={key[1]}"


def parse_datetime(value: str) -> dt.datetime:
    """An ISO 8601 date or date-time; naive values are taken as UTC."""
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def load_premis_events(path: Path, transfer_paths: set[str]) -> list[ImportedEvent]:
    """Read and check premis.xml; the events to record, with their files and agents.

    ``transfer_paths`` are the transfer's file paths as they arrived (``objects/...``).

    Raises:
        InvalidInput: not well-formed, not valid PREMIS 3, or any of the problems above
            (``details`` lists them all).
    """
    tree = parse_supplied(path)
    schema = load_schema("premis.xsd")
    if not schema.validate(tree):
        errors = [f"line {e.line}: {e.message}" for e in schema.error_log]
        raise InvalidInput(f"premis.xml does not validate against PREMIS 3: {errors[0]}", errors)
    root = tree.getroot()
    problems: list[str] = []
    files: dict[Key, tuple[str, set[Key]]] = {}
    for obj in root.iterfind(premis("object")):
        if obj.get(XSI_TYPE, "").split(":")[-1] != "file":
            continue
        key = _key(obj.find(premis("objectIdentifier")), "object")
        name = (obj.findtext(premis("originalName")) or "").strip()
        if not name:
            problems.append(f"{_describe('object', key)} has no premis:originalName")
        elif name not in transfer_paths:
            problems.append(
                f"{_describe('object', key)}: originalName {name!r} is not a file of the transfer"
            )
        files[key] = (name, _keys(obj, "linkingEvent"))
    agents: dict[Key, PremisAgent] = {}
    for el in root.iterfind(premis("agent")):
        key = _key(el.find(premis("agentIdentifier")), "agent")
        agents[key] = PremisAgent(
            key,
            _joined(el, "premis:agentName"),
            (el.findtext(premis("agentType")) or "").strip(),
            _keys(el, "linkingEvent"),
        )
    events: dict[Key, PremisEvent] = {}
    for el in root.iterfind(premis("event")):
        key = _key(el.find(premis("eventIdentifier")), "event")
        when_text = (el.findtext(premis("eventDateTime")) or "").strip()
        when = None
        if when_text:
            try:
                when = parse_datetime(when_text)
            except ValueError:
                problems.append(
                    f"{_describe('event', key)}: eventDateTime {when_text!r} is not ISO 8601"
                )
        events[key] = PremisEvent(
            key,
            (el.findtext(premis("eventType")) or "").strip(),
            when,
            _joined(el, "premis:eventDetailInformation/premis:eventDetail"),
            _joined(el, "premis:eventOutcomeInformation/premis:eventOutcome"),
            _joined(
                el,
                "premis:eventOutcomeInformation/premis:eventOutcomeDetail/premis:eventOutcomeDetailNote",
            ),
            _keys(el, "linkingObject"),
            _keys(el, "linkingAgent"),
        )
    for fkey, (_, linked) in files.items():
        for ekey in linked - events.keys():
            problems.append(
                f"{_describe('object', fkey)} links to a missing {_describe('event', ekey)}"
            )
        for ekey in linked & events.keys():
            events[ekey].files.add(fkey)
    for akey, agent in agents.items():
        for ekey in agent.events - events.keys():
            problems.append(
                f"{_describe('agent', akey)} links to a missing {_describe('event', ekey)}"
            )
        for ekey in agent.events & events.keys():
            events[ekey].agents.add(akey)
    related_files = {k for e in events.values() for k in e.files}
    related_agents = {k for e in events.values() for k in e.agents}
    problems += [
        f"{_describe('object', k)} is related to no event" for k in files.keys() - related_files
    ]
    problems += [
        f"{_describe('agent', k)} is related to no event" for k in agents.keys() - related_agents
    ]
    out: list[ImportedEvent] = []
    for ekey, event in events.items():
        for missing in event.files - files.keys():
            problems.append(
                f"{_describe('event', ekey)} links to a missing {_describe('object', missing)}"
            )
        for missing in event.agents - agents.keys():
            problems.append(
                f"{_describe('event', ekey)} links to a missing {_describe('agent', missing)}"
            )
        linked_files = sorted(files[k][0] for k in event.files if k in files)
        linked_agents = [agents[k] for k in sorted(event.agents) if k in agents]
        if not linked_files:
            problems.append(f"{_describe('event', ekey)} is related to no object")
        if not linked_agents:
            problems.append(f"{_describe('event', ekey)} is related to no agent")
        out.append(ImportedEvent(event, linked_files, linked_agents))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidInput(f"premis.xml: {problems[0]}{more}", details=problems)
    return out
