"""Directory groups to Compax roles and managed buildings, as the settings say."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sync.permissions import Role

#: Every role, from the least to the most powerful: a user in several mapped groups gets the
#: last of theirs (a class rep who is also staff is staff).
RANKED = (Role.STUDENT, Role.CLASS_REP, Role.STAFF, Role.EXAMS_OFFICER, Role.ADMIN)
_RANK = {role: rank for rank, role in enumerate(RANKED)}


def group_names(group: str) -> set[str]:
    """The names a group may be mapped by, in lower case: as given, and for a DN
    (``cn=Staff,ou=groups,dc=campus,dc=edu``) also the value of its first part (``staff``)."""
    text = group.strip().lower()
    names = {text}
    first, _, rest = text.partition(",")
    key, equals, value = first.partition("=")
    if equals and rest and key.strip() in ("cn", "ou", "uid"):
        names.add(value.strip())
    return names


class GroupMapping:
    """Which role and which buildings a set of directory groups gives."""

    def __init__(
        self,
        roles: Mapping[str, Role],
        managers: Mapping[str, Iterable[str]],
        default_role: Role | None,
    ) -> None:
        self._roles = {name.strip().lower(): Role(role) for name, role in roles.items()}
        self._managers = {
            name.strip().lower(): {code.strip().upper() for code in codes}
            for name, codes in managers.items()
        }
        self.default_role = default_role

    def role_for(self, groups: Iterable[str]) -> Role | None:
        """The highest role any of ``groups`` maps to, else the default role (``None``: the
        person may not sign in)."""
        found = [self._roles[name] for name in _names(groups) if name in self._roles]
        if not found:
            return self.default_role
        return max(found, key=_RANK.__getitem__)

    def buildings_for(self, groups: Iterable[str]) -> set[str]:
        """The codes of the buildings ``groups`` make their member a manager of."""
        codes: set[str] = set()
        for name in _names(groups):
            codes |= self._managers.get(name, set())
        return codes

    def knows_any(self, groups: Iterable[str]) -> bool:
        """Whether any of ``groups`` is named in the mapping at all."""
        names = _names(groups)
        return bool(names & (self._roles.keys() | self._managers.keys()))


def _names(groups: Iterable[str]) -> set[str]:
    names: set[str] = set()
    for group in groups:
        names |= group_names(group)
    return names
