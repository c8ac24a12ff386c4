"""deployments/prefect.yaml declares exactly the flows of custos.dispatch.FLOWS.

Every entrypoint must import to a Prefect Flow named like its dispatch key (the
API starts runs as ``<flow name>/custos``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from custos.dispatch import DEPLOYMENT_NAME, FLOWS

ROOT = Path(__file__).resolve().parent.parent
SCHEDULED = {"fixity-audit", "watch-transfer-sources", "reconcile"}


def _deployments() -> list[dict[str, Any]]:
    data = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    return list(data["deployments"])


def _module_entrypoint(file_entrypoint: str) -> str:
    path, func = file_entrypoint.split(":")
    return f"{path.removesuffix('.py').replace('/', '.')}:{func}"


def test_yaml_lists_every_dispatch_flow_once() -> None:
    entrypoints = [_module_entrypoint(d["entrypoint"]) for d in _deployments()]
    assert sorted(entrypoints) == sorted(FLOWS.values())
    for dep in _deployments():
        assert dep["name"] == DEPLOYMENT_NAME
        assert dep["work_pool"]["name"] == "custos"


@pytest.mark.parametrize("flow_name", sorted(FLOWS))
def test_entrypoint_imports_to_a_flow(flow_name: str) -> None:
    from prefect import Flow

    module_name, attr = FLOWS[flow_name].split(":")
    obj = getattr(importlib.import_module(module_name), attr)
    assert isinstance(obj, Flow)
    assert obj.name == flow_name


def test_scheduled_flows_have_intervals() -> None:
    by_flow = {k: FLOWS[k] for k in SCHEDULED}
    for dep in _deployments():
        entry = _module_entrypoint(dep["entrypoint"])
        if entry in by_flow.values():
            assert dep["schedules"][0]["interval"] > 0
        else:
            assert "schedules" not in dep


def test_concurrency_limits_come_from_the_settings() -> None:
    """The yaml states no limit: ``custos deploy`` and ``custos worker`` apply
    CUSTOS_FLOW_LIMITS (none by default)."""
    from custos.settings import DEFAULT_FLOW_LIMITS

    assert DEFAULT_FLOW_LIMITS == {}
    assert not [d for d in _deployments() if "concurrency_limit" in d]
