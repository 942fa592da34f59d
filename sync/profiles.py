"""Profiles: one per server and user, each with its replica and its private cache."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import diskcache
from platformdirs import user_data_dir

from sync.errors import ValidationFailed

DEFAULT_PROFILE = "default"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def data_dir() -> Path:
    """Where Compax keeps its files: ``COMPAX_DATA_DIR``, or the user data directory."""
    configured = os.environ.get("COMPAX_DATA_DIR")
    return Path(configured) if configured else Path(user_data_dir("compax", appauthor=False))


def profile_name(explicit: str | None = None) -> str:
    name = explicit or os.environ.get("COMPAX_PROFILE") or DEFAULT_PROFILE
    if not _NAME.match(name):
        raise ValidationFailed.single("profile", "use letters, digits, '.', '-' and '_'")
    return name


@dataclass
class Profile:
    """A named connection: which server, as whom, and where its local files live."""

    name: str
    server: str = ""
    username: str = ""

    @property
    def directory(self) -> Path:
        return data_dir() / "profiles" / self.name

    @classmethod
    def load(cls, name: str | None = None) -> Profile:
        profile = cls(profile_name(name))
        path = profile.directory / "profile.json"
        if path.exists():
            stored = json.loads(path.read_text())
            profile.server, profile.username = stored.get("server", ""), stored.get("username", "")
        return profile

    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        (self.directory / "profile.json").write_text(json.dumps(asdict(self), indent=2))

    @property
    def replica_path(self) -> Path:
        return self.directory / "replica.sqlite3"

    def open_cache(self) -> diskcache.Cache:
        """The profile's cache (token, server metadata, read results), readable by its owner
        only."""
        directory = self.directory / "cache"
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        os.chmod(directory, 0o700)
        cache = diskcache.Cache(str(directory))
        for path in directory.iterdir():
            if path.is_file():
                os.chmod(path, 0o600)
        return cache
