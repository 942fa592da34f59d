"""Real Compax server processes for tests that need them (races, kills and restarts)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import aiohttp

#: The ``compax`` arguments that start a server; docker-compose.yml's workers run the same.
SERVER_RUN = ("server", "run")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``compax server run`` on one database and port; its stderr goes to a log in data_dir.

    ``args`` are added to the command line; with ``tls`` (a client context that trusts the
    server's certificate) the server is expected to speak HTTPS.
    """

    def __init__(
        self,
        database_url: str,
        data_dir: Path,
        port: int | None = None,
        *,
        args: Sequence[str] = (),
        tls: ssl.SSLContext | None = None,
        **env: str,
    ) -> None:
        self.port = port or free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.args = [*SERVER_RUN, *args]
        self.tls = tls
        self.log_path = data_dir / f"server-{self.port}.log"
        self.environment = {
            **os.environ,
            "COMPAX_DATABASE_URL": database_url,
            "COMPAX_SECRET_KEYS": "test-signing-key",
            "COMPAX_DATA_DIR": str(data_dir),
            "COMPAX_PORT": str(self.port),
            "COMPAX_LOG_LEVEL": "WARNING",
            **env,
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "compax_cli", *self.args],
            env=self.environment,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    async def wait_until_healthy(self, attempts: int = 150) -> None:
        """Poll /health until 200; fail, pointing at the log, if the server died or never did."""
        assert self._process is not None
        async with aiohttp.ClientSession() as session:
            for _ in range(attempts):
                if self._process.poll() is not None:
                    raise RuntimeError(
                        f"server exited with {self._process.returncode}; see {self.log_path}"
                    )
                try:
                    async with session.get(
                        f"{self.url}/health",
                        timeout=aiohttp.ClientTimeout(total=2),
                        ssl=self.tls or True,
                    ) as r:
                        if r.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass  # not listening yet, or accepted but not answering yet (still starting)
                await asyncio.sleep(0.1)
        raise RuntimeError(f"server at {self.url} never became healthy; see {self.log_path}")

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def send_signal(self, how: signal.Signals) -> None:
        """Send ``how`` and return at once (``stop`` and ``kill`` also wait for the exit)."""
        assert self._process is not None
        self._process.send_signal(how)

    def wait(self, timeout: float) -> int:
        """The exit status, once the process has exited (``TimeoutExpired`` after ``timeout``)."""
        assert self._process is not None
        return self._process.wait(timeout=timeout)

    def kill(self) -> None:
        """Stop the process at once, as a crash would (SIGKILL: no cleanup)."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, how: signal.Signals) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(how)
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None


@asynccontextmanager
async def running_servers(
    database_url: str, data_dir: Path, count: int = 1, **env: str
) -> AsyncIterator[list[str]]:
    """``count`` server processes on one database; yields their base URLs, stops them after."""
    servers = [ServerProcess(database_url, data_dir, **env) for _ in range(count)]
    try:
        for server in servers:
            server.start()
        for server in servers:
            await server.wait_until_healthy()
        yield [server.url for server in servers]
    finally:
        for server in servers:
            server.stop()
