"""Signing in, by every method, under one set of limits: a Compax password, an LDAP
directory's password, or an identity an OpenID provider vouched for (docs/sign-in.md)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sqlalchemy.exc import IntegrityError

from compax_server.db import Database
from compax_server.directory.identity import DirectoryIdentity
from compax_server.directory.mapping import GroupMapping
from compax_server.models import User
from compax_server.ratelimit import SignInLimits
from compax_server.security import Passwords, Tokens
from compax_server.services.access import managed_buildings
from compax_server.services.common import is_unique_violation
from compax_server.services.directory_users import provision
from compax_server.services.users import access_token, user_by_username, user_public
from compax_server.sign_in_settings import SignInSettings
from sync.errors import NotAuthenticated, Unavailable
from sync.schemas import TokenResponse
from sync.vocabulary import AuthSource

WRONG = "Unknown username or wrong password"


class PasswordDirectory(Protocol):
    """A directory that checks passwords itself (LDAP)."""

    async def authenticate(self, username: str, password: str) -> DirectoryIdentity | None:
        """The person, if the directory takes ``password`` as theirs; ``None`` if it does not
        (no such person, or a wrong password). ``Unavailable`` when it cannot be asked."""
        ...


def group_mapping(settings: SignInSettings) -> GroupMapping:
    """The groups-to-roles mapping the settings ask for."""
    return GroupMapping(
        settings.directory_roles, settings.directory_managers, settings.directory_default_role
    )


class SignIn:
    """Every way into Compax ends here: each password guess is reserved under the sign-in
    limits before it is checked (``ratelimit``), and each directory identity becomes a Compax
    user and a token (``directory_users.provision``)."""

    def __init__(
        self,
        db: Database,
        passwords: Passwords,
        tokens: Tokens,
        limits: SignInLimits,
        settings: SignInSettings,
        directory: PasswordDirectory | None = None,
    ) -> None:
        self.db = db
        self.passwords = passwords
        self.tokens = tokens
        self.limits = limits
        self.settings = settings
        self.directory = directory
        self.mapping = group_mapping(settings)

    async def __call__(self, username: str, password: str, address: str) -> TokenResponse:
        """A token for the user, if ``password`` is theirs here or in the directory; 401 if
        not, 429 over a limit, 503 if only the unreachable directory could have said. The guess
        is given back only when no verdict was reached: a wrong local password stays counted
        even when the directory, asked next, cannot answer."""
        name = username.strip().lower()
        local = self.settings.may_use_local_password(name)
        if not local and self.directory is None:
            raise NotAuthenticated(
                "Passwords are turned off on this server; sign in with your campus account "
                "(compax login --sso)"
            )
        attempt = await self.limits.reserve(name, address)
        try:
            async with self.db.read() as session:
                user = await user_by_username(session, name)
                manages = await managed_buildings(session, user.id) if user and user.id else ()
            stored = user.password_hash if local and user and _keeps_password(user) else None
            checks_locally = bool(stored) or self.directory is None
            if checks_locally and await self.passwords.verify(stored or None, password) and user:
                await attempt.succeeded()
                return self.token_for(user, manages)
        except Exception:
            await attempt.undecided()
            raise
        if self.directory is None or name in self.settings.break_glass_admins:
            raise NotAuthenticated(WRONG)
        try:
            identity = await self.directory.authenticate(name, password)
        except Exception:
            if not stored:
                await attempt.undecided()
            raise
        if identity is None:
            raise NotAuthenticated(WRONG)
        try:
            token = await self.token_for_identity(identity)
        except Exception:
            await attempt.undecided()
            raise
        await attempt.succeeded()
        return token

    async def token_for_identity(self, identity: DirectoryIdentity) -> TokenResponse:
        """A token for the person a directory vouched for, their user made or brought in line
        first; two first sign-ins of one person at once make one user."""
        for _ in range(3):
            try:
                async with self.db.write() as session:
                    user = await provision(session, identity, self.mapping, self.settings)
                    assert user.id is not None
                    return self.token_for(user, await managed_buildings(session, user.id))
            except IntegrityError as exc:
                if not is_unique_violation(exc):
                    raise
        raise Unavailable("Signing in collided with another sign-in of yours; try again")

    async def is_password_of(self, user: User, password: str, address: str) -> bool:
        """Whether ``password`` is ``user``'s, counted as a guess from ``address`` like a
        sign-in (429 over a limit), so a stolen token cannot guess the password freely."""
        attempt = await self.limits.reserve(user.username, address)
        try:
            right = await self.passwords.verify(user.password_hash or None, password)
        except Exception:
            await attempt.undecided()
            raise
        if not right:
            return False
        await attempt.succeeded()
        return True

    def token_for(self, user: User, manages: Iterable[int] = ()) -> TokenResponse:
        """A fresh token for ``user``, with their record (and ``manages``, the buildings they
        manage) for the client to keep."""
        issued = access_token(self.tokens, user)
        return TokenResponse(
            access_token=issued.token,
            expires_at=issued.expires_at,
            expires_in=issued.expires_in,
            user=user_public(user, manages),
        )


def _keeps_password(user: User) -> bool:
    """Whether Compax checks ``user``'s password itself: an active local user. A directory
    user's password is the directory's, even when an account made by hand was taken over."""
    return user.active and user.auth_source == AuthSource.LOCAL
