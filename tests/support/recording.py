"""A dispatch backend that records the flows submitted instead of running them."""

from __future__ import annotations

from typing import Any


class RecordingBackend:
    """``custos.dispatch`` backend: ``submitted`` lists (flow name, parameters)."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, dict[str, Any]]] = []

    def submit(self, flow_name: str, parameters: dict[str, Any]) -> str:
        self.submitted.append((flow_name, dict(parameters)))
        return f"recorded-{len(self.submitted)}"
