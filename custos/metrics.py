"""What ``GET /metrics`` reports, in the Prometheus text format.

Two kinds of metric:

- **from the database**, read at every scrape by ``DatabaseCollector`` (so every
  API process, every machine and every restart tell the same numbers): units by
  type and status, jobs by microservice and outcome, job durations (histogram),
  tasks, files and bytes, AIPs and bytes, fixity checks by outcome, captures by
  status, and the queue (Prefect flow runs waiting to start);
- **of the API processes**: request counts and latencies by route
  (``api.metrics`` records them). ``custos serve`` runs several API processes, so
  they are kept in prometheus_client's multiprocess mode: ``metrics_env`` gives
  the API children ``PROMETHEUS_MULTIPROC_DIR`` (``<home>/run/metrics``, emptied
  at each start) and a scrape adds every process' files up.

Example::

    registry = scrape_registry()
    text = generate_latest(registry)
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine, case, func
from sqlmodel import col, select

from custos.db import get_engine, session_scope
from custos.models import CaptureJob, Event, File, Job, Package, Task, Unit
from custos.models.capture import Capture
from custos.settings import Settings

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Upper bounds (seconds) of the job duration buckets.
JOB_BUCKETS: tuple[float, ...] = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
#: Prefect flow run states counted as the queue.
QUEUED_STATES = ("SCHEDULED", "PENDING")


def metrics_dir(settings: Settings) -> Path:
    """Where the API processes of ``custos serve`` keep their metric files."""
    return settings.run_dir / "metrics"


def metrics_env(settings: Settings) -> dict[str, str]:
    """The API children's ``PROMETHEUS_MULTIPROC_DIR``, emptied now (a new start
    counts from zero, as a restarted Prometheus target does)."""
    folder = metrics_dir(settings)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return {MULTIPROC_ENV: str(folder)}


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    if (start.tzinfo is None) != (end.tzinfo is None):
        start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    return max((end - start).total_seconds(), 0.0)


def job_histograms(
    rows: Iterable[tuple[str, datetime | None, datetime | None]],
) -> dict[str, tuple[list[int], float, int]]:
    """microservice -> (cumulative count per bucket of ``JOB_BUCKETS``, sum, count)."""
    out: dict[str, tuple[list[int], float, int]] = {}
    for microservice, start, end in rows:
        seconds = _seconds(start, end)
        if seconds is None:
            continue
        buckets, total, count = out.get(microservice, ([0] * len(JOB_BUCKETS), 0.0, 0))
        for index, bound in enumerate(JOB_BUCKETS):
            if seconds <= bound:
                buckets[index] += 1
        out[microservice] = (buckets, total + seconds, count + 1)
    return out


class DatabaseCollector(Collector):
    """Metrics read from the Custos database (and Prefect's queue) at each scrape."""

    def __init__(self, engine: Engine | None = None, prefect_api_url: str | None = None) -> None:
        self.engine = engine
        self.prefect_api_url = prefect_api_url

    def collect(self) -> Iterator[Metric]:
        engine = self.engine or get_engine()
        with session_scope(engine) as s:
            units = GaugeMetricFamily(
                "custos_units", "Units by type and status.", labels=["type", "status"]
            )
            for unit_type, status, n in s.execute(
                select(Unit.unit_type, Unit.status, func.count()).group_by(
                    col(Unit.unit_type), col(Unit.status)
                )
            ):
                units.add_metric([str(unit_type), str(status)], n)
            yield units

            jobs = GaugeMetricFamily(
                "custos_jobs",
                "Jobs by microservice and outcome (status).",
                labels=["microservice", "outcome"],
            )
            for microservice, status, n in s.execute(
                select(Job.microservice, Job.status, func.count()).group_by(
                    col(Job.microservice), col(Job.status)
                )
            ):
                jobs.add_metric([microservice, str(status)], n)
            yield jobs

            durations = HistogramMetricFamily(
                "custos_job_duration_seconds",
                "Duration of finished jobs, by microservice.",
                labels=["microservice"],
            )
            rows: Iterable[Any] = s.execute(
                select(
                    Job.microservice, func.coalesce(Job.started_at, Job.created_at), Job.ended_at
                ).where(col(Job.ended_at).is_not(None))
            )
            for microservice, (buckets, total, count) in sorted(job_histograms(rows).items()):
                pairs = [(f"{b:g}", float(c)) for b, c in zip(JOB_BUCKETS, buckets, strict=True)]
                pairs.append(("+Inf", float(count)))
                durations.add_metric([microservice], pairs, total)
            yield durations

            tasks = GaugeMetricFamily(
                "custos_tasks", "Tasks (one tool run on a file) by outcome.", labels=["outcome"]
            )
            outcome = case(
                (col(Task.exit_code).is_(None), "unknown"),
                (col(Task.exit_code) == 0, "success"),
                else_="failure",
            )
            for label, n in s.execute(select(outcome, func.count()).group_by(outcome)):
                tasks.add_metric([label], n)
            yield tasks

            files = GaugeMetricFamily("custos_files", "Files processed, by use.", labels=["use"])
            sizes = GaugeMetricFamily(
                "custos_file_bytes", "Bytes of the files processed, by use.", labels=["use"]
            )
            for use, n, total in s.execute(
                select(File.use, func.count(), func.coalesce(func.sum(File.size), 0)).group_by(
                    col(File.use)
                )
            ):
                files.add_metric([use], n)
                sizes.add_metric([use], float(total))
            yield files
            yield sizes

            aips = GaugeMetricFamily(
                "custos_packages", "Stored packages by type and status.", labels=["type", "status"]
            )
            aip_bytes = GaugeMetricFamily(
                "custos_package_bytes",
                "Bytes of the stored packages by type and status.",
                labels=["type", "status"],
            )
            for kind, status, n, total in s.execute(
                select(
                    Package.package_type,
                    Package.status,
                    func.count(),
                    func.coalesce(func.sum(Package.size), 0),
                ).group_by(col(Package.package_type), col(Package.status))
            ):
                aips.add_metric([kind, str(status)], n)
                aip_bytes.add_metric([kind, str(status)], float(total))
            yield aips
            yield aip_bytes

            fixity = GaugeMetricFamily(
                "custos_fixity_checks",
                "PREMIS fixity check events by scope (package: audits of stored AIPs; "
                "file: checks during processing) and outcome.",
                labels=["scope", "outcome"],
            )
            scope = case((col(Event.file_uuid).is_(None), "package"), else_="file")
            for label, result, n in s.execute(
                select(scope, Event.outcome, func.count())
                .where(col(Event.event_type) == "fixity check")
                .group_by(scope, col(Event.outcome))
            ):
                fixity.add_metric([label, result or "unknown"], n)
            yield fixity

            captures = GaugeMetricFamily(
                "custos_captures", "Web captures by status.", labels=["status"]
            )
            for status, n in s.execute(
                select(Capture.status, func.count()).group_by(col(Capture.status))
            ):
                captures.add_metric([str(status)], n)
            yield captures
            capture_jobs = GaugeMetricFamily(
                "custos_capture_jobs", "Capture jobs by outcome (status).", labels=["outcome"]
            )
            for status, n in s.execute(
                select(CaptureJob.status, func.count()).group_by(col(CaptureJob.status))
            ):
                capture_jobs.add_metric([str(status)], n)
            yield capture_jobs
        yield from self._queue()

    def _queue(self) -> Iterator[Metric]:
        """Flow runs waiting to start (Prefect), by state; ``custos_prefect_up`` 0 when
        Prefect does not answer."""
        up = GaugeMetricFamily("custos_prefect_up", "Whether the Prefect API answered.")
        queue = GaugeMetricFamily(
            "custos_flow_runs_queued",
            "Flow runs waiting for a runner or worker (queue depth), by state.",
            labels=["state"],
        )
        url = self.prefect_api_url or os.environ.get("PREFECT_API_URL")
        ok = bool(url)
        if url:
            try:
                with httpx.Client(base_url=url.rstrip("/"), timeout=3.0) as client:
                    for state in QUEUED_STATES:
                        reply = client.post(
                            "/flow_runs/count",
                            json={"flow_runs": {"state": {"type": {"any_": [state]}}}},
                        )
                        reply.raise_for_status()
                        queue.add_metric([state], float(reply.json()))
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("metrics: Prefect queue not read: %s", exc)
                ok = False
        up.add_metric([], 1.0 if ok else 0.0)
        yield up
        if ok:
            yield queue


def multiprocess_dir() -> str | None:
    """The multiprocess folder of this process' metrics, if any."""
    return os.environ.get(MULTIPROC_ENV) or None


def scrape_registry(database: Collector | None = None) -> CollectorRegistry:
    """A registry for one scrape: the database metrics plus the API processes' own
    (every process' files in multiprocess mode, else this process' registry)."""
    from prometheus_client import REGISTRY

    folder = multiprocess_dir()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(database or DatabaseCollector())
    if folder:
        MultiProcessCollector(registry, path=folder)
        return registry
    return _Combined(registry, REGISTRY)  # type: ignore[return-value]


class _Combined:
    """Two registries read as one (``generate_latest`` only calls ``collect``)."""

    def __init__(self, *registries: CollectorRegistry) -> None:
        self.registries = registries

    def collect(self) -> Iterator[Metric]:
        seen: defaultdict[str, int] = defaultdict(int)
        for registry in self.registries:
            for metric in registry.collect():
                seen[metric.name] += 1
                if seen[metric.name] == 1:
                    yield metric
