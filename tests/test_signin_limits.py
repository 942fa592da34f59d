"""Sign-in limits under concurrency, per account and address, on /me/password; and calendar
feed URLs, which die with the other tokens and expire."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from redis.asyncio import Redis

from compax_server.services.calendars import CALENDAR_FEED_SALT
from compax_server.settings import Settings
from sync.permissions import Role
from tests.conftest import PASSWORD, MakePerson, Person, make_settings
from tests.deploy_support import shared_redis_url
from tests.servers import running_servers
from tests.support import bearer, problem_of, sign_in

BURST = 100
#: The addresses the test client speaks for, through itself as a trusted proxy.
ATTACKER = "203.0.113.7"
OWNER = "198.51.100.20"


def sent_from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


@pytest.fixture(params=["memory", "redis"])
async def redis_settings(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, object]]:
    """No Redis, or the local Redis under a key prefix of this test's own, removed after."""
    if request.param == "memory":
        yield {}
        return
    url = await shared_redis_url()
    prefix = f"compax-test-{uuid.uuid4().hex}:"
    yield {"redis_url": url, "redis_prefix": prefix}
    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, redis_settings: dict[str, object]) -> Settings:
    """Default limits; the test client's own address is a trusted proxy, so each request
    names the client address it comes from in X-Forwarded-For."""
    return make_settings(
        database_url, tmp_path, trusted_proxies=["127.0.0.1", "::1"], **redis_settings
    )


@pytest.fixture
async def sena(make_person: MakePerson) -> Person:
    return await make_person(Role.STAFF, username="sena")


async def burst_of_wrong_passwords(client: TestClient, address: str) -> Counter[int]:
    """The statuses of ``BURST`` wrong passwords for sena from ``address``, sent at once."""
    responses = await asyncio.gather(
        *(sign_in(client, "sena", f"wrong-{n}", **sent_from(address)) for n in range(BURST))
    )
    for response in responses:
        await response.read()
    return Counter(response.status for response in responses)


# --- Concurrent guesses ----------------------------------------------------------------------


async def test_a_burst_of_wrong_passwords_gets_at_most_the_limit_of_verdicts(
    client: TestClient, sena: Person, settings: Settings
) -> None:
    """Each guess is counted before its password is hashed, so however many arrive at once,
    the account and address get their limit of 401s and the rest 429, and then even the right
    password is refused from that address."""
    limit = settings.login_attempts_per_username_and_address
    assert await burst_of_wrong_passwords(client, ATTACKER) == {401: limit, 429: BURST - limit}
    response = await sign_in(client, "sena", PASSWORD, **sent_from(ATTACKER))
    await problem_of(response, 429)
    assert 1 <= int(response.headers["Retry-After"]) <= settings.login_window_seconds


