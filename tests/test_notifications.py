"""Notifications, mailed through a real SMTP server the tests start (aiosmtpd), with the jobs
carried out by hand at the times a controllable clock says."""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import trustme
from aiohttp.test_utils import TestClient

from compax_server.app import create_app
from compax_server.jobs.notices import DELIVER
from compax_server.jobs.queue import HANDLERS, JobContext
from compax_server.jobs.runner import run_due_jobs
from compax_server.keys import BOOKING_POLICY, DATABASE, SETTINGS
from compax_server.mail import mail_status
from compax_server.models import Job
from compax_server.services.reminders import SEND_REMINDERS
from compax_server.settings import Settings
from sync.permissions import Role
from tests.booking_helpers import book, make_campus, next_weekday
from tests.conftest import AiohttpClient, MakePerson, Person, make_settings
from tests.mail_support import REFUSED_DOMAIN, SmtpServer, tls_options
from tests.support import problem_of, with_version
from tests.test_sync_server import push, register

#: A campus zone far from UTC, so that a time in a mail is visibly local.
ZONE = ZoneInfo("Asia/Kolkata")
FROM = "Compax <rooms@uni.edu.gh>"


_DELIVERY_JOBS = Job.__table__.select().where(Job.__table__.c.kind == DELIVER)


async def deliveries(context: JobContext) -> int:
    """Carry out the due jobs; how many attempts at mailing a notification that made."""

    async def attempts() -> int:
        async with context.db.read() as session:
            return sum(job.attempts for job in (await session.execute(_DELIVERY_JOBS)).all())

    before = await attempts()
    await run_due_jobs(context)
    return await attempts() - before


