"""Real Compax server processes for tests that need them (races, restarts)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def running_servers(
    database_url: str, data_dir: Path, count: int = 1, **env: str
) -> AsyncIterator[list[str]]:
    """``count`` server processes on one database; yields their base URLs, stops them after."""
    processes, urls, logs = [], [], []
    try:
        for _ in range(count):
            port = free_port()
            environment = {
                **os.environ,
                "COMPAX_DATABASE_URL": database_url,
                "COMPAX_SECRET_KEYS": "test-signing-key",
                "COMPAX_DATA_DIR": str(data_dir),
                "COMPAX_PORT": str(port),
                "COMPAX_LOG_LEVEL": "WARNING",  # errors land in data_dir/server-<port>.log
                **env,
            }
            log = (data_dir / f"server-{port}.log").open("wb")
            logs.append(log)
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "compax_cli", "server", "run"],
                env=environment, stdout=subprocess.DEVNULL, stderr=log,
            ))
            urls.append(f"http://127.0.0.1:{port}")
        for process, url in zip(processes, urls, strict=True):
            await wait_until_healthy(process, url)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


async def wait_until_healthy(process: subprocess.Popen[bytes], url: str, attempts: int = 150) -> None:
    """Poll /health until it answers 200; fail with the server's stderr if it died or never did."""
    async with aiohttp.ClientSession() as session:
        for _ in range(attempts):
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}; see its log")
            try:
                async with session.get(f"{url}/health", timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"server at {url} never became healthy")
