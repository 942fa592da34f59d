"""Schemathesis against a real server process, on each database, with every check it has.

The server serves its own document; schemathesis reads it, sends schema-valid and
schema-violating requests to every operation (a bounded, derandomized number of each, so
that a run is the same every time) and checks every answer against the document: no 500,
only documented statuses, content types, headers and bodies; valid input accepted, invalid
input refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import CheckContext
from schemathesis.core.transport import Response
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance

from sync.permissions import Role
from tests.booking_helpers import make_campus
from tests.conftest import MakePerson, Person
from tests.servers import ServerProcess

pytestmark = pytest.mark.slow

#: Examples per operation and phase: enough to reach every status, few enough for CI.
EXAMPLES = 12

#: Operations that end the caller's own sessions: they run as a second administrator, so
#: that the first one's token stays good for the rest of the run; for the same reason the
#: operations on one user change the second administrator when they name the first.
ENDS_OWN_SESSIONS = {"POST /api/v1/auth/logout-all", "POST /api/v1/me/password"}

#: Fields whose constraints tie them to other fields or to the server's data, which JSON
#: Schema cannot say: a schema-valid request may be refused (422 ``validation``) on them.
RELATIONAL_FIELDS = {
    "end",  # after start
    "to",  # after from, at most 31 days later
    "end_time",  # after start_time
    "last_day",  # not before first_day, at most two years later
    "first_day",  # a series starts on a day every time zone can represent
    "holidays",  # within the term
    "close",  # after open
    "max_duration_minutes",  # not below min_duration_minutes
    "weekdays",  # at least one for a weekly series
    "override_reason",  # given when override is
    "external_id",  # not with id
    "password",  # not the username
    "new_password",  # not the username
    "cursor",  # one this server handed out
    "building",  # a blackout names a room or a building, not both
    "room",  # a problem report names room_id or room, one of them
    "room_id",  # a room this server has (a report of a problem names one)
    "email",  # a special-use domain (.test, .local) is refused
    "record_id",  # an audit filter by record names its type too
    "until",  # after since
}

#: Problem types that refuse a well-formed request for what it asks, not how it is written.
RULE_TYPES = {
    "outside-hours",
    "too-short",
    "too-long",
    "too-far-ahead",
    "too-short-notice",
    "over-capacity",
    "idempotency-key-reused",
    "mid-reused",
}


@pytest.fixture
async def second_admin(make_person: MakePerson) -> Person:
    return await make_person(Role.ADMIN, username="second")


@pytest.fixture
async def api_schema(
    client: TestClient, admin: Person, second_admin: Person, database_url: str, tmp_path: Path
) -> AsyncIterator[Any]:
    """The document of a server process on ``database_url``, with a campus to work on."""
    await make_campus(client, admin)
    server = ServerProcess(database_url, tmp_path)
    server.start()
    try:
        await server.wait_until_healthy()
        config = schemathesis.Config.from_dict(
            {
                "base-url": server.url,
                "headers": admin.headers,
                "generation": {"max-examples": EXAMPLES, "deterministic": True},
                "phases": {"stateful": {"enabled": False}},
                "checks": {
                    "positive_data_acceptance": {"enabled": False},
                    "missing_required_header": {
                        "expected-statuses": [400, 401, 403, 406, 415, 422, 428]
                    },
                },
            }
        )
        yield schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json", config=config)
    finally:
        server.stop()


def schema_valid_input_accepted(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Schemathesis's positive-data check, less refusals the document cannot foresee: a 412
    for a version the record no longer has, a 422 naming only ``RELATIONAL_FIELDS``, or a
    booking rule's problem."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if response.status_code == 412:
            return None
        if response.status_code != 422:
            raise
        problem = response.json()
        fields = {_last_segment(error["field"]) for error in problem.get("errors", [])}
        if problem["type"] in RULE_TYPES or (fields and fields <= RELATIONAL_FIELDS):
            return None
        raise


def _last_segment(field: str) -> str:
    """``holidays[0].last_day`` → ``last_day``; ``holidays[1]`` → ``holidays``."""
    return field.rsplit(".", 1)[-1].split("[", 1)[0]


lazy_schema = schemathesis.pytest.from_fixture("api_schema")


@lazy_schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_its_document(
    case: Case, admin: Person, second_admin: Person
) -> None:
    """Every answer to every operation is what the document says it may be."""
    label = f"{case.method.upper()} {case.path}"
    headers = second_admin.headers if label in ENDS_OWN_SESSIONS else None
    if case.path.startswith("/api/v1/users/{id}") and case.path_parameters.get("id") == admin.id:
        case.path_parameters["id"] = second_admin.id
    case.call_and_validate(headers=headers, additional_checks=[schema_valid_input_accepted])
