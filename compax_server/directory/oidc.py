"""The campus OpenID provider: discovery, keys, ID tokens, the code exchange, the device flow."""

from __future__ import annotations

from compax_server.directory.checks import Finding
from compax_server.sign_in_settings import SignInSettings


async def oidc_checks(settings: SignInSettings) -> list[Finding]:
    raise NotImplementedError("written by the OIDC part of issue 19")
