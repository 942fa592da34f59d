"""A push never sticks (invariant 6): every mutation is applied or rejected with a problem, one
that fails unexpectedly is rejected ``internal`` while the batch goes on, and a ``mid`` sent
again with other contents is refused ``mid-reused``."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from compax_server.keys import DATABASE
from compax_server.services import booking_batch, bookings
from sync.engine import Engine
from sync.permissions import Role
from sync.protocol import SCHEMA_VERSION
from tests.booking_helpers import Campus, at, make_campus, next_weekday
from tests.conftest import MakePerson, Person
from tests.support import LEAKS
from tests.test_series import weekly
from tests.test_sync_client import server_bookings, signed_in, when
from tests.test_sync_server import create, push, register

#: Builds the bad mutation's op and args from the campus, the id of the booking mutation 1
#: made, and the Monday the good mutations book.
BadMutation = Callable[[Campus, str, date], dict[str, Any]]


def update(booking_id: str, **fields: Any) -> dict[str, Any]:
    return {"op": "update_booking", "args": {"id": booking_id, "base_version": 1, **fields}}


def series(campus: Campus, monday: date, **fields: Any) -> dict[str, Any]:
    args = weekly(campus.room_201, monday, monday + timedelta(days=14))
    return {"op": "create_series", "args": {**args, **fields}}


OVERFLOWING = "9999-12-31T20:00:00-14:00"
TOO_BIG_ID = 2**31


def _create_overflowing(campus: Campus, _: str, monday: date) -> dict[str, Any]:
    made = create(0, campus.room_201, OVERFLOWING, OVERFLOWING.replace("T20", "T21"))
    return {"op": made["op"], "args": made["args"]}


def _create_too_big_room(campus: Campus, _: str, monday: date) -> dict[str, Any]:
    made = create(0, TOO_BIG_ID, at(monday, 9), at(monday, 10))
    return {"op": made["op"], "args": made["args"]}


CASES: dict[str, tuple[BadMutation, str]] = {
    "update start null": (lambda c, b, m: update(b, start=None), "args.start"),
    "update end null": (lambda c, b, m: update(b, end=None), "args.end"),
    "update room null": (lambda c, b, m: update(b, room_id=None), "args.room_id"),
    "update title null": (lambda c, b, m: update(b, title=None), "args.title"),
    "update title holds NUL": (lambda c, b, m: update(b, title="a\x00b"), "args.title"),
    "series title holds NUL": (lambda c, b, m: series(c, m, title="a\x00b"), "args.title"),
    "create start overflows UTC": (_create_overflowing, "args.start"),
    "update start overflows UTC": (lambda c, b, m: update(b, start=OVERFLOWING), "args.start"),
    "series last day at the end of time": (
        lambda c, b, m: series(c, m, first_day="9999-12-20", last_day="9999-12-31"),
        "args.last_day",
    ),
    "series first day at the start of time": (
        lambda c, b, m: series(c, m, first_day="0001-01-01", last_day="0001-01-10"),
        "args.first_day",
    ),
    "create room id beyond int32": (_create_too_big_room, "args.room_id"),
    "update room id beyond int32": (lambda c, b, m: update(b, room_id=TOO_BIG_ID), "args.room_id"),
    "series room id beyond int32": (
        lambda c, b, m: series(c, m, room_id=TOO_BIG_ID),
        "args.room_id",
    ),
    "update without an id": (
        lambda c, b, m: {"op": "update_booking", "args": {"base_version": 1, "title": "X"}},
        "args.id",
    ),
    "cancel without an id": (
        lambda c, b, m: {"op": "cancel_booking", "args": {"base_version": 1}},
        "args.id",
    ),
    "cancel with an id that is no uuid": (
        lambda c, b, m: {"op": "cancel_booking", "args": {"id": 7, "base_version": 1}},
        "args.id",
    ),
}


async def post_push(
    client: TestClient,
    person: Person,
    client_id: str,
    mutations: list[dict[str, Any]],
    request_id: str | None = None,
) -> Any:
    """The push's answer, after checking it is a 200 that leaks nothing."""
    headers = {**person.headers, **({"X-Request-Id": request_id} if request_id else {})}
    response = await client.post(
        "/api/v1/sync/push",
        json={"client_id": client_id, "schema_version": SCHEMA_VERSION, "mutations": mutations},
        headers=headers,
    )
    body = await response.text()
    assert response.status == 200, body
    for leak in LEAKS:
        assert leak not in body, f"{leak!r} leaked to the client: {body}"
    return await response.json()


