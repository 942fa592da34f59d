"""Production features in process: /metrics, the read cache, proxy headers, shared limits."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from compax_cli.main import app
from compax_server.app import create_app
from compax_server.keys import DATABASE
from compax_server.ratelimit import AttemptCounters, Limit
from compax_server.redis_link import RedisLink
from compax_server.settings import Settings
from sync.permissions import Role
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import AiohttpClient, MakePerson, Person, make_settings
from tests.deploy_support import shared_redis_url
from tests.servers import free_port
from tests.support import problem_of

METRICS_TOKEN = "a-metrics-token"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The usual test settings, with metrics on and this test client's address as a proxy."""
    return make_settings(
        database_url, tmp_path, metrics_token=METRICS_TOKEN, trusted_proxies=["127.0.0.1"]
    )


async def scrape(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The app's metrics as {(sample name, labels): value}."""
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status == 200, await response.text()
    assert response.content_type == "text/plain"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(await response.text())
        for sample in family.samples
    }


def value(
    metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """The value of the sample ``name`` whose labels include ``labels`` (0 if none has)."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in metrics.items() if n == name and wanted <= have)


# --- /metrics --------------------------------------------------------------------------------


async def test_metrics_are_off_without_a_token(
    aiohttp_client: AiohttpClient, database_url: str, tmp_path: Path
) -> None:
    client = await aiohttp_client(create_app(make_settings(database_url, tmp_path)))
    problem = await problem_of(await client.get("/metrics"), 404)
    assert "COMPAX_METRICS_TOKEN" in problem["detail"]


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {METRICS_TOKEN}"])
async def test_metrics_refuse_anything_but_the_token(
    client: TestClient, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    await problem_of(await client.get("/metrics", headers=headers), 401)


async def test_metrics_count_requests_by_route_and_status(client: TestClient) -> None:
    for _ in range(3):
        assert (await client.get("/health")).status == 200
    assert (await client.get("/api/v1/rooms/12")).status == 401
    assert (await client.get("/no/such/path")).status == 404
    metrics = await scrape(client)
    health = {"method": "GET", "route": "/health"}
    assert value(metrics, "compax_http_requests_total", status="200", **health) == 3
    assert value(metrics, "compax_http_request_duration_seconds_count", **health) == 3
    assert value(metrics, "compax_http_requests_total", route="/api/v1/rooms/{id}") == 1
    assert value(metrics, "compax_http_requests_total", route="unmatched", status="404") == 1
    assert value(metrics, "compax_db_pool_connections", state="in_use") == 0


async def test_metrics_count_bookings_and_sync(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """REST and pushed bookings count as created or rejected with the problem type."""
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    day = next_weekday(1)
    assert (await book(client, staff, campus.room_101, at(day, 9), at(day, 10))).status == 201
    assert (await book(client, staff, campus.room_101, at(day, 9), at(day, 11))).status == 409
    closed = await book(client, staff, campus.closed, at(day, 9), at(day, 10))
    closed_reason = (await closed.json())["type"]
    assert closed_reason != "room-overlap"

    client_id = str(uuid.uuid4())
    registered = await client.post(
        "/api/v1/sync/clients", json={"client_id": client_id}, headers=staff.headers
    )
    assert registered.status == 200, await registered.text()
    mutations = [
        {
            "mid": mid,
            "op": "create_booking",
            "args": {
                "id": str(uuid.uuid4()),
                "room_id": campus.room_102,
                "start": at(day, 14),
                "end": at(day, 15),
                "title": f"Pushed {mid}",
            },
        }
        for mid in (1, 2)
    ]
    pushed = await client.post(
        "/api/v1/sync/push",
        json={"client_id": client_id, "schema_version": 1, "mutations": mutations},
        headers=staff.headers,
    )
    assert pushed.status == 200, await pushed.text()
    pulled = await client.get("/api/v1/sync/pull?cursor=0&limit=1000", headers=staff.headers)
    changes = len((await pulled.json())["changes"])

    metrics = await scrape(client)
    bookings = "compax_bookings_total"
    assert value(metrics, bookings, channel="rest", outcome="created") == 1
    assert value(metrics, bookings, channel="rest", reason="room-overlap") == 1
    assert value(metrics, bookings, channel="rest", reason=closed_reason) == 1
    assert value(metrics, bookings, channel="rest", outcome="rejected") == 2
    assert value(metrics, bookings, channel="sync", outcome="created") == 1
    assert value(metrics, bookings, channel="sync", reason="room-overlap") == 1
    mutations_total = "compax_sync_mutations_total"
    assert value(metrics, mutations_total, op="create_booking", status="applied") == 1
    assert value(metrics, mutations_total, op="create_booking", status="rejected") == 1
    assert value(metrics, "compax_sync_pushes_total") == 1
    assert value(metrics, "compax_sync_pulls_total") == 1
    assert value(metrics, "compax_sync_pulled_changes_total") == changes > 0


# --- Proxy headers and HSTS ------------------------------------------------------------------


async def test_hsts_when_a_trusted_proxy_says_https(client: TestClient) -> None:
    plain = await client.get("/health")
    assert "Strict-Transport-Security" not in plain.headers
    proxied = await client.get("/health", headers={"X-Forwarded-Proto": "https"})
    assert proxied.headers["Strict-Transport-Security"] == "max-age=31536000"


async def test_forwarded_proto_from_anyone_else_is_ignored(
    aiohttp_client: AiohttpClient, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, trusted_proxies=["10.9.8.7"])
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/health", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


async def test_urls_the_server_builds_use_the_proxys_scheme(
    client: TestClient, make_person: MakePerson
) -> None:
    staff = await make_person(Role.STAFF)
    response = await client.post(
        "/api/v1/me/calendar-feed", headers={**staff.headers, "X-Forwarded-Proto": "https"}
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["url"].startswith("https://")


# --- The read cache --------------------------------------------------------------------------


async def test_a_repeated_read_is_served_from_the_cache_until_a_write(
    client: TestClient, admin: Person
) -> None:
    await make_campus(client, admin)
    first = await client.get("/api/v1/rooms?building=PB", headers=admin.headers)
    second = await client.get("/api/v1/rooms?building=PB", headers=admin.headers)
    assert first.status == second.status == 200
    assert await first.read() == await second.read()
    metrics = await scrape(client)
    assert value(metrics, "compax_read_cache_lookups_total", result="miss") == 1
    assert value(metrics, "compax_read_cache_lookups_total", result="memory_hit") == 1

    created = await client.post(
        "/api/v1/rooms",
        json={"building": "PB", "code": "301", "capacity": 30},
        headers=admin.headers,
    )
    assert created.status == 201, await created.text()
    after = await (await client.get("/api/v1/rooms?building=PB", headers=admin.headers)).json()
    assert "301" in [room["code"] for room in after["items"]]


async def test_the_cache_key_holds_the_query(client: TestClient, admin: Person) -> None:
    await make_campus(client, admin)
    pb = await (await client.get("/api/v1/rooms?building=PB", headers=admin.headers)).json()
    eng = await (await client.get("/api/v1/rooms?building=ENG", headers=admin.headers)).json()
    assert {room["building"] for room in pb["items"]} == {"PB"}
    assert {room["building"] for room in eng["items"]} == {"ENG"}


async def test_availability_shows_a_booking_made_after_it_was_cached(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    day = next_weekday(3)
    grid = f"/api/v1/rooms/{campus.room_201}/availability"
    window = {"start": at(day, 0), "end": at(day, 23)}
    before = await (await client.get(grid, params=window, headers=staff.headers)).json()
    assert before["busy"] == []
    assert (await book(client, staff, campus.room_201, at(day, 9), at(day, 10))).status == 201
    after = await (await client.get(grid, params=window, headers=staff.headers)).json()
    assert [item["kind"] for item in after["busy"]] == ["booking"]


async def test_cached_grids_keep_private_titles_private(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """The owner and another staff member each get their own view; officers share theirs."""
    campus = await make_campus(client, admin)
    owner, other = await make_person(Role.STAFF), await make_person(Role.STAFF)
    officer = await make_person(Role.EXAMS_OFFICER)
    day = next_weekday(3)
    made = await book(
        client, owner, campus.room_102, at(day, 9), at(day, 10), title="Secret", private=True
    )
    assert made.status == 201, await made.text()
    window = {"start": at(day, 0), "end": at(day, 23)}

    async def title_seen_by(person: Person) -> str | None:
        response = await client.get(
            "/api/v1/buildings/PB/availability", params=window, headers=person.headers
        )
        rooms = {room["room_id"]: room for room in (await response.json())["rooms"]}
        booking: dict[str, str | None] = rooms[campus.room_102]["busy"][0]["booking"]
        return booking["title"]

    for _ in range(2):  # the second round is served from the cache
        assert await title_seen_by(other) is None
        assert await title_seen_by(owner) == "Secret"
        assert await title_seen_by(officer) == "Secret"
        assert await title_seen_by(admin) == "Secret"
    # Three views (two staff members of their own, one the officers share); the rest are hits.
    metrics = await scrape(client)
    assert value(metrics, "compax_read_cache_lookups_total", result="miss") == 3
    assert value(metrics, "compax_read_cache_lookups_total", result="memory_hit") == 5


async def test_a_cache_of_zero_megabytes_is_off(
    aiohttp_client: AiohttpClient, database_url: str, tmp_path: Path, admin: Person
) -> None:
    settings = make_settings(
        database_url, tmp_path, metrics_token=METRICS_TOKEN, read_cache_megabytes=0
    )
    client = await aiohttp_client(create_app(settings))
    for _ in range(2):
        assert (await client.get("/api/v1/rooms", headers=admin.headers)).status == 200
    assert value(await scrape(client), "compax_read_cache_lookups_total") == 0


# --- Settings and flags ----------------------------------------------------------------------


def test_https_needs_both_the_certificate_and_the_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="COMPAX_CERTFILE and COMPAX_KEYFILE"):
        Settings(certfile=tmp_path / "compax.crt")


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The embedded default in a fresh data directory, whatever the surrounding environment.

    ``server run`` points the root logger at its stderr, which CliRunner closes afterwards:
    the logger's handlers are put back so that later tests do not log to a closed stream.
    """
    for name in list(os.environ):
        if name.startswith("COMPAX_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COMPAX_DATA_DIR", str(tmp_path / "data"))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield tmp_path
    root.handlers[:] = handlers
    root.setLevel(level)


def test_server_run_refuses_a_certificate_without_its_key(embedded: Path) -> None:
    result = CliRunner().invoke(app, ["server", "run", "--certfile", str(embedded / "c.pem")])
    assert result.exit_code == 2, result.output
    assert "COMPAX_CERTFILE and COMPAX_KEYFILE" in result.stderr
    assert "Traceback" not in result.output


def test_server_run_names_an_unreadable_certificate(embedded: Path) -> None:
    (embedded / "c.pem").write_text("not a certificate")
    (embedded / "k.pem").write_text("not a key")
    args = ["--certfile", str(embedded / "c.pem"), "--keyfile", str(embedded / "k.pem")]
    result = CliRunner().invoke(app, ["server", "run", "--port", str(free_port()), *args])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot serve on ")
    assert "Traceback" not in result.output


# --- Login limits shared through Redis -------------------------------------------------------


ACCOUNT = Limit("account", 3, 60)


@pytest.fixture
async def redis_url() -> str:
    return await shared_redis_url()


async def test_two_limiters_on_one_redis_share_their_counts(redis_url: str) -> None:
    prefix = f"compax-test-{uuid.uuid4().hex}:"
    links = [RedisLink(redis_url, prefix), RedisLink(redis_url, prefix)]
    first, second = (AttemptCounters(link) for link in links)
    ama, kofi = [(ACCOUNT, "ama")], [(ACCOUNT, "kofi")]
    try:
        for counters in (first, second, first):
            assert await counters.reserve(ama) is None
        assert 0 < (await second.reserve(ama) or 0) <= 60
        assert await first.reserve(kofi) is None
        await first.release(ama)
        assert await second.reserve(ama) is None
        await first.reset(ACCOUNT, "ama")
        assert await second.reserve(ama) is None
    finally:
        keys = [key async for key in links[0].client.scan_iter(prefix + "*")]
        if keys:
            await links[0].client.delete(*keys)
        for link in links:
            await link.close()


async def test_an_unreachable_redis_leaves_the_limit_to_this_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis refusing connections: one warning, and the in-process count still limits."""
    link = RedisLink(f"redis://127.0.0.1:{free_port()}/0", "compax:")
    counters = AttemptCounters(link)
    ama = [(Limit("account", 2, 60), "ama")]
    try:
        with caplog.at_level(logging.WARNING, logger="compax.redis"):
            for _ in range(2):
                assert await counters.reserve(ama) is None
            assert await counters.reserve(ama)
    finally:
        await link.close()
    warnings = [r.getMessage() for r in caplog.records if r.name == "compax.redis"]
    assert len(warnings) == 1, warnings
    assert "this process's own state" in warnings[0]


async def test_redis_is_asked_again_after_an_outage() -> None:
    """After the retry delay the link tries Redis again instead of staying on its fallback."""
    now = [0.0]
    link = RedisLink(f"redis://127.0.0.1:{free_port()}/0", "compax:", clock=lambda: now[0])
    asked = 0

    async def operation(_client: Redis) -> str:
        nonlocal asked
        asked += 1
        raise ConnectionError("refused")

    try:
        assert await link.run(operation, lambda: "fallback") == "fallback"
        assert await link.run(operation, lambda: "fallback") == "fallback"
        assert asked == 1
        now[0] += 10
        assert await link.run(operation, lambda: "fallback") == "fallback"
        assert asked == 2
    finally:
        await link.close()


# --- Postgres over its Unix socket -----------------------------------------------------------

POSTGRES_SOCKETS = Path("/var/run/postgresql")


@pytest.fixture
def socket_database_url(postgres_database: str) -> str:
    """The test database's URL through the local Postgres' Unix socket instead of TCP."""
    if not any(POSTGRES_SOCKETS.glob(".s.PGSQL.*")):
        pytest.skip(f"SKIPPING: no Postgres socket in {POSTGRES_SOCKETS}")
    over_socket = make_url(postgres_database).set(
        host=None, port=None, query={"host": str(POSTGRES_SOCKETS)}
    )
    return over_socket.render_as_string(hide_password=False)


@pytest.mark.postgres
async def test_postgres_on_the_same_host_is_reached_through_its_unix_socket(
    aiohttp_client: AiohttpClient, socket_database_url: str, tmp_path: Path
) -> None:
    client = await aiohttp_client(create_app(make_settings(socket_database_url, tmp_path)))

    health = await client.get("/health")
    assert health.status == 200, await health.text()
    async with client.app[DATABASE].read() as session:
        server_address = (await session.execute(text("SELECT inet_server_addr()"))).scalar()
    assert server_address is None, "a connection over a Unix socket has no server address"
