"""The docs describe what the code does: permissions, endpoints and settings."""

from __future__ import annotations

import re
from pathlib import Path

from compax_server.app import create_app
from compax_server.keys import ENDPOINTS
from compax_server.settings import Settings
from sync.permissions import MANAGER_PERMISSIONS, PERMISSIONS, Permission, Role

DOCS = Path(__file__).parent.parent / "docs"
#: The column of what a building manager holds in their buildings.
MANAGER = "building manager"


def test_the_permission_table_in_the_docs_is_the_one_in_the_code() -> None:
    text = (DOCS / "permissions.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| permission |"))
    columns = [cell.strip() for cell in header.strip("|").split("|")[1:]]
    assert columns == [*(role.value for role in Role), MANAGER]
    documented: dict[Permission, set[str]] = {}
    for line in text.splitlines():
        match = re.match(r"\| `([a-z:-]+)` \|(.*)\|$", line)
        if match:
            cells = [cell.strip() for cell in match.group(2).split("|")]
            documented[Permission(match.group(1))] = {
                column for column, cell in zip(columns, cells, strict=True) if cell == "yes"
            }
    assert documented == {
        permission: {role.value for role in roles}
        | ({MANAGER} if permission in MANAGER_PERMISSIONS else set())
        for permission, roles in PERMISSIONS.items()
    }


def test_every_endpoint_is_in_the_api_docs() -> None:
    text = (DOCS / "api.md").read_text()
    app = create_app(Settings(secret_keys=["docs"]))
    missing = [
        f"{e.method} {e.path}" for e in app[ENDPOINTS] if f"| {e.method} | `{e.path}` |" not in text
    ]
    assert missing == []


def test_every_setting_is_in_the_configuration_docs() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"`COMPAX_{name.upper()}`" not in text]
    assert missing == []
