"""Lookups for commands that only read: the profile's replica file opened without the engine,
and rooms or bookings named on the command line, found in it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from compax_cli.output import SIGN_IN_FIRST, reported
from sync.errors import NotAuthenticated, ValidationFailed
from sync.local import ReplicaFile
from sync.lookups import Lookups
from sync.profiles import Profile


@contextmanager
def lookups(ctx: typer.Context) -> Iterator[Lookups]:
    """Lookups in the profile's replica, closed after the command; failures as one line.
    A profile signed out since it synced is told to sign in first, as every command is."""
    with reported():
        profile = Profile.load((ctx.obj or {}).get("profile"))
        if not profile.replica_path.exists():
            raise NotAuthenticated(SIGN_IN_FIRST)
        replica = ReplicaFile(profile)
        try:
            with replica.read() as db:
                user = db.execute("SELECT 1 FROM sync_state WHERE key = 'user'").fetchone()
            if user is None:
                raise NotAuthenticated(SIGN_IN_FIRST)
            yield Lookups(replica)
        finally:
            replica.close()


def room_id(rooms: Lookups, ref: str) -> int:
    """A room named by id or as ``BUILDING/CODE`` (``PB/101``)."""
    if ref.isascii() and ref.isdigit():
        return int(ref)
    building, _, code = ref.partition("/")
    room = rooms.room_by_code(building, code) if code else None
    if room is None:
        raise ValidationFailed.single("room", f"no room {ref!r} here; try `compax rooms list`")
    return int(room["id"])


def booking_id(bookings: Lookups, ref: str) -> str:
    """A booking named by its id or by the first characters of it (at least 4)."""
    prefix = ref.strip().lower()
    matches = bookings.booking_ids(prefix) if len(prefix) >= 4 else []
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ValidationFailed.single("booking", f"several bookings start with {ref}; give more")
    raise ValidationFailed.single("booking", f"no booking {ref!r} here; sync to see new ones")
