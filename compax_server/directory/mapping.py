"""Directory groups to Compax roles and managed buildings, as the settings say."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from compax_server.directory.ldap_names import is_dn, normal_dn
from sync.permissions import Role

#: Every role, from the least to the most powerful: a user in several mapped groups gets the
#: last of theirs (a class rep who is also staff is staff).
RANKED = (
    Role.STUDENT,
    Role.CLASS_REP,
    Role.STAFF,
    Role.FACILITIES,
    Role.EXAMS_OFFICER,
    Role.ADMIN,
)
_RANK = {role: rank for rank, role in enumerate(RANKED)}


def group_name(group: str) -> str:
    """How a group is compared: in lower case, a DN without spaces around its commas
    (``CN=Staff, OU = Groups`` is ``cn=staff,ou=groups``). A CN alone names a group only where
    the directory reports it (``ldap.py`` does so for groups it trusts)."""
    return normal_dn(group) if is_dn(group) else group.strip().lower()


class GroupMapping:
    """Which role and which buildings a set of directory groups gives."""

    def __init__(
        self,
        roles: Mapping[str, Role],
        managers: Mapping[str, Iterable[str]],
        default_role: Role | None,
    ) -> None:
        self._roles = {group_name(name): Role(role) for name, role in roles.items()}
        self._managers = {
            group_name(name): {code.strip().upper() for code in codes}
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
    return {group_name(group) for group in groups}
