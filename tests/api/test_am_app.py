"""The app around the dialects: Perma's /v1/ 404 and the API workers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from custos.errors import ConfigError
from custos.runtime.serve import DEFAULT_API_WORKERS, api_workers


def test_unknown_v1_path_is_perma_plain_text_404_and_api_stays_json(client: TestClient) -> None:
    res = client.get("/v1/no-such-endpoint")
    assert (res.status_code, res.text) == (404, "Page Not Found")
    res = client.get("/api/no-such-endpoint")
    assert res.status_code == 404 and res.text != "Page Not Found"
    assert res.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    ("value", "expected"), [(None, DEFAULT_API_WORKERS), ("", 2), ("1", 1), (" 4 ", 4)]
)
def test_api_workers_setting(value: str | None, expected: int) -> None:
    env = {} if value is None else {"CUSTOS_API_WORKERS": value}
    assert api_workers(env) == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "65", "1.5"])
def test_api_workers_rejects_bad_values(value: str) -> None:
    with pytest.raises(ConfigError, match="CUSTOS_API_WORKERS"):
        api_workers({"CUSTOS_API_WORKERS": value})
