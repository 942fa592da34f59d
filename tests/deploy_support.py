"""What the deployment tests run besides Compax: a certificate, a private Redis, nginx."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from redis.asyncio import Redis

from tests.conftest import IN_CI
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def compose_services() -> dict[str, dict[str, Any]]:
    """The services of docker-compose.yml, anchors and merges resolved."""
    services: dict[str, dict[str, Any]] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())[
        "services"
    ]
    return services


def compose_workers() -> dict[str, dict[str, Any]]:
    """The compose services that run ``compax server run``."""
    return {
        name: service
        for name, service in compose_services().items()
        if service.get("command", [])[1:3] == ["server", "run"]
    }


def healthcheck_command() -> list[str]:
    """The Dockerfile's HEALTHCHECK command, as the image runs it."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    match = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", text, re.MULTILINE)
    assert match, "the Dockerfile has no HEALTHCHECK CMD"
    command: list[str] = json.loads(match.group(1))
    return command


async def shared_redis_url() -> str:
    """The local Redis (``COMPAX_TEST_REDIS_URL``); skipped loudly if it does not answer."""
    url = os.environ.get("COMPAX_TEST_REDIS_URL", DEFAULT_REDIS)
    client = Redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
    except OSError as exc:
        message = f"Redis at {url} is unreachable ({exc})"
        if IN_CI:
            pytest.fail(message + " and CI=true forbids skipping")
        pytest.skip("SKIPPING REDIS TESTS: " + message)
    finally:
        await client.aclose()
    return url


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, and a client context trusting it."""

    certfile: Path
    keyfile: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certfile))


def self_signed_certificate(directory: Path) -> Certificate:
    """A fresh key and a one-day certificate made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl command is needed to make a test certificate")
    certfile, keyfile = directory / "compax.crt", directory / "compax.key"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(keyfile),
            "-out",
            str(certfile),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return Certificate(certfile, keyfile)


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    """Wait (bounded) until something accepts on 127.0.0.1:``port``; fail if ``process`` ends."""
    for _ in range(200):
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} never listened on port {port}")


class RedisServer:
    """A private ``redis-server`` on a free port, which a test may stop and start again."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            message = "redis-server is not installed; .ci/run starts one from Debian's redis"
            if IN_CI:
                pytest.fail(message)
            pytest.skip("SKIPPING REDIS TESTS: " + message)
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self._process, "redis-server")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=15)
            self._process = None


NGINX_MAIN = """\
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/errors warn;
{user}
events {{ worker_connections 1024; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {root}/compax.conf;
}}
"""


def nginx_binary() -> str:
    """The nginx command; skipped loudly when it is missing here, a failure in CI."""
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        message = "nginx is not installed (apt-get install -y nginx); .ci/run installs it"
        if IN_CI:
            pytest.fail(message + " and CI=true forbids skipping")
        pytest.skip("SKIPPING NGINX TESTS: " + message)
    return binary


class Nginx:
    """nginx running ``deploy/nginx.conf`` with this test's workers, ports and certificate."""

    def __init__(
        self, binary: str, root: Path, config: str, certificate: Certificate, upstreams: list[str]
    ) -> None:
        self.binary = binary
        self.root = root
        self.https_port, self.http_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.https_port}"
        self.config = _local_config(config, certificate, upstreams, self.https_port, self.http_port)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        (self.root / "compax.conf").write_text(self.config)
        # Run as root (CI), nginx's workers would become "nobody", who cannot enter pytest's
        # private temporary directory.
        user = "user root;" if os.geteuid() == 0 else ""
        main = self.root / "nginx.conf"
        main.write_text(NGINX_MAIN.format(root=self.root, user=user))
        self._process = subprocess.Popen(
            [self.binary, "-p", str(self.root), "-c", str(main), "-e", str(self.root / "errors")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.https_port, self._process, "nginx")
        except RuntimeError as error:
            errors = self.root / "errors"
            logged = errors.read_text() if errors.exists() else ""
            raise RuntimeError(f"{error}: {logged}") from None

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=15)
            self._process = None


def _local_config(
    config: str, certificate: Certificate, upstreams: list[str], https_port: int, http_port: int
) -> str:
    """deploy/nginx.conf with the compose names, ports and certificate paths of this test."""
    replacements = {
        "server compax-1:8080 ": f"server {upstreams[0]} ",
        "server compax-2:8080 ": f"server {upstreams[1]} ",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "/etc/nginx/certs/compax.crt": str(certificate.certfile),
        "/etc/nginx/certs/compax.key": str(certificate.keyfile),
    }
    for old, new in replacements.items():
        assert config.count(old) == 1, f"deploy/nginx.conf no longer has {old!r} once"
        config = config.replace(old, new)
    return config
