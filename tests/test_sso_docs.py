"""The example campuses of docs/configuration.md are configurations the server accepts, each
with a directory, a mapping and a break-glass admin."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from compax_server.settings import Settings
from compax_server.sign_in_settings import LocalSignIn

DOCS = Path(__file__).parent.parent / "docs"


def example_campuses() -> dict[str, dict[str, str]]:
    """Each ``####`` example under "Example campuses": its heading and its variables."""
    text = (DOCS / "configuration.md").read_text()
    section = text.split("### Example campuses", 1)[1]
    examples = {}
    for heading, body in re.findall(r"^#### (.+?)\n(.*?)(?=^#### |\Z)", section, re.M | re.S):
        block = re.search(r"```sh\n(.*?)```", body, re.S)
        assert block, f"{heading}: no configuration block"
        variables = {}
        for line in block.group(1).splitlines():
            name, _, value = line.partition("=")
            variables[name] = value.removeprefix("'").removesuffix("'")
        examples[heading] = variables
    return examples


def test_there_is_an_example_for_each_kind_of_campus() -> None:
    assert list(example_campuses()) == [
        "Microsoft Entra ID (Azure AD)",
        "Google Workspace",
        "Keycloak",
        "Active Directory over LDAP",
        "OpenLDAP",
    ]


@pytest.mark.parametrize("campus", list(example_campuses()))
def test_an_example_campus_is_a_valid_configuration(
    campus: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    variables = example_campuses()[campus]
    known = {f"COMPAX_{name.upper()}" for name in Settings.model_fields}
    assert set(variables) <= known
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    settings = Settings(secret_keys=["docs"])
    assert settings.directory_configured
    assert settings.local_sign_in is LocalSignIn.BREAK_GLASS
    assert settings.break_glass_admins == ["root"]
    assert settings.directory_roles
