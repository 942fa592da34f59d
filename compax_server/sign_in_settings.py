"""The settings of campus sign-in: an OpenID Connect provider, an LDAP directory, how their
groups map to roles and buildings, and who may still use a local password."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode

from sync.permissions import Role


class LocalSignIn(StrEnum):
    """Who may sign in with a password kept by Compax itself."""

    EVERYONE = "everyone"
    BREAK_GLASS = "break-glass"


def _split_words(value: object) -> object:
    """``a,b`` or ``a b`` as a list; lists pass."""
    if isinstance(value, str):
        return [part for part in value.replace(",", " ").split() if part]
    return value


WordList = Annotated[list[str], NoDecode]


class SignInSettings(BaseSettings):
    """``COMPAX_OIDC_*``, ``COMPAX_LDAP_*``, ``COMPAX_DIRECTORY_*`` and the local password
    policy (docs/configuration.md#campus-sign-in)."""

    oidc_issuer: str | None = Field(
        None,
        pattern=r"^https?://\S+$",
        description="The OpenID provider's issuer URL; its discovery document is read from "
        "ISSUER/.well-known/openid-configuration. Unset: no OpenID Connect.",
    )
    oidc_client_id: str | None = Field(None, description="Compax's client id at the provider.")
    oidc_client_secret: SecretStr | None = Field(
        None, description="Compax's client secret; unset for a public client (PKCE only)."
    )
    oidc_scopes: WordList = Field(
        default_factory=lambda: ["openid", "profile", "email"],
        description="Scopes asked for, space or comma separated; `openid` is always added.",
    )
    oidc_username_claim: str = Field(
        "preferred_username",
        min_length=1,
        description=(
            "The ID token claim that becomes the Compax username (`email` for Google, which "
            "must then come with `email_verified` true)."
        ),
    )
    oidc_groups_claim: str = Field(
        "groups",
        min_length=1,
        description="The claim listing the user's groups; a dotted path reaches into objects "
        "(`realm_access.roles` for Keycloak realm roles).",
    )
    oidc_web_redirect_uris: WordList = Field(
        default_factory=list,
        description="The web frontend's redirect URIs whose codes the server may exchange; "
        "loopback URIs (http://127.0.0.1:PORT/...) of the CLI and TUI are always accepted.",
    )
    oidc_device_flow: bool = Field(
        True,
        description="Offer the provider's device flow to the CLI and TUI when it has one; "
        "false: they use a loopback redirect (a Google web client has no device flow).",
    )
    oidc_ca_file: Path | None = Field(
        None, description="PEM file of the CAs trusted for the provider; unset: the system's."
    )
    oidc_timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="How long one request to the provider may take."
    )
    oidc_clock_skew_seconds: int = Field(
        120, ge=0, le=3600, description="Clock difference tolerated in ID token times."
    )
    ldap_url: str | None = Field(
        None,
        pattern=r"^ldaps?://\S+$",
        description="The directory: ldap://HOST[:PORT] or ldaps://HOST[:PORT]. Unset: no LDAP.",
    )
    ldap_starttls: bool = Field(
        False, description="Upgrade an ldap:// connection with StartTLS before binding."
    )
    ldap_ca_file: Path | None = Field(
        None, description="PEM file of the CAs trusted for the directory; unset: the system's."
    )
    ldap_user_dn_template: str | None = Field(
        None,
        description="Bind as the user directly: `uid={username},ou=people,dc=campus,dc=edu`, "
        "or `{username}@campus.edu` for Active Directory.",
    )
    ldap_bind_dn: str | None = Field(
        None, description="A service account that searches for the user before binding as them."
    )
    ldap_bind_password: SecretStr | None = Field(
        None, description="The service account's password."
    )
    ldap_user_base: str | None = Field(
        None, description="Where users are searched for (and read after a direct bind)."
    )
    ldap_user_filter: str = Field(
        "(uid={username})",
        description="How a user is found; `(sAMAccountName={username})` for Active Directory.",
    )
    ldap_group_base: str | None = Field(
        None,
        description="Where groups are searched for with `ldap_group_filter`, and mapped by DN "
        "or CN; unset: the user's `memberOf` attribute names their groups (Active Directory), "
        "mapped by DN only.",
    )
    ldap_group_filter: str = Field(
        "(|(member={dn})(uniqueMember={dn})(memberUid={username}))",
        description="The groups a user belongs to, under `ldap_group_base`.",
    )
    ldap_name_attribute: str = Field("cn", description="The attribute holding the full name.")
    ldap_email_attribute: str = Field("mail", description="The attribute holding the email.")
    ldap_timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=60,
        description="How long connecting to and each answer of the directory may take.",
    )
    directory_roles: dict[str, Role] = Field(
        default_factory=dict,
        description='Groups to roles (JSON): {"compax-admins": "admin", "staff": "staff"}. '
        "The highest role among the user's groups wins; a group is named by its claim value "
        "(OpenID) or DN (LDAP; a CN only for groups under COMPAX_LDAP_GROUP_BASE), in any case.",
    )
    directory_managers: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Groups to the building codes their members manage (JSON): "
        '{"eng-facilities": ["ENG"]}.',
    )
    directory_domains: WordList = Field(
        default_factory=list,
        description="The campus's own email domains: a directory name in one of them loses "
        "its domain to make the username (`ama@campus.edu` is `ama`); any other address is "
        "the username whole.",
    )
    directory_default_role: Role | None = Field(
        Role.STUDENT,
        description="The role of a directory user in no mapped group; empty: such a user may "
        "not sign in.",
    )
    local_sign_in: LocalSignIn = Field(
        LocalSignIn.EVERYONE,
        description="`everyone` may use a Compax password, or only the `break-glass` admins "
        "(needs a directory).",
    )
    break_glass_admins: WordList = Field(
        default_factory=list,
        description="Usernames of local admins who keep a Compax password when "
        "`local_sign_in` is `break-glass`; the directory never takes these names over.",
    )

    _words = field_validator(
        "oidc_scopes",
        "oidc_web_redirect_uris",
        "break_glass_admins",
        "directory_domains",
        mode="before",
    )(_split_words)

    @field_validator("directory_default_role", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value in ("", "none") else value

    @field_validator("break_glass_admins", "directory_domains")
    @classmethod
    def _lower_names(cls, value: list[str]) -> list[str]:
        return [name.lower().lstrip("@") for name in value]

    @model_validator(mode="after")
    def _sign_in_is_whole(self) -> SignInSettings:
        if self.oidc_issuer and not self.oidc_client_id:
            raise ValueError("COMPAX_OIDC_ISSUER needs COMPAX_OIDC_CLIENT_ID")
        if self.ldap_url and not (self.ldap_user_dn_template or self.ldap_user_base):
            raise ValueError(
                "COMPAX_LDAP_URL needs COMPAX_LDAP_USER_DN_TEMPLATE (bind as the user) or "
                "COMPAX_LDAP_USER_BASE (search, then bind)"
            )
        if (self.ldap_bind_dn is None) != (self.ldap_bind_password is None):
            raise ValueError("COMPAX_LDAP_BIND_DN and COMPAX_LDAP_BIND_PASSWORD go together")
        if self.ldap_starttls and self.ldap_url and self.ldap_url.startswith("ldaps:"):
            raise ValueError("COMPAX_LDAP_STARTTLS is for ldap:// URLs; ldaps:// is TLS already")
        if self.local_sign_in is LocalSignIn.BREAK_GLASS:
            if not self.directory_configured:
                raise ValueError(
                    "COMPAX_LOCAL_SIGN_IN=break-glass needs a directory "
                    "(COMPAX_OIDC_ISSUER or COMPAX_LDAP_URL)"
                )
            if not self.break_glass_admins:
                raise ValueError(
                    "COMPAX_LOCAL_SIGN_IN=break-glass needs COMPAX_BREAK_GLASS_ADMINS, or no "
                    "admin could sign in while the directory is down"
                )
        return self

    @property
    def directory_configured(self) -> bool:
        """Whether people can sign in through a campus directory."""
        return bool(self.oidc_issuer or self.ldap_url)

    def may_use_local_password(self, username: str) -> bool:
        """Whether ``username`` may sign in with a password kept by Compax."""
        return (
            self.local_sign_in is LocalSignIn.EVERYONE
            or username.strip().lower() in self.break_glass_admins
        )
