"""Password hashing (argon2id) and bearer tokens (itsdangerous), each in one place."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from compax_server.settings import Settings
from sync.permissions import Role

ACCESS_TOKEN_SALT = "compax.access-token"  # noqa: S105 (a signing namespace, not a secret)


class Passwords:
    """argon2id hashing run in a worker thread so the event loop never stalls on it."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        # Verified against when the username is unknown, so that both cases cost the same.
        self._dummy_hash = self._hasher.hash("compax-dummy-password")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches; ``None`` (no such user) checks a dummy hash and fails."""
        checked = self._dummy_hash if password_hash is None else password_hash
        try:
            await asyncio.to_thread(self._hasher.verify, checked, password)
        except (VerificationError, InvalidHashError):
            return False
        return password_hash is not None


@dataclass(frozen=True)
class TokenClaims:
    """Who a token speaks for: the user, their token generation, and their role when the token
    was issued (``None`` in feed tokens and in access tokens issued before it was added)."""

    user_id: int
    generation: int
    role: Role | None = None


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    expires_in: int


_ROLES = frozenset(role.value for role in Role)
#: How many verified tokens a ``Tokens`` keeps the claims of (a few hundred bytes each).
VERIFIED_KEPT = 10_000


class Tokens:
    """Signed, expiring, revocable bearer tokens for one purpose (its salt).

    Keys are listed newest first: the newest signs, every key still verifies, so keys can be
    rotated without logging everyone out. A token names the user and their token generation;
    bumping the generation revokes every token issued before. An access token also names the
    user's role: a role change bumps the generation, so while the token stands the role holds.

    A client sends the same token with every request, so the claims of the last
    ``VERIFIED_KEPT`` genuine tokens are kept with the time they were signed: checking one of
    those again is a dictionary lookup and an expiry check instead of an HMAC and a decode.
    Revocation is unaffected: it is the caller's check of the user's token generation.
    """

    def __init__(self, secret_keys: list[str], salt: str, max_age_seconds: int) -> None:
        if not secret_keys:
            raise ValueError("at least one secret key is required to sign tokens")
        # itsdangerous signs with the last key of the list and verifies with all of them.
        self._serializer = URLSafeTimedSerializer(
            list(reversed(secret_keys)), salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
        )
        self.max_age = max_age_seconds
        self._verified: dict[str, tuple[TokenClaims, int]] = {}

    def issue(self, user_id: int, generation: int, role: Role | None = None) -> IssuedToken:
        payload: dict[str, int | str] = {"u": user_id, "g": generation}
        if role is not None:
            payload["r"] = role.value
        token = self._serializer.dumps(payload)
        expires_at = datetime.now(UTC) + timedelta(seconds=self.max_age)
        return IssuedToken(token=token, expires_at=expires_at, expires_in=self.max_age)

    def verify(self, token: str) -> TokenClaims | None:
        """The claims of a genuine, unexpired token, or ``None`` for anything else."""
        known = self._verified.get(token)
        if known is not None:
            claims, signed_at = known
            if int(time.time()) - signed_at <= self.max_age:  # itsdangerous' own test
                return claims
            del self._verified[token]
            return None
        try:
            payload, signed = self._serializer.loads(
                token, max_age=self.max_age, return_timestamp=True
            )
        except (SignatureExpired, BadSignature):
            return None
        if not isinstance(payload, dict):
            return None
        user_id, generation, role = payload.get("u"), payload.get("g"), payload.get("r")
        if not isinstance(user_id, int) or not isinstance(generation, int):
            return None
        if role is not None and role not in _ROLES:
            return None
        claims = TokenClaims(user_id, generation, None if role is None else Role(role))
        if len(self._verified) >= VERIFIED_KEPT:
            del self._verified[next(iter(self._verified))]  # the one kept longest
        self._verified[token] = (claims, int(signed.timestamp()))
        return claims
