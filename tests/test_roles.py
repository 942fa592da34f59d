"""The role walk: every endpoint, with no token and as every role, against a hand-written table."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient

from compax_server.api import Endpoint
from compax_server.keys import ENDPOINTS
from sync.permissions import Role
from tests.conftest import MakePerson
from tests.support import problem_of, with_version

PUBLIC = "public"
EVERYONE = frozenset(Role)
ADMIN = frozenset({Role.ADMIN})
OFFICERS = frozenset({Role.ADMIN, Role.EXAMS_OFFICER})
BOOKERS = frozenset({Role.ADMIN, Role.EXAMS_OFFICER, Role.CLASS_REP, Role.STAFF, Role.FACILITIES})

#: Who may call each endpoint, written out by hand so that a change to the permission table or
#: to an endpoint's declaration shows up here as a failing test. ``PUBLIC`` needs no token.
#: Roles here manage no building; what building managers may call in their buildings (scoped
#: endpoints) is walked in ``tests/test_roles_scoped.py``.
EXPECTED: dict[str, frozenset[Role] | str] = {
    # system
    "health": PUBLIC,
    "metrics": PUBLIC,
    "openapi": PUBLIC,
    "campus": EVERYONE,
    # auth and the caller's own record
    "sign_in": PUBLIC,
    "sign_in_methods": PUBLIC,
    "oidc_token": PUBLIC,
    "oidc_device": PUBLIC,
    "oidc_device_token": PUBLIC,
    "logout_all": EVERYONE,
    "read_me": EVERYONE,
    "update_me": EVERYONE,
    "change_password": EVERYONE,
    # users
    "list_users": ADMIN,
    "create_user": ADMIN,
    "read_user": ADMIN,
    "update_user": ADMIN,
    "deactivate_user": ADMIN,
    "reset_password": ADMIN,
    "bulk_users": ADMIN,
    # buildings
    "list_buildings": EVERYONE,
    "read_building": EVERYONE,
    "create_building": ADMIN,
    "update_building": ADMIN,
    "delete_building": ADMIN,
    "bulk_buildings": ADMIN,
    "list_managers": ADMIN,
    "grant_manager": ADMIN,
    "revoke_manager": ADMIN,
    # rooms
    "list_rooms": EVERYONE,
    "read_room": EVERYONE,
    "create_room": ADMIN,
    "update_room": ADMIN,
    "delete_room": ADMIN,
    "bulk_rooms": ADMIN,
    # terms
    "list_terms": EVERYONE,
    "read_term": EVERYONE,
    "create_term": ADMIN,
    "update_term": ADMIN,
    "delete_term": ADMIN,
    "bulk_terms": ADMIN,
    "import_timetable": ADMIN,
    "list_series": ADMIN,
    "bulk_series": ADMIN,
    "list_timetable": EVERYONE,
    # availability and reports
    "free_rooms": EVERYONE,
    "room_availability": EVERYONE,
    "building_availability": EVERYONE,
    "utilisation": OFFICERS,
    # calendars
    "room_calendar": EVERYONE,
    "my_calendar": EVERYONE,
    "make_calendar_feed": EVERYONE,
    "revoke_calendar_feed": EVERYONE,
    "calendar_feed": PUBLIC,
    # signed booking links: the link is the permission
    "show_cancel_link": PUBLIC,
    "use_cancel_link": PUBLIC,
    "show_checkin_link": PUBLIC,
    "use_checkin_link": PUBLIC,
    # bookings and series: students read only
    "list_bookings": EVERYONE,
    "read_booking": EVERYONE,
    "create_booking": BOOKERS,
    "bulk_bookings": BOOKERS,
    "update_booking": BOOKERS,
    "cancel_booking": BOOKERS,
    "create_series": BOOKERS,
    "read_series": EVERYONE,
    "check_in": BOOKERS,
    "checkin_link": BOOKERS,
    # blackouts
    "list_blackouts": EVERYONE,
    "create_blackout": OFFICERS,
    "delete_blackout": OFFICERS,
    # waitlist: bookers join and accept; anyone withdraws or declines their own entries
    "join_waitlist": BOOKERS,
    "list_waitlist": EVERYONE,
    "read_waitlist_entry": EVERYONE,
    "withdraw_waitlist_entry": EVERYONE,
    "accept_waitlist_offer": BOOKERS,
    "decline_waitlist_offer": EVERYONE,
    # sync: everyone may sync; each pushed op checks its own permission
    "register_client": EVERYONE,
    "push": EVERYONE,
    "pull": EVERYONE,
    # notifications: your own, and everyone's for administrators
    "my_notifications": EVERYONE,
    "mark_read": EVERYONE,
    "read_settings": EVERYONE,
    "choose_settings": EVERYONE,
    "all_notifications": ADMIN,
    # quotas: administered by admins; everyone reads their own
    "list_quotas": ADMIN,
    "set_role_quota": ADMIN,
    "clear_role_quota": ADMIN,
    "set_user_quota": ADMIN,
    "clear_user_quota": ADMIN,
    "read_my_quota": EVERYONE,
    # ratings: everyone rates and reads; the export is the admins'
    "rate_room": EVERYONE,
    "unrate_room": EVERYONE,
    "list_room_ratings": EVERYONE,
    "list_my_ratings": EVERYONE,
    "export_ratings": ADMIN,
    "import_ratings": ADMIN,
    # approvals: admins, and building managers for their buildings (tests/test_approvals.py)
    "list_approvals": ADMIN,
    "approve_booking": ADMIN,
    "reject_booking": ADMIN,
    "approve_series": ADMIN,
    "reject_series": ADMIN,
    # audit: administrators everywhere (building managers in their buildings, test_audit.py)
    "list_audit": ADMIN,
    # problem reports: everyone reports and reads their own (object checks in test_issues.py);
    # facilities staff and admins see to them, building managers in their buildings
    "report_issue": EVERYONE,
    "list_issues": EVERYONE,
    "read_issue": EVERYONE,
    "update_issue": EVERYONE,
    "room_issues": EVERYONE,
    "issue_report": frozenset({Role.ADMIN, Role.FACILITIES}),
    "bulk_issues": frozenset({Role.ADMIN, Role.FACILITIES}),
}

#: The order people are made in, so that path id 1 is the admin on every database.
ROLES = (
    Role.ADMIN,
    Role.EXAMS_OFFICER,
    Role.CLASS_REP,
    Role.STAFF,
    Role.FACILITIES,
    Role.STUDENT,
)


def _endpoint(client: TestClient, name: str) -> Endpoint:
    assert client.app is not None
    matches = [e for e in client.app[ENDPOINTS] if e.name == name]
    assert len(matches) == 1, f"expected one endpoint named {name}, found {len(matches)}"
    return matches[0]


async def _call(client: TestClient, endpoint: Endpoint, headers: dict[str, str]) -> int:
    path = re.sub(r"{\w+}", "1", endpoint.path)
    body = {} if endpoint.body is not None else None
    response = await client.request(endpoint.method, path, json=body, headers=headers)
    if response.status in (401, 403):
        await problem_of(response, response.status)
    return response.status


async def test_expectations_cover_exactly_the_registered_endpoints(client: TestClient) -> None:
    """A new endpoint without a row in ``EXPECTED`` (or a row for a removed one) fails here."""
    assert client.app is not None
    names = [endpoint.name for endpoint in client.app[ENDPOINTS]]
    assert len(names) == len(set(names)), "endpoint names must be unique"
    missing = sorted(set(names) - EXPECTED.keys())
    stale = sorted(EXPECTED.keys() - set(names))
    assert not missing, f"endpoints without an expectation in EXPECTED: {missing}"
    assert not stale, f"expectations for endpoints that no longer exist: {stale}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_role_walk(client: TestClient, make_person: MakePerson, name: str) -> None:
    """No token is 401 (unless public), a role outside the table 403, a role inside neither."""
    endpoint = _endpoint(client, name)
    expected = EXPECTED[name]
    assert endpoint.public == (expected == PUBLIC), f"{name}: public flag differs from the table"
    people = {role: await make_person(role) for role in ROLES}
    assert people[Role.ADMIN].id == 1

    wrong: list[str] = []
    anonymous = await _call(client, endpoint, {})
    if expected == PUBLIC:
        if anonymous in (401, 403):
            wrong.append(f"no token: got {anonymous}, expected access")
    elif anonymous != 401:
        wrong.append(f"no token: got {anonymous}, expected 401")
    for role, person in people.items():
        status = await _call(client, endpoint, person.headers)
        allowed = expected == PUBLIC or role in expected
        if allowed and status in (401, 403):
            wrong.append(f"{role}: got {status}, expected access")
        if not allowed and status != 403:
            wrong.append(f"{role}: got {status}, expected 403")
    assert not wrong, f"{endpoint.method} {endpoint.path}: " + "; ".join(wrong)


# --- No mass assignment ----------------------------------------------------------------------


async def test_staff_cannot_make_themselves_admin(
    client: TestClient, make_person: MakePerson
) -> None:
    """``role`` is not a field of PATCH /me: 422 naming it, and the caller stays staff."""
    staff = await make_person(Role.STAFF)
    response = await client.patch(
        "/api/v1/me", json={"role": "admin"}, headers=with_version(staff.headers, 1)
    )
    problem = await problem_of(response, 422)
    assert [error["field"] for error in problem["errors"]] == ["role"]
    me = await client.get("/api/v1/me", headers=staff.headers)
    body = await me.json()
    assert body["role"] == "staff"
    assert body["version"] == 1


@pytest.mark.parametrize(
    "field_value",
    [("active", False), ("username", "someone"), ("password_hash", "x"), ("token_generation", 9)],
)
async def test_me_refuses_every_field_but_name_and_email(
    client: TestClient, make_person: MakePerson, field_value: tuple[str, object]
) -> None:
    """Fields outside ``MeUpdate`` are refused by name and nothing changes."""
    field, value = field_value
    staff = await make_person(Role.STAFF)
    response = await client.patch(
        "/api/v1/me",
        json={"full_name": "New Name", field: value},
        headers=with_version(staff.headers, 1),
    )
    problem = await problem_of(response, 422)
    assert [error["field"] for error in problem["errors"]] == [field]
    body = await (await client.get("/api/v1/me", headers=staff.headers)).json()
    assert body["full_name"] == ""
    assert body["active"] is True


async def test_me_accepts_name_and_email(client: TestClient, make_person: MakePerson) -> None:
    """The fields a user may change on themselves are changed, with a new version."""
    staff = await make_person(Role.STAFF)
    response = await client.patch(
        "/api/v1/me",
        json={"full_name": "Efua Asante", "email": "efua@example.edu"},
        headers=with_version(staff.headers, 1),
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["full_name"], body["email"], body["version"]) == (
        "Efua Asante",
        "efua@example.edu",
        2,
    )
    assert response.headers["ETag"] == '"2"'
    assert body["role"] == "staff"
