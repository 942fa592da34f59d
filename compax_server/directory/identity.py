"""A person as a campus directory vouches for them, whichever directory it was."""

from __future__ import annotations

from dataclasses import dataclass, field

from sync.vocabulary import AuthSource


@dataclass(frozen=True)
class DirectoryIdentity:
    """Who signed in, as the directory says: ``subject`` is the directory's own stable name
    for them (an LDAP DN, an OpenID ``sub``), ``groups`` every group it reports."""

    source: AuthSource
    subject: str
    username: str
    full_name: str = ""
    email: str | None = None
    groups: frozenset[str] = field(default_factory=frozenset)

    @property
    def external_id(self) -> str:
        """The key ``users.external_id`` holds for this person: source and subject."""
        return f"{self.source.value}:{self.subject}"[:255]
