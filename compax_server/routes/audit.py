"""The audit trail, read only: administrators read all of it, building managers their
buildings' part. Importing this module also registers the retention job."""

from __future__ import annotations

from aiohttp import web

from compax_server.api import Api, Call, json_response
from compax_server.jobs import retention  # noqa: F401 (registers the audit retention job)
from compax_server.services.audit_reads import read_audit
from sync.audit import AuditEntryPublic, AuditQuery
from sync.schemas import Page

api = Api()


@api.route(
    "GET",
    "/api/v1/audit",
    summary="Read the audit trail",
    tag="audit",
    query=AuditQuery,
    response=Page[AuditEntryPublic],
    errors=(403,),
)
async def list_audit(call: Call[None, AuditQuery]) -> web.Response:
    """Newest first: who changed which record, when, from which client, its fields before and
    after. Administrators read every entry, building managers those of their buildings."""
    async with call.db.read() as session:
        page = await read_audit(session, call.user, call.query)
    return json_response(page)
