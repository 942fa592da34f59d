"""The job runner: jobs asked for only by commits, retries with backoff, failure after the last
attempt, periodic runs once per slot with several workers, a worker killed mid-job, graceful
shutdown, the worker inside the server, and the queue on /metrics."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import SQLModel

from compax_server.app import create_app
from compax_server.db import Database
from compax_server.jobs import relay, runner
from compax_server.jobs.queue import HANDLERS, PERIODIC, JobContext, TryLater, enqueue
from compax_server.jobs.relay import install_queue
from compax_server.jobs.worker import Worker
from compax_server.keys import DATABASE
from compax_server.services.policy import BookingPolicy
from compax_server.settings import Settings
from tests.conftest import AiohttpClient, make_settings, migrated_postgres_database
from tests.deploy_support import compose_services, compose_workers
from tests.jobs_handlers import BLOCK, TICK, TICK_LOG, lines, worker_command
from tests.test_deploy import METRICS_TOKEN, scrape, value

JOBS = SQLModel.metadata.tables["jobs"]
ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(autouse=True)
def no_other_periodic_kinds() -> Iterator[None]:
    """Only the periodic kinds a test registers run here, so that counts of jobs run are the
    test's own, whatever periodic kinds the other parts of Compax register."""
    registered = dict(PERIODIC)
    PERIODIC.clear()
    yield
    PERIODIC.clear()
    PERIODIC.update(registered)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def context(database: Database, settings: Settings, clock: Clock) -> JobContext:
    policy = BookingPolicy.from_settings(settings)
    return JobContext(database, settings, BookingPolicy(policy.zone, policy.campus, clock))


@pytest.fixture
async def ctx(database_url: str, tmp_path: Path, clock: Clock) -> AsyncIterator[JobContext]:
    settings = make_settings(
        database_url, tmp_path, jobs_max_attempts=3, jobs_backoff_seconds=10, jobs_lease_seconds=60
    )
    database = Database(database_url)
    yield context(database, settings, clock)
    await database.dispose()


async def ask(ctx: JobContext, kind: str, key: str, **payload: Any) -> None:
    async with ctx.db.write() as session:
        await enqueue(session, kind, key, payload)


async def job_row(ctx: JobContext, key: str) -> Any:
    async with ctx.db.read() as session:
        return (await session.execute(select(JOBS).where(JOBS.c.key == key))).one()


async def test_a_job_asked_for_in_a_rolled_back_transaction_never_runs(
    ctx: JobContext, tmp_path: Path
) -> None:
    log = tmp_path / "log"

    async def failed_change() -> None:
        async with ctx.db.write() as session:
            await enqueue(session, "test_record", "lost", {"log": str(log), "name": "lost"})
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await failed_change()
    assert await runner.run_due_jobs(ctx) == 0
    assert lines(log) == []


