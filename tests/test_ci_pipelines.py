"""The CI pipelines a campus can run as they are (GitHub Actions and GitLab CI): each valid
by its platform's schema (check-jsonschema's vendored copies, so no network), and each running
what .ci/run runs: the README's test command beside Postgres and Redis services, with the
tools the tests need, and the production image built."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parent.parent
GITHUB = ROOT / ".github" / "workflows" / "ci.yml"
GITLAB = ROOT / ".gitlab-ci.yml"
SCHEMAS = {GITHUB: "vendor.github-workflows", GITLAB: "vendor.gitlab-ci"}
#: What the tests start besides the services (nginx, tmux, a private redis-server, slapd).
TOOLS = ("nginx", "tmux", "redis-server", "slapd")


def readme_test_command() -> str:
    """The README's second command: the one that runs the whole test suite."""
    blocks = re.findall(r"```sh\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)
    [command] = [block for block in blocks if "tox" in block]
    return command.strip()


def scripts(pipeline: Path) -> str:
    """Every shell line of every job, as one text."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("run", "script", "before_script") and isinstance(value, str | list):
                    found.extend([value] if isinstance(value, str) else map(str, value))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(pipeline.read_text()))
    return "\n".join(found)


def service_images(pipeline: Path) -> list[str]:
    """The images of every job's services (GitHub names them by key, GitLab in a list)."""
    jobs = yaml.safe_load(pipeline.read_text())
    jobs = jobs.get("jobs", jobs)
    images = []
    for job in jobs.values():
        services = job.get("services", []) if isinstance(job, dict) else []
        for service in services.values() if isinstance(services, dict) else services:
            if isinstance(service, str):
                images.append(service)
            else:
                images.append(service.get("image") or service.get("name", ""))
    return images


@pytest.mark.parametrize("pipeline", list(SCHEMAS), ids=lambda p: p.name)
def test_the_pipeline_is_valid_by_its_platforms_schema(pipeline: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", SCHEMAS[pipeline],
         str(pipeline)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("pipeline", list(SCHEMAS), ids=lambda p: p.name)
def test_the_pipeline_runs_the_readme_test_command_with_what_the_tests_need(
    pipeline: Path,
) -> None:
    shell = scripts(pipeline)
    assert readme_test_command() in shell
    for tool in TOOLS:
        assert re.search(rf"apt-get install[^\n]*(\\\n[^\n]*)*\b{tool}\b", shell), tool
    assert "docker build" in shell, "the production image is built"
    assert {image.partition(":")[0] for image in service_images(pipeline)} >= {
        "postgres",
        "redis",
    }
    assert "COMPAX_TEST_DATABASE_URL: postgresql://postgres@" in pipeline.read_text()


@pytest.mark.parametrize("pipeline", list(SCHEMAS), ids=lambda p: p.name)
def test_the_pipelines_install_the_openid_provider_of_the_tests(pipeline: Path) -> None:
    assert "npm ci --no-audit --no-fund --prefix tests/oidc_provider" in scripts(pipeline)


def test_the_pipelines_use_the_python_tox_runs_on() -> None:
    tox = (ROOT / "tox.ini").read_text()
    [version] = re.findall(r"base_python = python(3\.\d+)", tox)
    assert f'python-version: "{version}"' in GITHUB.read_text()
    assert f"image: python:{version}-" in GITLAB.read_text()
