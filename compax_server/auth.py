"""Who is calling: bearer tokens parsed in one place, and the client's address.

Contract: no ``Authorization`` header, a scheme other than Bearer, a bad signature, an expired
token, or a token whose user is gone, deactivated or has since bumped their token generation
(logout-all, password or role change) is 401. Nothing else decides who the caller is.

Most routes read the caller's record here, before anything else (``authenticate``). A route
declared with ``reads_caller`` (booking a room) has its token checked here and its permission
checked against the role the token names, and reads its caller inside its own transaction,
where ``current_user`` applies the same test: its request costs one database read fewer, and a
revoked token is refused there, after the body has been validated.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

from compax_server.db import Database
from compax_server.grouping import Grouped
from compax_server.keys import ACCESS_TOKENS, SETTINGS, USER_LOOKUP
from compax_server.models import User
from compax_server.security import TokenClaims
from compax_server.services.common import id_of
from compax_server.services.core_sql import ids, one_of_ids, records
from sync.errors import NotAuthenticated


async def authenticate(request: web.Request, claims: TokenClaims) -> User:
    """The current record of the user the request's token (``claims``) speaks for, read now;
    401 if the token no longer stands."""
    return current_user(await request.app[USER_LOOKUP](claims.user_id), claims)


def token_claims(request: web.Request) -> TokenClaims:
    """The claims of the request's genuine, unexpired bearer token; whether it has been revoked
    is for ``current_user`` to say, once the user has been read."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise NotAuthenticated("Send Authorization: Bearer <token>; get one at /api/v1/auth/token")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("The Authorization header must be 'Bearer <token>'")
    claims = request.app[ACCESS_TOKENS].verify(token.strip())
    if claims is None:
        raise NotAuthenticated("The token is invalid or has expired; sign in again")
    return claims


def current_user(user: User | None, claims: TokenClaims) -> User:
    """``user``, read after the request came in, if the token with ``claims`` still speaks for
    them: they exist, are active, and have not bumped their token generation since."""
    if (
        user is None
        or not user.active
        or user.token_generation != claims.generation
        or claims.role not in (None, user.role)
    ):
        raise NotAuthenticated("The token has been revoked; sign in again")
    return user


async def read_users(connection: AsyncConnection, user_ids: Iterable[int]) -> dict[int, User]:
    """The users with these ids as stored now, by id, in one statement."""
    found = await connection.execute(
        _USERS[connection.dialect.name], {"ids": ids(connection.dialect, user_ids)}
    )
    return {id_of(user): user for user in records(User, found)}


class UserLookup:
    """The current records of the users whose tokens are being checked, read in groups: the
    lookups of requests that arrive together share one query (``grouping.Grouped``)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._groups = Grouped(self._read, largest=500)

    async def __call__(self, user_id: int) -> User | None:
        """The user as stored now, read after this call began; ``None`` if there is none."""
        return await self._groups(user_id)

    async def close(self) -> None:
        """Finish the lookups already asked for; called when the server stops."""
        await self._groups.close()

    async def _read(self, user_ids: Sequence[int]) -> list[User | None]:
        """One query for a group of lookups; ``None`` for an id that names no user."""
        async with self.db.read_connection() as connection:
            users = await read_users(connection, user_ids)
        return [users.get(user_id) for user_id in user_ids]


_USER_TABLE = SQLModel.metadata.tables["users"]
#: The users with the ids of the parameter ``ids``, per dialect.
_USERS = {
    name: select(_USER_TABLE).where(clause)
    for name, clause in one_of_ids(_USER_TABLE.c.id, "ids").items()
}


def client_address(request: web.Request) -> str:
    """The caller's address; ``X-Forwarded-For`` is believed only from a trusted proxy.

    Walking the header from the right, the first address that is not a trusted proxy is the
    client: anything left of it could have been written by the client itself.
    """
    remote = request.remote or "unknown"
    trusted = request.app[SETTINGS].trusted_proxies
    if not trusted or not _is_trusted(remote, trusted):
        return remote
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _is_trusted(hop, trusted):
            return hop
    return remote


def from_trusted_proxy(request: web.Request) -> bool:
    """True when the direct peer is one of ``COMPAX_TRUSTED_PROXIES``."""
    trusted = request.app[SETTINGS].trusted_proxies
    return bool(trusted) and _is_trusted(request.remote or "", trusted)


def _is_trusted(address: str, trusted: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in trusted)