async def test_a_job_runs_once_however_often_its_key_is_asked_for(
    ctx: JobContext, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    for _ in range(2):
        await ask(ctx, "test_record", "once", log=str(log), name="once")
    assert await runner.run_due_jobs(ctx) == 1
    await ask(ctx, "test_record", "once", log=str(log), name="once")
    assert await runner.run_due_jobs(ctx) == 0
    row = await job_row(ctx, "once")
    assert (row.state, row.attempts, row.finished_at) == ("done", 1, START)
    assert lines(log) == ["ran once"]


async def test_a_failing_job_is_retried_with_growing_backoff_then_failed(
    ctx: JobContext, clock: Clock
) -> None:
    await ask(ctx, "test_fail", "doomed")
    waits = []
    for attempt in (1, 2):
        assert await runner.run_due_jobs(ctx) == 1
        row = await job_row(ctx, "doomed")
        assert (row.state, row.attempts) == ("queued", attempt)
        assert row.last_error == "RuntimeError: the mail server said no"
        waits.append(row.run_at - clock.now)
        assert await runner.run_due_jobs(ctx) == 0  # not before its backoff
        clock.now = row.run_at
    assert timedelta(seconds=5) <= waits[0] <= timedelta(seconds=10)
    assert timedelta(seconds=10) <= waits[1] <= timedelta(seconds=20)
    assert await runner.run_due_jobs(ctx) == 1
    row = await job_row(ctx, "doomed")
    assert (row.state, row.attempts, row.finished_at) == ("failed", 3, clock.now)
    assert row.last_error == "RuntimeError: the mail server said no"
    clock.advance(days=1)
    assert await runner.run_due_jobs(ctx) == 0


async def test_a_job_of_a_kind_without_handler_fails_at_once(ctx: JobContext) -> None:
    await ask(ctx, "test_nobody_does_this", "orphan")
    assert await runner.run_due_jobs(ctx) == 1
    row = await job_row(ctx, "orphan")
    assert (row.state, row.attempts) == ("failed", 1)
    assert row.last_error == "no handler for jobs of kind 'test_nobody_does_this'"


async def test_a_job_scheduled_for_later_waits_for_its_time(
    ctx: JobContext, clock: Clock, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    async with ctx.db.write() as session:
        payload = {"log": str(log), "name": "later"}
        await enqueue(session, "test_record", "later", payload, run_at=START + timedelta(hours=1))
    assert await runner.run_due_jobs(ctx) == 0
    clock.advance(hours=1)
    assert await runner.run_due_jobs(ctx) == 1
    assert lines(log) == ["ran later"]


async def test_a_job_whose_lease_lapsed_is_claimed_again_and_the_late_outcome_is_ignored(
    ctx: JobContext, clock: Clock, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    await ask(ctx, "test_record", "stuck", log=str(log), name="stuck")
    [first] = await runner.claim(ctx, 10)
    assert await runner.run_due_jobs(ctx) == 0  # held by the first claim
    clock.advance(seconds=60)
    assert await runner.run_due_jobs(ctx) == 1
    assert await runner.carry_out(ctx, first) == "done"  # recorded nowhere: it lost its lease
    row = await job_row(ctx, "stuck")
    assert (row.state, row.attempts) == ("done", 2)
    assert lines(log) == ["ran stuck", "ran stuck"]


async def test_a_job_whose_worker_stops_on_every_attempt_fails_after_the_last(
    ctx: JobContext, clock: Clock, tmp_path: Path
) -> None:
    await ask(ctx, "test_record", "deadly", log=str(tmp_path / "log"), name="deadly")
    for _ in range(3):  # jobs_max_attempts: each claim's worker dies before it records
        assert len(await runner.claim(ctx, 10)) == 1
        clock.advance(seconds=60)
    assert await runner.claim(ctx, 10) == []
    row = await job_row(ctx, "deadly")
    assert (row.state, row.attempts) == ("failed", 3)
    assert "worker stopped" in row.last_error


async def test_a_job_that_must_wait_is_tried_past_its_attempts_until_it_can(
    ctx: JobContext, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mail server down for a day delays a job that meets it, however many attempts that
    takes (three are allowed here), and loses it never."""
    up = False

    async def mail(_ctx: JobContext, _payload: dict[str, Any]) -> None:
        if not up:
            raise TryLater("the mail server does not answer")

    monkeypatch.setitem(HANDLERS, "test_mail", mail)
    await ask(ctx, "test_mail", "patient")
    for _ in range(24 * 6):
        await runner.run_due_jobs(ctx)
        clock.advance(minutes=10)
    row = await job_row(ctx, "patient")
    assert row.state == "queued" and row.attempts > 3
    up = True
    clock.advance(hours=1)
    await runner.run_due_jobs(ctx)
    assert (await job_row(ctx, "patient")).state == "done"


@pytest.fixture
def ticks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A periodic kind every 60 s that notes the slots it ran for."""
    slots: list[int] = []

    async def tick(_ctx: JobContext, payload: dict[str, Any]) -> None:
        await asyncio.sleep(0.01)
        slots.append(payload["slot"])

    monkeypatch.setitem(HANDLERS, "test_memory_tick", tick)
    monkeypatch.setitem(PERIODIC, "test_memory_tick", 60)
    return slots


async def test_a_periodic_kind_runs_once_per_slot_with_two_workers(
    ctx: JobContext, clock: Clock, ticks: list[int]
) -> None:
    slot = int(START.timestamp()) // 60
    await asyncio.gather(runner.run_due_jobs(ctx), runner.run_due_jobs(ctx))
    assert ticks == [slot]
    clock.advance(seconds=59)
    workers = [Worker(lambda: ctx), Worker(lambda: ctx)]
    loops = [asyncio.create_task(worker.run(5)) for worker in workers]
    await asyncio.sleep(0.3)
    clock.advance(seconds=1)
    for worker in workers:
        worker.wake()
    for _ in range(100):
        if len(ticks) == 2:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    for worker in workers:
        worker.stop()
    await asyncio.gather(*loops)
    assert ticks == [slot, slot + 1]
    row = await job_row(ctx, f"periodic:test_memory_tick:{slot + 1}")
    assert (row.state, row.attempts) == ("done", 1)


async def test_a_job_still_running_at_the_shutdown_deadline_is_queued_again(
    ctx: JobContext, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    await ask(ctx, "test_slow", "cut short", log=str(log), seconds=60)
    worker = Worker(lambda: ctx)
    loop = asyncio.create_task(worker.run(drain_seconds=0.1))
    await until(noted(log, "started"), "the worker started the job")
    worker.stop()
    await loop
    row = await job_row(ctx, "cut short")
    assert (row.state, row.run_at, row.last_error) == ("queued", START, "interrupted")
    assert lines(log) == ["started"]


async def test_a_relayed_job_delivered_again_after_it_finished_is_not_run_again(
    ctx: JobContext, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    await ask(ctx, "test_record", "relayed", log=str(log), name="relayed")
    job_id = (await job_row(ctx, "relayed")).id
    async with ctx.db.write() as session:
        await session.execute(update(JOBS).where(JOBS.c.id == job_id).values(state=relay.RELAYED))
    for _ in range(2):
        await relay.carry_out(ctx, job_id, final=False)
    row = await job_row(ctx, "relayed")
    assert (row.state, row.attempts, row.finished_at) == ("done", 1, START)
    assert lines(log) == ["ran relayed"]


async def test_a_relayed_job_that_starts_before_the_relay_commits_still_runs(
    ctx: JobContext, tmp_path: Path
) -> None:
    """procrastinate may start a job the moment it is deferred, while the relay still holds
    the row it will mark ``relayed``: the task waits for that mark instead of passing the job
    by for good."""
    log = tmp_path / "log"
    await ask(ctx, "test_record", "early", log=str(log), name="early")
    job_id = (await job_row(ctx, "early")).id
    async with ctx.db.write() as session:
        await session.execute(select(JOBS.c.id).where(JOBS.c.id == job_id).with_for_update())
        started = asyncio.create_task(relay.carry_out(ctx, job_id, final=False))
        await asyncio.sleep(0.2)
        assert not started.done(), "the task waits for the relay's transaction"
        await session.execute(update(JOBS).where(JOBS.c.id == job_id).values(state=relay.RELAYED))
    await started
    assert (await job_row(ctx, "early")).state == "done"
    assert lines(log) == ["ran early"]


async def test_the_worker_in_the_server_carries_out_jobs_unasked(
    aiohttp_client: AiohttpClient, database_url: str, tmp_path: Path
) -> None:
    client = await aiohttp_client(create_app(make_settings(database_url, tmp_path, jobs="inline")))
    assert client.app is not None
    log = tmp_path / "log"
    async with client.app[DATABASE].write() as session:
        await enqueue(session, "test_record", "unasked", {"log": str(log), "name": "unasked"})
    for _ in range(100):
        if lines(log):
            break
        await asyncio.sleep(0.05)
    assert lines(log) == ["ran unasked"]


async def test_metrics_show_the_queue_and_its_failures(
    aiohttp_client: AiohttpClient, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, metrics_token=METRICS_TOKEN)
    client = await aiohttp_client(create_app(settings))
    assert client.app is not None
    ctx = context(client.app[DATABASE], settings, Clock(datetime.now(UTC)))
    await ask(ctx, "test_fail", "fails")
    async with ctx.db.write() as session:
        later = datetime.now(UTC) + timedelta(days=1)
        await enqueue(session, "test_record", "tomorrow", {}, run_at=later)
    await ask(ctx, "test_record", "now", log=str(tmp_path / "log"), name="now")
    metrics = await scrape(client)
    assert value(metrics, "compax_jobs", state="due") == 2
    assert value(metrics, "compax_jobs", kind="test_record", state="scheduled") == 1
    settings_once = settings.model_copy(update={"jobs_max_attempts": 1})
    await runner.run_due_jobs(JobContext(ctx.db, settings_once, ctx.policy))
    metrics = await scrape(client)
    assert value(metrics, "compax_jobs", state="due") == 0
    assert value(metrics, "compax_jobs", kind="test_fail", state="failed") == 1
    assert value(metrics, "compax_jobs", kind="test_record", state="done") == 1
    assert value(metrics, "compax_jobs", kind="test_record", state="scheduled") == 1


# --- worker processes ----------------------------------------------------------------------


class WorkerProcess:
    """``compax worker`` on the test's database, with the test handlers loaded."""

    def __init__(self, database_url: str, data_dir: Path, **env: str) -> None:
        self.log_path = data_dir / f"worker-{len(list(data_dir.glob('worker-*')))}.log"
        environment = {
            **os.environ,
            "COMPAX_DATABASE_URL": database_url,
            "COMPAX_SECRET_KEYS": "test-signing-key",
            "COMPAX_DATA_DIR": str(data_dir),
            "COMPAX_JOBS_POLL_SECONDS": "0.1",
            **env,
        }
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                worker_command(), cwd=ROOT, env=environment, stdout=log, stderr=log
            )

    def end(self, how: signal.Signals) -> int:
        if self.process.poll() is None:
            self.process.send_signal(how)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"the worker did not stop; see {self.log_path}") from None


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()


@pytest.fixture
def queue_database_url(database_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """The test's database for ``compax worker`` processes: on Postgres one of their own, with
    procrastinate's tables (``compax server migrate`` adds them), which the session database
    leaves out since its schema is compared with the models."""
    if database_url.startswith("sqlite"):
        yield database_url
        return
    server = request.getfixturevalue("postgres_server_url")
    with migrated_postgres_database(server, "compax_jobs") as url:
        asyncio.run(install_queue(url))
        yield url


@pytest.fixture
async def queue_ctx(queue_database_url: str, tmp_path: Path) -> AsyncIterator[JobContext]:
    """A context on ``queue_database_url`` whose clock is the real one, as the workers' is."""
    database = Database(queue_database_url)
    yield context(database, make_settings(queue_database_url, tmp_path), Clock(datetime.now(UTC)))
    await database.dispose()


async def until(condition: Any, what: str, seconds: float = 60) -> None:
    for _ in range(int(seconds / 0.05)):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


def noted(path: Path, *expected: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return lines(path) == list(expected)

    return check


def in_state(ctx: JobContext, key: str, state: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool((await job_row(ctx, key)).state == state)

    return check


async def test_a_worker_killed_mid_job_loses_nothing(
    queue_database_url: str, queue_ctx: JobContext, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    log = tmp_path / "log"
    await ask(queue_ctx, "test_block", "killed", log=str(log))
    lease = {"COMPAX_JOBS_LEASE_SECONDS": "3"}
    workers.append(WorkerProcess(queue_database_url, tmp_path, **{BLOCK: "1"}, **lease))
    await until(noted(log, "started"), "the worker started the job")
    assert workers[0].end(signal.SIGKILL) == -signal.SIGKILL
    assert (await job_row(queue_ctx, "killed")).state != "done"
    workers.append(WorkerProcess(queue_database_url, tmp_path, **lease))
    await until(in_state(queue_ctx, "killed", "done"), "another worker carried it out")
    assert workers[1].end(signal.SIGTERM) == 0
    assert lines(log) == ["started", "started", "finished"]
    assert (await job_row(queue_ctx, "killed")).attempts == 2


async def test_a_stopped_worker_finishes_its_running_job_and_exits_0(
    queue_database_url: str, queue_ctx: JobContext, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    log = tmp_path / "log"
    await ask(queue_ctx, "test_slow", "slow", log=str(log), seconds=1)
    workers.append(WorkerProcess(queue_database_url, tmp_path))
    await until(noted(log, "started"), "the worker started the job")
    assert workers[0].end(signal.SIGTERM) == 0
    assert lines(log) == ["started", "finished"]
    assert (await job_row(queue_ctx, "slow")).state == "done"
    assert "Compax worker stopped" in workers[0].log_path.read_text()


async def test_a_worker_process_retries_a_failing_job_then_fails_it(
    queue_database_url: str, queue_ctx: JobContext, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    await ask(queue_ctx, "test_fail", "doomed")
    retries = {"COMPAX_JOBS_MAX_ATTEMPTS": "2", "COMPAX_JOBS_BACKOFF_SECONDS": "1"}
    workers.append(WorkerProcess(queue_database_url, tmp_path, **retries))
    await until(in_state(queue_ctx, "doomed", "failed"), "the job failed for good")
    row = await job_row(queue_ctx, "doomed")
    assert (row.attempts, row.last_error) == (2, "RuntimeError: the mail server said no")
    assert workers[0].end(signal.SIGTERM) == 0


async def test_two_worker_processes_run_each_periodic_slot_once(
    queue_database_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    log = tmp_path / "ticks"
    env = {TICK: "1", TICK_LOG: str(log)}
    workers.extend(WorkerProcess(queue_database_url, tmp_path, **env) for _ in range(2))

    async def four_ticks() -> bool:
        return len(lines(log)) >= 4

    await until(four_ticks, "four ticks ran")
    for worker in workers:
        assert worker.end(signal.SIGTERM) == 0
    ran = lines(log)
    assert len(ran) == len(set(ran))
    pids = {line.rsplit(" ", 1)[1] for line in log.read_text().splitlines()}
    assert pids <= {str(worker.process.pid) for worker in workers}


@pytest.mark.postgres
def test_migrate_creates_the_job_queue_once(postgres_server_url: str, tmp_path: Path) -> None:
    with migrated_postgres_database(postgres_server_url, "compax_queue") as url:
        environment = {**os.environ, "COMPAX_DATABASE_URL": url, "COMPAX_DATA_DIR": str(tmp_path)}
        migrate = [sys.executable, "-m", "compax_cli", "server", "migrate"]
        said = [
            subprocess.run(
                migrate, cwd=ROOT, env=environment, capture_output=True, text=True, check=True
            ).stderr
            for _ in range(2)
        ]
    assert "Created the job queue's tables" in said[0]
    assert "Created the job queue's tables" not in said[1]


def test_worker_help_names_its_use() -> None:
    shown = subprocess.run(
        [*worker_command(), "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "COMPAX_JOBS=external" in shown
    assert "Example:" in shown


def test_compose_runs_a_job_worker_beside_servers_that_leave_jobs_to_it() -> None:
    services = compose_services()
    assert services["jobs"]["command"] == ["compax", "worker"]
    for service in compose_workers().values():
        assert service["environment"]["COMPAX_JOBS"] == "external"
