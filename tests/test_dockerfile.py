"""What the Dockerfile promises, read from its text (no Docker engine is needed to run these)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPILERS = {"gcc", "g++", "cc", "clang", "build-essential", "make"}


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def stages(text: str) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, each list starting with its FROM."""
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


@pytest.fixture(scope="module")
def dockerfile() -> list[list[tuple[str, str]]]:
    return stages((ROOT / "Dockerfile").read_text())


def last(stage: list[tuple[str, str]], keyword: str) -> str:
    values = [rest for kw, rest in stage if kw == keyword]
    assert values, f"the final stage has no {keyword}"
    return values[-1]


def test_multi_stage_with_the_venv_copied_from_the_builder(
    dockerfile: list[list[tuple[str, str]]],
) -> None:
    assert len(dockerfile) > 1
    final = dockerfile[-1]
    assert any(kw == "COPY" and rest.startswith("--from=") for kw, rest in final)


def test_final_stage_runs_as_a_user_other_than_root(
    dockerfile: list[list[tuple[str, str]]],
) -> None:
    user = last(dockerfile[-1], "USER").split(":")[0]
    assert user not in ("", "root", "0")


def test_healthcheck_gets_health(dockerfile: list[list[tuple[str, str]]]) -> None:
    healthcheck = last(dockerfile[-1], "HEALTHCHECK")
    assert "CMD" in healthcheck
    assert "127.0.0.1:" in healthcheck
    assert re.search(r"/health(?![\w/-])", healthcheck), healthcheck


def test_cmd_runs_the_server_on_all_interfaces(dockerfile: list[list[tuple[str, str]]]) -> None:
    final = dockerfile[-1]
    assert json.loads(last(final, "CMD")) == ["compax", "server", "run"]
    env = " ".join(rest for kw, rest in final if kw == "ENV")
    assert "COMPAX_HOST=0.0.0.0" in env.split()


def test_no_compiler_in_the_final_stage(dockerfile: list[list[tuple[str, str]]]) -> None:
    for keyword, rest in dockerfile[-1]:
        if keyword == "RUN":
            assert not COMPILERS & set(re.split(r"[\s;&|=]+", rest)), rest


def test_builder_copies_every_package_of_the_wheel(
    dockerfile: list[list[tuple[str, str]]],
) -> None:
    """Adding a package to pyproject.toml without copying it would build a broken image."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copied = {
        source.rstrip("/")
        for kw, rest in dockerfile[0]
        if kw == "COPY" and not rest.startswith("--")
        for source in rest.split()[:-1]
    }
    assert {*packages, "pyproject.toml", "README.md"} <= copied
    for source in copied:
        assert (ROOT / source).exists(), source
