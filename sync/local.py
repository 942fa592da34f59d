"""A profile's local state, read straight from its files without the engine: who is signed
in, the last sync and the changes waiting; what ``compax status`` shows, so it starts fast."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from sync.profiles import Profile


def status(profile: Profile) -> dict[str, Any]:
    """Server, user, last sync, changes waiting and changes that need attention."""
    state: dict[str, str] = {}
    counts: dict[str, int] = {}
    if profile.replica_path.exists():
        db = sqlite3.connect(f"file:{profile.replica_path}?mode=ro", uri=True)
        try:
            state = dict(db.execute("SELECT key, value FROM sync_state").fetchall())
            counts = dict(db.execute("SELECT status, count(*) FROM outbox GROUP BY status"))
        finally:
            db.close()
    cache = profile.open_cache()
    try:
        signed_in = cache.get("token") is not None
    finally:
        cache.close()
    user = json.loads(state["user"]) if "user" in state else {}
    return {
        "profile": profile.name,
        "server": profile.server or None,
        "user": user.get("username"),
        "role": user.get("role"),
        "signed_in": signed_in,
        "last_sync": state.get("last_sync"),
        "pending": counts.get("pending", 0) + counts.get("applied", 0),
        "needs_attention": counts.get("rejected", 0),
        "cursor": int(state.get("cursor") or 0),
    }
