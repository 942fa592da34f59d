"""Operations: health, headers, request ids, CORS, settings and secrets, migrations vs models."""

from __future__ import annotations

import logging
import stat
from collections.abc import Mapping
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import compax_server.models  # noqa: F401  (registers every table on SQLModel.metadata)
from compax_server.db import Database
from compax_server.logs import _RequestIdFilter
from compax_server.settings import SECRET_KEY_FILE, Mode, Settings
from tests.conftest import Person, make_settings
from tests.support import problem_of

ORIGIN = "https://rooms.example.edu"


@pytest.fixture(autouse=True)
def _no_compax_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings built here must not pick up the developer's or CI's COMPAX_* variables."""
    for name in ("COMPAX_SECRET_KEYS", "COMPAX_DATABASE_URL", "COMPAX_MODE", "COMPAX_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


async def test_health_checks_the_database(client: TestClient) -> None:
    """GET /health answers 200 with status ok, without a token."""
    response = await client.get("/health")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"


@pytest.mark.parametrize("path", ["/health", "/api/v1/me", "/nowhere"])
async def test_security_headers_on_every_response(client: TestClient, path: str) -> None:
    """Success and error responses alike carry the security headers and a request id."""
    response = await client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert len(response.headers["X-Request-Id"]) == 32
    assert "Strict-Transport-Security" not in response.headers


async def test_request_ids_are_unique_and_a_sent_one_is_echoed(client: TestClient) -> None:
    """Each request gets its own id; a sane client-sent X-Request-Id is used instead."""
    first = await client.get("/health")
    second = await client.get("/health")
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]
    echoed = await client.get("/health", headers={"X-Request-Id": "trace-abc-123"})
    assert echoed.headers["X-Request-Id"] == "trace-abc-123"
    too_long = await client.get("/health", headers={"X-Request-Id": "x" * 65})
    assert too_long.headers["X-Request-Id"] != "x" * 65
    assert len(too_long.headers["X-Request-Id"]) == 32


async def test_access_log_lines_carry_the_request_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The access log records method, path and status under the request's id."""
    caplog.handler.addFilter(_RequestIdFilter())
    with caplog.at_level(logging.INFO, logger="compax.access"):
        await client.get("/api/v1/me", headers={"X-Request-Id": "trace-log-1"})
    records = [r for r in caplog.records if r.name == "compax.access"]
    assert len(records) == 1
    assert records[0].getMessage().startswith("GET /api/v1/me 401 ")
    assert records[0].request_id == "trace-log-1"  # type: ignore[attr-defined]


class TestCors:
    """Only configured origins get CORS headers; their preflights are answered with 204."""

    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        return make_settings(database_url, tmp_path, cors_origins=[ORIGIN])

    async def test_allowed_origin_gets_the_headers(self, client: TestClient, admin: Person) -> None:
        """A request from the configured origin may read the response and its ETag."""
        response = await client.get("/api/v1/me", headers={**admin.headers, "Origin": ORIGIN})
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "ETag" in response.headers["Access-Control-Expose-Headers"]
        assert response.headers["Vary"] == "Origin"

    async def test_allowed_origin_sees_error_responses_too(self, client: TestClient) -> None:
        """Errors carry the CORS headers, or the browser would hide the problem object."""
        response = await client.get("/api/v1/me", headers={"Origin": ORIGIN})
        await problem_of(response, 401)
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN

    async def test_preflight_from_allowed_origin_is_204(self, client: TestClient) -> None:
        """A preflight is answered without a token and names the methods and headers allowed."""
        response = await client.options(
            "/api/v1/rooms",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "Authorization, If-Match",
            },
        )
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "PATCH" in response.headers["Access-Control-Allow-Methods"]
        assert "If-Match" in response.headers["Access-Control-Allow-Headers"]

    @pytest.mark.parametrize(
        "origin", ["https://evil.example", "https://rooms.example.edu.evil.example", "null"]
    )
    async def test_other_origins_get_no_cors_headers(
        self, client: TestClient, admin: Person, origin: str
    ) -> None:
        """Unlisted origins get nothing, on requests and on preflights."""
        response = await client.get("/api/v1/me", headers={**admin.headers, "Origin": origin})
        assert response.status == 200
        assert "Access-Control-Allow-Origin" not in response.headers
        preflight = await client.options(
            "/api/v1/rooms", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
        )
        assert preflight.status != 204
        assert "Access-Control-Allow-Origin" not in preflight.headers


