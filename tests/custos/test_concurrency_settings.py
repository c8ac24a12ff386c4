"""Concurrency settings: parsed, validated, and applied by the runner's deployments
and the worker's command line."""

from __future__ import annotations

import pytest

from custos.errors import ConfigError
from custos.runtime.pool import worker_argv
from custos.settings import DEFAULT_FLOW_LIMITS, load_settings


def test_flow_limits_merge_with_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTOS_FLOW_LIMITS", '{"transfer": 3, "reconcile": 2}')
    monkeypatch.setenv("CUSTOS_FLOW_RUN_LIMIT", "6")
    monkeypatch.setenv("CUSTOS_VIRUS_SCAN_LIMIT", "1")
    s = load_settings()
    assert s.flow_limits == {**DEFAULT_FLOW_LIMITS, "transfer": 3, "reconcile": 2}
    assert (s.flow_run_limit, s.virus_scan_limit) == (6, 1)
    argv = worker_argv(s, "w1")
    assert argv[argv.index("--limit") + 1] == "6"
    assert argv[argv.index("--name") + 1] == "w1"
    assert argv[argv.index("--pool") + 1] == "custos"


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("CUSTOS_FLOW_LIMITS", '{"transfer": 0}', "CUSTOS_FLOW_LIMITS"),
        ("CUSTOS_FLOW_LIMITS", "four", "CUSTOS_FLOW_LIMITS"),
        ("CUSTOS_FLOW_RUN_LIMIT", "0", "CUSTOS_FLOW_RUN_LIMIT"),
        ("CUSTOS_VIRUS_SCAN_LIMIT", "100", "CUSTOS_VIRUS_SCAN_LIMIT"),
    ],
)
def test_bad_limits_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, named: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=named):
        load_settings()


def test_runner_deployments_carry_the_flow_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    from custos.runtime.runner import deployments

    monkeypatch.setenv("CUSTOS_FLOW_LIMITS", '{"transfer": 2, "reconcile": 1}')
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy

    deps = {d.flow_name: d for d in deployments(load_settings())}
    assert deps["transfer"].concurrency_limit == 2
    assert deps["transfer"].concurrency_options is None  # queued beyond the limit
    assert deps["ingest"].concurrency_limit is None
    # a scheduled pass that finds the previous one running is dropped, not queued
    assert deps["reconcile"].concurrency_limit == 1
    options = deps["reconcile"].concurrency_options
    assert options is not None
    assert options.collision_strategy == ConcurrencyLimitStrategy.CANCEL_NEW
