"""Sign-in, bearer tokens (expiry, key rotation, revocation), login rate limits and passwords."""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select, text

from compax_server.keys import ACCESS_TOKENS, DATABASE
from compax_server.models import User
from compax_server.security import ACCESS_TOKEN_SALT, Passwords, TokenClaims, Tokens
from compax_server.services.common import get_or_404
from compax_server.services.users import change_user
from compax_server.settings import Settings
from sync.errors import InUse
from sync.permissions import Role
from tests.booking_helpers import at, book, make_campus, next_weekday
from tests.conftest import PASSWORD, MakePerson, Person, make_settings
from tests.support import bearer, problem_of, sign_in, statements_sent, with_version


def _signed_at(keys: list[str], when: float, payload: object, salt: str = ACCESS_TOKEN_SALT) -> str:
    """A token signed with ``keys`` (newest first) as if at the Unix time ``when``."""

    class SignerAt(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(when)

    serializer = URLSafeTimedSerializer(
        list(reversed(keys)),
        salt=salt,
        signer=SignerAt,
        signer_kwargs={"digest_method": hashlib.sha256},
    )
    return serializer.dumps(payload)


async def _me(client: TestClient, token: str) -> int:
    return (await client.get("/api/v1/me", headers=bearer(token))).status


@pytest.fixture
async def staff(make_person: MakePerson) -> Person:
    """A staff member, ``sena``, with the conftest password."""
    return await make_person(Role.STAFF, username="sena")


# --- Signing in ------------------------------------------------------------------------------


async def test_good_login_returns_token_expiry_and_user_without_hash(
    client: TestClient, make_person: MakePerson, settings: Settings
) -> None:
    """A correct username and password give a working bearer token, its expiry and the user."""
    person = await make_person(Role.STAFF, username="kofi", full_name="Kofi Mensah")
    before = datetime.now(UTC)
    response = await sign_in(client, "Kofi", PASSWORD)
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.token_lifetime_seconds
    expires_at = datetime.fromisoformat(body["expires_at"])
    lifetime = timedelta(seconds=settings.token_lifetime_seconds)
    assert before + lifetime <= expires_at <= datetime.now(UTC) + lifetime
    assert body["user"]["id"] == person.id
    assert body["user"]["username"] == "kofi"
    assert body["user"]["role"] == "staff"
    assert "password" not in str(body)
    me = await client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status == 200
    assert (await me.json())["username"] == "kofi"


async def test_wrong_password_and_unknown_user_get_the_same_401(
    client: TestClient, make_person: MakePerson
) -> None:
    """Wrong password and unknown username are indistinguishable to the caller."""
    await make_person(Role.STAFF, username="ama")
    wrong = await problem_of(await sign_in(client, "ama", "not-the-password"), 401)
    unknown = await problem_of(await sign_in(client, "nobody", "not-the-password"), 401)
    assert wrong["detail"] == unknown["detail"] == "Unknown username or wrong password"
    assert wrong["type"] == unknown["type"] == "unauthorized"


async def test_deactivated_user_cannot_sign_in(client: TestClient, make_person: MakePerson) -> None:
    """An inactive account is refused with the same answer as a wrong password."""
    await make_person(Role.STAFF, username="gone", active=False)
    problem = await problem_of(await sign_in(client, "gone", PASSWORD), 401)
    assert problem["detail"] == "Unknown username or wrong password"


@pytest.mark.parametrize(
    "authorization",
    ["", "Basic cm9vdDpwdw==", "Bearer", "Bearer    ", "Bearer not-a-token", "Token abc"],
)
async def test_missing_or_malformed_authorization_is_401(
    client: TestClient, authorization: str
) -> None:
    """Anything but a genuine bearer token is 401 with a Bearer challenge."""
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.get("/api/v1/me", headers=headers)
    await problem_of(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- Token expiry and keys -------------------------------------------------------------------


async def test_token_signed_longer_ago_than_its_lifetime_is_401(
    client: TestClient, staff: Person, settings: Settings
) -> None:
    """``max_age`` is checked: a token older than the lifetime no longer works."""
    payload = {"u": staff.id, "g": 0}
    lifetime = settings.token_lifetime_seconds
    fresh = _signed_at(settings.secret_keys, time.time() - lifetime + 120, payload)
    stale = _signed_at(settings.secret_keys, time.time() - lifetime - 120, payload)
    assert await _me(client, fresh) == 200
    problem = await problem_of(await client.get("/api/v1/me", headers=bearer(stale)), 401)
    assert "expired" in problem["detail"]


def test_a_token_verified_before_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    """The claims kept of a token verified once stop being given once it has expired."""
    tokens = Tokens(["key"], ACCESS_TOKEN_SALT, 60)
    token = tokens.issue(7, 3).token
    assert tokens.verify(token) == tokens.verify(token)
    claims = tokens.verify(token)
    assert claims is not None and (claims.user_id, claims.generation) == (7, 3)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 59)
    assert tokens.verify(token) is not None
    monkeypatch.setattr(time, "time", lambda: now + 62)
    assert tokens.verify(token) is None
    assert tokens.verify(token) is None


def test_tokens_keep_a_bounded_number_of_verified_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``VERIFIED_KEPT`` tokens the longest kept is forgotten, and verified again when
    it comes back; a forged token is never kept."""
    monkeypatch.setattr("compax_server.security.VERIFIED_KEPT", 2)
    tokens = Tokens(["key"], ACCESS_TOKEN_SALT, 60)
    issued = [tokens.issue(user_id, 0).token for user_id in (1, 2, 3)]
    for token in issued:
        assert tokens.verify(token) is not None
    assert list(tokens._verified) == issued[1:]
    assert tokens.verify(issued[0]) is not None
    assert list(tokens._verified) == [issued[2], issued[0]]
    signature_char = issued[0][-10]  # one that carries all its six bits, unlike the last
    forged = issued[0][:-10] + ("A" if signature_char != "A" else "B") + issued[0][-9:]
    assert tokens.verify(forged) is None
    assert len(tokens._verified) == 2


async def test_token_for_another_purpose_is_401(client: TestClient, staff: Person) -> None:
    """The salt separates purposes: a correctly signed token of another purpose is refused."""
    token = _signed_at(["test-signing-key"], time.time(), {"u": staff.id, "g": 0}, salt="other")
    assert await _me(client, token) == 401


async def test_token_with_a_malformed_payload_is_401(client: TestClient, staff: Person) -> None:
    """A genuine signature over claims of the wrong shape is still refused."""
    now = time.time()
    for payload in ([staff.id, 0], {"u": str(staff.id), "g": 0}, {"u": staff.id}):
        assert await _me(client, _signed_at(["test-signing-key"], now, payload)) == 401, payload


class TestKeyRotation:
    """With keys ``[new, old]`` the new key signs and both verify; an unknown key never does."""

    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        return make_settings(database_url, tmp_path, secret_keys=["new-key", "old-key"])

    async def test_token_signed_with_the_old_key_still_verifies(
        self, client: TestClient, staff: Person
    ) -> None:
        """Rotating keys does not sign everyone out."""
        old = Tokens(["old-key"], ACCESS_TOKEN_SALT, 3600).issue(staff.id, 0).token
        assert await _me(client, old) == 200

    async def test_token_signed_with_an_unknown_key_is_401(
        self, client: TestClient, staff: Person
    ) -> None:
        """A key that is not configured (any more) verifies nothing."""
        forged = Tokens(["retired-key"], ACCESS_TOKEN_SALT, 3600).issue(staff.id, 0).token
        assert await _me(client, forged) == 401

    async def test_new_tokens_are_signed_with_the_newest_key(
        self, client: TestClient, staff: Person
    ) -> None:
        """A server configured with only the new key accepts what sign-in issues now."""
        response = await sign_in(client, "sena", PASSWORD)
        token = (await response.json())["access_token"]
        assert Tokens(["new-key"], ACCESS_TOKEN_SALT, 3600).verify(token) is not None
        assert Tokens(["old-key"], ACCESS_TOKEN_SALT, 3600).verify(token) is None


# --- Revocation ------------------------------------------------------------------------------


async def test_logout_all_revokes_every_token(client: TestClient, staff: Person) -> None:
    """After logout-all neither the token used nor another one issued earlier works."""
    other = (await (await sign_in(client, "sena", PASSWORD)).json())["access_token"]
    response = await client.post("/api/v1/auth/logout-all", headers=staff.headers)
    assert response.status == 204
    assert await _me(client, staff.token) == 401
    assert await _me(client, other) == 401
    again = await sign_in(client, "sena", PASSWORD)
    assert await _me(client, (await again.json())["access_token"]) == 200


async def test_password_change_returns_fresh_token_and_revokes_old(
    client: TestClient, staff: Person
) -> None:
    """The new token works, the old one is 401, and only the new password signs in."""
    response = await client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "another-long-password"},
        headers=staff.headers,
    )
    assert response.status == 200, await response.text()
    fresh = (await response.json())["access_token"]
    assert await _me(client, fresh) == 200
    assert await _me(client, staff.token) == 401
    assert (await sign_in(client, "sena", PASSWORD)).status == 401
    assert (await sign_in(client, "sena", "another-long-password")).status == 200


async def test_password_change_needs_the_current_password(
    client: TestClient, staff: Person
) -> None:
    """A wrong current password is a 422 naming ``current_password`` and changes nothing."""
    response = await client.post(
        "/api/v1/me/password",
        json={"current_password": "wrong-password", "new_password": "another-long-password"},
        headers=staff.headers,
    )
    problem = await problem_of(response, 422)
    assert [e["field"] for e in problem["errors"]] == ["current_password"]
    assert await _me(client, staff.token) == 200
    assert (await sign_in(client, "sena", PASSWORD)).status == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/api/v1/users/{id}", {"role": "student"}),
        ("PATCH", "/api/v1/users/{id}", {"active": False}),
        ("DELETE", "/api/v1/users/{id}", None),
        ("POST", "/api/v1/users/{id}/password", {"new_password": "reset-by-the-admin"}),
    ],
    ids=["role-change", "patch-inactive", "deactivate", "password-reset"],
)
async def test_admin_changes_revoke_the_users_tokens(
    client: TestClient,
    admin: Person,
    staff: Person,
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    """Role change, deactivation and password reset by an admin each make old tokens 401."""
    assert await _me(client, staff.token) == 200
    response = await client.request(
        method,
        path.format(id=staff.id),
        json=body,
        headers=with_version(admin.headers, staff.user.version),
    )
    assert response.status in (200, 204), await response.text()
    assert await _me(client, staff.token) == 401
    assert await _me(client, admin.token) == 200


async def test_concurrent_token_checks_share_lookups_and_still_see_revocation(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """Requests that arrive together look their users up in shared queries, each made after
    the request arrived: a token revoked before the requests is refused by every one."""
    people = [await make_person(Role.STAFF) for _ in range(12)]
    revoked = people[0]
    response = await client.patch(
        f"/api/v1/users/{revoked.id}",
        json={"active": False},
        headers=with_version(admin.headers, revoked.user.version),
    )
    assert response.status == 200, await response.text()
    with statements_sent(client) as sent:
        statuses = await asyncio.gather(*(_me(client, person.token) for person in people * 3))
    lookups = [s for s in sent if s.lstrip().upper().startswith("SELECT") and "FROM users" in s]

    assert statuses == ([401] + [200] * (len(people) - 1)) * 3
    assert 0 < len(lookups) < len(statuses), "concurrent lookups should share queries"


async def test_profile_change_keeps_tokens(
    client: TestClient, admin: Person, staff: Person
) -> None:
    """Only revoking changes bump the generation: a new full name leaves the token working."""
    response = await client.patch(
        f"/api/v1/users/{staff.id}",
        json={"full_name": "Sena Dogbe"},
        headers=with_version(admin.headers, staff.user.version),
    )
    assert response.status == 200, await response.text()
    assert await _me(client, staff.token) == 200


# --- The last admin --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/api/v1/users/{id}", {"role": "staff"}),
        ("PATCH", "/api/v1/users/{id}", {"active": False}),
        ("DELETE", "/api/v1/users/{id}", None),
    ],
    ids=["demote", "patch-inactive", "deactivate"],
)
async def test_last_active_admin_cannot_be_removed(
    client: TestClient, admin: Person, method: str, path: str, body: dict[str, object] | None
) -> None:
    """Demoting or deactivating the only active admin is a 409 and changes nothing."""
    response = await client.request(
        method, path.format(id=admin.id), json=body, headers=with_version(admin.headers, 1)
    )
    problem = await problem_of(response, 409)
    assert "last active admin" in problem["detail"]
    me = await client.get("/api/v1/me", headers=admin.headers)
    assert me.status == 200
    assert (await me.json())["role"] == "admin"


async def test_an_admin_can_be_demoted_when_another_remains(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """With a second active admin the first may be demoted."""
    second = await make_person(Role.ADMIN)
    response = await client.patch(
        f"/api/v1/users/{second.id}", json={"role": "staff"}, headers=with_version(admin.headers, 1)
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["role"] == "staff"


# --- Rate limits -----------------------------------------------------------------------------


class TestLoginRateLimit:
    """Failed sign-ins are limited per username and address, and per client address."""

    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        return make_settings(
            database_url,
            tmp_path,
            login_attempts_per_username_and_address=3,
            login_attempts_per_address=5,
        )

    async def test_failures_for_one_username_lead_to_429(
        self, client: TestClient, staff: Person, settings: Settings
    ) -> None:
        """After the limit even the right password is refused, with Retry-After."""
        for _ in range(3):
            assert (await sign_in(client, "sena", "wrong-password")).status == 401
        response = await sign_in(client, "SENA", PASSWORD)
        problem = await problem_of(response, 429)
        assert problem["type"] == "rate-limited"
        retry_after = int(response.headers["Retry-After"])
        assert 1 <= retry_after <= settings.login_window_seconds
        assert (await sign_in(client, "other", "wrong-password")).status == 401

    async def test_success_resets_the_username_count(
        self, client: TestClient, staff: Person
    ) -> None:
        """Failures from an address before a successful sign-in from it do not count towards
        the next limit."""
        for _ in range(2):
            assert (await sign_in(client, "sena", "wrong-password")).status == 401
        assert (await sign_in(client, "sena", PASSWORD)).status == 200
        for _ in range(2):
            assert (await sign_in(client, "sena", "wrong-password")).status == 401
        assert (await sign_in(client, "sena", PASSWORD)).status == 200

    async def test_failures_from_one_address_lead_to_429(self, client: TestClient) -> None:
        """Many usernames tried from one address hit the per-address limit."""
        for i in range(5):
            assert (await sign_in(client, f"user{i}", "wrong-password")).status == 401
        response = await sign_in(client, "fresh-name", "wrong-password")
        await problem_of(response, 429)
        assert int(response.headers["Retry-After"]) >= 1

    async def test_forwarded_for_is_ignored_without_a_trusted_proxy(
        self, client: TestClient
    ) -> None:
        """A client cannot escape the address limit by inventing X-Forwarded-For."""
        for i in range(5):
            response = await sign_in(
                client, f"user{i}", "wrong-password", **{"X-Forwarded-For": f"198.51.100.{i}"}
            )
            assert response.status == 401
        response = await sign_in(
            client, "fresh-name", "wrong-password", **{"X-Forwarded-For": "198.51.100.99"}
        )
        await problem_of(response, 429)


class TestLoginRateLimitBehindTrustedProxy:
    """With the test client's peer as a trusted proxy, the forwarded address is the key."""

    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        return make_settings(
            database_url,
            tmp_path,
            login_attempts_per_username_and_address=100,
            login_attempts_per_address=3,
            trusted_proxies=["127.0.0.1", "::1"],
        )

    async def test_limit_keys_on_the_forwarded_address(self, client: TestClient) -> None:
        """One forwarded client is limited; another behind the same proxy is not."""
        for i in range(3):
            response = await sign_in(
                client, f"user{i}", "wrong-password", **{"X-Forwarded-For": "203.0.113.7"}
            )
            assert response.status == 401
        limited = await sign_in(
            client, "user9", "wrong-password", **{"X-Forwarded-For": "203.0.113.7"}
        )
        await problem_of(limited, 429)
        other = await sign_in(
            client, "user9", "wrong-password", **{"X-Forwarded-For": "203.0.113.8"}
        )
        assert other.status == 401

    async def test_only_the_hop_the_proxy_saw_counts(self, client: TestClient) -> None:
        """Addresses a client prepends to X-Forwarded-For do not change its key."""
        for i in range(3):
            forwarded = f"10.9.9.{i}, 203.0.113.7"
            response = await sign_in(
                client, f"user{i}", "wrong-password", **{"X-Forwarded-For": forwarded}
            )
            assert response.status == 401
        limited = await sign_in(
            client, "user9", "wrong-password", **{"X-Forwarded-For": "10.1.1.1, 203.0.113.7"}
        )
        await problem_of(limited, 429)


# --- Password hashing ------------------------------------------------------------------------


async def test_default_password_hashes_are_argon2id_with_owasp_parameters(tmp_path: Path) -> None:
    """Default settings hash with argon2id, m=19456 KiB, t=2, p=1 and verify correctly."""
    passwords = Passwords(Settings(secret_keys=["k"], data_dir=tmp_path))
    password_hash = await passwords.hash("correct horse battery staple")
    assert password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await passwords.verify(password_hash, "correct horse battery staple") is True
    assert await passwords.verify(password_hash, "correct horse battery stapler") is False


async def test_verifying_for_an_unknown_user_fails(tmp_path: Path) -> None:
    """``None`` (no such user) never verifies, not even with the dummy hash's password."""
    passwords = Passwords(Settings(secret_keys=["k"], data_dir=tmp_path))
    assert await passwords.verify(None, "compax-dummy-password") is False
    assert await passwords.verify(None, "anything") is False
    assert await passwords.verify("not-a-hash", "anything") is False
    assert await passwords.verify("", "compax-dummy-password") is False


async def test_issued_tokens_verify_in_the_app(client: TestClient, staff: Person) -> None:
    """The app's token service round-trips the user id and generation it signed."""
    assert client.app is not None
    tokens = client.app[ACCESS_TOKENS]
    claims = tokens.verify(tokens.issue(staff.id, 7).token)
    assert claims is not None
    assert (claims.user_id, claims.generation) == (staff.id, 7)


async def test_two_admins_demoted_at_once_leave_one(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """Two concurrent demotions of the only two admins: the second waits for the first and fails."""
    assert client.app is not None
    database = client.app[DATABASE]
    second = await make_person(Role.ADMIN)

    async def demote(person: Person) -> None:
        async with database.write() as session:
            user = await get_or_404(session, User, person.id, "user", for_update=True)
            await change_user(session, user, {"role": Role.STAFF})

    async def waiting_on_a_lock() -> bool:
        if database.is_sqlite:
            return False  # BEGIN IMMEDIATE already holds the other writer back
        async with database.read() as session:
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        return bool(waiting)

    async with database.write() as first:
        user = await get_or_404(first, User, admin.id, "user", for_update=True)
        await change_user(first, user, {"role": Role.STAFF})
        await first.flush()
        racer = asyncio.create_task(demote(second))
        for _ in range(500):
            if racer.done() or await waiting_on_a_lock():
                break
            await asyncio.sleep(0)
        assert not racer.done(), "the second demotion did not wait for the first"
    with pytest.raises(InUse):
        await racer
    async with database.read() as session:
        admins = await session.scalar(
            select(func.count()).select_from(User).where(User.role == Role.ADMIN)
        )
    assert admins == 1


def test_an_access_token_names_the_role_and_an_unknown_role_is_refused() -> None:
    """The role is signed into the token; a genuine token naming no role Compax has is refused,
    and a token without a role (a feed token, or one issued before roles were added) has none."""
    tokens = Tokens(["key"], ACCESS_TOKEN_SALT, 60)
    assert tokens.verify(tokens.issue(7, 3, Role.CLASS_REP).token) == TokenClaims(
        7, 3, Role.CLASS_REP
    )
    assert tokens.verify(tokens.issue(7, 3).token) == TokenClaims(7, 3, None)
    unknown = _signed_at(["key"], time.time(), {"u": 7, "g": 3, "r": "overlord"})
    assert tokens.verify(unknown) is None


async def test_a_booking_checks_its_callers_token_in_its_own_transaction(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """``POST /api/v1/bookings`` reads no user before its transaction: a student is refused on
    the role their token names, without a read; a deactivated user's request is refused (401)
    by the transaction's read, which books nothing; a token naming a role the user no longer
    holds is refused like a revoked one."""
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    student, leaving, moved = [
        await make_person(role) for role in (Role.STUDENT, Role.STAFF, Role.STAFF)
    ]
    with statements_sent(client) as sent:
        refused = await book(client, student, campus.room_101, at(monday, 9), at(monday, 10))
    assert "student" in (await problem_of(refused, 403))["detail"]
    assert [statement for statement in sent if "FROM users" in statement] == []

    deactivated = await client.patch(
        f"/api/v1/users/{leaving.id}",
        json={"active": False},
        headers=with_version(admin.headers, leaving.user.version),
    )
    assert deactivated.status == 200, await deactivated.text()
    gone = await book(client, leaving, campus.room_101, at(monday, 9), at(monday, 10))
    assert "revoked" in (await problem_of(gone, 401))["detail"]

    async with client.app[DATABASE].write() as session:  # not through the API: no revocation
        user = await get_or_404(session, User, moved.id, "user")
        user.role = Role.EXAMS_OFFICER
    stale = await book(client, moved, campus.room_101, at(monday, 9), at(monday, 10))
    assert "revoked" in (await problem_of(stale, 401))["detail"]

    listed = await client.get(f"/api/v1/bookings?room_id={campus.room_101}", headers=admin.headers)
    assert (await listed.json())["items"] == []


async def test_a_token_without_a_role_still_books_and_is_still_role_checked(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """Tokens issued before they named the role stay good until they expire: the booking route
    then reads the caller to check the permission, as every other route does."""
    campus = await make_campus(client, admin)
    monday = next_weekday(0)
    tokens = client.app[ACCESS_TOKENS]
    staff, student = await make_person(Role.STAFF), await make_person(Role.STUDENT)
    staff_old = Person(staff.user, tokens.issue(staff.id, staff.user.token_generation).token)
    student_old = Person(student.user, tokens.issue(student.id, 0).token)

    made = await book(client, staff_old, campus.room_101, at(monday, 9), at(monday, 10))
    assert made.status == 201, await made.text()
    assert (await made.json())["owner"] == staff.user.username
    refused = await book(client, student_old, campus.room_101, at(monday, 11), at(monday, 12))
    await problem_of(refused, 403)