@pytest.mark.slow
async def test_a_burst_over_two_server_processes_sharing_redis_gets_the_limit(
    database_url: str, tmp_path: Path, sena: Person
) -> None:
    """Two real server processes counting in one Redis: 60 concurrent wrong passwords, spread
    over both, get the limit of 401s between them."""
    redis_url = await shared_redis_url()
    prefix = f"compax-test-{uuid.uuid4().hex}:"
    env = {
        "COMPAX_REDIS_URL": redis_url,
        "COMPAX_REDIS_PREFIX": prefix,
        "COMPAX_LOGIN_ATTEMPTS_PER_USERNAME_AND_ADDRESS": "10",
        "COMPAX_ARGON2_MEMORY_KIB": "64",
        "COMPAX_ARGON2_TIME_COST": "1",
    }
    try:
        async with (
            running_servers(database_url, tmp_path, count=2, **env) as urls,
            aiohttp.ClientSession() as session,
        ):

            async def guess(n: int) -> int:
                body = {"username": "sena", "password": f"wrong-{n}"}
                async with session.post(f"{urls[n % 2]}/api/v1/auth/token", json=body) as r:
                    await r.read()
                    return r.status

            statuses = Counter(await asyncio.gather(*(guess(n) for n in range(60))))
            assert statuses == {401: 10, 429: 50}
    finally:
        client = Redis.from_url(redis_url)
        keys = [key async for key in client.scan_iter(prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


# --- Per account and address, per account ----------------------------------------------------


async def test_the_owner_signs_in_from_elsewhere_while_the_attackers_address_is_limited(
    client: TestClient, sena: Person
) -> None:
    """An attacker's failures limit the attacker's address, not the account everywhere."""
    await burst_of_wrong_passwords(client, ATTACKER)
    await problem_of(await sign_in(client, "sena", PASSWORD, **sent_from(ATTACKER)), 429)
    response = await sign_in(client, "sena", PASSWORD, **sent_from(OWNER))
    assert response.status == 200, await response.text()


class TestGuessesSpreadOverAddresses:
    """A low account limit, so that a few addresses reach it."""

    @pytest.fixture
    def settings(
        self, database_url: str, tmp_path: Path, redis_settings: dict[str, object]
    ) -> Settings:
        return make_settings(
            database_url,
            tmp_path,
            trusted_proxies=["127.0.0.1", "::1"],
            login_attempts_per_username_and_address=3,
            login_attempts_per_username=6,
            **redis_settings,
        )

    async def test_they_reach_the_account_limit_but_not_the_owners_known_address(
        self, client: TestClient, sena: Person
    ) -> None:
        """Guesses from many addresses stop at the account's limit, even with the right
        password from a new address; the address the owner signed in from still works."""
        assert (await sign_in(client, "sena", PASSWORD, **sent_from(OWNER))).status == 200
        for n in range(6):
            response = await sign_in(client, "sena", "wrong", **sent_from(f"203.0.113.{n}"))
            assert response.status == 401
        fresh = await sign_in(client, "sena", PASSWORD, **sent_from("203.0.113.99"))
        await problem_of(fresh, 429)
        owner = await sign_in(client, "sena", PASSWORD, **sent_from(OWNER))
        assert owner.status == 200, await owner.text()


# --- Changing one's password -----------------------------------------------------------------


async def change_password(
    client: TestClient, person: Person, current: str, address: str
) -> aiohttp.ClientResponse:
    return await client.post(
        "/api/v1/me/password",
        json={"current_password": current, "new_password": "another-long-password"},
        headers={**person.headers, **sent_from(address)},
    )


async def test_guesses_at_the_current_password_are_limited_like_sign_ins(
    client: TestClient, sena: Person, settings: Settings
) -> None:
    """A stolen token does not buy unlimited guesses: concurrent wrong current passwords get
    the limit of 422s, then even the right one is 429, and so is signing in from there; the
    password is unchanged."""
    limit = settings.login_attempts_per_username_and_address
    responses = await asyncio.gather(
        *(change_password(client, sena, f"wrong-{n}", ATTACKER) for n in range(BURST))
    )
    for response in responses:
        await response.read()
    assert Counter(r.status for r in responses) == {422: limit, 429: BURST - limit}
    limited = await change_password(client, sena, PASSWORD, ATTACKER)
    await problem_of(limited, 429)
    assert int(limited.headers["Retry-After"]) >= 1
    await problem_of(await sign_in(client, "sena", PASSWORD, **sent_from(ATTACKER)), 429)
    assert (await client.get("/api/v1/me", headers=sena.headers)).status == 200
    assert (await sign_in(client, "sena", PASSWORD, **sent_from(OWNER))).status == 200


# --- Calendar feed URLs ----------------------------------------------------------------------


async def make_feed(client: TestClient, person: Person) -> str:
    made = await client.post("/api/v1/me/calendar-feed", headers=person.headers)
    assert made.status == 200, await made.text()
    path: str = (await made.json())["path"]
    assert (await client.get(path)).status == 200
    return path


async def test_a_feed_url_says_when_it_expires(
    client: TestClient, sena: Person, settings: Settings
) -> None:
    made = await client.post("/api/v1/me/calendar-feed", headers=sena.headers)
    expires_at = datetime.fromisoformat((await made.json())["expires_at"])
    lifetime = timedelta(days=settings.calendar_feed_lifetime_days)
    assert timedelta(0) < expires_at - datetime.now(UTC) <= lifetime


async def test_a_feed_url_older_than_its_lifetime_is_404(
    client: TestClient, sena: Person, settings: Settings
) -> None:
    """A genuine, unrevoked feed token signed longer ago than the lifetime no longer works."""
    path = await make_feed(client, sena)

    class SignedLongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            lifetime = settings.calendar_feed_lifetime_days * 24 * 3600
            return int(time.time()) - lifetime - 60

    old = URLSafeTimedSerializer(
        settings.secret_keys,
        salt=CALENDAR_FEED_SALT,
        signer=SignedLongAgo,
        signer_kwargs={"digest_method": hashlib.sha256},
    )
    current = URLSafeTimedSerializer(
        settings.secret_keys,
        salt=CALENDAR_FEED_SALT,
        signer_kwargs={"digest_method": hashlib.sha256},
    )
    claims = current.loads(path.removeprefix("/api/v1/calendar/").removesuffix(".ics"))
    expired = await client.get(f"/api/v1/calendar/{old.dumps(claims)}.ics")
    await problem_of(expired, 404)
    assert (await client.get(path)).status == 200


async def test_logout_all_revokes_feed_urls(client: TestClient, sena: Person) -> None:
    path = await make_feed(client, sena)
    assert (await client.post("/api/v1/auth/logout-all", headers=sena.headers)).status == 204
    await problem_of(await client.get(path), 404)


async def test_a_password_change_revokes_feed_urls(client: TestClient, sena: Person) -> None:
    path = await make_feed(client, sena)
    changed = await change_password(client, sena, PASSWORD, OWNER)
    assert changed.status == 200, await changed.text()
    await problem_of(await client.get(path), 404)
    fresh = bearer((await changed.json())["access_token"])
    made = await client.post("/api/v1/me/calendar-feed", headers=fresh)
    assert (await client.get((await made.json())["path"])).status == 200


async def test_a_password_reset_revokes_feed_urls(
    client: TestClient, sena: Person, admin: Person
) -> None:
    path = await make_feed(client, sena)
    reset = await client.post(
        f"/api/v1/users/{sena.id}/password",
        json={"new_password": "reset-by-the-admin"},
        headers=admin.headers,
    )
    assert reset.status == 204, await reset.text()
    await problem_of(await client.get(path), 404)


async def test_deactivation_revokes_feed_urls_for_good(
    client: TestClient, sena: Person, admin: Person
) -> None:
    """Reactivating the user does not bring the old URL back."""
    path = await make_feed(client, sena)
    assert (await client.delete(f"/api/v1/users/{sena.id}", headers=admin.headers)).status == 200
    await problem_of(await client.get(path), 404)
    user = await client.get(f"/api/v1/users/{sena.id}", headers=admin.headers)
    reactivated = await client.patch(
        f"/api/v1/users/{sena.id}",
        json={"active": True},
        headers={**admin.headers, "If-Match": user.headers["ETag"]},
    )
    assert reactivated.status == 200, await reactivated.text()
    await problem_of(await client.get(path), 404)
