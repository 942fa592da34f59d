"""The documented deployment for real: deploy/nginx.conf (TLS) in front of two workers.

The workers run docker-compose.yml's command with its settings (the addresses, ports and
secrets of this test instead of the compose network's), after its migrate command. Skipped
loudly without nginx here; in CI (.ci/run installs Debian's nginx) a missing nginx fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import MakePerson, Person
from tests.deploy_support import (
    ROOT,
    Certificate,
    Nginx,
    compose_services,
    compose_workers,
    nginx_binary,
    self_signed_certificate,
    shared_redis_url,
)
from tests.servers import SERVER_RUN, ServerProcess
from tests.test_race import race

ON_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
LOGIN_ATTEMPTS_PER_ADDRESS = 3


@dataclass
class Deployment:
    nginx: Nginx
    workers: list[ServerProcess]
    certificate: Certificate

    def session(self, source_address: str = "127.0.0.1") -> aiohttp.ClientSession:
        """A client that trusts the test certificate, connecting from ``source_address``."""
        connector = aiohttp.TCPConnector(
            ssl=self.certificate.client_context(), local_addr=(source_address, 0)
        )
        return aiohttp.ClientSession(connector=connector)


@asynccontextmanager
async def deployment(database_url: str, tmp_path: Path) -> AsyncIterator[Deployment]:
    """Compose's migrate, then its two workers (with its settings), behind nginx."""
    binary = nginx_binary()
    redis_url = await shared_redis_url()
    certificate = self_signed_certificate(tmp_path)
    settings = {
        "COMPAX_MODE": "production",
        "COMPAX_DATABASE_URL": database_url,
        "COMPAX_SECRET_KEYS": "test-signing-key",
        "COMPAX_REDIS_URL": redis_url,
        "COMPAX_TRUSTED_PROXIES": "127.0.0.1",
        "COMPAX_METRICS_TOKEN": "a-metrics-token",
        "COMPAX_DB_POOL_SIZE": "10",
        "COMPAX_DB_MAX_OVERFLOW": "5",
        "COMPAX_LOG_FORMAT": "json",
        "COMPAX_JOBS": "external",
    }
    workers = compose_workers()
    for name, service in workers.items():
        assert set(service["environment"]) == set(settings), f"{name}: settings differ"
    command = next(iter(workers.values()))["command"]
    assert command[0] == "compax" and tuple(command[1:3]) == SERVER_RUN, command
    env = {
        **settings,
        # This test's own keys in the shared Redis, and cheap password hashing.
        "COMPAX_REDIS_PREFIX": f"compax-test-{uuid.uuid4().hex}:",
        "COMPAX_LOGIN_ATTEMPTS_PER_ADDRESS": str(LOGIN_ATTEMPTS_PER_ADDRESS),
        "COMPAX_ARGON2_MEMORY_KIB": "64",
        "COMPAX_ARGON2_TIME_COST": "1",
    }
    run_compax(compose_services()["migrate"]["command"], {"COMPAX_DATA_DIR": str(tmp_path), **env})

    servers = [
        ServerProcess(database_url, tmp_path, args=command[3:], **env) for _ in range(len(workers))
    ]
    nginx_root = tmp_path / "nginx"
    nginx_root.mkdir()
    nginx = Nginx(
        binary,
        nginx_root,
        (ROOT / "deploy" / "nginx.conf").read_text(),
        certificate,
        [f"127.0.0.1:{server.port}" for server in servers],
    )
    try:
        for server in servers:
            server.start()
        for server in servers:
            await server.wait_until_healthy()
        nginx.start()
        yield Deployment(nginx, servers, certificate)
    finally:
        nginx.stop()
        for server in servers:
            server.stop()


def run_compax(command: list[str], env: dict[str, str]) -> None:
    """Run a compose service's ``compax …`` command to completion, as this Python's compax."""
    assert command[0] == "compax", command
    done = subprocess.run(
        [sys.executable, "-m", "compax_cli", *command[1:]],
        env={**os.environ, **env},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()


@ON_POSTGRES
@pytest.mark.slow
async def test_the_booking_race_through_nginx(
    client: TestClient, admin: Person, make_person: MakePerson, database_url: str, tmp_path: Path
) -> None:
    """50 clients over HTTPS through nginx to two workers: no overlaps and no 5xx."""
    async with deployment(database_url, tmp_path) as deployed, deployed.session() as session:
        await race(client, admin, make_person, [deployed.nginx.url], session)
        for worker in deployed.workers:
            assert worker.log_path.read_text().count('"level": "ERROR"') == 0


@ON_POSTGRES
@pytest.mark.slow
async def test_nginx_passes_the_client_address_and_the_scheme(
    database_url: str, tmp_path: Path
) -> None:
    """Rate limits count the address nginx saw (shared by both workers); HSTS over TLS."""
    async with deployment(database_url, tmp_path) as deployed:
        url = deployed.nginx.url
        async with deployed.session("127.0.0.2") as first, deployed.session("127.0.0.3") as other:
            async with first.get(f"{url}/health") as response:
                assert response.status == 200
                assert response.headers["Strict-Transport-Security"] == "max-age=31536000"

            async def sign_in(session: aiohttp.ClientSession, **headers: str) -> int:
                async with session.post(
                    f"{url}/api/v1/auth/token",
                    json={"username": f"nobody{uuid.uuid4().hex[:8]}", "password": "wrong-pw"},
                    headers=headers,
                ) as response:
                    await response.read()
                    return response.status

            # nginx spreads these over both workers; the count is one, kept in Redis.
            for _ in range(LOGIN_ATTEMPTS_PER_ADDRESS):
                assert await sign_in(first) == 401
            assert await sign_in(first) == 429
            # A forged X-Forwarded-For is replaced by nginx: still the same address.
            assert await sign_in(first, **{"X-Forwarded-For": "198.51.100.7"}) == 429
            # Another client address is not limited.
            assert await sign_in(other) == 401

            async with first.get(
                f"http://127.0.0.1:{deployed.nginx.http_port}/health", allow_redirects=False
            ) as response:
                assert response.status == 308
                assert response.headers["Location"].startswith("https://")