@dataclass
class Clock:
    """The server's clock, moved by the test."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def at(self, moment: datetime) -> None:
        self.now = moment


def local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=ZONE).astimezone(UTC)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_settings(smtp: SmtpServer) -> dict[str, Any]:
    return {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_security": "none"}


@pytest.fixture
def settings(database_url: str, tmp_path: Path, mail_settings: dict[str, Any]) -> Settings:
    return make_settings(database_url, tmp_path, timezone=ZONE.key, mail_from=FROM, **mail_settings)


@pytest.fixture
def clock() -> Clock:
    """A minute ahead of the wall clock, by which jobs are queued, so that they are due."""
    return Clock(datetime.now(UTC) + timedelta(minutes=1))


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, settings: Settings, clock: Clock) -> TestClient:
    app = create_app(settings)
    app[BOOKING_POLICY] = replace(app[BOOKING_POLICY], clock=clock)
    return await aiohttp_client(app)


def jobs(client: TestClient) -> JobContext:
    app = client.app
    assert app is not None
    return JobContext(app[DATABASE], app[SETTINGS], app[BOOKING_POLICY])


@dataclass
class Booked:
    id: str
    start: datetime
    room: int


async def booked(
    client: TestClient, person: Person, room: int, day: date, hour: int, **fields: Any
) -> Booked:
    start = local(day, hour)
    end = start + timedelta(hours=1)
    response = await book(client, person, room, start.isoformat(), end.isoformat(), **fields)
    assert response.status == 201, await response.text()
    return Booked((await response.json())["id"], start, room)


def parts(mail: EmailMessage) -> tuple[str, str]:
    """The plain text and the HTML of a mail, which must have both."""
    assert mail.get_content_type() == "multipart/alternative"
    text, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


async def my_notices(client: TestClient, person: Person, **query: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/me/notifications", params=query, headers=person.headers)
    assert response.status == 200, await response.text()
    items: list[dict[str, Any]] = (await response.json())["items"]
    return items


async def test_a_change_and_a_cancellation_by_an_officer_are_mailed_to_the_owner(
    client: TestClient, admin: Person, make_person: MakePerson, smtp: SmtpServer
) -> None:
    campus = await make_campus(client, admin)
    owner = await make_person(Role.STAFF, email="owner@uni.edu.gh")
    day = next_weekday(0)
    booking = await booked(client, owner, campus.room_101, day, 10, title="MATH 101")
    path = f"/api/v1/bookings/{booking.id}"

    own = await client.patch(
        path, json={"title": "MATH 101 lab"}, headers=with_version(owner.headers, 1)
    )
    assert own.status == 200, await own.text()
    move = {
        "room_id": campus.room_102,
        "start": local(day, 12).isoformat(),
        "end": local(day, 13).isoformat(),
    }
    moved = await client.patch(path, json=move, headers=with_version(admin.headers, 2))
    assert moved.status == 200, await moved.text()
    assert await deliveries(jobs(client)) == 1

    [mail] = smtp.inbox.mails
    assert mail["To"] == "owner@uni.edu.gh"
    assert mail["From"] == FROM
    assert mail["Subject"] == "Your booking in PB/102 was changed"
    assert re.fullmatch(r"<[0-9a-f]{32}\.notice@uni\.edu\.gh>", mail["Message-ID"])
    text, html = parts(mail)
    for body in (text, html):
        assert "MATH 101 lab" in body
        assert "PB/101" in body and "PB/102" in body
        assert "10:00–11:00" in body and "12:00–13:00" in body  # campus time, not UTC
        assert "Asia/Kolkata" in body

    cancelled = await client.delete(path, headers=with_version(admin.headers, 3))
    assert cancelled.status == 200, await cancelled.text()
    await run_due_jobs(jobs(client))
    assert [m["Subject"] for m in smtp.inbox.mails][1:] == ["Your booking in PB/102 was cancelled"]
    notices = await my_notices(client, owner)
    assert [(n["kind"], n["state"]) for n in notices] == [
        ("booking_cancelled", "sent"),
        ("booking_changed", "sent"),
    ]
    assert all(n["sent_at"] and n["read_at"] is None for n in notices)


async def test_changes_by_the_owner_mail_nobody(
    client: TestClient, admin: Person, make_person: MakePerson, smtp: SmtpServer
) -> None:
    campus = await make_campus(client, admin)
    owner = await make_person(Role.STAFF, email="self@uni.edu.gh")
    booking = await booked(client, owner, campus.room_101, next_weekday(1), 9)
    path = f"/api/v1/bookings/{booking.id}"
    await client.patch(path, json={"attendees": 5}, headers=with_version(owner.headers, 1))
    await client.delete(path, headers=with_version(owner.headers, 2))
    assert await deliveries(jobs(client)) == 0
    assert smtp.inbox.mails == []
    assert await my_notices(client, owner) == []


async def test_a_blackout_tells_the_owners_of_the_bookings_it_covers(
    client: TestClient, admin: Person, make_person: MakePerson, smtp: SmtpServer
) -> None:
    campus = await make_campus(client, admin)
    first = await make_person(Role.STAFF, email="first@uni.edu.gh")
    second = await make_person(Role.CLASS_REP, email="second@uni.edu.gh")
    elsewhere = await make_person(Role.STAFF, email="elsewhere@uni.edu.gh")
    day = next_weekday(2)
    await booked(client, first, campus.room_101, day, 9)
    await booked(client, second, campus.room_102, day, 11)
    await booked(client, elsewhere, campus.eng_1, day, 9)
    closure = {
        "building": "PB",
        "start": local(day, 8).isoformat(),
        "end": local(day, 14).isoformat(),
        "reason": "Fire drill",
    }
    response = await client.post("/api/v1/blackouts", json=closure, headers=admin.headers)
    assert response.status == 201, await response.text()
    await run_due_jobs(jobs(client))
    assert sorted(m["To"] for m in smtp.inbox.mails) == ["first@uni.edu.gh", "second@uni.edu.gh"]
    text, _ = parts(smtp.inbox.to("second@uni.edu.gh")[0])
    assert "Fire drill" in text and "08:00–14:00" in text and "11:00–12:00" in text


async def test_a_reminder_goes_once_at_the_lead_time_with_a_link_that_cancels(
    client: TestClient, admin: Person, make_person: MakePerson, smtp: SmtpServer, clock: Clock
) -> None:
    campus = await make_campus(client, admin)
    owner = await make_person(Role.STAFF, email="soon@uni.edu.gh")
    booking = await booked(client, owner, campus.room_201, next_weekday(3), 15, title="Tutorial")
    context = jobs(client)

    async def sweep() -> None:
        await HANDLERS[SEND_REMINDERS](context, {})
        await run_due_jobs(context)

    clock.at(booking.start - timedelta(minutes=61))
    await sweep()
    assert smtp.inbox.mails == []
    clock.at(booking.start - timedelta(minutes=59))
    await sweep()
    clock.at(booking.start - timedelta(minutes=58))
    await sweep()
    [mail] = smtp.inbox.mails
    assert mail["Subject"].startswith("Reminder: PB/201")
    text, html = parts(mail)
    assert "15:00–16:00" in text
    url = re.search(r"Cancel this booking: (\S+)", text)
    assert url is not None and url.group(1) in html
    link = "/links/" + url.group(1).split("/links/", 1)[1]

    shown = await client.get(link)
    assert shown.status == 200
    page = await shown.text()
    assert "PB/201" in page and "Cancel this booking" in page and "Tutorial" not in page
    forged = await client.post(link[:-3] + "abc")
    assert forged.status == 404
    done = await client.post(link)
    assert done.status == 200, await done.text()
    assert "is cancelled" in await done.text()
    read = await client.get(f"/api/v1/bookings/{booking.id}", headers=owner.headers)
    assert (await read.json())["status"] == "cancelled"
    again = await client.post(link)
    assert again.status == 409


async def test_a_cancel_link_refuses_a_booking_that_has_started(
    client: TestClient, admin: Person, make_person: MakePerson, smtp: SmtpServer, clock: Clock
) -> None:
    campus = await make_campus(client, admin)
    owner = await make_person(Role.STAFF, email="late@uni.edu.gh")
    booking = await booked(client, owner, campus.room_101, next_weekday(4), 10)
    clock.at(booking.start - timedelta(minutes=30))
    await HANDLERS[SEND_REMINDERS](jobs(client), {})
    await run_due_jobs(jobs(client))
    [mail] = smtp.inbox.mails
    link = "/links/" + parts(mail)[0].split("/links/", 1)[1].split()[0]
    clock.at(booking.start + timedelta(minutes=1))
    refused = await client.post(link)
    assert refused.status == 409
    assert "has started" in await refused.text()


async def test_a_muted_kind_is_recorded_and_not_mailed(
    client: TestClient, admin: Person, make_person: MakePerson, smtp: SmtpServer
) -> None:
    campus = await make_campus(client, admin)
    owner = await make_person(Role.STAFF, email="quiet@uni.edu.gh")
    chosen = await client.put(
        "/api/v1/me/notification-settings",
        json={"settings": [{"kind": "booking_cancelled", "mail": False}]},
        headers=owner.headers,
    )
    assert chosen.status == 200, await chosen.text()
    mail = {s["kind"]: s["mail"] for s in (await chosen.json())["settings"]}
    assert mail["booking_cancelled"] is False and mail["booking_changed"] is True
    booking = await booked(client, owner, campus.room_101, next_weekday(0, 3), 10)
    await client.delete(f"/api/v1/bookings/{booking.id}", headers=with_version(admin.headers, 1))
    await run_due_jobs(jobs(client))
    assert smtp.inbox.mails == []
    [notice] = await my_notices(client, owner)
    assert notice["state"] == "muted"
    assert notice["subject"] == "Your booking in PB/101 was cancelled"


@pytest.mark.parametrize("mail_settings", [{}])
async def test_without_a_mail_server_notices_are_recorded_and_the_start_says_so(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    settings: Settings,
    aiohttp_client: AiohttpClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    campus = await make_campus(client, admin)
    owner = await make_person(Role.STAFF, email="nomail@uni.edu.gh")
    booking = await booked(client, owner, campus.room_101, next_weekday(1, 3), 10)
    await client.delete(f"/api/v1/bookings/{booking.id}", headers=with_version(admin.headers, 1))
    await run_due_jobs(jobs(client))
    [notice] = await my_notices(client, owner)
    assert notice["state"] == "recorded" and "cancelled" in notice["text"]

    with caplog.at_level(logging.INFO, logger="compax.server"):
        await aiohttp_client(create_app(settings))
    said = [r.getMessage() for r in caplog.records if r.name == "compax.server"]
    assert said == [mail_status(settings)]
    assert "mail is off" in said[0] and "COMPAX_SMTP_HOST" in said[0]


async def test_a_mail_server_that_is_down_delays_the_mail_and_loses_none(
    client: TestClient, admin: Person, make_person: MakePerson, smtp: SmtpServer, clock: Clock
) -> None:
    campus = await make_campus(client, admin)
    owner = await make_person(Role.STAFF, email="patient@uni.edu.gh")
    booking = await booked(client, owner, campus.room_101, next_weekday(2, 3), 10)
    smtp.stop()
    await client.delete(f"/api/v1/bookings/{booking.id}", headers=with_version(admin.headers, 1))
    context = jobs(client)
    assert await deliveries(context) == 1
    [notice] = await my_notices(client, owner)
    assert notice["state"] == "pending"
    async with context.db.read() as session:
        [job] = (await session.execute(_DELIVERY_JOBS)).all()
    assert job.state == "queued" and job.attempts == 1 and job.last_error

    smtp.start()
    assert await deliveries(context) == 0  # not due again yet
    clock.at(clock.now + timedelta(minutes=5))
    assert await deliveries(context) == 1
    assert [m["To"] for m in smtp.inbox.mails] == ["patient@uni.edu.gh"]
    clock.at(clock.now + timedelta(hours=1))
    assert await deliveries(context) == 0
    assert len(smtp.inbox.mails) == 1
    assert (await my_notices(client, owner))[0]["state"] == "sent"


async def test_a_recipient_refused_for_good_fails_without_retrying(
    client: TestClient, admin: Person, make_person: MakePerson, smtp: SmtpServer, clock: Clock
) -> None:
    campus = await make_campus(client, admin)
    owner = await make_person(Role.STAFF, email=f"gone@{REFUSED_DOMAIN}")
    booking = await booked(client, owner, campus.room_101, next_weekday(3, 3), 10)
    await client.delete(f"/api/v1/bookings/{booking.id}", headers=with_version(admin.headers, 1))
    context = jobs(client)
    assert await deliveries(context) == 1
    clock.at(clock.now + timedelta(days=1))
    assert await deliveries(context) == 0
    assert smtp.inbox.mails == []
    [notice] = await my_notices(client, owner)
    assert notice["state"] == "failed"

    failed = await client.get("/api/v1/notifications?state=failed", headers=admin.headers)
    assert [n["user_id"] for n in (await failed.json())["items"]] == [owner.id]
    mine = await client.get(
        f"/api/v1/notifications?user={owner.user.username}", headers=admin.headers
    )
    assert len((await mine.json())["items"]) == 1
    await problem_of(await client.get("/api/v1/notifications", headers=owner.headers), 403)


@dataclass
class Password:
    """aiosmtpd's authenticator: one user and password."""

    username: str
    password: str

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        good = isinstance(data, LoginPassword) and (data.login, data.password) == (
            self.username.encode(),
            self.password.encode(),
        )
        return AuthResult(success=good)


