"""Prometheus metrics: requests, latencies, booking outcomes, sync traffic, pool and cache use,
and the job queue.

Each application has its own registry, so tests and tools that build several apps in one
process never mix their counts. When ``PROMETHEUS_MULTIPROC_DIR`` is set (``compax server
run --workers N`` sets it for its workers), prometheus-client writes every value to files in
that directory and ``GET /metrics``, whichever worker answers it, reports the sum over all
workers.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from sync.protocol import MutationResult, MutationStatus, Op, PushRequest

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
#: Request latency buckets in seconds: from a cached read to a slow bulk import.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The metrics of one server process, and their rendering in the Prometheus text format."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "compax_http_requests",
            "HTTP requests answered, by method, route (path template) and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "compax_http_request_duration_seconds",
            "Time from a request's arrival to its answer, by method and route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.bookings = Counter(
            "compax_bookings",
            "Bookings asked for, by channel (rest, sync), outcome (created, rejected) and "
            "reason (the problem type of a rejection).",
            ["channel", "outcome", "reason"],
            registry=registry,
        )
        self.sync_pushes = Counter(
            "compax_sync_pushes", "Sync push requests answered.", registry=registry
        )
        self.sync_mutations = Counter(
            "compax_sync_mutations",
            "Pushed mutations answered, by op and status (applied, rejected).",
            ["op", "status"],
            registry=registry,
        )
        self.sync_pulls = Counter(
            "compax_sync_pulls", "Sync pull requests answered.", registry=registry
        )
        self.sync_pulled_changes = Counter(
            "compax_sync_pulled_changes", "Changes sent in pull answers.", registry=registry
        )
        self.pool = Gauge(
            "compax_db_pool_connections",
            "Database connections of the server processes' pools, by state (in_use, idle); "
            "summed over live workers.",
            ["state"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.pool_capacity = Gauge(
            "compax_db_pool_capacity",
            "Connections the server processes may open (pool size plus overflow), summed "
            "over live workers; compare with Postgres max_connections.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.read_cache = Counter(
            "compax_read_cache_lookups",
            "Read cache lookups, by result (memory_hit, redis_hit, miss, bypass: a committed "
            "change still waits for its number).",
            ["result"],
            registry=registry,
        )
        self.jobs = Gauge(
            "compax_jobs",
            "Jobs in the jobs table, by kind and state: due (queued, due now), scheduled "
            "(queued for later), running, stalled (running past its lease: its worker died), "
            "relayed (in procrastinate's queue, compax worker on Postgres), done and failed "
            "(kept COMPAX_JOBS_RETENTION_DAYS); read from the database at each scrape, so the "
            "same whichever process answers.",
            ["kind", "state"],
            multiprocess_mode="mostrecent",
            registry=registry,
        )
        self._job_series: set[tuple[str, str]] = set()
        # Children by label values, looked up once: ``labels()`` costs more than the count.
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._pool_in_use, self._pool_idle = self.pool.labels("in_use"), self.pool.labels("idle")

    def count_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request and how long it took."""
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._request_children[key] = children
        count, latency = children
        count.inc()
        latency.observe(seconds)

    def count_booking(self, channel: str, problem_type: str | None) -> None:
        """One booking created (no problem) or rejected with ``problem_type``."""
        if problem_type is None:
            self.bookings.labels(channel, "created", "").inc()
        else:
            self.bookings.labels(channel, "rejected", problem_type).inc()

    def count_push(self, request: PushRequest, results: list[MutationResult]) -> None:
        """A push's outcomes; each ``create_booking`` mutation also counts as a booking."""
        self.sync_pushes.inc()
        ops = {mutation.mid: mutation.op for mutation in request.mutations}
        for result in results:
            op = ops.get(result.mid)
            if op is None:
                continue
            self.sync_mutations.labels(op.value, result.status.value).inc()
            if op is Op.CREATE_BOOKING:
                rejected = result.status is MutationStatus.REJECTED
                reason = str((result.problem or {}).get("type", "unknown")) if rejected else None
                self.count_booking("sync", reason)

    def count_pull(self, changes: int) -> None:
        """A pull and the number of changes it sent."""
        self.sync_pulls.inc()
        self.sync_pulled_changes.inc(changes)

    def sample_pool(self, engine: AsyncEngine) -> None:
        """Record how many of the engine's pooled connections are in use and idle now."""
        pool = engine.pool
        if isinstance(pool, QueuePool):
            self._pool_in_use.set(pool.checkedout())
            self._pool_idle.set(pool.checkedin())

    def sample_jobs(self, counts: dict[tuple[str, str], int]) -> None:
        """Set the job counts by (kind, state); a series seen before and now empty shows 0."""
        for series in self._job_series - counts.keys():
            self.jobs.labels(*series).set(0)
        for series, count in counts.items():
            self.jobs.labels(*series).set(count)
        self._job_series |= counts.keys()

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition (body and content type) in the format the scraper accepts."""
        registry = self.registry
        if os.environ.get(MULTIPROCESS_DIR):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        encode, content_type = choose_encoder(accept or "")
        return encode(registry), content_type
