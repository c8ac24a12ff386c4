"""``GET /metrics``: Prometheus' text format, for admins (``Authorization: Bearer <key>``).

What is reported is described in ``custos.metrics``; this module adds the API's
own part: ``RequestMetrics``, the outermost ASGI middleware, counts every HTTP
request and times it, by method, route template (``/api/transfer/status/{unit_uuid}``,
never the raw path, so the number of series stays small) and status code. It
wraps the status polls' fast path too.

A Prometheus scrape configuration::

    - job_name: custos
      metrics_path: /metrics
      authorization: {type: Bearer, credentials_file: /etc/prometheus/custos.key}
      static_configs: [{targets: ["custos.example.org:8000"]}]
"""

from __future__ import annotations

import re
import time

from fastapi import APIRouter, Response
from prometheus_client import Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.native.auth import requires
from api.native.errors import NativeRoute
from api.roles import Access
from custos.metrics import scrape_registry

router = APIRouter(tags=["custos"], route_class=NativeRoute)

REQUESTS = Counter(
    "custos_http_requests",
    "HTTP requests answered by the API, by method, route and status code.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "custos_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def route_label(scope: Scope, status: int) -> str:
    """The route template of a request, without a trailing slash (Archivematica's
    routes answer both forms): the matched route's path, else (a request answered
    before routing, like the status fast path) the path with UUIDs as
    ``{unit_uuid}``, as the status routes name them; ``unmatched`` for a 404 no
    route matched."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        if status == 404:
            return "unmatched"
        path = _UUID.sub("{unit_uuid}", str(scope.get("path", "")))
    return path.rstrip("/") or "/"


class RequestMetrics:
    """ASGI middleware counting and timing every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            method = str(scope.get("method", ""))
            label = route_label(scope, status)
            REQUESTS.labels(method, label, str(status)).inc()
            LATENCY.labels(method, label).observe(time.perf_counter() - started)


@router.get(
    "/metrics",
    dependencies=[requires(Access.ADMIN)],
    summary="Prometheus metrics (text format)",
    response_class=Response,
)
async def metrics() -> Response:
    """Units, jobs, durations, files, AIPs, fixity, captures, the queue and the API's
    requests, in Prometheus' text exposition format."""
    body = await run_in_threadpool(lambda: generate_latest(scrape_registry()))
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)
