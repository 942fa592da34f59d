"""Typed keys for what the application holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from compax_server.api import Endpoint
    from compax_server.auth import UserLookup
    from compax_server.cache import ReadCache
    from compax_server.db import Database
    from compax_server.directory.oidc import OpenIdProvider
    from compax_server.links import BookingLinks
    from compax_server.metrics import Metrics
    from compax_server.redis_link import RedisLink
    from compax_server.security import Passwords, Tokens
    from compax_server.services.booking_writer import BookingWriter
    from compax_server.services.policy import BookingPolicy
    from compax_server.services.sign_in import SignIn
    from compax_server.settings import Settings

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DATABASE: web.AppKey[Database] = web.AppKey("database")
PASSWORDS: web.AppKey[Passwords] = web.AppKey("passwords")
ACCESS_TOKENS: web.AppKey[Tokens] = web.AppKey("access_tokens")
USER_LOOKUP: web.AppKey[UserLookup] = web.AppKey("user_lookup")
SIGN_IN: web.AppKey[SignIn] = web.AppKey("sign_in")
#: The campus OpenID provider; ``None`` unless ``COMPAX_OIDC_ISSUER`` names one.
OPENID: web.AppKey[OpenIdProvider | None] = web.AppKey("openid")
ENDPOINTS: web.AppKey[list[Endpoint]] = web.AppKey("endpoints")
BOOKING_POLICY: web.AppKey[BookingPolicy] = web.AppKey("booking_policy")
BOOKING_WRITER: web.AppKey[BookingWriter] = web.AppKey("booking_writer")
FEED_TOKENS: web.AppKey[Tokens] = web.AppKey("feed_tokens")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
READ_CACHE: web.AppKey[ReadCache] = web.AppKey("read_cache")
REDIS: web.AppKey[RedisLink | None] = web.AppKey("redis")
#: The problem type of an error answer, noted for the metrics of booking rejections.
BOOKING_LINKS: web.AppKey[BookingLinks] = web.AppKey("booking_links")
PROBLEM_TYPE: web.RequestKey[str] = web.RequestKey("problem_type")
