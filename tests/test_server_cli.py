"""``compax server …``: create-admin, migrate, and a real ``server run`` process."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from argon2 import PasswordHasher
from typer.testing import CliRunner, Result

from compax_cli.main import app
from compax_server.db import alembic_config
from tests.servers import free_port

ADMIN_PASSWORD = "a-long-admin-password"
CHEAP_ARGON2 = {"COMPAX_ARGON2_MEMORY_KIB": "64", "COMPAX_ARGON2_TIME_COST": "1"}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data directory as the embedded default, whatever the surrounding environment."""
    for name in list(os.environ):
        if name.startswith("COMPAX_"):
            monkeypatch.delenv(name)
    path = tmp_path / "data"
    monkeypatch.setenv("COMPAX_DATA_DIR", str(path))
    for name, value in CHEAP_ARGON2.items():
        monkeypatch.setenv(name, value)
    return path


def _invoke(args: list[str], input: str | None = None) -> Result:
    return CliRunner().invoke(app, args, input=input)


def _users(data_dir: Path) -> list[tuple[str, str, int, str]]:
    with closing(sqlite3.connect(data_dir / "compax.sqlite3")) as db:
        rows = db.execute("SELECT username, role, active, password_hash FROM users ORDER BY id")
        return list(rows.fetchall())


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head
    return head


def test_create_admin_from_stdin(data_dir: Path) -> None:
    """The password comes from stdin; the admin is stored with an argon2id hash of it."""
    result = _invoke(
        ["server", "create-admin", "--username", "Root", "--password-stdin", "--full-name", "Ops"],
        input=ADMIN_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created administrator root" in result.stderr
    assert result.stdout == ""
    [(username, role, active, password_hash)] = _users(data_dir)
    assert (username, role, active) == ("root", "admin", 1)
    assert password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(password_hash, ADMIN_PASSWORD)
    assert (data_dir / "secret_key").exists()


def test_create_admin_twice_fails_with_one_line(data_dir: Path) -> None:
    """A taken username exits 1 with a single-line message and no traceback."""
    first = _invoke(
        ["server", "create-admin", "--username", "root", "--password-stdin"], input=ADMIN_PASSWORD
    )
    assert first.exit_code == 0, first.output
    second = _invoke(
        ["server", "create-admin", "--username", "ROOT", "--password-stdin"],
        input="another-password-1",
    )
    assert second.exit_code == 1, second.output
    assert second.stderr.strip().splitlines() == ["error: The username root is taken"]
    assert "Traceback" not in second.output
    assert len(_users(data_dir)) == 1


def test_create_admin_without_a_terminal_needs_password_stdin(data_dir: Path) -> None:
    """With stdin not a terminal and no --password-stdin, nothing prompts: exit 2 and why."""
    result = _invoke(["server", "create-admin", "--username", "root"], input=ADMIN_PASSWORD)
    assert result.exit_code == 2, result.output
    assert "--password-stdin" in result.stderr
    assert "Traceback" not in result.output
    assert not (data_dir / "compax.sqlite3").exists()


@pytest.mark.parametrize(
    ("args", "password", "field"),
    [
        (["--username", "root"], "short", "password"),
        (["--username", "root"], "", "password"),
        (["--username", "not valid!"], ADMIN_PASSWORD, "username"),
        (["--username", "root", "--email", "nope"], ADMIN_PASSWORD, "email"),
    ],
)
def test_create_admin_refuses_bad_input(
    data_dir: Path, args: list[str], password: str, field: str
) -> None:
    """A bad password, username or email exits 2 naming the field, and stores nothing."""
    result = _invoke(["server", "create-admin", *args, "--password-stdin"], input=password)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines, result.output
    assert all(line.startswith("error: ") for line in lines)
    assert any(line.startswith(f"error: {field}: ") for line in lines), lines
    assert "Traceback" not in result.output
    assert not (data_dir / "compax.sqlite3").exists() or _users(data_dir) == []


def test_bad_setting_exits_2_naming_the_variable(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad COMPAX_* variable is reported by its name, without a traceback."""
    monkeypatch.setenv("COMPAX_TIMEZONE", "Mars/Olympus")
    result = _invoke(["server", "migrate"])
    assert result.exit_code == 2, result.output
    assert "COMPAX_TIMEZONE" in result.stderr
    assert "Traceback" not in result.output


def test_empty_secret_key_file_exits_2(data_dir: Path) -> None:
    """A key file without a key stops the command with the file's name, not a traceback."""
    data_dir.mkdir()
    (data_dir / "secret_key").write_text("")
    result = _invoke(["server", "migrate"])
    assert result.exit_code == 2, result.output
    assert "secret_key holds no secret key" in result.stderr
    assert "Traceback" not in result.output


def test_migrate_reports_the_revision(data_dir: Path) -> None:
    """Migrating a fresh data directory creates the database at the head revision."""
    result = _invoke(["server", "migrate"])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"Database schema at revision {_head()}"
    with closing(sqlite3.connect(data_dir / "compax.sqlite3")) as db:
        [(version,)] = db.execute("SELECT version_num FROM alembic_version").fetchall()
    assert version == _head()
    again = _invoke(["server", "migrate"])
    assert again.exit_code == 0, again.output
    assert _head() in again.stderr


# --- A real server process -------------------------------------------------------------------


def _http(
    method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def _wait_until_healthy(process: subprocess.Popen[bytes], base: str) -> None:
    """Poll /health a bounded number of times, waiting on the process itself between tries."""
    for _ in range(200):
        try:
            status, body = _http("GET", f"{base}/health")
        except OSError:
            status, body = 0, {}
        if status == 200:
            assert body["status"] == "ok"
            return
        try:
            process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        stderr = process.stderr.read().decode() if process.stderr else ""
        raise AssertionError(f"the server exited with {process.returncode}: {stderr}")
    raise AssertionError("the server never answered /health")


@pytest.mark.slow
def test_server_run_serves_and_an_admin_signs_in(data_dir: Path) -> None:
    """``compax server run`` on a fresh data dir: healthy, and a CLI-made admin signs in."""
    compax = Path(sys.executable).parent / "compax"
    assert compax.exists(), "the compax console script is not installed"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(compax), "server", "run", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "COMPAX_LOG_LEVEL": "WARNING"},
    )
    try:
        _wait_until_healthy(process, base)
        created = subprocess.run(
            [str(compax), "server", "create-admin", "--username", "root", "--password-stdin"],
            input=ADMIN_PASSWORD.encode(),
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert created.returncode == 0, created.stderr.decode()

        status, token = _http(
            "POST",
            f"{base}/api/v1/auth/token",
            {"username": "root", "password": ADMIN_PASSWORD},
        )
        assert status == 200, token
        assert token["user"]["role"] == "admin"
        status, me = _http("GET", f"{base}/api/v1/me", token=token["access_token"])
        assert (status, me["username"]) == (200, "root")
        status, building = _http(
            "POST",
            f"{base}/api/v1/buildings",
            {"code": "PB", "name": "Petroleum"},
            token=token["access_token"],
        )
        assert (status, building["code"]) == (201, "PB")
        assert oct((data_dir / "secret_key").stat().st_mode & 0o777) == "0o600"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
    assert process.returncode is not None
