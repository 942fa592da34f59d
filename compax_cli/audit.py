"""``compax audit``: read the audit trail (administrators; building managers their buildings').
This talks to the server at once."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from compax_cli.context import engine, now
from compax_cli.options import JSON
from compax_cli.output import emit, local, online
from sync.audit import AuditTrail, audit_query
from sync.vocabulary import AuditAction

COLUMNS = [
    ("id", "id"),
    ("when", "when"),
    ("who", "who"),
    ("client", "client"),
    ("action", "action"),
    ("record", "record"),
    ("changes", "changes"),
    ("reason", "reason"),
]


def _changes(entry: dict[str, Any]) -> str:
    """The changed fields as ``field: before → after``, short enough for a table cell."""
    before, after = entry["before"] or {}, entry["after"] or {}
    if entry["action"] in (AuditAction.CREATE, AuditAction.DELETE, AuditAction.IMPORT):
        shown = after or before
        return ", ".join(f"{k}={json.dumps(v)}" for k, v in list(shown.items())[:4])
    keys = [k for k in after if k != "version"] or list(after)
    return ", ".join(f"{k}: {json.dumps(before.get(k))} → {json.dumps(after[k])}" for k in keys)


def audit(
    ctx: typer.Context,
    record: Annotated[
        str | None, typer.Option(help="One record as TYPE/ID, e.g. bookings/3f2a… or rooms/12.")
    ] = None,
    record_type: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="Only records of this type: bookings, series, blackouts, "
            "rooms, buildings, terms, users.",
        ),
    ] = None,
    record_id: Annotated[
        str | None, typer.Option("--id", help="Only the record with this id (with --type).")
    ] = None,
    user: Annotated[int | None, typer.Option(help="Only changes made by this user id.")] = None,
    building: Annotated[int | None, typer.Option(help="Only this building id's part.")] = None,
    action: Annotated[AuditAction | None, typer.Option(help="Only this action.")] = None,
    since: Annotated[
        str | None, typer.Option(help='At or after this, campus time: "2026-11-01 08:00".')
    ] = None,
    until: Annotated[
        str | None, typer.Option(help='Before this, campus time: "today 00:00".')
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many.")] = 50,
    every: Annotated[bool, typer.Option("--all", help="Every entry selected (no limit).")] = False,
    as_json: JSON = False,
) -> None:
    """Read the audit trail, newest first: who changed which record, when, from which client,
    and the fields before and after.

    Example: compax audit --type users --action role_change --since "2026-11-01 00:00"

    Example: compax audit --record rooms/12 --all --json > changes.json
    """
    with engine(ctx) as compax:
        zone = compax.reads.zone()
        query = audit_query(
            record=record,
            record_type=record_type,
            record_id=record_id,
            actor=user,
            building=building,
            action=action,
            since=since,
            until=until,
            zone=zone,
            now=now(),
        )
        with online("this needs the server"):
            found = asyncio.run(AuditTrail(compax).entries(query, None if every else limit))
        rows = [entry.model_dump(mode="json") for entry in found]
        if not as_json:
            rows = [
                {
                    **row,
                    "when": local(row["at"], zone),
                    "who": (row["actor"] or {}).get("username", "(job)"),
                    "record": f"{row['record_type']}/{row['record_id']}",
                    "changes": _changes(row),
                }
                for row in rows
            ]
        emit(rows, COLUMNS, as_json)
