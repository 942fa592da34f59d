"""Distinguished names as LDAP sign-in compares them: normalised, tested for being a DN, for
lying under a base, and read for their CN."""

from __future__ import annotations

import re

_UNESCAPED_COMMA = re.compile(r"(?<!\\),")
_RDN = re.compile(r"^\s*([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)*)\s*=")


def _parts(dn: str) -> list[str]:
    """The RDNs of ``dn`` in lower case, without spacing around commas and equals signs."""
    parts = []
    for part in _UNESCAPED_COMMA.split(dn.strip().lower()):
        key, _, value = part.partition("=")
        parts.append(f"{key.strip()}={value.strip()}")
    return parts


def normal_dn(dn: str) -> str:
    """``dn`` as group names are compared: lower case, ``cn=a, ou=b`` written ``cn=a,ou=b``."""
    return ",".join(_parts(dn))


def is_dn(name: str) -> bool:
    """Whether ``name`` is a DN rather than a UPN or ``DOMAIN\\user`` bind name."""
    return all(_RDN.match(part) for part in _UNESCAPED_COMMA.split(name))


def is_under(dn: str, base: str) -> bool:
    """Whether ``dn`` lies below ``base``."""
    parts, base_parts = _parts(dn), _parts(base)
    return len(parts) > len(base_parts) and parts[-len(base_parts) :] == base_parts


def common_name(dn: str) -> str | None:
    """The value of ``dn``'s first RDN when that is a ``cn``, else ``None``."""
    key, _, value = _parts(dn)[0].partition("=")
    return value if key == "cn" and value else None