async def test_no_cors_origins_configured_means_no_cors(client: TestClient) -> None:
    """With the default settings no origin is allowed."""
    response = await client.get("/health", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in response.headers


# --- Settings and the secret key -------------------------------------------------------------


def test_production_without_secret_keys_is_an_error(tmp_path: Path) -> None:
    """Production mode refuses to start without signing keys and says which variable to set."""
    with pytest.raises(ValidationError, match="COMPAX_SECRET_KEYS"):
        Settings(mode=Mode.PRODUCTION, database_url="postgresql://db/compax", data_dir=tmp_path)


def test_production_with_keys_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Keys come comma separated, newest first, from COMPAX_SECRET_KEYS."""
    monkeypatch.setenv("COMPAX_MODE", "production")
    monkeypatch.setenv("COMPAX_DATABASE_URL", "postgresql://db/compax")
    monkeypatch.setenv("COMPAX_SECRET_KEYS", " new-key , old-key ")
    settings = Settings(data_dir=tmp_path)
    assert settings.secret_keys == ["new-key", "old-key"]
    assert settings.with_embedded_secret() is settings
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_embedded_secret_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    """The embedded default makes a private key file on first use and reuses it after."""
    data_dir = tmp_path / "data"
    first = Settings(data_dir=data_dir).with_embedded_secret()
    path = data_dir / SECRET_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700, "the database's folder is private"
    assert len(first.secret_keys) == 1
    assert len(first.secret_keys[0]) >= 32
    assert first.secret_keys == [path.read_text().strip()]
    second = Settings(data_dir=data_dir).with_embedded_secret()
    assert second.secret_keys == first.secret_keys


def test_embedded_secret_file_permissions_are_repaired(tmp_path: Path) -> None:
    """A key file that became readable by others is made private again."""
    Settings(data_dir=tmp_path).with_embedded_secret()
    path = tmp_path / SECRET_KEY_FILE
    path.chmod(0o644)
    Settings(data_dir=tmp_path).with_embedded_secret()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_empty_secret_key_file_is_refused(tmp_path: Path) -> None:
    """A truncated key file is an error, never an empty signing key."""
    (tmp_path / SECRET_KEY_FILE).write_text("\n")
    with pytest.raises(ValueError, match="holds no secret key"):
        Settings(data_dir=tmp_path).with_embedded_secret()


def test_no_partial_key_file_is_left_behind(tmp_path: Path) -> None:
    """Only the key file itself remains in the data directory after it is made."""
    Settings(data_dir=tmp_path).with_embedded_secret()
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_KEY_FILE]


@pytest.mark.parametrize(
    ("field", "value"),
    [("timezone", "Mars/Olympus"), ("token_lifetime_seconds", 5), ("max_body_bytes", 10)],
)
def test_bad_settings_name_their_field(tmp_path: Path, field: str, value: object) -> None:
    """A bad setting fails at start-up, naming the setting."""
    with pytest.raises(ValidationError) as caught:
        Settings(data_dir=tmp_path, **{field: value})  # type: ignore[arg-type]
    assert [error["loc"] for error in caught.value.errors()] == [(field,)]


# --- Migrations match the models -------------------------------------------------------------


def _ours(name: str | None, kind: str, parents: Mapping[str, str | None]) -> bool:
    """Whether a database object is Compax's: procrastinate's job queue keeps tables of its own
    beside them on Postgres (``compax server migrate`` puts them there), which are its schema."""
    table = name if kind == "table" else parents.get("table_name")
    return not (table or "").startswith("procrastinate_")


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": _ours}
    )
    return list(compare_metadata(context, SQLModel.metadata))


async def test_migrations_match_the_models(database_url: str) -> None:
    """A freshly migrated database has exactly the schema the models declare."""
    database = Database(database_url)
    try:
        async with database.engine.connect() as connection:
            differences = await connection.run_sync(_differences)
            revision, head = await database.schema_revision()
    finally:
        await database.dispose()
    assert revision == head
    assert differences == []