async def held(client: TestClient, person: Person, *booking_ids: str) -> list[bool]:
    """Whether each booking is on the server."""
    found = []
    for booking_id in booking_ids:
        response = await client.get(f"/api/v1/bookings/{booking_id}", headers=person.headers)
        found.append(response.status == 200)
    return found


async def last_mutation_id(client: TestClient, person: Person, client_id: str) -> int:
    response = await client.post(
        "/api/v1/sync/clients", json={"client_id": client_id}, headers=person.headers
    )
    return int((await response.json())["last_mutation_id"])


async def only_the_middle_one_is_rejected(
    client: TestClient,
    person: Person,
    client_id: str,
    mutations: list[dict[str, Any]],
    problem_type: str,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Push good, bad, good: the good ones applied, the bad one rejected with
    ``problem_type``, ``last_mutation_id`` past all three, and a retry answered the same.
    The bad one's problem."""
    answer = await post_push(client, person, client_id, mutations, request_id)
    assert [r["status"] for r in answer["results"]] == ["applied", "rejected", "applied"]
    assert answer["last_mutation_id"] == mutations[-1]["mid"]
    assert answer["gap"] is None
    problem: dict[str, Any] = answer["results"][1]["problem"]
    assert problem["type"] == problem_type, problem
    good = [m["args"]["id"] for m in (mutations[0], mutations[2])]
    assert await held(client, person, *good) == [True, True]

    again = await post_push(client, person, client_id, mutations, f"{request_id or 'push'}-again")
    assert again == answer, "a retry replays the stored outcomes"
    return problem


@pytest.mark.parametrize("case", CASES)
async def test_bad_input_in_a_batch_is_a_validation_problem_and_the_batch_goes_on(
    client: TestClient, admin: Person, make_person: MakePerson, case: str
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    client_id = await register(client, staff)
    monday = next_weekday(0)
    first = create(1, campus.room_101, at(monday, 9), at(monday, 10))
    bad, field = CASES[case]
    mutations = [
        first,
        {"mid": 2, **bad(campus, first["args"]["id"], monday)},
        create(3, campus.room_102, at(monday, 9), at(monday, 10)),
    ]

    problem = await only_the_middle_one_is_rejected(
        client, staff, client_id, mutations, "validation"
    )
    assert field in [error["field"] for error in problem["errors"]], problem
    booking = await client.get(f"/api/v1/bookings/{first['args']['id']}", headers=staff.headers)
    assert (await booking.json())["version"] == 1, "the refused update changed nothing"


async def test_rest_refuses_the_same_bad_input_as_validation(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    monday = next_weekday(0)
    made = await client.post(
        "/api/v1/bookings",
        json={
            "room_id": campus.room_101,
            "start": at(monday, 9),
            "end": at(monday, 10),
            "title": "T",
        },
        headers=staff.headers,
    )
    booking_id = (await made.json())["id"]
    for body in ({"start": None}, {"room_id": TOO_BIG_ID}, {"end": OVERFLOWING}):
        patched = await client.patch(
            f"/api/v1/bookings/{booking_id}", json=body, headers={**staff.headers, "If-Match": "1"}
        )
        assert patched.status == 422, await patched.text()
        assert [e["field"] for e in (await patched.json())["errors"]] == list(body)
    created = await client.post(
        "/api/v1/bookings",
        json={"room_id": TOO_BIG_ID, "start": at(monday, 9), "end": at(monday, 10), "title": "T"},
        headers=staff.headers,
    )
    assert created.status == 422
    assert [e["field"] for e in (await created.json())["errors"]] == ["room_id"]


async def test_a_skipping_series_whose_every_date_is_taken_books_nothing_and_goes_on(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    client_id = await register(client, staff)
    monday = next_weekday(0)
    wednesday = monday + timedelta(days=2)
    taken = [
        create(mid, campus.room_201, at(day, 10), at(day, 11))
        for mid, day in enumerate((monday, wednesday), start=1)
    ]
    assert [r["status"] for r in (await push(client, staff, client_id, taken))["results"]] == [
        "applied",
        "applied",
    ]
    skipping = series(campus, monday, last_day=str(wednesday), on_conflict="skip")
    mutations = [
        create(3, campus.room_101, at(monday, 9), at(monday, 10)),
        {"mid": 4, **skipping},
        create(5, campus.room_102, at(monday, 9), at(monday, 10)),
    ]

    answer = await post_push(client, staff, client_id, mutations)
    assert [r["status"] for r in answer["results"]] == ["applied"] * 3
    assert answer["last_mutation_id"] == 5
    series_id = answer["results"][1]["id"]
    of_series = await client.get(f"/api/v1/bookings?series_id={series_id}", headers=staff.headers)
    assert (await of_series.json())["items"] == []
    assert len(await server_bookings(client, staff)) == 4
    assert await post_push(client, staff, client_id, mutations) == answer


def fail_for(titles: set[str], real: Callable[..., Any]) -> Callable[..., Any]:
    """``insert_bookings`` that writes the bookings titled one of ``titles`` without their
    title, which the database refuses (NOT NULL): a genuine database error nobody expects."""

    async def insert(session: Any, rows: list[dict[str, Any]]) -> Any:
        return await real(
            session, [{**row, "title": None} if row["title"] in titles else row for row in rows]
        )

    return insert


async def test_a_database_error_in_a_batch_rejects_only_its_culprit_as_internal(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The batch core writes several bookings in one statement without savepoints: when that
    fails, the chunk is tried again one mutation at a time, and only the culprit is refused."""
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    client_id = await register(client, staff)
    monday = next_weekday(0)
    for module in (bookings, booking_batch):
        monkeypatch.setattr(
            module, "insert_bookings", fail_for({"Culprit"}, module.insert_bookings)
        )
    mutations = [
        create(1, campus.room_101, at(monday, 9), at(monday, 10)),
        create(2, campus.room_201, at(monday, 9), at(monday, 10), title="Culprit"),
        create(3, campus.room_102, at(monday, 9), at(monday, 10)),
    ]

    with caplog.at_level(logging.WARNING):
        problem = await only_the_middle_one_is_rejected(
            client, staff, client_id, mutations, "internal", request_id="batch-fault-7"
        )
    assert "batch-fault-7" in problem["detail"]
    assert await held(client, staff, mutations[1]["args"]["id"]) == [False]
    assert any("one at a time" in r.getMessage() for r in caplog.records), "the batch failed"
    [logged] = [r for r in caplog.records if "failed unexpectedly; it is" in r.getMessage()]
    assert getattr(logged, "request_id", None) == "batch-fault-7"
    assert "mutation 2" in logged.getMessage() and logged.exc_info is not None


async def test_an_unexpected_error_rejects_its_mutation_as_internal_and_logs_the_request_id(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    client_id = await register(client, staff)
    monday = next_weekday(0)
    first = create(1, campus.room_101, at(monday, 9), at(monday, 10))
    real_cancel = bookings.cancel_booking

    async def cancel(session: Any, actor: Any, booking_id: uuid.UUID, *args: Any) -> Any:
        if str(booking_id) == first["args"]["id"]:
            raise RuntimeError("cancel exploded: password=hunter2")
        return await real_cancel(session, actor, booking_id, *args)

    monkeypatch.setattr(bookings, "cancel_booking", cancel)
    assert (await push(client, staff, client_id, [first]))["last_mutation_id"] == 1
    mutations = [
        create(2, campus.room_102, at(monday, 9), at(monday, 10)),
        {"mid": 3, "op": "cancel_booking", "args": {"id": first["args"]["id"], "base_version": 1}},
        create(4, campus.room_201, at(monday, 9), at(monday, 10)),
    ]

    with caplog.at_level(logging.ERROR):
        problem = await only_the_middle_one_is_rejected(
            client, staff, client_id, mutations, "internal", request_id="push-fault-42"
        )
    assert (problem["title"], problem["status"]) == ("Internal server error", 500)
    assert "push-fault-42" in problem["detail"]
    assert "hunter2" not in str(problem) and "exploded" not in str(problem)
    [logged] = [r for r in caplog.records if "failed unexpectedly; it is" in r.getMessage()]
    assert getattr(logged, "request_id", None) == "push-fault-42"
    assert logged.levelno == logging.ERROR and "mutation 3" in logged.getMessage()
    assert logged.exc_info is not None and isinstance(logged.exc_info[1], RuntimeError)
    booking = await client.get(f"/api/v1/bookings/{first['args']['id']}", headers=staff.headers)
    assert (await booking.json())["status"] == "confirmed", "the failed cancel left no trace"


def transient(*_: Any, **__: Any) -> Any:
    raise OperationalError("SELECT 1", {}, ConnectionResetError("connection lost"))


@pytest.mark.parametrize("path", ["batch", "savepoint"])
async def test_a_transient_database_failure_is_503_and_advances_nothing(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    client_id = await register(client, staff)
    monday = next_weekday(0)
    first = create(1, campus.room_101, at(monday, 9), at(monday, 10))
    assert (await push(client, staff, client_id, [first]))["last_mutation_id"] == 1
    mutations = [
        create(2, campus.room_102, at(monday, 9), at(monday, 10)),
        {"mid": 3, "op": "cancel_booking", "args": {"id": first["args"]["id"], "base_version": 1}},
    ]
    if path == "batch":
        monkeypatch.setattr(booking_batch, "insert_bookings", transient)
    else:
        monkeypatch.setattr(bookings, "cancel_booking", transient)

    response = await client.post(
        "/api/v1/sync/push",
        json={"client_id": client_id, "schema_version": SCHEMA_VERSION, "mutations": mutations},
        headers=staff.headers,
    )
    assert response.status == 503, await response.text()
    assert response.headers["Retry-After"].isdigit()
    assert (await response.json())["type"] == "unavailable"
    assert await last_mutation_id(client, staff, client_id) == 1
    assert await held(client, staff, mutations[0]["args"]["id"]) == [False]


async def test_a_mid_sent_again_with_other_contents_is_refused_not_answered_from_the_past(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    client_id = await register(client, staff)
    monday = next_weekday(0)
    first = create(1, campus.room_101, at(monday, 9), at(monday, 10))
    cancel = {
        "mid": 2,
        "op": "cancel_booking",
        "args": {"id": first["args"]["id"], "base_version": 1},
    }
    applied = await push(client, staff, client_id, [first, cancel])
    assert [r["status"] for r in applied["results"]] == ["applied", "applied"]

    other_args = create(1, campus.room_102, at(monday, 9), at(monday, 10))
    other_op = {**cancel, "op": "update_booking"}
    fresh = create(3, campus.room_201, at(monday, 9), at(monday, 10))
    answer = await post_push(client, staff, client_id, [other_args, other_op, fresh])
    assert [r["status"] for r in answer["results"]] == ["rejected", "rejected", "applied"]
    for result, mid in zip(answer["results"][:2], (1, 2), strict=True):
        assert result["mid"] == mid
        assert result["problem"]["type"] == "mid-reused"
        assert result["problem"]["status"] == 422
        assert str(mid) in result["problem"]["detail"]
    assert answer["last_mutation_id"] == 3
    assert await held(client, staff, other_args["args"]["id"]) == [False]

    replayed = await post_push(client, staff, client_id, [first, cancel, fresh])
    assert replayed["results"] == [*applied["results"], answer["results"][2]]
    assert await post_push(client, staff, client_id, [other_args]) == {
        **answer,
        "results": answer["results"][:1],
    }


async def test_one_mid_twice_in_one_push_with_other_contents_is_refused(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    client_id = await register(client, staff)
    monday = next_weekday(0)
    first = create(1, campus.room_101, at(monday, 9), at(monday, 10))
    again = create(1, campus.room_102, at(monday, 9), at(monday, 10))

    answer = await post_push(client, staff, client_id, [first, first, again])
    assert [r["status"] for r in answer["results"]] == ["applied", "applied", "rejected"]
    assert answer["results"][1] == answer["results"][0]
    assert answer["results"][2]["problem"]["type"] == "mid-reused"
    assert await held(client, staff, first["args"]["id"], again["args"]["id"]) == [True, False]


async def test_an_outcome_recorded_without_a_fingerprint_matches_any_replay(
    client: TestClient, admin: Person, make_person: MakePerson
) -> None:
    """Outcomes recorded before fingerprints existed have none: their replays are answered
    from the stored outcome, as they always were."""
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    client_id = await register(client, staff)
    monday = next_weekday(0)
    first = create(1, campus.room_101, at(monday, 9), at(monday, 10))
    applied = await push(client, staff, client_id, [first])
    async with client.app[DATABASE].write() as session:
        await session.execute(text("UPDATE sync_mutations SET fingerprint = NULL"))

    other = create(1, campus.room_102, at(monday, 9), at(monday, 10))
    assert await post_push(client, staff, client_id, [other]) == applied


async def test_the_client_shows_mid_reused_and_internal_rejections_and_moves_on(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    engines: Callable[[str], Engine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A replica that lost its numbering meets ``mid-reused`` and then numbers past what the
    server has seen; a server fault gives ``internal``. Both wait for the user as any refused
    change does, a sync never sends them again, and a retry goes through."""
    campus = await make_campus(client, admin)
    staff = await make_person(Role.STAFF)
    engine = await signed_in(client, engines, staff)
    monday = next_weekday(0)
    engine.book(campus.room_101, when(at(monday, 9)), when(at(monday, 10)), "First")
    engine.book(campus.room_101, when(at(monday, 10)), when(at(monday, 11)), "Second")
    assert (await engine.sync()).applied == 2
    engine.replica.set_state(next_mid=1)
    renumbered = engine.book(campus.room_102, when(at(monday, 9)), when(at(monday, 10)), "Third")
    report = await engine.sync()
    assert (report.pushed, report.applied, report.rejected) == (1, 0, 1)
    assert engine.reads.booking(renumbered["id"]) is None

    failing = {"Fourth"}
    for module in (bookings, booking_batch):
        monkeypatch.setattr(module, "insert_bookings", fail_for(failing, module.insert_bookings))
    engine.book(campus.room_201, when(at(monday, 9)), when(at(monday, 10)), "Fourth")
    report = await engine.sync()
    assert (report.pushed, report.applied, report.rejected) == (1, 0, 1)
    conflicts = engine.conflicts()
    assert [(c.mid, c.problem["type"]) for c in conflicts] == [(1, "mid-reused"), (3, "internal")]
    assert engine.status()["needs_attention"] == 2
    assert (await engine.sync()).pushed == 0, "a refused change is not sent again by itself"

    failing.clear()
    engine.retry(1)
    engine.retry(3)
    report = await engine.sync()
    assert (report.pushed, report.applied, report.rejected) == (2, 2, 0)
    titles = sorted(str(b["title"]) for b in await server_bookings(client, staff))
    assert titles == ["First", "Fourth", "Second", "Third"]
    assert engine.conflicts() == []
