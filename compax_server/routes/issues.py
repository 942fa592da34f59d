"""Reports of problems with rooms: made by anyone signed in, seen to by facilities staff,
admins and the managers of the room's building; a room's open reports; the per-building
report."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from compax_server.api import Api, Call, etag, json_response
from compax_server.services import issue_import, issue_reports, issues
from compax_server.services.access import access_of
from compax_server.services.scope import building_coded
from sync.errors import NotFound
from sync.issue_schemas import (
    IssueBulkResponse,
    IssueCreate,
    IssuePublic,
    IssueQuery,
    IssueReport,
    IssueReportQuery,
    IssueUpdate,
    RoomIssueBrief,
)
from sync.permissions import Permission
from sync.schemas import BulkQuery, BulkRequest, Page

api = Api()
REPORT = Permission.REPORT_ISSUES
MANAGE = Permission.MANAGE_ISSUES


def _issue_id(call: Call[Any, Any]) -> uuid.UUID:
    raw = call.request.match_info["id"]
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"No issue with id {raw[:40]!r}") from None


def _answer(public: IssuePublic, status: int = 200) -> web.Response:
    return json_response(public, status=status, headers=etag(public.version))


@api.route(
    "POST",
    "/api/v1/issues",
    summary="Report a problem with a room",
    tag="issues",
    permission=REPORT,
    body=IssueCreate,
    response=IssuePublic,
    status=201,
)
async def report_issue(call: Call[IssueCreate, None]) -> web.Response:
    """201 with the new report; 200 with the report as it is when its ``id`` was sent before
    by the same reporter. Those who see to the building's reports are told."""
    async with call.db.write() as session:
        access = await access_of(session, call.user)
        public, created = await issues.report_issue(session, call.user, access, call.body)
    return _answer(public, 201 if created else 200)


@api.route(
    "POST",
    "/api/v1/issues:bulk",
    summary="Import problem reports",
    tag="issues",
    permission=MANAGE,
    body=BulkRequest,
    query=BulkQuery,
    response=IssueBulkResponse,
)
async def bulk_issues(call: Call[BulkRequest, BulkQuery]) -> web.Response:
    """Facilities staff and admins (campus-wide); each row keyed on ``external_id`` or the
    ``id`` an export wrote, so importing again changes nothing; ``dry_run`` as every import."""
    return json_response(
        await issue_import.import_issues(call.db, call.body.rows, dry_run=call.query.dry_run)
    )


@api.route(
    "GET",
    "/api/v1/issues",
    summary="List problem reports",
    tag="issues",
    permission=REPORT,
    query=IssueQuery,
    response=Page[IssuePublic],
)
async def list_issues(call: Call[None, IssueQuery]) -> web.Response:
    """Your own reports, and every report of the buildings whose reports you see to (all of
    them for facilities staff and admins), newest first."""
    async with call.db.read() as session:
        access = await access_of(session, call.user)
        page = await issues.list_issues(session, call.user, access, call.query)
    return json_response(page)


@api.route(
    "GET",
    "/api/v1/issues/{id}",
    summary="Read a problem report",
    tag="issues",
    permission=REPORT,
    response=IssuePublic,
)
async def read_issue(call: Call[None, None]) -> web.Response:
    async with call.db.read() as session:
        access = await access_of(session, call.user)
        public = await issues.read_issue(session, call.user, access, _issue_id(call))
    return _answer(public)


@api.route(
    "PATCH",
    "/api/v1/issues/{id}",
    summary="Change a problem report",
    tag="issues",
    permission=REPORT,
    body=IssueUpdate,
    response=IssuePublic,
    conditional=True,
)
async def update_issue(call: Call[IssueUpdate, None]) -> web.Response:
    """Those who see to the building's reports set ``status``, ``assignee`` and
    ``resolution``; a reporter may only reopen their resolved report (``{"status": "open"}``)."""
    issue_id, version = _issue_id(call), call.if_match()
    async with call.db.write() as session:
        access = await access_of(session, call.user)
        public = await issues.update_issue(session, call.user, access, issue_id, version, call.body)
    return _answer(public)


@api.route(
    "GET",
    "/api/v1/rooms/{id}/issues",
    summary="List a room's unresolved problem reports",
    tag="issues",
    permission=Permission.READ_CAMPUS,
    response=list[RoomIssueBrief],
)
async def room_issues(call: Call[None, None]) -> web.Response:
    """What the finder and the grid show: category, summary, status and since when; nobody's
    name."""
    async with call.db.read() as session:
        return json_response(await issues.room_issues(session, call.path_id()))


@api.route(
    "GET",
    "/api/v1/reports/issues",
    summary="Summarise problem reports per building",
    tag="issues",
    permission=MANAGE,
    scoped=True,
    query=IssueReportQuery,
    response=IssueReport,
)
async def issue_report(call: Call[None, IssueReportQuery]) -> web.Response:
    """A building's managers read its figures; without ``building`` they get their buildings."""
    async with call.db.read() as session:
        buildings = call.access.buildings_for(MANAGE)
        if call.query.building and buildings is not None:
            call.require_in(MANAGE, await building_coded(session, call.query.building))
        report = await issue_reports.issue_report(session, call.query, buildings)
    return json_response(report)
