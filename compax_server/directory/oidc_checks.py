"""``compax server check-sso`` for OpenID Connect: discovery, keys, the client's credentials,
the device flow and the groups claim, each tried at the provider and said in words."""

from __future__ import annotations

from compax_server.directory.checks import Finding, Outcome
from compax_server.directory.oidc import OpenIdProvider, ProviderRefusal
from compax_server.sign_in_settings import SignInSettings
from sync.errors import Unavailable

#: A code no provider issued, sent to learn whether the client's credentials are accepted:
#: ``invalid_grant`` says they are (only the code is wrong), ``invalid_client`` that not.
_MADE_UP_CODE = "compax-check-sso-made-up-code"
_VERIFIER = "compax-check-sso-" + "v" * 40


async def oidc_checks(settings: SignInSettings) -> list[Finding]:
    """Each part of the OpenID Connect configuration tried in turn; the rest is skipped
    once the provider cannot be reached or its discovery document is wrong."""
    provider = OpenIdProvider(settings)
    try:
        try:
            discovery = await provider.discovery()
        except Unavailable as exc:
            return [Finding("OpenID discovery", Outcome.FAILED, exc.detail)]
        findings = [
            Finding(
                "OpenID discovery",
                Outcome.OK,
                f"{discovery.issuer} answers and names itself as the issuer",
            )
        ]
        findings.append(await _keys(provider))
        findings.append(await _client(provider))
        findings.append(_device_flow(discovery.device_authorization_endpoint, settings))
        findings.append(_groups_claim(settings, discovery.claims_supported))
        return findings
    finally:
        await provider.close()


async def _keys(provider: OpenIdProvider) -> Finding:
    try:
        keys = await provider.keys()
    except Unavailable as exc:
        return Finding("OpenID signing keys", Outcome.FAILED, exc.detail)
    if not keys.keys:
        return Finding("OpenID signing keys", Outcome.FAILED, "the provider publishes no keys")
    names = ", ".join(str(key.kid) for key in keys.keys)
    return Finding("OpenID signing keys", Outcome.OK, f"{len(keys.keys)} key(s): {names}")


async def _client(provider: OpenIdProvider) -> Finding:
    what = "OpenID client credentials"
    form = {
        "grant_type": "authorization_code",
        "code": _MADE_UP_CODE,
        "redirect_uri": "http://127.0.0.1/compax-check-sso",
        "code_verifier": _VERIFIER,
    }
    try:
        await provider.token_request(form)
    except Unavailable as exc:
        return Finding(what, Outcome.FAILED, exc.detail)
    except ProviderRefusal as refusal:
        if refusal.error in ("invalid_grant", "invalid_request"):
            return Finding(
                what, Outcome.OK, f"client {provider.client_id} is accepted at the token endpoint"
            )
        if refusal.error == "invalid_client":
            return Finding(
                what,
                Outcome.FAILED,
                f"the provider refused client {provider.client_id}: the client secret is wrong "
                "or expired, or the client id is unknown (COMPAX_OIDC_CLIENT_ID, "
                "COMPAX_OIDC_CLIENT_SECRET)",
            )
        if refusal.error == "unauthorized_client":
            return Finding(
                what,
                Outcome.FAILED,
                f"client {provider.client_id} may not use the authorization code grant; "
                "allow it at the provider",
            )
        return Finding(what, Outcome.WARNING, f"the provider answered {refusal}")
    return Finding(what, Outcome.WARNING, "the provider took a made-up code; is it a provider?")


def _device_flow(endpoint: str | None, settings: SignInSettings) -> Finding:
    if endpoint is not None and not settings.oidc_device_flow:
        return Finding(
            "OpenID device flow",
            Outcome.OK,
            "turned off (COMPAX_OIDC_DEVICE_FLOW=false): `compax login --sso` and the TUI wait "
            "on a loopback redirect",
        )
    if endpoint is None:
        return Finding(
            "OpenID device flow",
            Outcome.WARNING,
            "the provider offers no device flow: `compax login --sso` and the TUI open a "
            "browser on this machine and wait on a loopback redirect",
        )
    return Finding("OpenID device flow", Outcome.OK, f"offered at {endpoint}")


def _groups_claim(settings: SignInSettings, supported: frozenset[str] | None) -> Finding:
    claim = settings.oidc_groups_claim
    top = claim.split(".", 1)[0]
    if supported is None:
        return Finding(
            "OpenID groups claim",
            Outcome.WARNING,
            f"the provider does not list its claims; sign in once to see whether {claim!r} "
            "comes (without it every user gets COMPAX_DIRECTORY_DEFAULT_ROLE)",
        )
    if claim not in supported and top not in supported:
        return Finding(
            "OpenID groups claim",
            Outcome.WARNING,
            f"no group claim: the provider does not list {claim!r} among its claims, so unless "
            "it sends one anyway every user will get COMPAX_DIRECTORY_DEFAULT_ROLE "
            f"({settings.directory_default_role or 'nobody may sign in'})",
        )
    return Finding("OpenID groups claim", Outcome.OK, f"the provider lists {claim!r}")
