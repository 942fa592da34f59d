"""What aiohttp's HTTP parser refuses is a problem too, and no answer names the server's
software: raw bytes written to a real server process's socket."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.servers import ServerProcess

_JSON_POST = b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"

#: Requests the parser refuses before any handler runs, one per kind of fault.
MALFORMED = {
    "request line not HTTP": b"GARBAGE\r\n\r\n",
    "bad character in the method": b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "unknown HTTP version": b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "request line too long": b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "header too long": b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
    "too many headers": b"GET /health HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-H%d: 1\r\n" % i for i in range(300))
    + b"\r\n",
    "space in a header name": b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
    "NUL in a header value": b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "Content-Length not a number": _JSON_POST + b"Content-Length: abc\r\n\r\n",
    "Content-Length and chunked": _JSON_POST
    + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "chunk size not hex": _JSON_POST + b"Transfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n",
    "chunk longer than its size": _JSON_POST
    + b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"a":1}\r\n0\r\n\r\n',
}


async def _exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as given; the answer's status, headers (lower-case names) and body,
    read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 60)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


@pytest.fixture
async def server(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """A server on SQLite: the parser answers before any database is asked, so one database
    is enough."""
    database = tmp_path / "compax.sqlite3"
    shutil.copy(sqlite_template, database)
    process = ServerProcess(f"sqlite:///{database}", tmp_path, COMPAX_LOG_LEVEL="INFO")
    process.start()
    try:
        await process.wait_until_healthy()
        yield process
    finally:
        process.stop()


async def test_parser_errors_are_problems_without_a_server_header(server: ServerProcess) -> None:
    """Each malformed request gets a 400 problem+json with the parser's reason, and the
    connection closes; no answer has a ``Server`` header."""
    for label, request in MALFORMED.items():
        status, headers, body = await _exchange(server.port, request)
        assert status == 400, (label, body)
        assert headers["content-type"] == "application/problem+json", (label, headers)
        assert "server" not in headers, label
        problem = json.loads(body)
        assert problem["type"] == "bad-request", (label, problem)
        assert problem["status"] == 400, (label, problem)
        assert problem["title"] == "Bad request", (label, problem)
        assert isinstance(problem["detail"], str) and problem["detail"], (label, problem)
    log = server.log_path.read_text()
    assert "refused a malformed request" in log, log
    assert "Traceback" not in log, "a malformed request is one line in the log, not a trace"


async def test_app_answers_carry_no_server_header(server: ServerProcess) -> None:
    """Answers the app makes, successes and problems alike, leave ``Server`` out too."""
    for path, status in (("/health", 200), ("/api/v1/rooms", 401), ("/nowhere", 404)):
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        answered, headers, _ = await _exchange(server.port, request)
        assert answered == status, path
        assert "server" not in headers, path


async def test_a_client_hanging_up_mid_body_is_not_taken_for_a_database_failure(
    server: ServerProcess,
) -> None:
    """A body cut short by the client hanging up is logged as that, never as the database
    being unreachable (a 503 that would page whoever watches the database)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"POST /api/v1/auth/token HTTP/1.1\r\nHost: compax\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\nExpect: 100-continue\r\n\r\n"
    )
    assert await reader.readline() == b"HTTP/1.1 100 Continue\r\n", "the server reads the body"
    writer.write(b'{"username"')
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    answered = "POST /api/v1/auth/token 400"
    for _ in range(600):
        if answered in (log := server.log_path.read_text()):
            break
        await asyncio.sleep(0.05)
    assert answered in log, log
    assert "database connection failed" not in log and " 503 " not in log, log