@pytest.fixture(params=["tls", "starttls"])
def secure_smtp(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, Path, SmtpServer]]:
    """A mail server with a certificate of a CA made for the test, speaking TLS from the start
    or after STARTTLS, and asking for a password."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    implicit = request.param == "tls"
    server = SmtpServer(
        **tls_options(context, implicit=implicit),
        authenticator=Password("compax", "mail-secret"),
        auth_required=True,
        auth_require_tls=not implicit,  # aiosmtpd sees STARTTLS only, not TLS from the start
    ).start()
    yield request.param, ca_file, server
    server.stop()


@pytest.mark.parametrize("mail_settings", [{}])
@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_mail_goes_over_tls_or_starttls_with_a_password(
    client: TestClient,
    admin: Person,
    make_person: MakePerson,
    secure_smtp: tuple[str, Path, SmtpServer],
    database_url: str,
    tmp_path: Path,
) -> None:
    security, ca_file, server = secure_smtp
    campus = await make_campus(client, admin)
    owner = await make_person(Role.STAFF, email="safe@uni.edu.gh")
    booking = await booked(client, owner, campus.room_101, next_weekday(4, 3), 10)
    await client.delete(f"/api/v1/bookings/{booking.id}", headers=with_version(admin.headers, 1))
    secure = make_settings(
        database_url,
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=server.port,
        smtp_security=security,
        smtp_ca_file=ca_file,
        smtp_username="compax",
        smtp_password="mail-secret",
    )
    context = replace(jobs(client), settings=secure)
    assert await deliveries(context) == 1
    assert [m["To"] for m in server.inbox.mails] == ["safe@uni.edu.gh"]


async def test_a_cancellation_pushed_by_an_officer_is_mailed_to_the_owner(
    client: TestClient, admin: Person, make_person: MakePerson, smtp: SmtpServer
) -> None:
    campus = await make_campus(client, admin)
    officer = await make_person(Role.EXAMS_OFFICER)
    owner = await make_person(Role.STAFF, email="pushed@uni.edu.gh")
    booking = await booked(client, owner, campus.room_201, next_weekday(0, 4), 10)
    client_id = await register(client, officer)
    cancel = {"mid": 1, "op": "cancel_booking", "args": {"id": booking.id, "base_version": 1}}
    pushed = await push(client, officer, client_id, [cancel])
    assert [r["status"] for r in pushed["results"]] == ["applied"]
    await run_due_jobs(jobs(client))
    [mail] = smtp.inbox.to("pushed@uni.edu.gh")
    assert mail["Subject"] == "Your booking in PB/201 was cancelled"
