"""Buildings, rooms and terms referred to by code or by name, as other systems' exports do:
looked up in the server's lists, read once per import. A name two records share is never
settled by a guess: the row is refused, naming both."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sync.mapping import folded


class Unresolved(ValueError):
    """A reference no record answers to, or that two answer to (``shared``; the message says
    which)."""

    def __init__(self, message: str, *, shared: bool = False) -> None:
        super().__init__(message)
        self.shared = shared


class References:
    """The server's buildings, rooms and terms by code (or id) and by name."""

    def __init__(
        self,
        buildings: Iterable[dict[str, Any]] = (),
        rooms: Iterable[dict[str, Any]] = (),
        terms: Iterable[dict[str, Any]] = (),
    ) -> None:
        self._buildings = _Index((b["code"], b["code"], b["name"]) for b in buildings)
        by_building: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        self._room_names: dict[tuple[str, str], str] = {}
        for room in rooms:
            by_building[folded(room["building"])].append(
                (room["code"], room["code"], room.get("name") or "")
            )
            key = (folded(room["building"]), folded(room["code"]))
            self._room_names[key] = room.get("name") or ""
        self._rooms = {code: _Index(entries) for code, entries in by_building.items()}
        self._terms = _Index((str(t["id"]), str(t["id"]), t["name"]) for t in terms)

    def building(self, cell: str) -> str:
        """The code of the building ``cell`` names by code or by name."""
        return self._buildings.find(cell, "building", "buildings")

    def room(self, building: str, cell: str) -> str:
        """The code of the room ``cell`` names, by code or name, in ``building`` (a code)."""
        rooms = self._rooms.get(folded(building), _Index(()))
        return rooms.find(cell, "room", "rooms", where=f" in {building}")

    def room_name(self, building: str, code: str) -> str | None:
        """The name of the room ``code`` in ``building`` (codes), ``None`` when there is none."""
        return self._room_names.get((folded(building), folded(code)))

    def term(self, cell: str) -> str:
        """The id of the term ``cell`` names, by name or id."""
        return self._terms.find(cell, "term", "terms", by="name or id")


class _Index:
    """Records by key (a code or an id) and by name, all compared folded."""

    def __init__(self, entries: Iterable[tuple[str, str, str]]) -> None:
        self.keys: dict[str, str] = {}
        self.names: dict[str, list[str]] = defaultdict(list)
        for key, value, name in entries:
            self.keys[folded(key)] = value
            if name.strip():
                self.names[folded(name)].append(value)

    def find(
        self, cell: str, noun: str, plural: str, by: str = "code or name", where: str = ""
    ) -> str:
        wanted = folded(cell)
        if wanted in self.keys:
            return self.keys[wanted]
        named = self.names.get(wanted, [])
        if len(named) == 1:
            return named[0]
        if named:
            raise Unresolved(
                f"{cell.strip()!r} is the name of {len(named)} {plural}{where} "
                f"({', '.join(named)}): write the code",
                shared=True,
            )
        raise Unresolved(f"no {noun} {cell.strip()!r}{where} (by {by}); import it first")
